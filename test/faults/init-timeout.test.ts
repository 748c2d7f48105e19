/**
 * Fault row (issue 12): 10,000 WebSockets that open and never send `connection_init`. Each is
 * closed by the server with 4408 once LIMIT_CONNECTION_INIT_TIMEOUT_MS has passed (set short
 * here), never before, and the server's heap after forced GC, in its own process, is back where
 * it was before the flood.
 *
 * No per-IP or unauthenticated-socket cap exists (src/security has none), so every one of the
 * 10,000 is accepted and held until its timeout: the test checks that each one opened before it
 * was closed, so nothing refused them early. The peak number open at once is printed.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { MB, startProbedServer, type Memory, type ProbedServer } from '../support/heap.ts';
import { disposeAll, onDispose } from '../support/dispose.ts';
import { waitFor } from '../support/wait.ts';

afterAll(disposeAll);

const SOCKETS = 10_000;
/** Sockets opened at once; each batch waits for its opens. */
const BATCH = 1000;
const INIT_TIMEOUT_MS = 6000;
/** graphql-ws `CloseCode.ConnectionInitialisationTimeout`. */
const INIT_TIMEOUT_CLOSE = 4408;

interface Outcome {
  /** When the client asked to connect: the server accepted after this. */
  readonly createdAt: number;
  openedAt: number;
  closedAt: number;
  code: number;
  reason: string;
}

let server: ProbedServer;
let stats = { open: 0, peak: 0 };

/** Opens `count` sockets that never speak; resolves with how each one ended once all have closed. */
async function flood(count: number, timeoutMs: number): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const sockets: WebSocket[] = [];
  onDispose(() => {
    for (const socket of sockets) socket.terminate();
  });
  for (let start = 0; start < count; start += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, count - start) }, () => {
      const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
      sockets.push(socket);
      const outcome: Outcome = { createdAt: performance.now(), openedAt: Number.NaN, closedAt: Number.NaN, code: 0, reason: '' };
      outcomes.push(outcome);
      return new Promise<void>((resolve) => {
        socket.once('open', () => {
          outcome.openedAt = performance.now();
          stats.open += 1;
          stats.peak = Math.max(stats.peak, stats.open);
          resolve();
        });
        socket.once('error', () => resolve());
        socket.once('close', (code, reason) => {
          if (!Number.isNaN(outcome.openedAt)) stats.open -= 1;
          outcome.closedAt = performance.now();
          outcome.code = code;
          outcome.reason = String(reason);
          resolve();
        });
      });
    });
    await Promise.all(batch);
  }
  await waitFor(`${count} sockets closed by the server`, () => outcomes.every((o) => !Number.isNaN(o.closedAt)), {
    timeoutMs: timeoutMs + 60_000,
    intervalMs: 200,
  });
  return outcomes;
}

const heapMb = (memory: Memory): string => ((memory.heapUsed + memory.external) / MB).toFixed(1);

beforeAll(async () => {
  server = await startProbedServer({ limits: { connectionInitTimeoutMs: INIT_TIMEOUT_MS } });
  // Warm up: the first sockets load code and grow pools that no flood leaves behind.
  await flood(300, INIT_TIMEOUT_MS);
}, 90_000);

it(`${SOCKETS.toLocaleString('en')} sockets without connection_init are closed at the init timeout, and the heap returns to its baseline`, async () => {
  const before = await server.measure();
  stats = { open: 0, peak: 0 };
  const outcomes = await flood(SOCKETS, INIT_TIMEOUT_MS);
  const after = await server.measure();

  // Every socket was accepted (nothing capped them), then closed by the timeout, not before it.
  const refused = outcomes.filter((o) => Number.isNaN(o.openedAt));
  expect(refused).toEqual([]);
  const wrongClose = outcomes.filter((o) => o.code !== INIT_TIMEOUT_CLOSE || o.reason !== 'Connection initialisation timeout');
  expect(wrongClose.slice(0, 3)).toEqual([]);
  // A lower bound only: the server accepted each socket after the client asked for it, and may
  // not close it within the timeout of that (5 ms for timer rounding between processes). The
  // client's 'open' event is no reference: a busy client sees it late.
  const early = outcomes.filter((o) => o.closedAt - o.createdAt < INIT_TIMEOUT_MS - 5);
  expect(early.length).toBe(0);
  const lifetimes = outcomes.map((o) => o.closedAt - o.openedAt).sort((a, b) => a - b);
  console.info(
    `${SOCKETS} silent sockets: peak ${stats.peak} open at once; open→close p50 ${lifetimes[Math.floor(SOCKETS / 2)]?.toFixed(0)} ms, ` +
      `max ${lifetimes.at(-1)?.toFixed(0)} ms (timeout ${INIT_TIMEOUT_MS} ms); server heap+external ${heapMb(before)} → ${heapMb(after)} MB, ` +
      `rss ${(before.rss / MB).toFixed(0)} → ${(after.rss / MB).toFixed(0)} MB`,
  );
  // 10,000 sockets held about 10 kB each of heap on the server; anything kept per socket would
  // leave tens of MB behind.
  expect((after.heapUsed + after.external - before.heapUsed - before.external) / MB).toBeLessThan(5);
}, 180_000);
