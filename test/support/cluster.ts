/**
 * A multi-process deployment for tests: relays and gateways as `node src/main.ts` children on
 * one test-owned redis-server and one embedded store (a shared DATA_DIR), plus the operations,
 * sending and subscribing helpers the multi-node and fault tests share.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { createTokenVerifier } from '../../src/auth/jwt.ts';
import type { PresenceDirectory } from '../../src/delivery/ports.ts';
import { createRedisPresenceDirectory } from '../../src/delivery/presence/redis.ts';
import { graphql } from '../gql/index.ts';
import type { MultiMessageAddedSubscription } from '../gql/graphql.ts';
import { onDispose } from './dispose.ts';
import { startProcess, type ServerProcess } from './process.ts';
import { seqRange, seqsIn, startRedis, type TestRedis } from './redis.ts';
import { collect, ok, wsClient, type Collected } from './server.ts';
import { sleep } from './wait.ts';

// --- operations ----------------------------------------------------------------------------------

export const CreateGroup = graphql(`
  mutation MultiCreateGroup($input: CreateGroupInput!) {
    createGroup(input: $input) {
      group {
        id
      }
    }
  }
`);

export const AddMembers = graphql(`
  mutation MultiAddMembers($input: AddGroupMembersInput!) {
    addGroupMembers(input: $input) {
      group {
        memberCount
      }
    }
  }
`);

export const Send = graphql(`
  mutation MultiSend($input: SendGroupMessageInput!) {
    sendGroupMessage(input: $input) {
      message {
        seq
      }
    }
  }
`);

export const MessageAdded = graphql(`
  subscription MultiMessageAdded($groupId: ID, $since: [GroupSeqInput!]) {
    messageAdded(groupId: $groupId, since: $since) {
      id
      groupId
      seq
      body
    }
  }
`);

export type Subscriber = Collected<MultiMessageAddedSubscription>;

// --- a cluster: one test-owned Redis, one data directory, one secret -----------------------------

export interface Cluster {
  readonly redis: TestRedis;
  readonly prefix: string;
  /** The read side of presence on the test's own Redis client. */
  readonly directory: PresenceDirectory;
  /** The embedded store's directory, shared by every process of the cluster. */
  readonly dataDir: string;
  /** Starts `node src/main.ts` with the cluster's shared environment plus `env`. */
  start(env: Record<string, string>, options?: { readonly awaitStarted?: boolean }): Promise<ServerProcess>;
  token(userId: string): Promise<string>;
}

export async function cluster(): Promise<Cluster> {
  const redis = await startRedis();
  const dataDir = await mkdtemp(join(tmpdir(), 'chat-multinode-'));
  onDispose(() => rm(dataDir, { recursive: true, force: true }));
  const secret = randomBytes(32).toString('base64url');
  const prefix = `multi:${randomUUID().slice(0, 8)}:`;
  const tokens = createTokenVerifier(secret);
  const shared: Record<string, string> = {
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: prefix,
    DATA_DIR: dataDir,
    JWT_SECRET: secret,
    // Crash durability of SQLite is crash.test.ts's subject; here it would only slow sends.
    SQLITE_SYNCHRONOUS: 'NORMAL',
    // Scenarios send hundreds of messages from one user.
    LIMIT_SEND_RATE_PER_SECOND: '100000',
    LIMIT_SEND_BURST: '100000',
    // A test user creates groups and adds 10,000 members faster than any person would.
    LIMIT_GROUP_WRITE_BURST: '100000',
  };
  return {
    redis,
    prefix,
    directory: createRedisPresenceDirectory({ client: redis.client, keyPrefix: prefix }),
    // Generous: on a loaded 2-core machine three tsx processes starting at once can be slow.
    dataDir,
    start: (env, options = {}) => startProcess({ ...shared, ...env }, { readyTimeoutMs: 60_000, ...options }),
    token: (userId) => tokens.sign({ id: userId }),
  };
}

/** Tokens for the named users, in order. */
export const tokensFor = <const T extends readonly string[]>(c: Cluster, ids: T): Promise<{ -readonly [K in keyof T]: string }> =>
  Promise.all(ids.map((id) => c.token(id))) as Promise<{ -readonly [K in keyof T]: string }>;

