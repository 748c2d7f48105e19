/**
 * `npm run bench`: starts the platform as a child process (embedded default, shipped
 * settings but a high send rate limit), then measures from this process:
 *  1. sendGroupMessage throughput over HTTP with concurrent senders;
 *  2. delivery latency to SUBSCRIBERS graphql-ws subscribers (send → receive, p50/p99).
 * Options by environment: SUBSCRIBERS (100), MESSAGES (2000), CONCURRENCY (16),
 * LATENCY_MESSAGES (300), SQLITE_SYNCHRONOUS (FULL), SERVER_NODE_ARGS (extra node flags for the
 * server, e.g. "--cpu-prof --cpu-prof-dir=prof"), SERVER_ENTRY (default src/main.ts under tsx).
 * Besides wall-clock figures it prints the server's CPU time per send and per delivery (from
 * /proc), which drifts far less than throughput on a shared machine.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createTokenVerifier } from '../src/auth/jwt.ts';

const SUBSCRIBERS = Number(process.env['SUBSCRIBERS'] ?? 100);
const MESSAGES = Number(process.env['MESSAGES'] ?? 2000);
const CONCURRENCY = Number(process.env['CONCURRENCY'] ?? 16);
const LATENCY_MESSAGES = Number(process.env['LATENCY_MESSAGES'] ?? 300);

const root = join(import.meta.dirname, '..');
const dataDir = await mkdtemp(join(tmpdir(), 'chat-bench-'));
const secret = randomBytes(32).toString('base64url');
const entry = process.env['SERVER_ENTRY'] ?? join(root, 'src', 'main.ts');
const nodeArgs = [...(process.env['SERVER_NODE_ARGS'] ?? '').split(' ').filter(Boolean), ...(entry.endsWith('.ts') ? ['--import', 'tsx'] : [])];
const child = spawn(process.execPath, [...nodeArgs, entry], {
  cwd: root,
  env: {
    PATH: process.env['PATH'] ?? '',
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    JWT_SECRET: secret,
    LOG_LEVEL: 'info',
    SQLITE_SYNCHRONOUS: process.env['SQLITE_SYNCHRONOUS'] ?? 'FULL',
    LIMIT_SEND_RATE_PER_SECOND: '1000000',
    LIMIT_SEND_BURST: '1000000',
    LIMIT_SUBSCRIPTION_QUEUE_LENGTH: '100000',
  },
  stdio: ['ignore', 'pipe', 'inherit'],
});
const port = await new Promise<number>((resolve, reject) => {
  child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const parsed = JSON.parse(line) as { msg?: string; port?: number };
    if (parsed.msg === 'started' && typeof parsed.port === 'number') resolve(parsed.port);
  });
});
const url = `http://127.0.0.1:${port}/graphql`;
const tokens = createTokenVerifier(secret);

async function gql<T>(token: string, query: string, variables: Record<string, unknown>): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const result = (await response.json()) as { data?: T; errors?: unknown };
  if (result.errors !== undefined || result.data === undefined) throw new Error(JSON.stringify(result.errors));
  return result.data;
}

const SEND = `mutation BenchSend($groupId: ID!, $body: String!, $clientMessageId: String!) {
  sendGroupMessage(input: { groupId: $groupId, body: $body, clientMessageId: $clientMessageId }) { message { seq } }
}`;

const members = Array.from({ length: SUBSCRIBERS }, (_, i) => `member-${i}`);
const ownerToken = await tokens.sign({ id: 'owner' });
const { createGroup } = await gql<{ createGroup: { group: { id: string } } }>(
  ownerToken,
  'mutation BenchGroup($ids: [ID!]) { createGroup(input: { name: "bench", memberIds: $ids }) { group { id } } }',
  { ids: members },
);
const groupId = createGroup.group.id;

/** CPU seconds (user, system) per thread of the server, by thread name, summed. */
function serverThreadCpu(): Map<string, { user: number; system: number }> {
  const threads = new Map<string, { user: number; system: number }>();
  for (const tid of readdirSync(`/proc/${child.pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${child.pid}/task/${tid}/comm`, 'utf8').trim();
      const fields = readFileSync(`/proc/${child.pid}/task/${tid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      const key = `${name}#${tid}`;
      const entry = threads.get(key) ?? { user: 0, system: 0 };
      entry.user += Number(fields[11]) / 100;
      entry.system += Number(fields[12]) / 100;
      threads.set(key, entry);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return threads;
}

function threadCpuDelta(before: Map<string, { user: number; system: number }>, per: number): string {
  const after = serverThreadCpu();
  return [...after]
    .filter(([name, t]) => t.user + t.system - (before.get(name)?.user ?? 0) - (before.get(name)?.system ?? 0) > 0)
    .map(([name, t]) => {
      const b = before.get(name) ?? { user: 0, system: 0 };
      return `${name} ${(((t.user - b.user) * 1e6) / per).toFixed(0)}+${(((t.system - b.system) * 1e6) / per).toFixed(0)}`;
    })
    .join(', ');
}

/** CPU seconds (user + system) the server process has used so far. */
function serverCpuSeconds(): number {
  const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

// 1. Throughput through the mutation, CONCURRENCY senders in flight.
let next = 0;
const cpuBeforeSends = serverCpuSeconds();
const threadsBeforeSends = serverThreadCpu();
const started = performance.now();
await Promise.all(
  Array.from({ length: CONCURRENCY }, async (_, worker) => {
    const token = await tokens.sign({ id: members[worker % members.length] as string });
    while (next < MESSAGES) {
      next += 1;
      await gql(token, SEND, { groupId, body: `load ${next}`, clientMessageId: `load-${worker}-${next}` });
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
const sendCpuMs = ((serverCpuSeconds() - cpuBeforeSends) * 1000) / MESSAGES;
console.log(
  `throughput: ${MESSAGES} messages in ${seconds.toFixed(2)} s = ${(MESSAGES / seconds).toFixed(0)} messages/s ` +
    `(${CONCURRENCY} concurrent senders, synchronous=${process.env['SQLITE_SYNCHRONOUS'] ?? 'FULL'}); server CPU ${sendCpuMs.toFixed(3)} ms per send`,
);
console.log(`  per thread, µs per send (user+system): ${threadCpuDelta(threadsBeforeSends, MESSAGES)}`);

// 2. Latency to SUBSCRIBERS subscribers, one WebSocket each.
const clients: Client[] = [];
const latencies: number[] = [];
let received = 0;
let allReceived: () => void = () => {};
const done = new Promise<void>((resolve) => (allReceived = resolve));
await Promise.all(
  members.map(async (member) => {
    const token = await tokens.sign({ id: member });
    const client = createClient({
      url: url.replace('http', 'ws'),
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${token}` },
    });
    clients.push(client);
    await new Promise<void>((resolve, reject) => {
      client.subscribe<{ messageAdded: { body: string } }>(
        { query: 'subscription BenchLatency($groupId: ID!) { messageAdded(groupId: $groupId) { id seq body createdAt sender { id name } } }', variables: { groupId } },
        {
          next: (result) => {
            const body = result.data?.messageAdded.body ?? '';
            if (body.startsWith('t:')) {
              latencies.push(performance.timeOrigin + performance.now() - Number(body.slice(2)));
              received += 1;
              if (received === LATENCY_MESSAGES * SUBSCRIBERS) allReceived();
            }
          },
          error: reject,
          complete: () => {},
        },
      );
      client.on('connected', () => setTimeout(resolve, 50));
    });
  }),
);
// Let every subscription register before measuring.
await new Promise((resolve) => setTimeout(resolve, 500));
const sender = await tokens.sign({ id: 'owner' });
const cpuBeforeDeliveries = serverCpuSeconds();
const latencyStarted = performance.now();
for (let i = 0; i < LATENCY_MESSAGES; i += 1) {
  await gql(sender, SEND, { groupId, body: `t:${performance.timeOrigin + performance.now()}`, clientMessageId: `lat-${i}` });
  // Paced sends measure latency, not queueing behind a burst.
  await new Promise((resolve) => setTimeout(resolve, 5));
}
await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 60_000))]);
const elapsed = (performance.now() - latencyStarted) / 1000;
const deliveryCpuMs = ((serverCpuSeconds() - cpuBeforeDeliveries) * 1000) / Math.max(1, received);
latencies.sort((a, b) => a - b);
console.log(
  `delivery to ${SUBSCRIBERS} subscribers: ${received}/${LATENCY_MESSAGES * SUBSCRIBERS} deliveries in ${elapsed.toFixed(2)} s; ` +
    `latency p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${(latencies.at(-1) ?? NaN).toFixed(1)} ms; ` +
    `server CPU ${(deliveryCpuMs * 1000).toFixed(1)} µs per delivery (its sends included)`,
);

for (const client of clients) await client.dispose();
child.kill('SIGTERM');
await new Promise((resolve) => child.once('exit', resolve));
await rm(dataDir, { recursive: true, force: true });
