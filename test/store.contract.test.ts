/**
 * The storage port's contract: the same tests against every adapter in
 * `support/store-adapters.ts`, then what only the embedded adapter promises (one file shared by
 * several processes). Long on purpose: a port's contract is one suite, so every adapter is held
 * to all of it (house style 10).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidFenceError, InvalidOutboxPositionError, InvalidPageKeyError, InvalidPageLimitError } from '../src/storage/errors.ts';
import type { GroupRecord, MessageRecord, OutboxEvent, OutboxRecord, PoisonRecord, Store, UserGroupRecord } from '../src/storage/port.ts';
import { createSqliteStore, type SqliteStoreOptions } from '../src/storage/sqlite/store.ts';
import { disposeAll, onDispose } from './support/dispose.ts';
import { storeAdapters, type PoisonAccess } from './support/store-adapters.ts';
import { sleep } from './support/wait.ts';

const T0 = Date.UTC(2025, 0, 1);
/** A fixed point in time `seconds` after T0, so that tests control activity order. */
const at = (seconds: number): Date => new Date(T0 + seconds * 1000);

let nextId = 0;
const uniqueId = (prefix: string): string => `${prefix}${++nextId}`;

async function makeGroup(
  store: Store,
  id: string,
  ownerId: string,
  memberIds: readonly string[] = [],
  now: Date = at(0),
): Promise<GroupRecord> {
  return store.createGroup({ id, name: `Group ${id}`, ownerId, memberIds, now });
}

async function send(
  store: Store,
  groupId: string,
  senderId: string,
  options: { readonly now?: Date; readonly clientMessageId?: string; readonly body?: string } = {},
): Promise<MessageRecord> {
  const outcome = await store.appendMessage({
    id: uniqueId('m'),
    groupId,
    senderId,
    body: options.body ?? 'hello',
    clientMessageId: options.clientMessageId ?? uniqueId('c'),
    now: options.now ?? at(1),
  });
  if (!outcome.ok) throw new Error(`appendMessage failed: ${outcome.reason}`);
  expect(outcome.created).toBe(true);
  return outcome.message;
}

/** Rejects when `promise` takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The batch a pending `next()` of a follower resolves to, within `ms`. */
async function batchOf(
  pending: Promise<IteratorResult<readonly OutboxRecord[]>>,
  ms: number,
  what: string,
): Promise<readonly OutboxRecord[]> {
  const result = await within(pending, ms, what);
  if (result.done === true) throw new Error(`${what}: the follower ended instead`);
  return result.value;
}