export const gateway = (c: Cluster, nodeId: string, env: Record<string, string> = {}): Promise<ServerProcess> =>
  c.start({ ROLE: 'gateway', NODE_ID: nodeId, ...env });
export const relay = (
  c: Cluster,
  nodeId: string,
  env: Record<string, string> = {},
  options: { readonly awaitStarted?: boolean } = {},
): Promise<ServerProcess> => c.start({ ROLE: 'relay', NODE_ID: nodeId, ...env }, options);

export const isActiveLine = (line: Record<string, unknown>): boolean => line['msg'] === 'relay is active' && line['leader'] === true;

export async function createGroup(url: string, token: string, memberIds: readonly string[]): Promise<string> {
  const data = await ok(url, token, CreateGroup, { input: { name: 'multinode', memberIds: [...memberIds] } });
  return data.createGroup.group.id;
}

/** One send; retried with the same clientMessageId (a retry never stores twice). */
export async function send(url: string, token: string, groupId: string, key: string, body = `body ${key}`): Promise<number> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const data = await ok(url, token, Send, { input: { groupId, body, clientMessageId: key } });
      return data.sendGroupMessage.message.seq;
    } catch (error) {
      if (attempt >= 5) throw error;
      await sleep(200);
    }
  }
}

export interface Sending {
  /** Messages acknowledged so far. */
  readonly sent: () => number;
  /** Stops after the sends in flight; resolves with every acknowledged seq. */
  stop(): Promise<number[]>;
  /** Resolves with every acknowledged seq once `count` were sent (or `stop` was called). */
  readonly done: Promise<number[]>;
}

/**
 * Sends `count` messages (or until stopped) with `concurrency` workers, each pausing `pauseMs`
 * between its sends; message i goes through `urlFor(i)`.
 */
export function startSending({
  urlFor,
  token,
  groupId,
  count = Number.POSITIVE_INFINITY,
  concurrency = 1,
  pauseMs = 0,
}: {
  readonly urlFor: (i: number) => string;
  readonly token: string;
  readonly groupId: string;
  readonly count?: number;
  readonly concurrency?: number;
  readonly pauseMs?: number;
}): Sending {
  const seqs: number[] = [];
  const run = randomUUID().slice(0, 8);
  let next = 0;
  let stopped = false;
  const worker = async (): Promise<void> => {
    while (!stopped && next < count) {
      const i = next;
      next += 1;
      seqs.push(await send(urlFor(i), token, groupId, `${run}-${i}`));
      if (pauseMs > 0) await sleep(pauseMs);
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, worker)).then(() => [...seqs].sort((x, y) => x - y));
  done.catch(() => {});
  return {
    sent: () => seqs.length,
    done,
    async stop() {
      stopped = true;
      return done;
    },
  };
}

export function subscribe(server: ServerProcess, token: string, groupId: string, since = 0, onClosed?: (code: number) => void): Subscriber {
  const client = wsClient(server, token, onClosed === undefined ? {} : { onClosed: ({ code }) => onClosed(code) });
  return collect(client, MessageAdded, { groupId, since: [{ groupId, seq: since }] });
}

/** Asserts the subscriber got exactly 1..last of the group, in order, once each. */
export function expectContiguous(subscriber: Subscriber, groupId: string, last: number): void {
  expect(seqsIn(subscriber.results, groupId)).toEqual(seqRange(1, last));
}

// --- operational endpoints --------------------------------------------------------------------------

export async function httpStatus(port: number, path: string, timeoutMs = 5000): Promise<number | 'timeout'> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.status;
  } catch (error) {
    if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'timeout';
    throw error;
  }
}

export async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

/** The sum of a metric's samples (all label sets); null when it has none. */
export function metric(text: string, name: string): number | null {
  let total: number | null = null;
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+(\\S+)$`).exec(line);
    if (match !== null) total = (total ?? 0) + Number(match[1]);
  }
  return total;
}

export const sameNodes = (nodes: readonly string[], expected: readonly string[]): boolean =>
  [...nodes].sort().join(',') === [...expected].sort().join(',');

