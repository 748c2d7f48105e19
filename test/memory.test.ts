/**
 * Memory under the reported attacks (issue 7, holes 1 and 3), measured as the heap after forced
 * GC in the server's own process (a child started with --expose-gc): each attack leaves it where
 * it was, within a margin far below what one unbounded request used to add. No timings.
 *
 * Before the fix, on this machine: 11 distinct 1 MB alias documents took the heap from 50 MB to
 * 489 MB (about 40 MB each; the process died near the 99th), and 40 unread GraphiQL requests took
 * the RSS from 380 MB to 1.4 GB.
 */
import { connect, type Socket } from 'node:net';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { MB, startProbedServer, type Memory, type ProbedServer } from './support/heap.ts';
import { disposeAll, onDispose } from './support/dispose.ts';
import { sleep } from './support/wait.ts';

afterAll(disposeAll);

/** A document of `{ <prefix>k: __typename … }` of about `bytes` characters. */
function aliases(prefix: string, bytes: number): string {
  const parts: string[] = [];
  let length = 4;
  for (let k = 0; length < bytes; k += 1) {
    const part = `${prefix}${k}: __typename`;
    parts.push(part);
    length += part.length + 1;
  }
  return `{ ${parts.join(' ')} }`;
}

const post = (server: ProbedServer, query: string) =>
  fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });

const grownMb = (before: Memory, after: Memory): number => (after.heapUsed + after.external - before.heapUsed - before.external) / MB;

describe('memory under attack', () => {
  let server: ProbedServer;
  beforeAll(async () => {
    server = await startProbedServer();
    // Warm up: the first requests load code and fill lazy caches that are no attack's doing.
    for (let i = 0; i < 5; i += 1) await (await post(server, `{ w${i}: __typename }`)).text();
  }, 60_000);

  it('100 distinct 1 MB alias documents are refused with 413 and leave the heap flat', async () => {
    const before = await server.measure();
    for (let i = 0; i < 100; i += 1) {
      const response = await post(server, aliases(`p${i}_`, 1_000_000));
      expect(response.status).toBe(413);
      await response.text();
    }
    const after = await server.measure();
    console.info(`100 × 1 MB: heap ${(before.heapUsed / MB).toFixed(1)} → ${(after.heapUsed / MB).toFixed(1)} MB`);
    expect(grownMb(before, after)).toBeLessThan(10);
  }, 120_000);

  it('100 distinct 250 kB alias documents, under the body limit, are refused before parsing and leave the heap flat', async () => {
    const before = await server.measure();
    for (let i = 0; i < 100; i += 1) {
      const response = await post(server, aliases(`q${i}_`, 250_000));
      expect(response.status).toBe(400);
      expect(await response.text()).toContain('MAX_QUERY_TOKENS');
    }
    const after = await server.measure();
    console.info(`100 × 250 kB: heap ${(before.heapUsed / MB).toFixed(1)} → ${(after.heapUsed / MB).toFixed(1)} MB`);
    expect(grownMb(before, after)).toBeLessThan(10);
  }, 120_000);

  it('the parse cache stays within its byte budget however many distinct documents fit the limits', async () => {
    const before = await server.measure();
    // 300 distinct documents of ~970 tokens: ~170 MB of ASTs and validation results if all were
    // kept (yoga's default keeps 1,024), against a 16 MB budget here.
    for (let i = 0; i < 300; i += 1) {
      const variables = Array.from({ length: 240 }, (_, k) => `$v${k}: Int`).join(' ');
      const response = await post(server, `query Q${i}(${variables}) { __typename }`);
      await response.text();
    }
    const after = await server.measure();
    console.info(`300 distinct cached documents: heap ${(before.heapUsed / MB).toFixed(1)} → ${(after.heapUsed / MB).toFixed(1)} MB`);
    expect(grownMb(before, after)).toBeLessThan(16 + 8);
  }, 180_000);

  it('20 distinct 250 kB documents over graphql-ws are refused and leave the heap flat', async () => {
    const token = await server.token('ws-attacker');
    const client = createClient({
      url: server.wsUrl,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${token}` },
    });
    onDispose(() => client.dispose());
    const before = await server.measure();
    for (let i = 0; i < 20; i += 1) {
      const outcome = await new Promise<unknown>((resolve) => {
        client.subscribe({ query: aliases(`w${i}_`, 250_000) }, { next: resolve, error: resolve, complete: () => {} });
      });
      expect(JSON.stringify(outcome)).toContain('QUERY_TOO_COMPLEX');
    }
    const after = await server.measure();
    console.info(`20 × 250 kB over graphql-ws: heap ${(before.heapUsed / MB).toFixed(1)} → ${(after.heapUsed / MB).toFixed(1)} MB`);
    expect(grownMb(before, after)).toBeLessThan(10);
  }, 120_000);

  it('40 unread GraphiQL requests share one page in memory', async () => {
    // One request first, so the page is rendered (once) before measuring.
    await (await fetch(server.url, { headers: { accept: 'text/html' } })).arrayBuffer();
    const before = await server.measure();
    const sockets: Socket[] = [];
    for (let i = 0; i < 40; i += 1) {
      const socket = connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      // Never read: the response stays with the server, blocked on a full socket.
      socket.pause();
      socket.write('GET /graphql HTTP/1.1\r\nHost: x\r\naccept: text/html\r\n\r\n');
      sockets.push(socket);
    }
    onDispose(() => {
      for (const socket of sockets) socket.destroy();
    });
    await sleep(1000);
    const after = await server.measure();
    console.info(
      `40 unread GraphiQL pages: heap+external ${((before.heapUsed + before.external) / MB).toFixed(1)} → ${((after.heapUsed + after.external) / MB).toFixed(1)} MB, rss ${(before.rss / MB).toFixed(0)} → ${(after.rss / MB).toFixed(0)} MB`,
    );
    // One page is 9 MB: forty copies would be 360 MB or more.
    expect(grownMb(before, after)).toBeLessThan(20);
  }, 60_000);
});