/** Follows the outbox from `after` until a record satisfies `last`, and returns all read. */
async function readOutboxUntil(
  store: Store,
  after: string | null,
  last: (record: OutboxRecord) => boolean,
  timeoutMs = 10_000,
): Promise<OutboxRecord[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const records: OutboxRecord[] = [];
  try {
    for await (const batch of store.outbox.follow(after, controller.signal)) {
      for (const record of batch) {
        records.push(record);
        if (last(record)) return records;
      }
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  throw new Error(`outbox: the awaited record did not come within ${timeoutMs} ms (read ${records.length})`);
}

const isMarker = (groupId: string) => (record: OutboxRecord): boolean =>
  record.event.type === 'membersAdded' && record.event.groupId === groupId;

/** Reads from an open follower until a record satisfies `last`; returns all read. */
async function readUntil(
  iterator: AsyncIterator<readonly OutboxRecord[]>,
  last: (record: OutboxRecord) => boolean,
  timeoutMs = 10_000,
): Promise<OutboxRecord[]> {
  const records: OutboxRecord[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const batch = await batchOf(iterator.next(), Math.max(1, deadline - Date.now()), 'outbox tail');
    for (const record of batch) {
      records.push(record);
      if (last(record)) return records;
    }
  }
}

interface OutboxTail {
  /**
   * Every event committed since the previous call (or since the tail started), in commit
   * order: commits a marker (a new group) and reads up to it. Whatever came before the marker
   * is exactly what had been committed.
   */
  next(): Promise<OutboxEvent[]>;
  close(): Promise<void>;
}

/**
 * A follower from the start, read past everything committed so far, then kept open: from there
 * on every adapter yields in commit order (MongoDB from its change stream; reading from null
 * first goes through the collection, group by group). The markers' ids sort after every group
 * id of these tests, so the first read ends after all of it.
 */
const openTails: OutboxTail[] = [];

async function tailOutbox(store: Store): Promise<OutboxTail> {
  const controller = new AbortController();
  const iterator = store.outbox.follow(null, controller.signal)[Symbol.asyncIterator]();
  const drain = async (): Promise<OutboxEvent[]> => {
    const marker = uniqueId('~marker-');
    // Committed before the read below starts, so it is part of what that read sees first.
    await makeGroup(store, marker, 'marker-owner');
    const records = await readUntil(iterator, isMarker(marker));
    return records.slice(0, -1).map((record) => record.event);
  };
  const tail: OutboxTail = {
    next: drain,
    async close() {
      controller.abort();
      await iterator.return?.();
    },
  };
  openTails.push(tail);
  await drain();
  return tail;
}

/** Reads a whole keyset-paged list, checking each page's size and hasMore. */
async function readAllPages<T>(
  load: (after: string | undefined) => Promise<{ readonly items: readonly { key: string; node: T }[]; readonly hasMore: boolean }>,
  limit: number,
  total: number,
): Promise<T[]> {
  const nodes: T[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await load(after);
    const expected = Math.min(limit, total - nodes.length);
    expect(page.items).toHaveLength(expected);
    nodes.push(...page.items.map((item) => item.node));
    expect(page.hasMore).toBe(nodes.length < total);
    if (!page.hasMore) return nodes;
    after = page.items.at(-1)!.key;
  }
}

describe.each(storeAdapters)('Store contract', (adapter) => {
  const skipped = adapter.skipReason !== null;
  if (skipped) console.warn(`Store contract: skipping ${adapter.name}: ${adapter.skipReason}`);
  const title = skipped ? `${adapter.name} (skipped: ${adapter.skipReason})` : adapter.name;

  describe.skipIf(skipped)(title, () => {
    let store: Store;
    let poison: PoisonAccess;
    let dispose: () => Promise<void>;

    beforeEach(async () => {
      ({ store, poison, dispose } = await adapter.create());
    });
    afterEach(async () => {
      for (const tail of openTails.splice(0)) await tail.close();
      await dispose();
    });

    describe('users', () => {
      it('creates a user, renames it, and keeps a known name when upserted with null', async () => {
        await store.upsertUser({ id: 'u1', name: 'Ann' });
        await store.upsertUser({ id: 'u2', name: null });
        expect(await store.getUsers(['u1'])).toEqual([{ id: 'u1', name: 'Ann' }]);

        await store.upsertUser({ id: 'u1', name: 'Anna' });
        await store.upsertUser({ id: 'u1', name: null });
        await store.upsertUser({ id: 'u2', name: 'Bob' });
        const users = await store.getUsers(['u2', 'u1', 'nobody']);
        expect(users.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
          { id: 'u1', name: 'Anna' },
          { id: 'u2', name: 'Bob' },
        ]);
        expect(await store.getUsers([])).toEqual([]);
      });
    });

    describe('createGroup', () => {
      it('stores the owner and members once each, at seq 0, ignoring duplicates and the owner in memberIds', async () => {
        const group = await makeGroup(store, 'g1', 'owner', ['b', 'owner', 'a', 'b'], at(5));
        expect(group).toEqual({
          id: 'g1',
          name: 'Group g1',
          ownerId: 'owner',
          memberCount: 3,
          lastSeq: 0,
          createdAt: at(5),
          lastActivityAt: at(5),
        });
        expect(await store.getGroup('g1')).toEqual(group);
        for (const userId of ['owner', 'a', 'b']) {
          expect(await store.getMembership('g1', userId)).toEqual({
            groupId: 'g1',
            userId,
            lastReadSeq: 0,
            joinedSeq: 0,
            joinedAt: at(5),
          });
        }
      });

      it('appends one membersAdded event naming everyone, owner included, with seq 0', async () => {
        const tail = await tailOutbox(store);
        await makeGroup(store, 'g1', 'owner', ['b', 'owner', 'a', 'b']);
        const events = await tail.next();
        expect(events).toHaveLength(1);
        const [event] = events;
        expect(event).toMatchObject({ type: 'membersAdded', groupId: 'g1', seq: 0 });
        expect(event?.type === 'membersAdded' && [...event.userIds].sort()).toEqual(['a', 'b', 'owner']);
      });

      it('creates unknown users with a null name and keeps the names of known ones', async () => {
        await store.upsertUser({ id: 'owner', name: 'Olga' });
        await makeGroup(store, 'g1', 'owner', ['new']);
        const users = await store.getUsers(['owner', 'new']);
        expect(users.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
          { id: 'new', name: null },
          { id: 'owner', name: 'Olga' },
        ]);
      });

      it('getGroup, getGroups and getMembership find only what exists', async () => {
        const g1 = await makeGroup(store, 'g1', 'owner');
        const g2 = await makeGroup(store, 'g2', 'owner', ['a']);
        expect(await store.getGroup('nope')).toBeNull();
        const groups = await store.getGroups(['g2', 'nope', 'g1']);
        expect(groups.sort((a, b) => a.id.localeCompare(b.id))).toEqual([g1, g2]);
        expect(await store.getGroups([])).toEqual([]);
        expect(await store.getMembership('g1', 'a')).toBeNull();
        expect(await store.getMembership('nope', 'owner')).toBeNull();
      });
    });

    describe('addMembers', () => {
      it('adds only users who are not members yet, at the group lastSeq, with one event naming them', async () => {
        await makeGroup(store, 'g1', 'owner', ['a']);
        await send(store, 'g1', 'owner');
        await send(store, 'g1', 'a');
        const tail = await tailOutbox(store);

        const outcome = await store.addMembers('g1', ['a', 'b', 'owner', 'c', 'b'], { now: at(9), maxMembers: 10 });
        expect(outcome.ok).toBe(true);
        if (!outcome.ok) return;
        expect([...outcome.changed].sort()).toEqual(['b', 'c']);
        expect(outcome.group).toMatchObject({ id: 'g1', memberCount: 4, lastSeq: 2 });
        expect(await store.getGroup('g1')).toEqual(outcome.group);
        expect(await store.getMembership('g1', 'b')).toEqual({
          groupId: 'g1',
          userId: 'b',
          lastReadSeq: 2,
          joinedSeq: 2,
          joinedAt: at(9),
        });
        expect(await store.getMembership('g1', 'a')).toMatchObject({ joinedSeq: 0, lastReadSeq: 2 });
        expect(await store.getUsers(['c'])).toEqual([{ id: 'c', name: null }]);

        const events = await tail.next();
        expect(events).toHaveLength(1);
        const [event] = events;
        expect(event).toMatchObject({ type: 'membersAdded', groupId: 'g1', seq: 2 });
        expect(event?.type === 'membersAdded' && [...event.userIds].sort()).toEqual(['b', 'c']);
      });

      it('changes nothing and appends no event when nobody is new', async () => {
        const group = await makeGroup(store, 'g1', 'owner', ['a']);
        const tail = await tailOutbox(store);
        const outcome = await store.addMembers('g1', ['a', 'owner'], { now: at(9), maxMembers: 2 });
        expect(outcome).toEqual({ ok: true, group, changed: [] });
        expect(await tail.next()).toEqual([]);
      });

      it('accepts exactly maxMembers and refuses maxMembers + 1 without changing anything', async () => {
        await makeGroup(store, 'g1', 'owner', ['a']);
        const tail = await tailOutbox(store);

        const refused = await store.addMembers('g1', ['x1', 'x2', 'x3', 'a'], { now: at(9), maxMembers: 4 });
        expect(refused).toEqual({ ok: false, reason: 'TOO_MANY_MEMBERS' });
        expect(await store.getGroup('g1')).toMatchObject({ memberCount: 2 });
        expect(await store.getMembership('g1', 'x1')).toBeNull();
        expect(await store.getUsers(['x1', 'x2', 'x3'])).toEqual([]);
        expect(await tail.next()).toEqual([]);

        const accepted = await store.addMembers('g1', ['x1', 'x2', 'a'], { now: at(9), maxMembers: 4 });
        expect(accepted).toMatchObject({ ok: true, group: { memberCount: 4 } });
        expect(accepted.ok && [...accepted.changed].sort()).toEqual(['x1', 'x2']);
      });

      it('fails with GROUP_NOT_FOUND without creating users or events', async () => {
        const tail = await tailOutbox(store);
        expect(await store.addMembers('nope', ['ghost'], { now: at(1), maxMembers: 10 })).toEqual({
          ok: false,
          reason: 'GROUP_NOT_FOUND',
        });
        expect(await store.getUsers(['ghost'])).toEqual([]);
        expect(await tail.next()).toEqual([]);
      });
    });

    describe('removeMember', () => {
      it('removes the membership, counts it, and appends memberRemoved at the group lastSeq', async () => {
        await makeGroup(store, 'g1', 'owner', ['a', 'b'], at(0));
        await send(store, 'g1', 'a', { now: at(3) });
        const tail = await tailOutbox(store);

        const outcome = await store.removeMember('g1', 'a');
        expect(outcome).toMatchObject({ ok: true, changed: ['a'], group: { memberCount: 2, lastSeq: 1 } });
        expect(outcome.ok && outcome.group.lastActivityAt).toEqual(at(3));
        expect(await store.getGroup('g1')).toMatchObject({ memberCount: 2 });
        expect(await store.getMembership('g1', 'a')).toBeNull();
        expect(await store.listAllUserGroups('a')).toEqual([]);
        expect(await tail.next()).toEqual([
          { type: 'memberRemoved', groupId: 'g1', userId: 'a', seq: 1 },
        ]);
        // The removed member's earlier message stays in the history.
        expect(await store.listMessages({ groupId: 'g1', afterSeq: 0, limit: 10, order: 'asc' })).toHaveLength(1);
      });

      it('reports no change and appends nothing for a non-member; GROUP_NOT_FOUND for a missing group', async () => {
        const group = await makeGroup(store, 'g1', 'owner', ['a']);
        const tail = await tailOutbox(store);
        expect(await store.removeMember('g1', 'stranger')).toEqual({ ok: true, group, changed: [] });
        expect(await store.removeMember('nope', 'a')).toEqual({ ok: false, reason: 'GROUP_NOT_FOUND' });
        expect(await tail.next()).toEqual([]);
      });

      it('keeps the owner as owner after the owner leaves', async () => {
        await makeGroup(store, 'g1', 'owner', ['a']);
        const outcome = await store.removeMember('g1', 'owner');
        expect(outcome).toMatchObject({ ok: true, changed: ['owner'], group: { ownerId: 'owner', memberCount: 1 } });
        expect(await store.getGroup('g1')).toMatchObject({ ownerId: 'owner', memberCount: 1 });
      });
    });

    describe('listMembers', () => {
      const others = ['m07', 'm03', 'm11', 'm01', 'm09', 'm05', 'm02', 'm10', 'm04', 'm08', 'm06'];
      const everyone = ['m00', ...others].sort();

      beforeEach(async () => {
        await store.upsertUser({ id: 'm03', name: 'Third' });
        await makeGroup(store, 'g1', 'm00', others);
        await makeGroup(store, 'g2', 'm00', ['z']);
      });

      it('pages through every member in user id order with no skip, no repeat and exact hasMore', async () => {
        for (const limit of [1, 5, 11, 12, 13]) {
          const members = await readAllPages((after) => store.listMembers('g1', { limit, after }), limit, 12);
          expect(members.map((user) => user.id)).toEqual(everyone);
        }
        const first = await store.listMembers('g1', { limit: 4 });
        expect(first.items.map((item) => item.key)).toEqual(everyone.slice(0, 4));
        expect(first.items[3]).toEqual({ key: 'm03', node: { id: 'm03', name: 'Third' } });
      });

      it('answers limit 0 with no items and hasMore, and a missing group with an empty page', async () => {
        expect(await store.listMembers('g1', { limit: 0 })).toEqual({ items: [], hasMore: true });
        expect(await store.listMembers('nope', { limit: 5 })).toEqual({ items: [], hasMore: false });
        const last = await store.listMembers('g1', { limit: 5, after: 'm11' });
        expect(last).toEqual({ items: [], hasMore: false });
      });
    });

    describe('listUserGroups', () => {
      it('pages the user groups, most recently active first, with exact hasMore', async () => {
        for (let i = 1; i <= 7; i++) await makeGroup(store, `g${i}`, 'owner', ['u'], at(i * 10));
        await makeGroup(store, 'other', 'owner', [], at(100));

        const expected = ['g7', 'g6', 'g5', 'g4', 'g3', 'g2', 'g1'];
        for (const limit of [1, 3, 7, 8]) {
          const rows = await readAllPages((after) => store.listUserGroups('u', { limit, after }), limit, 7);
          expect(rows.map((row) => row.group.id)).toEqual(expected);
        }

        await send(store, 'g1', 'owner', { now: at(500) });
        const page = await store.listUserGroups('u', { limit: 2 });
        expect(page.hasMore).toBe(true);
        expect(page.items.map((item) => item.node.group.id)).toEqual(['g1', 'g7']);
        const first: UserGroupRecord | undefined = page.items[0]?.node;
        expect(first?.group).toMatchObject({ lastSeq: 1, lastActivityAt: at(500) });
        expect(first?.membership).toEqual({ groupId: 'g1', userId: 'u', lastReadSeq: 0, joinedSeq: 0, joinedAt: at(10) });
        expect((await store.listUserGroups('owner', { limit: 1 })).items[0]?.node.membership).toMatchObject({
          userId: 'owner',
          lastReadSeq: 1,
        });
      });

      it('orders groups active at the same time by id, newest id first, across pages', async () => {
        for (const id of ['b', 'd', 'a', 'e', 'c']) await makeGroup(store, id, 'u', [], at(7));
        await makeGroup(store, 'later', 'u', [], at(8));
        const rows = await readAllPages((after) => store.listUserGroups('u', { limit: 2, after }), 2, 6);
        expect(rows.map((row) => row.group.id)).toEqual(['later', 'e', 'd', 'c', 'b', 'a']);
      });

      it('lists only groups the user is a member of', async () => {
        await makeGroup(store, 'g1', 'owner', ['u']);
        await makeGroup(store, 'g2', 'owner', ['u']);
        await makeGroup(store, 'g3', 'owner');
        await store.removeMember('g2', 'u');
        const page = await store.listUserGroups('u', { limit: 10 });
        expect(page.items.map((item) => item.node.group.id)).toEqual(['g1']);
        expect(page.hasMore).toBe(false);
        expect(await store.listUserGroups('nobody', { limit: 10 })).toEqual({ items: [], hasMore: false });
        expect(await store.listUserGroups('u', { limit: 0 })).toEqual({ items: [], hasMore: true });
      });
    });

    describe('listAllUserGroups', () => {
      it('returns every group of the user with its lastSeq', async () => {
        for (let i = 1; i <= 30; i++) await makeGroup(store, `g${String(i).padStart(2, '0')}`, 'owner', ['u']);
        await makeGroup(store, 'not-mine', 'owner');
        await send(store, 'g07', 'u');
        await send(store, 'g07', 'owner');
        const groups = await store.listAllUserGroups('u');
        expect(groups.map((group) => group.id).sort()).toEqual(
          Array.from({ length: 30 }, (_, i) => `g${String(i + 1).padStart(2, '0')}`),
        );
        expect(groups.find((group) => group.id === 'g07')).toMatchObject({ lastSeq: 2, memberCount: 2 });
        expect(await store.listAllUserGroups('nobody')).toEqual([]);
      });
    });

    describe('appendMessage', () => {
      it('numbers messages 1..n without gaps and records the newest on the group', async () => {
        await makeGroup(store, 'g1', 'owner', ['a'], at(0));
        await makeGroup(store, 'g2', 'owner', ['a'], at(0));
        const sent: MessageRecord[] = [];
        for (let i = 1; i <= 6; i++) {
          sent.push(await send(store, 'g1', i % 2 === 0 ? 'a' : 'owner', { now: at(i), body: `body ${i}` }));
        }
        expect(sent.map((message) => message.seq)).toEqual([1, 2, 3, 4, 5, 6]);
        expect((await send(store, 'g2', 'a')).seq).toBe(1);

        const last = sent.at(-1)!;
        expect(last).toMatchObject({ groupId: 'g1', senderId: 'a', body: 'body 6', createdAt: at(6) });
        expect(await store.getMessage(last.id)).toEqual(last);
        expect(await store.getMessage('nope')).toBeNull();
        expect(await store.getGroup('g1')).toMatchObject({ lastSeq: 6, lastActivityAt: at(6), createdAt: at(0) });
      });

      it('gives five concurrent appends to one group the seqs 1..5', async () => {
        await makeGroup(store, 'g1', 'owner', ['a', 'b', 'c', 'd']);
        const sent = await Promise.all(['owner', 'a', 'b', 'c', 'd'].map((sender) => send(store, 'g1', sender)));
        expect(sent.map((message) => message.seq).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5]);
        expect(await store.getGroup('g1')).toMatchObject({ lastSeq: 5 });
      });

      it('returns the original for a repeated clientMessageId and writes nothing', async () => {
        await makeGroup(store, 'g1', 'owner', ['a'], at(0));
        const original = await send(store, 'g1', 'a', { clientMessageId: 'c-1', body: 'first', now: at(1) });
        const tail = await tailOutbox(store);

        const retry = await store.appendMessage({
          id: 'unused-id',
          groupId: 'g1',
          senderId: 'a',
          body: 'second',
          clientMessageId: 'c-1',
          now: at(2),
        });
        expect(retry).toEqual({ ok: true, message: original, created: false });
        expect(await store.getMessage('unused-id')).toBeNull();
        expect(await store.getGroup('g1')).toMatchObject({ lastSeq: 1, lastActivityAt: at(1) });
        expect(await tail.next()).toEqual([]);
      });

      it('scopes clientMessageId to one sender in one group', async () => {
        await makeGroup(store, 'g1', 'owner', ['a']);
        await makeGroup(store, 'g2', 'owner', ['a']);
        const first = await send(store, 'g1', 'a', { clientMessageId: 'same' });
        const otherSender = await send(store, 'g1', 'owner', { clientMessageId: 'same' });
        const otherGroup = await send(store, 'g2', 'a', { clientMessageId: 'same' });
        expect([first.seq, otherSender.seq, otherGroup.seq]).toEqual([1, 2, 1]);
      });

      it('refuses NOT_A_MEMBER and GROUP_NOT_FOUND without changing anything', async () => {
        await makeGroup(store, 'g1', 'owner', ['a']);
        await send(store, 'g1', 'a');
        const tail = await tailOutbox(store);
        const message = { body: 'x', clientMessageId: 'c', now: at(50) };

        expect(await store.appendMessage({ ...message, id: 'x1', groupId: 'g1', senderId: 'stranger' })).toEqual({
          ok: false,
          reason: 'NOT_A_MEMBER',
        });
        expect(await store.appendMessage({ ...message, id: 'x2', groupId: 'nope', senderId: 'a' })).toEqual({
          ok: false,
          reason: 'GROUP_NOT_FOUND',
        });
        expect(await store.getMessage('x1')).toBeNull();
        expect(await store.getMessage('x2')).toBeNull();
        expect(await store.getGroup('g1')).toMatchObject({ lastSeq: 1, lastActivityAt: at(1) });
        expect(await tail.next()).toEqual([]);
        expect((await send(store, 'g1', 'a')).seq).toBe(2);
      });

      it("moves the sender's lastReadSeq to the new seq and leaves other members' alone", async () => {
        await makeGroup(store, 'g1', 'owner', ['a']);
        await send(store, 'g1', 'owner');
        await send(store, 'g1', 'owner');
        await send(store, 'g1', 'a');
        expect(await store.getMembership('g1', 'a')).toMatchObject({ lastReadSeq: 3 });
        expect(await store.getMembership('g1', 'owner')).toMatchObject({ lastReadSeq: 2 });
      });
    });

    describe('reading messages', () => {
      beforeEach(async () => {
        await makeGroup(store, 'g1', 'owner', ['a']);
        await makeGroup(store, 'g2', 'owner');
        for (let i = 1; i <= 10; i++) await send(store, 'g1', 'a', { body: `g1 #${i}`, now: at(i) });
        await send(store, 'g2', 'owner', { body: 'g2 #1' });
      });

      const seqs = async (range: Parameters<Store['listMessages']>[0]): Promise<number[]> =>
        (await store.listMessages(range)).map((message) => message.seq);

      it('lists ascending ranges oldest first', async () => {
        expect(await seqs({ groupId: 'g1', afterSeq: 0, limit: 100, order: 'asc' })).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        expect(await seqs({ groupId: 'g1', afterSeq: 3, limit: 4, order: 'asc' })).toEqual([4, 5, 6, 7]);
        expect(await seqs({ groupId: 'g1', afterSeq: 2, beforeSeq: 6, limit: 100, order: 'asc' })).toEqual([3, 4, 5]);
        expect(await seqs({ groupId: 'g1', afterSeq: 2, beforeSeq: 6, limit: 2, order: 'asc' })).toEqual([3, 4]);
        expect(await seqs({ groupId: 'g1', afterSeq: 10, limit: 5, order: 'asc' })).toEqual([]);
        expect(await seqs({ groupId: 'g1', afterSeq: 4, beforeSeq: 5, limit: 5, order: 'asc' })).toEqual([]);
        expect(await seqs({ groupId: 'g1', afterSeq: 0, limit: 0, order: 'asc' })).toEqual([]);
        expect(await seqs({ groupId: 'nope', afterSeq: 0, limit: 5, order: 'asc' })).toEqual([]);
        const [message] = await store.listMessages({ groupId: 'g1', afterSeq: 6, limit: 1, order: 'asc' });
        expect(message).toMatchObject({ groupId: 'g1', seq: 7, senderId: 'a', body: 'g1 #7', createdAt: at(7) });
      });

      it('lists descending ranges newest first', async () => {
        expect(await seqs({ groupId: 'g1', afterSeq: 0, limit: 3, order: 'desc' })).toEqual([10, 9, 8]);
        expect(await seqs({ groupId: 'g1', afterSeq: 0, beforeSeq: 6, limit: 3, order: 'desc' })).toEqual([5, 4, 3]);
        expect(await seqs({ groupId: 'g1', afterSeq: 3, beforeSeq: 6, limit: 10, order: 'desc' })).toEqual([5, 4]);
        expect(await seqs({ groupId: 'g1', afterSeq: 7, limit: 10, order: 'desc' })).toEqual([10, 9, 8]);
        expect(await seqs({ groupId: 'g1', afterSeq: 0, beforeSeq: 1, limit: 10, order: 'desc' })).toEqual([]);
        expect(await seqs({ groupId: 'g2', afterSeq: 0, limit: 10, order: 'desc' })).toEqual([1]);
      });

      it('getLastMessages returns the newest message of each group that has one', async () => {
        await makeGroup(store, 'empty', 'owner');
        const last = await store.getLastMessages(['g2', 'g1', 'empty', 'nope']);
        expect(last.map((message) => [message.groupId, message.seq, message.body]).sort()).toEqual([
          ['g1', 10, 'g1 #10'],
          ['g2', 1, 'g2 #1'],
        ]);
        expect(await store.getLastMessages([])).toEqual([]);
      });
    });

    describe('markRead', () => {
      it('moves lastReadSeq forward, never back, and returns null for non-members', async () => {
        await makeGroup(store, 'g1', 'owner', ['a']);
        for (let i = 0; i < 5; i++) await send(store, 'g1', 'owner');

        expect(await store.markRead('g1', 'a', 3)).toEqual({
          groupId: 'g1',
          userId: 'a',
          lastReadSeq: 3,
          joinedSeq: 0,
          joinedAt: at(0),
        });
        expect(await store.markRead('g1', 'a', 2)).toMatchObject({ lastReadSeq: 3 });
        expect(await store.markRead('g1', 'a', 3)).toMatchObject({ lastReadSeq: 3 });
        expect(await store.markRead('g1', 'a', 5)).toMatchObject({ lastReadSeq: 5 });
        expect(await store.getMembership('g1', 'a')).toMatchObject({ lastReadSeq: 5 });
        expect(await store.markRead('g1', 'owner', 1)).toMatchObject({ lastReadSeq: 5 });
        expect(await store.markRead('g1', 'stranger', 1)).toBeNull();
        expect(await store.markRead('nope', 'a', 1)).toBeNull();
      });
    });

    describe('outbox', () => {
      it('yields events of every type in commit order, with dates intact', async () => {
        await makeGroup(store, 'g1', 'owner', ['a'], at(0));
        const message = await send(store, 'g1', 'a', { now: at(42), body: 'hi' });
        await store.addMembers('g1', ['b'], { now: at(43), maxMembers: 10 });
        await store.removeMember('g1', 'a');
        const records = await readOutboxUntil(store, null, (record) => record.event.type === 'memberRemoved');

        // The port does not order the names in membersAdded.
        const events = records.map(({ event }) =>
          event.type === 'membersAdded' ? { ...event, userIds: [...event.userIds].sort() } : event,
        );
        expect(events).toEqual([
          { type: 'membersAdded', groupId: 'g1', userIds: ['a', 'owner'], seq: 0 },
          { type: 'message', message },
          { type: 'membersAdded', groupId: 'g1', userIds: ['b'], seq: 1 },
          { type: 'memberRemoved', groupId: 'g1', userId: 'a', seq: 1 },
        ]);
        const event = records[1]?.event;
        expect(event?.type === 'message' && event.message.createdAt).toBeInstanceOf(Date);
        expect(event?.type === 'message' && event.message.createdAt.getTime()).toBe(at(42).getTime());
        expect(new Set(records.map((record) => record.position)).size).toBe(4);
      });

      it('resumes strictly after a position', async () => {
        await makeGroup(store, 'g1', 'owner', ['a']);
        const sent: MessageRecord[] = [];
        for (let i = 0; i < 4; i++) sent.push(await send(store, 'g1', 'a'));
        const all = await readOutboxUntil(store, null, (record) => record.event.type === 'message' && record.event.message.seq === 4);
        const resumed = await readOutboxUntil(store, all[2]!.position, (record) => record.position === all[4]!.position);
        expect(resumed.map((record) => record.event)).toEqual(sent.slice(2).map((message) => ({ type: 'message', message })));
        expect(resumed.map((record) => record.position)).toEqual(all.slice(3).map((record) => record.position));
      });

      it('wakes a caught-up follower when a new record is committed', async () => {
        await makeGroup(store, 'g1', 'owner');
        const controller = new AbortController();
        const iterator = store.outbox.follow(null, controller.signal)[Symbol.asyncIterator]();
        try {
          expect(await batchOf(iterator.next(), 5000, 'first batch')).toHaveLength(1);
          const pending = iterator.next();
          await sleep(50);
          const message = await send(store, 'g1', 'owner');
          const batch = await batchOf(pending, 5000, 'follower after an append');
          expect(batch.map((record) => record.event)).toEqual([{ type: 'message', message }]);
        } finally {
          controller.abort();
          await iterator.return?.();
        }
      });

      it('ends promptly when the signal aborts while waiting, and at once when already aborted', async () => {
        await makeGroup(store, 'g1', 'owner');
        const controller = new AbortController();
        const iterator = store.outbox.follow(null, controller.signal)[Symbol.asyncIterator]();
        await batchOf(iterator.next(), 5000, 'first batch');
        const pending = iterator.next();
        await sleep(50);
        controller.abort();
        expect(await within(pending, 1000, 'end after abort')).toMatchObject({ done: true });

        const aborted = AbortSignal.abort();
        const batches: unknown[] = [];
        for await (const batch of store.outbox.follow(null, aborted)) batches.push(batch);
        expect(batches).toEqual([]);
      });

      it('keeps delivering the records after an acknowledged position', async () => {
        await makeGroup(store, 'g1', 'owner');
        await send(store, 'g1', 'owner');
        const first = await readOutboxUntil(store, null, (record) => record.event.type === 'message');
        await store.outbox.acknowledge(first.at(-1)!.position);
        const message = await send(store, 'g1', 'owner');
        const isNew = (record: OutboxRecord): boolean =>
          record.event.type === 'message' && record.event.message.id === message.id;
        expect((await readOutboxUntil(store, first.at(-1)!.position, isNew)).map((record) => record.event)).toEqual([
          { type: 'message', message },
        ]);
        expect((await readOutboxUntil(store, null, isNew)).at(-1)?.event).toEqual({ type: 'message', message });
      });
    });

    describe('poison records (an outbox record that fails to decode)', () => {
      /** Follows from the start until the marker group's record, with `onPoison` collecting. */
      async function readPast(marker: string): Promise<{ events: OutboxEvent[]; poisons: PoisonRecord[] }> {
        const poisons: PoisonRecord[] = [];
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), 10_000);
        const events: OutboxEvent[] = [];
        try {
          const onPoison = async (record: PoisonRecord): Promise<void> => {
            poisons.push(record);
          };
          for await (const batch of store.outbox.follow(null, controller.signal, { onPoison })) {
            for (const record of batch) {
              events.push(record.event);
              if (isMarker(marker)(record)) return { events, poisons };
            }
          }
        } finally {
          clearTimeout(timer);
          controller.abort();
        }
        throw new Error(`outbox: the marker did not come (read ${events.length}, ${poisons.length} poison)`);
      }

      it('hands it to onPoison instead of yielding it and yields the records after it; quarantine moves it aside once', async () => {
        await makeGroup(store, 'g1', 'owner');
        const first = await send(store, 'g1', 'owner');
        // Group ids the markers of this suite sort after: the collection read goes group by group.
        await poison.write('y-poison');
        const second = await send(store, 'g1', 'owner');
        await makeGroup(store, 'z-end', 'owner');

        // Without onPoison, following fails with the decode error.
        const failing = (async () => {
          for await (const batch of store.outbox.follow(null, AbortSignal.timeout(10_000))) void batch;
        })();
        await expect(failing).rejects.toThrow(TypeError);

        const { events, poisons } = await readPast('z-end');
        expect(events.map((event) => (event.type === 'message' ? event.message.id : `${event.type} ${event.groupId}`))).toEqual([
          'membersAdded g1',
          first.id,
          second.id,
          'membersAdded z-end',
        ]);
        expect(poisons).toHaveLength(1);
        const [found] = poisons as [PoisonRecord];
        expect(found.reason).toMatch(/^Not an outbox event: /);
        expect(found.excerpt).toContain('"id":42');
        expect(await poison.quarantined()).toEqual([]);

        await store.outbox.quarantine(found);
        expect(await poison.quarantined()).toEqual([found.reason]);
        // Gone from the outbox: read again, nothing is poison, the same events come.
        const again = await readPast('z-end');
        expect(again.poisons).toEqual([]);
        expect(again.events).toHaveLength(4);
        // Idempotent: moving it again changes nothing.
        await store.outbox.quarantine(found);
        expect(await poison.quarantined()).toEqual([found.reason]);
      });

      it('fails the follower when onPoison rejects, so nothing after the poison is yielded past it', async () => {
        await makeGroup(store, 'g1', 'owner');
        await poison.write('y-poison');
        await makeGroup(store, 'z-end', 'owner');
        const refused = new Error('dead-letter place unavailable');
        const yielded: OutboxRecord[] = [];
        const following = (async () => {
          const onPoison = async (): Promise<void> => {
            throw refused;
          };
          for await (const batch of store.outbox.follow(null, AbortSignal.timeout(10_000), { onPoison })) yielded.push(...batch);
        })();
        await expect(following).rejects.toBe(refused);
        expect(yielded.some(isMarker('z-end'))).toBe(false);
      });
    });

    describe('checkpoints and health', () => {
      it('stores, overwrites and keeps checkpoints apart by name', async () => {
        expect(await store.getCheckpoint('relay')).toBeNull();
        expect(await store.setCheckpoint('relay', 'p1', 1)).toBe(true);
        expect(await store.setCheckpoint('other', 'q1', 5)).toBe(true);
        expect(await store.setCheckpoint('relay', 'p2', 1)).toBe(true);
        expect(await store.getCheckpoint('relay')).toEqual({ position: 'p2', fence: 1 });
        expect(await store.getCheckpoint('other')).toEqual({ position: 'q1', fence: 5 });
      });

      it('claims a checkpoint for a fence, keeping its position, and refuses a lower fence', async () => {
        // A new checkpoint: claimed with no position yet.
        expect(await store.claimCheckpoint('relay', 3)).toEqual({ position: null, fence: 3 });
        expect(await store.getCheckpoint('relay')).toEqual({ position: null, fence: 3 });
        expect(await store.setCheckpoint('relay', 'p1', 3)).toBe(true);
        // A newer holder claims it: the position stays, the fence rises.
        expect(await store.claimCheckpoint('relay', 4)).toEqual({ position: 'p1', fence: 4 });
        // The deposed holder (3) is refused, and nothing changes.
        expect(await store.setCheckpoint('relay', 'stale', 3)).toBe(false);
        expect(await store.claimCheckpoint('relay', 3)).toBeNull();
        expect(await store.getCheckpoint('relay')).toEqual({ position: 'p1', fence: 4 });
        // The current holder and a newer one write; the newer one's fence is kept.
        expect(await store.setCheckpoint('relay', 'p2', 4)).toBe(true);
        expect(await store.setCheckpoint('relay', 'p3', 9)).toBe(true);
        expect(await store.setCheckpoint('relay', 'p4', 4)).toBe(false);
        expect(await store.getCheckpoint('relay')).toEqual({ position: 'p3', fence: 9 });
      });

      it('refuses fences that are not positive safe integers, changing nothing', async () => {
        for (const fence of [0, -1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
          await expect(store.claimCheckpoint('relay', fence), String(fence)).rejects.toThrow(InvalidFenceError);
          await expect(store.setCheckpoint('relay', 'p', fence), String(fence)).rejects.toThrow(InvalidFenceError);
        }
        expect(await store.getCheckpoint('relay')).toBeNull();
      });

      it('answers ping', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
      });
    });

    describe('arguments it refuses', () => {
      // Callers tell these apart by class: only a foreign page key is a client's input (it
      // travels in a cursor), so only it becomes "not a cursor this list returned".
      it('names each refusal by its class, reading and changing nothing', async () => {
        await makeGroup(store, 'g1', 'owner');
        await expect(store.listUserGroups('owner', { limit: 1, after: 'garbage' })).rejects.toThrow(InvalidPageKeyError);
        for (const limit of [-1, 1.5, Number.NaN]) {
          await expect(store.listMembers('g1', { limit }), String(limit)).rejects.toThrow(InvalidPageLimitError);
          await expect(store.listUserGroups('owner', { limit }), String(limit)).rejects.toThrow(InvalidPageLimitError);
          await expect(
            store.listMessages({ groupId: 'g1', afterSeq: 0, limit, order: 'asc' }),
            String(limit),
          ).rejects.toThrow(InvalidPageLimitError);
        }
        await expect(store.outbox.acknowledge('not-a-position')).rejects.toThrow(InvalidOutboxPositionError);
        await expect(store.outbox.backlog('not-a-position')).rejects.toThrow(InvalidOutboxPositionError);
        // Each is its own class, not only a RangeError: a page key error is never a limit's.
        await expect(store.listUserGroups('owner', { limit: 1, after: 'garbage' })).rejects.not.toThrow(InvalidPageLimitError);
        await expect(store.listMembers('g1', { limit: -1 })).rejects.not.toThrow(InvalidPageKeyError);
        expect((await store.listMembers('g1', { limit: 10 })).items.map((item) => item.key)).toEqual(['owner']);
      });
    });
  });
});

