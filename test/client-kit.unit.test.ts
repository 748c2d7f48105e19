/**
 * The client kit's pure logic, without a server: the per-group timeline (dedupe by seq, gap
 * detection, history pages, bounds), the backoff's bounds, the outbox (order, limit, what
 * survives a reload) and the stores' batching.
 */
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../client/backoff.ts';
import { newClientMessageId } from '../client/index.ts';
import { Outbox, OutboxFullError, OutboxStatus, type KeyValueStorage, type OutboxItem } from '../client/outbox.ts';
import { createComputedStore, createStore } from '../client/store.ts';
import { GroupTimeline, type ChatMessage } from '../client/timeline.ts';

const message = (seq: number, groupId = 'g1'): ChatMessage => ({
  id: `m${seq}`,
  groupId,
  seq,
  body: `body ${seq}`,
  clientMessageId: `c${seq}`,
  createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
  cursor: `cursor-${seq}`,
  sender: { id: 'alice', name: null },
});
const range = (from: number, to: number): ChatMessage[] => Array.from({ length: to - from + 1 }, (_, i) => message(from + i));
const seqs = (timeline: GroupTimeline): number[] => timeline.messages.map((m) => m.seq);
const limits = { maxMessages: 10, maxAhead: 5 };

describe('GroupTimeline', () => {
  it('appends consecutive seqs and drops every duplicate by seq', () => {
    const timeline = new GroupTimeline('g1', limits, 0);
    for (const m of range(1, 3)) expect(timeline.offer(m).type).toBe('appended');
    expect(timeline.offer(message(2)).type).toBe('duplicate');
    expect(timeline.offer(message(3)).type).toBe('duplicate');
    expect(seqs(timeline)).toEqual([1, 2, 3]);
    expect(timeline.head).toBe(3);
  });

  it('holds a message after a gap back, names the gap, and shows both in order once it is filled', () => {
    const timeline = new GroupTimeline('g1', limits, 0);
    timeline.offer(message(1));
    expect(timeline.offer(message(4))).toEqual({ type: 'gap', afterSeq: 1, upTo: 4 });
    expect(timeline.offer(message(4)).type).toBe('duplicate');
    expect(seqs(timeline)).toEqual([1]);
    expect(timeline.gap).toEqual({ afterSeq: 1, upTo: 4 });
    expect(timeline.offer(message(2))).toEqual({ type: 'appended', messages: [message(2)] });
    expect(timeline.gap).toEqual({ afterSeq: 2, upTo: 4 });
    const filled = timeline.offer(message(3));
    expect(filled).toEqual({ type: 'appended', messages: [message(3), message(4)] });
    expect(seqs(timeline)).toEqual([1, 2, 3, 4]);
    expect(timeline.gap).toBeNull();
  });

  it('holds at most maxAhead messages past a gap, and still names the whole gap to fetch', () => {
    const timeline = new GroupTimeline('g1', limits, 0);
    for (const m of range(2, 8)) expect(timeline.offer(m).type).toBe('gap');
    expect(timeline.gap).toEqual({ afterSeq: 0, upTo: 8 });
    // 2..6 were held (5 = maxAhead); 7 and 8 must come from the repair.
    expect(timeline.offer(message(1))).toEqual({ type: 'appended', messages: range(1, 6) });
    expect(timeline.gap).toEqual({ afterSeq: 6, upTo: 8 });
    for (const m of range(7, 8)) timeline.offer(m);
    expect(seqs(timeline)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('keeps exactly maxMessages, dropping the oldest, and then has older messages', () => {
    const timeline = new GroupTimeline('g1', limits, 0);
    for (const m of range(1, 10)) timeline.offer(m);
    expect(seqs(timeline)).toEqual(range(1, 10).map((m) => m.seq));
    expect(timeline.hasOlder).toBe(false);
    timeline.offer(message(11));
    expect(seqs(timeline)).toEqual(range(2, 11).map((m) => m.seq));
    expect(timeline.hasOlder).toBe(true);
    expect(timeline.canLoadOlder).toBe(false);
  });

  it('joins an older page only where it ends right before the window', () => {
    const timeline = new GroupTimeline('g1', limits, 0);
    for (const m of range(5, 6)) timeline.offer(message(m.seq));
    // Started at 0: 5 and 6 wait for 1..4.
    expect(timeline.messages).toEqual([]);
    const fresh = new GroupTimeline('g1', limits, 6);
    expect(fresh.hasOlder).toBe(true);
    expect(fresh.oldestCursor).toBeNull();
    // The newest page of an empty window: older part joins, newer part is offered.
    expect(fresh.addOlder(range(4, 8))).toEqual({ prepended: 3, appended: range(7, 8) });
    expect(seqs(fresh)).toEqual([4, 5, 6, 7, 8]);
    expect(fresh.oldestCursor).toBe('cursor-4');
    // A page that does not reach the window (3 missing) is dropped whole.
    expect(fresh.addOlder(range(1, 2))).toEqual({ prepended: 0, appended: [] });
    expect(fresh.addOlder(range(1, 3))).toEqual({ prepended: 3, appended: [] });
    expect(seqs(fresh)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(fresh.hasOlder).toBe(false);
  });

  it('pages older history in only up to maxMessages', () => {
    const timeline = new GroupTimeline('g1', limits, 20);
    timeline.addOlder(range(13, 20));
    expect(timeline.addOlder(range(5, 12))).toEqual({ prepended: 2, appended: [] });
    expect(seqs(timeline)).toEqual(range(11, 20).map((m) => m.seq));
    expect(timeline.hasOlder).toBe(true);
    expect(timeline.canLoadOlder).toBe(false);
  });

  it('starts a group never seen at its first message, and an empty group at 0', () => {
    const timeline = new GroupTimeline('g1', limits);
    expect(timeline.head).toBeNull();
    expect(timeline.offer(message(7)).type).toBe('appended');
    expect(timeline.hasOlder).toBe(true);
    expect(timeline.offer(message(9))).toEqual({ type: 'gap', afterSeq: 7, upTo: 9 });
    const empty = new GroupTimeline('g2', limits);
    expect(empty.addOlder([])).toEqual({ prepended: 0, appended: [] });
    expect(empty.head).toBe(0);
    expect(empty.hasOlder).toBe(false);
  });

  it('moves an empty window to the server’s lastSeq, and restarts one further behind than it may hold', () => {
    const empty = new GroupTimeline('g1', limits, 3);
    expect(empty.catchUpTo(8)).toBe(true);
    expect(empty.head).toBe(8);
    expect(empty.catchUpTo(5)).toBe(false);
    const held = new GroupTimeline('g1', limits, 0);
    for (const m of range(1, 3)) held.offer(m);
    // Within reach: kept; the stream replays 4..13 after since = 3.
    expect(held.catchUpTo(13)).toBe(false);
    expect(seqs(held)).toEqual([1, 2, 3]);
    // …and if nothing replays it (a member re-added while holding seq 3), it is a gap to repair.
    expect(held.gap).toEqual({ afterSeq: 3, upTo: 13 });
    // Further than maxMessages: the window could not hold the catch-up anyway.
    expect(held.catchUpTo(14)).toBe(true);
    expect(held.messages).toEqual([]);
    expect(held.head).toBe(14);
    expect(held.hasOlder).toBe(true);
  });
});

describe('backoffDelay', () => {
  const options = { baseMs: 500, capMs: 30_000 };
  it('lies within [d/2, d] for d = min(cap, base · 2^attempt)', () => {
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const ceiling = Math.min(30_000, 500 * 2 ** attempt);
      expect(backoffDelay(attempt, options, () => 0)).toBe(ceiling / 2);
      expect(backoffDelay(attempt, options, () => 0.999999)).toBeLessThanOrEqual(ceiling);
      expect(backoffDelay(attempt, options, () => 0.999999)).toBeGreaterThan(ceiling * 0.99);
    }
  });

  it('never exceeds the cap, even after very many attempts', () => {
    expect(backoffDelay(6, options, () => 1)).toBe(30_000);
    expect(backoffDelay(1e6, options, () => 1)).toBe(30_000);
    expect(backoffDelay(1e6, options, () => 0)).toBe(15_000);
  });

  it('spreads clients out: different random draws give different delays', () => {
    const delays = new Set([0.1, 0.4, 0.7].map((r) => backoffDelay(3, options, () => r)));
    expect(delays.size).toBe(3);
  });
});

/** A storage with the shape of localStorage, optionally async like AsyncStorage. */
function memoryStorage(initial: Record<string, string> = {}, async = false) {
  const data = new Map(Object.entries(initial));
  const storage: KeyValueStorage = async
    ? { getItem: async (key) => data.get(key) ?? null, setItem: async (key, value) => void data.set(key, value) }
    : { getItem: (key) => data.get(key) ?? null, setItem: (key, value) => void data.set(key, value) };
  return { storage, data };
}

const outboxWith = (storage: KeyValueStorage | null, maxItems = 3) => {
  const changes: (readonly OutboxItem[])[] = [];
  const errors: unknown[] = [];
  const outbox = new Outbox({ maxItems, storage, onChange: (items) => changes.push(items), onError: (e) => errors.push(e) });
  return { outbox, changes, errors };
};

describe('Outbox', () => {
  const now = new Date('2026-01-01T00:00:00Z');

  it('hands out queued messages first-written first, one at a time', () => {
    const { outbox } = outboxWith(null);
    outbox.add('g1', 'one', 'c1', now);
    outbox.add('g2', 'two', 'c2', now);
    expect(outbox.next()?.clientMessageId).toBe('c1');
    outbox.update('c1', { status: OutboxStatus.sending, attempts: 1 });
    expect(outbox.next()?.clientMessageId).toBe('c2');
    outbox.update('c1', { status: OutboxStatus.queued });
    expect(outbox.next()?.clientMessageId).toBe('c1');
    outbox.update('c1', { status: OutboxStatus.failed, error: 'FORBIDDEN' });
    expect(outbox.next()?.clientMessageId).toBe('c2');
  });

  it('holds exactly maxItems unsent messages and refuses one more; sent ones do not count', () => {
    const { outbox } = outboxWith(null, 3);
    for (const id of ['c1', 'c2', 'c3']) outbox.add('g1', id, id, now);
    expect(() => outbox.add('g1', 'c4', 'c4', now)).toThrow(OutboxFullError);
    expect(outbox.items).toHaveLength(3);
    outbox.update('c1', { status: OutboxStatus.sent, seq: 1 });
    expect(outbox.add('g1', 'c4', 'c4', now).clientMessageId).toBe('c4');
    expect(() => outbox.add('g1', 'c5', 'c5', now)).toThrow(OutboxFullError);
  });

  it('persists unsent messages with their clientMessageId, and a reload queues again what was in flight', async () => {
    const { storage, data } = memoryStorage({}, true);
    const first = outboxWith(storage);
    await first.outbox.restore('k');
    first.outbox.add('g1', 'in flight', 'c1', now);
    first.outbox.update('c1', { status: OutboxStatus.sending, attempts: 2 });
    first.outbox.add('g1', 'refused', 'c2', now);
    first.outbox.update('c2', { status: OutboxStatus.failed, error: 'FORBIDDEN: not a member' });
    first.outbox.add('g1', 'done', 'c3', now);
    first.outbox.update('c3', { status: OutboxStatus.sent, seq: 9 });
    await first.outbox.flushed();

    const second = outboxWith(storage);
    second.outbox.add('g1', 'written after the reload', 'c9', now);
    await second.outbox.restore('k');
    expect(second.outbox.items.map((item) => [item.clientMessageId, item.status, item.attempts, item.error])).toEqual([
      ['c1', 'queued', 2, null],
      ['c2', 'failed', 0, 'FORBIDDEN: not a member'],
      ['c9', 'queued', 0, null],
    ]);
    expect(second.outbox.next()?.body).toBe('in flight');
    expect(JSON.parse(data.get('k') as string)).toHaveLength(3);
  });

  it('starts empty from unreadable storage and reports it', async () => {
    const { storage } = memoryStorage({ k: '{not json' });
    const { outbox, errors } = outboxWith(storage);
    await outbox.restore('k');
    expect(outbox.items).toEqual([]);
    expect(errors).toHaveLength(1);
    outbox.add('g1', 'still works', 'c1', now);
    expect(outbox.next()?.clientMessageId).toBe('c1');
  });

  it('keeps the limit when restoring: the oldest restored messages are kept', async () => {
    const stored = ['a', 'b', 'c', 'd'].map((id) => ({ clientMessageId: id, groupId: 'g', body: id, createdAt: now.toISOString(), attempts: 0 }));
    const { storage } = memoryStorage({ k: JSON.stringify(stored) });
    const { outbox } = outboxWith(storage, 3);
    outbox.add('g', 'new', 'n', now);
    await outbox.restore('k');
    expect(outbox.items.map((item) => item.clientMessageId)).toEqual(['a', 'b', 'n']);
  });
});

describe('stores', () => {
  it('tell listeners once per burst of changes, and always answer the newest value', async () => {
    const store = createStore(0, () => {});
    let calls = 0;
    store.subscribe(() => {
      calls += 1;
    });
    for (let i = 1; i <= 100; i += 1) store.set(i);
    expect(store.getSnapshot()).toBe(100);
    expect(calls).toBe(0);
    await Promise.resolve();
    expect(calls).toBe(1);
  });

  it('compute a snapshot once per change and keep its identity until the next one', () => {
    let computed = 0;
    const source = [1];
    const store = createComputedStore(() => {
      computed += 1;
      return [...source];
    }, () => {});
    const first = store.getSnapshot();
    expect(store.getSnapshot()).toBe(first);
    for (let i = 2; i <= 50; i += 1) {
      source.push(i);
      store.invalidate();
    }
    const next = store.getSnapshot();
    expect(next).toHaveLength(50);
    expect(store.getSnapshot()).toBe(next);
    expect(computed).toBe(2);
  });

  it('keep telling the other listeners when one throws', async () => {
    const errors: unknown[] = [];
    const store = createStore(0, (error) => errors.push(error));
    let told = false;
    store.subscribe(() => {
      throw new Error('listener bug');
    });
    store.subscribe(() => {
      told = true;
    });
    store.set(1);
    await Promise.resolve();
    expect(told).toBe(true);
    expect(errors).toHaveLength(1);
  });
});

describe('newClientMessageId', () => {
  it('is a fresh UUID within the server’s clientMessageId limit', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newClientMessageId()));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
