/**
 * A test-owned Redis for multi-node tests: `redis-server` on a free port, with no persistence,
 * so a test can count its commands, kill it and start it again on the same port without
 * disturbing the shared Redis on 6379. Plus the seq helpers multi-node tests share.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { ExecutionResult } from 'graphql';
import { Redis, type RedisOptions } from 'ioredis';
import type { Collected } from './server.ts';
import { onDispose } from './dispose.ts';
import { waitFor } from './wait.ts';

/** The shared Redis every test may use, with keys under a prefix of its own. */
export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/**
 * A client of the test's own on `url` (the shared Redis by default), disconnected by
 * `disposeAll`. A killed server makes ioredis emit 'error', which Node would throw without a
 * listener: the test sees the failure in its commands instead.
 */
export function connectRedis(url = REDIS_URL, options: RedisOptions = {}): Redis {
  const client = new Redis(url, options);
  client.on('error', () => {});
  onDispose(() => client.disconnect());
  return client;
}

/** A TCP port nobody listens on right now (the kernel picks it; we close it again). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

// Transitional, for branches written before wait.ts existed: import it from there.
export { waitFor } from './wait.ts';

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** A connected client for the test's own inspection (INFO, CONFIG, key reads). */
  readonly client: Redis;
  /** Whether the server process is running. */
  readonly running: () => boolean;
  /** kill -9 the server; resolves once it has exited. Everything in it is gone. */
  kill(): Promise<void>;
  /** Starts the server again on the same port; resolves once it answers PING. */
  restart(): Promise<void>;
}

async function answersPing(port: number): Promise<boolean> {
  const probe = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/** Starts `redis-server --port <free> --save "" --appendonly no`, disposed by `disposeAll`. */
export async function startRedis({ readyTimeoutMs = 10_000 } = {}): Promise<TestRedis> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let output = '';

  const launch = async (): Promise<void> => {
    const started = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = started;
    exited = new Promise((resolve) => started.once('exit', () => resolve()));
    started.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    started.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    try {
      await waitFor(`redis-server on port ${port} to answer PING`, async () => {
        if (started.exitCode !== null) throw new Error(`redis-server exited: ${output}`);
        return answersPing(port);
      }, { timeoutMs: readyTimeoutMs });
    } catch (error) {
      started.kill('SIGKILL');
      throw error;
    }
  };

  const kill = async (): Promise<void> => {
    const current = child;
    if (current !== null && current.exitCode === null && current.signalCode === null) current.kill('SIGKILL');
    await exited;
  };

  await launch();
  onDispose(kill);
  const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: null });
  client.on('error', () => {});
  onDispose(() => client.disconnect());
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    client,
    running: () => child !== null && child.exitCode === null && child.signalCode === null,
    kill,
    async restart() {
      await kill();
      await launch();
    },
  };
}

/** `INFO commandstats` as command name → calls. */
export async function commandStats(client: Redis): Promise<Map<string, number>> {
  const text = await client.info('commandstats');
  const stats = new Map<string, number>();
  for (const line of text.split(/\r?\n/)) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (match !== null) stats.set(match[1] as string, Number(match[2]));
  }
  return stats;
}

/** Every key that starts with `prefix` (SCAN, so it never blocks the server). */
export async function keysWithPrefix(client: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const batch of client.scanStream({ match: `${prefix}*`, count: 1000 })) keys.push(...(batch as string[]));
  return keys.sort();
}

// --- subscribers ---------------------------------------------------------------------------------

/** What these helpers read from a `messageAdded` result. */
export interface SeqMessage {
  readonly groupId: string;
  readonly seq: number;
}

type MessageResults = readonly ExecutionResult<{ readonly messageAdded: SeqMessage }>[];

/** The seqs of `groupId`'s messages a subscriber received, in arrival order. */
export const seqsIn = (results: MessageResults, groupId: string): number[] =>
  results.flatMap((result) => {
    const message = result.data?.messageAdded;
    return message != null && message.groupId === groupId ? [message.seq] : [];
  });

/** 1, 2, ... n. */
export const seqRange = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/**
 * Waits until a subscriber has received `groupId`'s message `seq` (or a later one); on timeout
 * the error says who was waiting and which seqs had arrived.
 */
export async function untilSeq<T extends { readonly messageAdded: SeqMessage }>(
  subscriber: Collected<T>,
  groupId: string,
  seq: number,
  { timeoutMs = 30_000, who = 'subscriber' }: { readonly timeoutMs?: number; readonly who?: string } = {},
): Promise<void> {
  const reached = (results: MessageResults): boolean => seqsIn(results, groupId).some((s) => s >= seq);
  try {
    await subscriber.until(reached, timeoutMs);
  } catch {
    const seqs = seqsIn(subscriber.results, groupId);
    throw new Error(
      `${who} did not receive seq ${seq} of ${groupId} within ${timeoutMs} ms; got ${seqs.length} messages: ${JSON.stringify(seqs)}`,
    );
  }
}