describe('embedded store (SQLite)', () => {
  afterAll(disposeAll);

  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'chat-sqlite-'));
    onDispose(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  function open(options: SqliteStoreOptions): Store {
    const store = createSqliteStore(options);
    onDispose(() => store.close());
    return store;
  }

  it('creates dataDir recursively and opens chat.db in WAL mode at schema version 2', async () => {
    const dataDir = join(await tempDir(), 'nested', 'deeper');
    const store = open({ dataDir });
    await store.ping();
    const db = new Database(join(dataDir, 'chat.db'), { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('user_version', { simple: true })).toBe(2);
    } finally {
      db.close();
    }
  });

  it('migrates a schema 1 file: checkpoints keep their position and take fence 0', async () => {
    const dataDir = await tempDir();
    await createSqliteStore({ dataDir }).close();
    // Turn the new file back into what version 1 wrote: checkpoints without a fence.
    const raw = new Database(join(dataDir, 'chat.db'));
    raw.exec(`DROP TABLE checkpoints;
      CREATE TABLE checkpoints (name TEXT PRIMARY KEY NOT NULL, position TEXT NOT NULL) WITHOUT ROWID;
      INSERT INTO checkpoints (name, position) VALUES ('relay', '41');`);
    raw.pragma('user_version = 1');
    raw.close();

    const store = open({ dataDir });
    expect(await store.getCheckpoint('relay')).toEqual({ position: '41', fence: 0 });
    // The first fenced relay claims it and resumes where the unfenced one stopped.
    expect(await store.claimCheckpoint('relay', 1)).toEqual({ position: '41', fence: 1 });
    const check = new Database(join(dataDir, 'chat.db'), { readonly: true });
    try {
      expect(check.pragma('user_version', { simple: true })).toBe(2);
    } finally {
      check.close();
    }
  });

  it('keeps data and checkpoints across close and reopen', async () => {
    const dataDir = await tempDir();
    const first = createSqliteStore({ dataDir, synchronous: 'NORMAL' });
    await makeGroup(first, 'g1', 'owner');
    const message = await send(first, 'g1', 'owner');
    await first.setCheckpoint('relay', '2', 7);
    await first.close();
    await first.close();
    await expect(first.ping()).rejects.toThrow();

    const second = open({ dataDir });
    expect(await second.getCheckpoint('relay')).toEqual({ position: '2', fence: 7 });
    expect(await second.getMessage(message.id)).toEqual(message);
    expect((await send(second, 'g1', 'owner')).seq).toBe(2);
  });

  it('wakes a waiting follower on commit without waiting for the poll', async () => {
    const store = open({ dataDir: await tempDir(), pollIntervalMs: 60_000 });
    await makeGroup(store, 'g1', 'owner');
    const controller = new AbortController();
    const iterator = store.outbox.follow(null, controller.signal)[Symbol.asyncIterator]();
    try {
      await batchOf(iterator.next(), 1000, 'first batch');
      const pending = iterator.next();
      await sleep(20);
      const message = await send(store, 'g1', 'owner');
      const batch = await batchOf(pending, 1000, 'follower woken by the commit');
      expect(batch.map((record) => record.event)).toEqual([{ type: 'message', message }]);
    } finally {
      controller.abort();
    }
  });

  it('yields batches of at most outboxBatchSize, in order', async () => {
    const store = open({ dataDir: await tempDir(), outboxBatchSize: 2 });
    await makeGroup(store, 'g1', 'owner');
    for (let i = 0; i < 4; i++) await send(store, 'g1', 'owner');
    const controller = new AbortController();
    const sizes: number[] = [];
    const positions: string[] = [];
    for await (const batch of store.outbox.follow(null, controller.signal)) {
      sizes.push(batch.length);
      positions.push(...batch.map((record) => record.position));
      if (positions.length === 5) controller.abort();
    }
    expect(sizes).toEqual([2, 2, 1]);
    expect(positions).toEqual(['1', '2', '3', '4', '5']);
  });

  it('deletes acknowledged records and never reuses their positions', async () => {
    const store = open({ dataDir: await tempDir() });
    await makeGroup(store, 'g1', 'owner');
    await send(store, 'g1', 'owner');
    await send(store, 'g1', 'owner');
    await store.outbox.acknowledge('2');
    const rest = await readOutboxUntil(store, null, () => true);
    expect(rest.map((record) => record.position)).toEqual(['3']);

    // With every record gone, a plain rowid would hand out 3 again and a follower resuming
    // after 3 would never see it.
    await store.outbox.acknowledge('3');
    const message = await send(store, 'g1', 'owner');
    const next = await readOutboxUntil(store, '3', () => true);
    expect(next).toEqual([{ position: '4', event: { type: 'message', message } }]);
    await expect(store.outbox.acknowledge('not-a-position')).rejects.toThrow(InvalidOutboxPositionError);
  });

  it('commits the sends of one event-loop turn together, and one failing send fails alone', async () => {
    const dataDir = await tempDir();
    const store = open({ dataDir, synchronous: 'NORMAL' });
    await makeGroup(store, 'g-batch', 'owner');
    const message = (id: string, clientMessageId: string) => ({
      id,
      groupId: 'g-batch',
      senderId: 'owner',
      body: 'b',
      clientMessageId,
      now: at(1),
    });
    // Same turn: one transaction. The third reuses the first's message id and breaks the
    // primary key; the fourth retries the second's clientMessageId within the same batch.
    const results = await Promise.allSettled([
      store.appendMessage(message('m-batch-1', 'c1')),
      store.appendMessage(message('m-batch-2', 'c2')),
      store.appendMessage(message('m-batch-1', 'c3')),
      store.appendMessage(message('m-batch-4', 'c2')),
      store.appendMessage(message('m-batch-5', 'c5')),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const outcomes = results.map((result) => (result.status === 'fulfilled' ? result.value : null));
    expect(outcomes.map((outcome) => (outcome?.ok === true ? [outcome.message.seq, outcome.created] : null))).toEqual([
      [1, true],
      [2, true],
      null,
      [2, false],
      [3, true],
    ]);
    // The failed send left no trace: seqs stay contiguous and the outbox has three messages.
    expect((await store.getGroup('g-batch'))?.lastSeq).toBe(3);
    const seqs = (await store.listMessages({ groupId: 'g-batch', afterSeq: 0, limit: 10, order: 'asc' })).map((m) => m.seq);
    expect(seqs).toEqual([1, 2, 3]);
    expect(await store.outbox.backlog(null)).toBe(4);
  });

  it('ends waiting followers on close', async () => {
    const store = createSqliteStore({ dataDir: await tempDir(), pollIntervalMs: 60_000 });
    const iterator = store.outbox.follow(null, new AbortController().signal)[Symbol.asyncIterator]();
    const pending = iterator.next();
    await sleep(20);
    await store.close();
    expect(await within(pending, 1000, 'end after close')).toMatchObject({ done: true });
  });

  it('lets two stores on one file append to one group concurrently with contiguous seqs, and follow each other', async () => {
    const dataDir = await tempDir();
    const a = open({ dataDir, pollIntervalMs: 20 });
    const b = open({ dataDir, pollIntervalMs: 20 });
    await makeGroup(a, 'g1', 'owner');

    const sent = await Promise.all(
      Array.from({ length: 20 }, (_, i) => send(i % 2 === 0 ? a : b, 'g1', 'owner')),
    );
    expect(sent.map((message) => message.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await b.getGroup('g1')).toMatchObject({ lastSeq: 20 });

    const controller = new AbortController();
    const iterator = a.outbox.follow(null, controller.signal)[Symbol.asyncIterator]();
    try {
      expect(await batchOf(iterator.next(), 1000, 'backlog')).toHaveLength(21);
      const pending = iterator.next();
      await sleep(20);
      const message = await send(b, 'g1', 'owner');
      const batch = await batchOf(pending, 2000, 'record committed by the other store');
      expect(batch.map((record) => record.event)).toEqual([{ type: 'message', message }]);
    } finally {
      controller.abort();
    }
  });

  it("keeps the event loop free while a write waits for another connection's lock", async () => {
    const dataDir = await tempDir();
    const store = open({ dataDir });
    await makeGroup(store, 'g1', 'owner');
    // Another connection (another process, in production) holds the write lock.
    const other = new Database(join(dataDir, 'chat.db'));
    other.exec('BEGIN IMMEDIATE');
    const events: string[] = [];
    const appended = send(store, 'g1', 'owner').then((message) => {
      events.push('appended');
      return message;
    });
    // With the write on this thread, busy_timeout would sleep the event loop: no timer could
    // fire and the lock could never be released from here.
    await new Promise((resolve) => setTimeout(resolve, 50));
    events.push('timer fired');
    other.exec('COMMIT');
    other.close();
    expect((await appended).seq).toBe(1);
    expect(events).toEqual(['timer fired', 'appended']);
  });

  it('serialises appends from several processes without SQLITE_BUSY', async () => {
    const dataDir = await tempDir();
    const store = open({ dataDir });
    const senders = ['p1', 'p2', 'p3'];
    await makeGroup(store, 'g1', 'owner', senders);
    const perProcess = 60;
    const storeModule = new URL('../src/storage/sqlite/store.ts', import.meta.url).href;
    // Each child waits for "go" on stdin after opening the store, so their appends overlap; the
    // pause between appends (a server between requests) lets the others take the write lock,
    // which a child appending in a tight loop would re-take before they wake from busy waiting.
    const childScript = `
      const { createSqliteStore } = await import(process.env.STORE_MODULE);
      const store = createSqliteStore({ dataDir: process.env.DATA_DIR });
      const sender = process.env.SENDER;
      process.stdout.write('ready\\n');
      await new Promise((resolve) => process.stdin.once('data', resolve));
      for (let i = 0; i < ${perProcess}; i++) {
        const outcome = await store.appendMessage({
          id: sender + '-' + i, groupId: 'g1', senderId: sender, body: 'b', clientMessageId: 'c' + i, now: new Date(),
        });
        if (!outcome.ok) throw new Error(outcome.reason);
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
      }
      await store.close();
      process.stdin.destroy();
    `;
    const root = fileURLToPath(new URL('..', import.meta.url));
    const children = senders.map((sender) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', childScript], {
        cwd: root,
        env: { ...process.env, STORE_MODULE: storeModule, DATA_DIR: dataDir, SENDER: sender },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const ready = new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      const exited = new Promise<void>((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${sender} exited ${code}: ${stderr}`))));
      });
      return { child, ready, exited };
    });
    try {
      await within(Promise.all(children.map((c) => c.ready)), 20_000, 'children ready');
      for (const { child } of children) child.stdin.write('go\n');
      await within(Promise.all(children.map((c) => c.exited)), 20_000, 'children done');
    } finally {
      for (const { child } of children) if (child.exitCode === null) child.kill();
    }

    const total = senders.length * perProcess;
    const messages = await store.listMessages({ groupId: 'g1', afterSeq: 0, limit: total + 1, order: 'asc' });
    expect(messages.map((message) => message.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const switches = messages.filter((message, i) => i > 0 && message.senderId !== messages[i - 1]?.senderId).length;
    // Three blocks one after another would mean the processes never competed for the lock.
    expect(switches).toBeGreaterThan(senders.length - 1);
    for (const sender of senders) {
      expect(messages.filter((message) => message.senderId === sender)).toHaveLength(perProcess);
    }
    const events = await readOutboxUntil(store, null, (record) => record.event.type === 'message' && record.event.message.seq === total);
    // The outbox holds the messages in seq order: id order is commit order across processes.
    expect(events.flatMap((record) => (record.event.type === 'message' ? [record.event.message.seq] : []))).toEqual(
      messages.map((message) => message.seq),
    );
  });
});
