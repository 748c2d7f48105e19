/**
 * Fault row (issue 12): 10,000 clients resubscribe at once with `since`, as after a gateway
 * restart. Each client is a raw `ws` socket speaking graphql-transport-ws (10,000 graphql-ws
 * clients would cost the test process more than the server), with its own user and token.
 *
 * - Nothing is lost: every client receives exactly the seqs after its since, in order, up to the
 *   messages sent while the storm is being served.
 * - The store reads are shared and bounded: the gateway's `chat_catchup_reads_total` (store reads
 *   for catch-up pages) is far below `chat_catchup_pages_total` (pages the subscriptions asked
 *   for), read from the server's own /metrics.
 * - The p50/p99 of the catch-up time (subscribe sent → last pre-storm message received) is
 *   printed, not asserted.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { disposeAll, onDispose } from '../support/dispose.ts';
import { startProbedServer, type ProbedServer } from '../support/heap.ts';
import { ok } from '../support/server.ts';
import { waitFor } from '../support/wait.ts';

afterAll(disposeAll);

const CLIENTS = 10_000;
const GROUPS = 20;
/** Messages in each group before the storm. */
const BEFORE = 60;
/** Messages sent to each group while the storm is served. */
const DURING = 3;
/** Sockets opened at once while connecting. */
const BATCH = 1000;

const SUBSCRIBE = `subscription Storm($groupId: ID, $since: [GroupSeqInput!]) {
  messageAdded(groupId: $groupId, since: $since) { seq groupId }
}`;

interface StormClient {
  readonly userId: string;
  readonly groupId: string;
  readonly since: number;
  readonly socket: WebSocket;
  readonly received: number[];
  readonly errors: unknown[];
  subscribedAt: number;
  caughtUpAt: number;
}

let server: ProbedServer;
const groupIds: string[] = [];

const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;

async function counters(): Promise<{ pages: number; reads: number }> {
  const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  const value = (name: string): number => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { pages: value('chat_catchup_pages_total'), reads: value('chat_catchup_reads_total') };
}

async function send(groupIndex: number, count: number, tag: string): Promise<void> {
  const token = await server.token(`owner${groupIndex}`);
  for (let i = 0; i < count; i += 1) {
    const input = { groupId: groupIds[groupIndex], clientMessageId: `${tag}-${i}`, body: `${tag} ${i}` };
    // As a client would: a send whose answer was lost (the server busy with the storm past an
    // HTTP timeout) is retried with its clientMessageId, and stored once.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await ok(server.url, token, `mutation S($input: SendGroupMessageInput!) { sendGroupMessage(input: $input) { created } }`, { input });
        break;
      } catch (error) {
        if (attempt === 5) throw error;
      }
    }
  }
}

/** Opens a socket and completes connection_init; the subscription is sent later, by the storm. */
function connect(userId: string, token: string, groupId: string, since: number): Promise<StormClient> {
  const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
  const client: StormClient = { userId, groupId, since, socket, received: [], errors: [], subscribedAt: 0, caughtUpAt: 0 };
  return new Promise((resolve, reject) => {
    socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
    socket.once('error', reject);
    socket.once('close', (code, reason) => reject(new Error(`${userId}: closed ${code} ${String(reason)}`)));
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; payload?: { data?: { messageAdded?: { seq: number } }; errors?: unknown } };
      if (message.type === 'connection_ack') {
        socket.removeAllListeners('close');
        socket.once('close', (code, reason) => client.errors.push(`closed ${code} ${String(reason)}`));
        resolve(client);
      } else if (message.type === 'next') {
        const seq = message.payload?.data?.messageAdded?.seq;
        if (seq === undefined) client.errors.push(message.payload);
        else {
          client.received.push(seq);
          if (seq === BEFORE) client.caughtUpAt = performance.now();
        }
      } else if (message.type === 'error' || message.type === 'complete') {
        client.errors.push(message);
      }
    });
  });
}

beforeAll(async () => {
  server = await startProbedServer();
  // GROUPS groups of CLIENTS / GROUPS members each; every member is one client.
  for (let g = 0; g < GROUPS; g += 1) {
    const members = Array.from({ length: CLIENTS / GROUPS }, (_, k) => `u${k * GROUPS + g}`);
    const { createGroup } = await ok<{ createGroup: { group: { id: string } } }, unknown>(
      server.url,
      await server.token(`owner${g}`),
      `mutation G($members: [ID!]!) { createGroup(input: { name: "storm", memberIds: $members }) { group { id } } }`,
      { members },
    );
    groupIds.push(createGroup.group.id);
  }
  await Promise.all(Array.from({ length: GROUPS }, (_, g) => send(g, BEFORE, 'before')));
}, 120_000);

it(`${CLIENTS.toLocaleString('en')} clients resubscribing at once with since lose nothing, and share their store reads`, async () => {
  const clients: StormClient[] = [];
  onDispose(() => {
    for (const client of clients) client.socket.terminate();
  });
  for (let start = 0; start < CLIENTS; start += BATCH) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(BATCH, CLIENTS - start) }, async (_, k) => {
        const i = start + k;
        const userId = `u${i}`;
        // Each client saw its group up to a different recent seq before it dropped.
        return connect(userId, await server.token(userId), groupIds[i % GROUPS] as string, BEFORE - 1 - (Math.floor(i / GROUPS) % 50));
      }),
    );
    clients.push(...batch);
  }
  const before = await counters();

  // The storm: every subscription at once, half following all their groups, half one group.
  for (const [i, client] of clients.entries()) {
    const variables = { since: [{ groupId: client.groupId, seq: client.since }], ...(i % 2 === 0 ? { groupId: client.groupId } : {}) };
    client.subscribedAt = performance.now();
    client.socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: SUBSCRIBE, variables } }));
  }
  // Live messages while the storm is served: each must follow the replay with no gap.
  await Promise.all(Array.from({ length: GROUPS }, (_, g) => send(g, DURING, 'during')));

  const last = BEFORE + DURING;
  await waitFor(
    `every client to receive through seq ${last}`,
    () => clients.every((client) => client.received.length >= last - client.since || client.errors.length > 0),
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  const after = await counters();

  const failed = clients.filter((client) => client.errors.length > 0);
  expect(failed.slice(0, 3).map((client) => ({ user: client.userId, errors: client.errors }))).toEqual([]);
  const wrong = clients.filter((client) => {
    const expected = Array.from({ length: last - client.since }, (_, k) => client.since + 1 + k);
    return client.received.length !== expected.length || client.received.some((seq, k) => seq !== expected[k]);
  });
  expect(wrong.slice(0, 3).map((client) => ({ user: client.userId, since: client.since, received: client.received }))).toEqual([]);

  const pages = after.pages - before.pages;
  const reads = after.reads - before.reads;
  const times = clients.map((client) => client.caughtUpAt - client.subscribedAt).sort((a, b) => a - b);
  console.info(
    `reconnect storm: ${CLIENTS} clients in ${GROUPS} groups, since spread over 50 seqs; catch-up pages ${pages}, store reads ${reads}; ` +
      `catch-up p50 ${percentile(times, 0.5).toFixed(0)} ms, p99 ${percentile(times, 0.99).toFixed(0)} ms, max ${times.at(-1)?.toFixed(0)} ms`,
  );
  // Every subscription asked for at least one page; the reads were shared by many of them.
  expect(pages).toBeGreaterThanOrEqual(CLIENTS);
  expect(reads).toBeGreaterThan(0);
  expect(reads).toBeLessThan(pages / 5);
}, 150_000);
