/**
 * The gateway's shared catch-up reads on a real embedded store: pages asked for in one turn
 * share store reads (one per group and span of `pageSize` seqs), each ask gets exactly the page
 * a read of its own would have given, and pages are handed out at most `pagesPerTurn` a turn.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createCatchUpReader } from '../src/delivery/catch-up-reads.ts';
import type { Store } from '../src/storage/port.ts';
import { createSqliteStore } from '../src/storage/sqlite/store.ts';
import { disposeAll, onDispose } from './support/dispose.ts';

afterAll(disposeAll);

let store: Store;
const HEAD = 230;

beforeAll(async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'chat-catch-up-'));
  store = createSqliteStore({ dataDir, synchronous: 'NORMAL' });
  onDispose(async () => {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  for (const id of ['g1', 'g2']) {
    await store.createGroup({ id, name: id, ownerId: 'alice', memberIds: [], now: new Date() });
    await Promise.all(
      Array.from({ length: HEAD }, (_, i) =>
        store.appendMessage({ id: `${id}-m${i}`, groupId: id, senderId: 'alice', body: `${i}`, clientMessageId: `${i}`, now: new Date() }),
      ),
    );
  }
});

it('shares one read per group and span among the pages asked in one turn, each page exact', async () => {
  let reads = 0;
  let pages = 0;
  const reader = createCatchUpReader({ store, pageSize: 50, onRead: () => (reads += 1), onPage: () => (pages += 1) });
  const asks = ['g1', 'g2'].flatMap((groupId) => Array.from({ length: 200 }, (_, afterSeq) => ({ groupId, afterSeq })));
  const answers = await Promise.all(asks.map(({ groupId, afterSeq }) => reader.read(groupId, afterSeq)));
  // Spans of 50 seqs from 0..199: [0, 50], [51, 101], [102, 152], [153, 199], per group.
  expect({ pages, reads }).toEqual({ pages: 400, reads: 8 });
  for (const [i, { groupId, afterSeq }] of asks.entries()) {
    const own = await store.listMessages({ groupId, afterSeq, limit: 50, order: 'asc' });
    expect(answers[i]?.map((m) => m.id)).toEqual(own.map((m) => m.id));
  }
  // A later turn reads again: nothing is cached.
  await reader.read('g1', 0);
  expect(reads).toBe(9);
});

it(`hands out at most pagesPerTurn pages per turn of the event loop`, async () => {
  const reader = createCatchUpReader({ store, pageSize: 50, pagesPerTurn: 3 });
  let answered = 0;
  const all = Promise.all(Array.from({ length: 8 }, (_, i) => reader.read('g1', i).then(() => (answered += 1))));
  const seen: number[] = [];
  while (answered < 8) {
    await new Promise((resolve) => setImmediate(resolve));
    seen.push(answered);
  }
  await all;
  const steps = seen.map((count, i) => count - (seen[i - 1] ?? 0));
  expect(Math.max(...steps)).toBe(3);
  expect(seen.filter((count, i) => count !== (seen[i - 1] ?? 0))).toEqual([3, 6, 8]);
});
