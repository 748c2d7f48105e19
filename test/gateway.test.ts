/**
 * The gateway against the real embedded store and the in-process pub/sub, with no relay: the
 * tests commit through the store and publish DeliveryEvents on the node's channel themselves,
 * so they decide what is lost, duplicated or reordered. Where the in-process adapters cannot
 * show a behaviour (a transport reconnect, a store read that interleaves with an event), a
 * small double implements the port around them.
 *
 * Long on purpose: every case drives the same gateway harness (store, pub/sub, subscribers and
 * the events the test publishes), which a split would have to repeat or export.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway, type GatewayOptions } from '../src/delivery/gateway.ts';
import { createInterestIndex } from '../src/delivery/interest.ts';
import { createMemoryPresence, type MemoryPresence } from '../src/delivery/presence/memory.ts';
import { createMemoryPubSub } from '../src/delivery/pubsub/memory.ts';
import { nodeChannel, type DeliveryEvent, type PubSub } from '../src/delivery/ports.ts';
import { LiveSubscription, SubscriptionOverflowError, type StreamItem } from '../src/delivery/subscription.ts';
import type { MessageRecord, Store } from '../src/storage/port.ts';
import { createSqliteStore } from '../src/storage/sqlite/store.ts';
import { disposeAll, onDispose } from './support/dispose.ts';

afterEach(disposeAll);

/** A PubSub that forwards to the in-process one and lets the test announce a reconnect. */
interface ControlledPubSub extends PubSub {
  resubscribed(): void;
}

function createControlledPubSub(): ControlledPubSub {
  const inner = createMemoryPubSub();
  const listeners = new Set<() => void>();
  return {
    publish: (channel, event) => inner.publish(channel, event),
    publishBatch: (channel, events, options) => inner.publishBatch(channel, events, options),
    subscribe: (channel, listener) => inner.subscribe(channel, listener),
    onResubscribed(listener) {
      const entry = (): void => listener();
      listeners.add(entry);
      return () => listeners.delete(entry);
    },
    close: () => inner.close(),
    resubscribed() {
      for (const listener of [...listeners]) listener();
    },
  };
}

interface Harness {
  readonly store: Store;
  readonly pubsub: ControlledPubSub;
  readonly presence: MemoryPresence;
  readonly gateway: Gateway;
  readonly nodeId: string;
  /** Creates a group owned by `ownerId` with these other members. */
  group(ownerId: string, memberIds?: readonly string[]): Promise<string>;
  /** Commits a message (the store writes the outbox) without publishing it. */
  commit(groupId: string, senderId: string): Promise<MessageRecord>;
  /** Publishes on this node's channel, as the relay would. */
  publish(event: DeliveryEvent): Promise<void>;
  /** Commits and publishes, in that order. */
  send(groupId: string, senderId: string): Promise<MessageRecord>;
  open(userId: string, options?: { groupId?: string; since?: Record<string, number> }): Promise<LiveSubscription>;
}

interface HarnessOptions {
  readonly queueLength?: number;
  readonly replayPageSize?: number;
  /** Wraps the store the gateway sees, e.g. to interleave events with its reads. */
  readonly wrapStore?: (store: Store) => Store;
}

async function harness({ queueLength = 100, replayPageSize = 50, wrapStore = (s) => s }: HarnessOptions = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'chat-gateway-'));
  const store = createSqliteStore({ dataDir: dir, synchronous: 'NORMAL' });
  const pubsub = createControlledPubSub();
  const presence = createMemoryPresence();
  const nodeId = `node-${randomUUID().slice(0, 8)}`;
  const errors: unknown[] = [];
  const options: GatewayOptions = {
    nodeId,
    store: wrapStore(store),
    pubsub,
    presence: presence.forNode(nodeId),
    queueLength,
    replayPageSize,
    onError: (error) => errors.push(error),
  };
  const gateway = createGateway(options);
  await gateway.start();
  onDispose(async () => {
    await gateway.stop();
    await pubsub.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
    // Background work must not have failed silently in any test.
    expect(errors).toEqual([]);
  });
  let counter = 0;
  const commit = async (groupId: string, senderId: string): Promise<MessageRecord> => {
    counter += 1;
    const outcome = await store.appendMessage({
      id: `m-${randomUUID()}`,
      groupId,
      senderId,
      body: `body ${counter}`,
      clientMessageId: `c-${counter}`,
      now: new Date(),
    });
    if (!outcome.ok) throw new Error(`appendMessage failed: ${outcome.reason}`);
    return outcome.message;
  };
  const publish = (event: DeliveryEvent): Promise<void> => pubsub.publish(nodeChannel(nodeId), event);
  return {
    store,
    pubsub,
    presence,
    gateway,
    nodeId,
    async group(ownerId, memberIds = []) {
      const id = `g-${randomUUID()}`;
      await store.createGroup({ id, name: id, ownerId, memberIds, now: new Date() });
      return id;
    },
    commit,
    publish,
    async send(groupId, senderId) {
      const message = await commit(groupId, senderId);
      await publish({ type: 'message', message });
      return message;
    },
    open(userId, { groupId, since = {} } = {}) {
      return gateway.open({ userId, groupId: groupId ?? null, since: new Map(Object.entries(since)) });
    },
  };
}

/** Pulls `count` items; a pull that hangs fails with what did arrive (a guard, not a timing check). */
async function pull(subscription: AsyncIterator<StreamItem>, count: number, guardMs = 5000): Promise<StreamItem[]> {
  const items: StreamItem[] = [];
  for (let i = 0; i < count; i += 1) {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`No item ${i + 1} of ${count} after ${guardMs} ms; got ${JSON.stringify(seqs(items))}`)), guardMs);
    });
    const result = await Promise.race([subscription.next(), hung]).finally(() => clearTimeout(timer));
    if (result.done === true) throw new Error(`The stream ended after ${items.length} of ${count} items.`);
    items.push(result.value);
  }
  return items;
}

/** Pulls until a message matching `last` arrives; returns everything pulled, that one included. */
async function pullUntil(subscription: AsyncIterator<StreamItem>, last: (m: MessageRecord) => boolean): Promise<MessageRecord[]> {
  const items: MessageRecord[] = [];
  for (;;) {
    const [item] = await pull(subscription, 1);
    if (item instanceof Error || item === undefined) throw item ?? new Error('no item');
    items.push(item);
    if (last(item)) return items;
  }
}

const seqs = (items: readonly StreamItem[]): (number | string)[] =>
  items.map((item) => (item instanceof Error ? item.name : item.seq));

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Whether `next()` has settled after everything already scheduled has run. */
async function settledSoon<T>(promise: Promise<T>): Promise<boolean> {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

describe('gateway: gaps, duplicates and reconnects', () => {
  it('backfills a seq jump from the store before delivering the newer message', async () => {
    const h = await harness();
    const g = await h.group('alice');
    const sub = await h.open('alice', { groupId: g });
    await h.send(g, 'alice');
    await h.commit(g, 'alice'); // committed, never published: lost by the pub/sub
    await h.send(g, 'alice');
    expect(seqs(await pull(sub, 3))).toEqual([1, 2, 3]);
    expect(h.gateway.stats.backfills).toBe(1);
    // Live again after the repair: the next message needs no store read.
    await h.send(g, 'alice');
    expect(seqs(await pull(sub, 1))).toEqual([4]);
    expect(h.gateway.stats.backfills).toBe(1);
    expect(h.gateway.stats.delivered).toBe(4);
  });

  it('repairs a gap of more than one replay page, in order', async () => {
    const h = await harness({ replayPageSize: 4 });
    const g = await h.group('alice');
    const sub = await h.open('alice');
    await h.send(g, 'alice');
    for (let i = 0; i < 10; i += 1) await h.commit(g, 'alice');
    await h.send(g, 'alice');
    expect(seqs(await pull(sub, 12))).toEqual(range(1, 12));
  });

  it('a message announced while a catch-up read is in flight is delivered, not skipped', async () => {
    let duringRead: (() => Promise<void>) | null = null;
    const h = await harness({
      wrapStore: (store) => ({
        ...store,
        async listMessages(range) {
          const page = await store.listMessages(range);
          const hook = duringRead;
          duringRead = null;
          if (hook !== null) await hook();
          return page;
        },
      }),
    });
    const g = await h.group('alice');
    await h.commit(g, 'alice');
    await h.commit(g, 'alice');
    // The page (1, 2) was read before 3 committed; 3 arrives live while the page is on its way.
    duringRead = async () => {
      await h.send(g, 'alice');
    };
    const sub = await h.open('alice', { groupId: g, since: { [g]: 0 } });
    expect(seqs(await pull(sub, 3))).toEqual([1, 2, 3]);
    await h.send(g, 'alice');
    expect(seqs(await pull(sub, 1))).toEqual([4]);
  });

  it('drops duplicates by seq, delivering each message once', async () => {
    const h = await harness();
    const g = await h.group('alice');
    const sub = await h.open('alice', { groupId: g });
    const m1 = await h.commit(g, 'alice');
    const m2 = await h.commit(g, 'alice');
    for (const message of [m1, m1, m2, m1]) await h.publish({ type: 'message', message });
    expect(seqs(await pull(sub, 2))).toEqual([1, 2]);
    expect(h.gateway.stats.duplicates).toBe(2);
    // Nothing else was queued: the next item is the next message, not a stray copy.
    expect(sub.queued).toBe(0);
    await h.send(g, 'alice');
    expect(seqs(await pull(sub, 1))).toEqual([3]);
  });

  it('drops live events that a since replay has already delivered', async () => {
    const h = await harness();
    const g = await h.group('alice');
    const committed = [await h.commit(g, 'alice'), await h.commit(g, 'alice'), await h.commit(g, 'alice')];
    const sub = await h.open('alice', { groupId: g, since: { [g]: 0 } });
    expect(seqs(await pull(sub, 3))).toEqual([1, 2, 3]);
    // The relay retries what it had published before its crash.
    for (const message of committed) await h.publish({ type: 'message', message });
    await h.send(g, 'alice');
    expect(seqs(await pull(sub, 1))).toEqual([4]);
    expect(h.gateway.stats.duplicates).toBe(3);
  });

  it('after the pub/sub resubscribes, delivers a message that was committed but never published', async () => {
    const h = await harness();
    const g = await h.group('alice');
    const sub = await h.open('alice', { groupId: g });
    await h.send(g, 'alice');
    expect(seqs(await pull(sub, 1))).toEqual([1]);
    await h.commit(g, 'alice'); // lost while the transport was down
    const next = sub.next();
    expect(await settledSoon(next)).toBe(false);
    h.pubsub.resubscribed();
    const result = await next;
    expect(result.done).toBe(false);
    expect(seqs([result.value as StreamItem])).toEqual([2]);
    expect(h.gateway.stats.backfills).toBe(1);
    // And it is live afterwards.
    await h.send(g, 'alice');
    expect(seqs(await pull(sub, 1))).toEqual([3]);
  });

  it('after the pub/sub resubscribes, a removal it missed stops that group (no message of it is delivered)', async () => {
    const h = await harness();
    const mine = await h.group('alice');
    const theirs = await h.group('bob', ['alice']);
    const sub = await h.open('alice');
    // While the transport was down: alice was removed, then bob wrote; both events were lost.
    await h.store.removeMember(theirs, 'alice');
    await h.commit(theirs, 'bob');
    h.pubsub.resubscribed();
    // Let every catch-up the reconnect started finish before the marker goes out.
    await new Promise((resolve) => setImmediate(resolve));
    await h.send(mine, 'alice');
    const items = (await pullUntil(sub, (m) => m.groupId === mine)).map((m) => [m.groupId, m.seq]);
    expect(items).toEqual([[mine, 1]]);
  });

  it('after the pub/sub resubscribes, an add it missed starts that group from the seq of the add', async () => {
    const h = await harness();
    const mine = await h.group('alice');
    const theirs = await h.group('bob');
    await h.commit(theirs, 'bob');
    const sub = await h.open('alice');
    // While the transport was down: alice was added, then bob wrote; both events were lost.
    await h.store.addMembers(theirs, ['alice'], { now: new Date(), maxMembers: 100 });
    await h.commit(theirs, 'bob');
    h.pubsub.resubscribed();
    const [item] = (await pull(sub, 1)) as MessageRecord[];
    expect([item?.groupId, item?.seq]).toEqual([theirs, 2]);
    await h.send(mine, 'alice');
    const [next] = (await pull(sub, 1)) as MessageRecord[];
    expect([next?.groupId, next?.seq]).toEqual([mine, 1]);
  });

  it('a resubscribe while a subscription opens keeps its since: nothing before it is replayed', async () => {
    let duringOpen: (() => Promise<void>) | null = null;
    const h = await harness({
      wrapStore: (store) => ({
        ...store,
        async listAllUserGroups(userId) {
          const groups = await store.listAllUserGroups(userId);
          const hook = duringOpen;
          duringOpen = null;
          if (hook !== null) await hook();
          return groups;
        },
      }),
    });
    const g = await h.group('alice');
    for (let i = 0; i < 3; i += 1) await h.commit(g, 'alice');
    // The transport reconnects after the open read its memberships, before it followed them;
    // the resync that causes must not start the group anywhere but where the open does.
    duringOpen = async () => {
      h.pubsub.resubscribed();
      await new Promise((resolve) => setImmediate(resolve));
    };
    const sub = await h.open('alice', { since: { [g]: 2 } });
    expect(seqs(await pull(sub, 1))).toEqual([3]);
    await h.send(g, 'alice');
    expect(seqs(await pull(sub, 1))).toEqual([4]);
    expect(sub.queued).toBe(0);
  });

  it('a resubscribe with nothing missed delivers nothing twice', async () => {
    const h = await harness();
    const g = await h.group('alice');
    const sub = await h.open('alice');
    await h.send(g, 'alice');
    await h.send(g, 'alice');
    expect(seqs(await pull(sub, 2))).toEqual([1, 2]);
    h.pubsub.resubscribed();
    await h.send(g, 'alice');
    expect(seqs(await pull(sub, 1))).toEqual([3]);
    expect(sub.queued).toBe(0);
  });
});

describe('gateway: limits', () => {
  it('queues exactly queueLength live messages without overflowing', async () => {
    const h = await harness({ queueLength: 3 });
    const g = await h.group('alice');
    const sub = await h.open('alice', { groupId: g });
    for (let i = 0; i < 3; i += 1) await h.send(g, 'alice');
    expect(sub.closed).toBe(false);
    expect(sub.queued).toBe(3);
    expect(seqs(await pull(sub, 3))).toEqual([1, 2, 3]);
    await h.send(g, 'alice');
    expect(seqs(await pull(sub, 1))).toEqual([4]);
  });

  it('ends a subscription whose consumer falls more than queueLength behind: the error, then done', async () => {
    const h = await harness({ queueLength: 3 });
    const g = await h.group('alice');
    const sub = await h.open('alice', { groupId: g });
    for (let i = 0; i < 4; i += 1) await h.send(g, 'alice');
    expect(sub.closed).toBe(true);
    // Queued messages are dropped: the client resumes with since from what it did receive.
    const first = await sub.next();
    expect(first.done).toBe(false);
    expect(first.value).toBeInstanceOf(SubscriptionOverflowError);
    expect((first.value as SubscriptionOverflowError).limit).toBe(3);
    expect(await sub.next()).toEqual({ value: undefined, done: true });
    // Ended means unregistered: no presence left, nothing delivered to it any more.
    expect(await h.presence.directory.nodesForGroup(g)).toEqual([]);
    expect(await h.presence.directory.nodesForUsers(['alice'])).toEqual([]);
    expect(h.gateway.size).toBe(0);
  });

  it('a replay of exactly one and two full replay pages ends and goes live', async () => {
    const h = await harness({ replayPageSize: 4 });
    const g = await h.group('alice');
    for (let i = 0; i < 8; i += 1) await h.commit(g, 'alice');
    const one = await h.open('alice', { groupId: g, since: { [g]: 4 } });
    const two = await h.open('alice', { groupId: g, since: { [g]: 0 } });
    expect(seqs(await pull(one, 4))).toEqual(range(5, 8));
    expect(seqs(await pull(two, 8))).toEqual(range(1, 8));
    await h.send(g, 'alice');
    expect(seqs(await pull(one, 1))).toEqual([9]);
    expect(seqs(await pull(two, 1))).toEqual([9]);
    expect(h.gateway.stats.backfills).toBe(0);
  });

  it('replay waits for the consumer: all pages arrive in order, at most one page (capped at the queue length) queued', async () => {
    const h = await harness({ queueLength: 3, replayPageSize: 10 });
    const g = await h.group('alice');
    for (let i = 0; i < 35; i += 1) await h.commit(g, 'alice');
    const sub = await h.open('alice', { groupId: g, since: { [g]: 0 } });
    const received: StreamItem[] = [];
    let maxQueued = 0;
    while (received.length < 35) {
      // A slow consumer: let the gateway run everything it can before each pull (a catch-up
      // read takes two turns of the event loop: asks are read together after one, and pages
      // handed out after the next; see delivery/catch-up-reads.ts).
      for (let turn = 0; turn < 4; turn += 1) await new Promise((resolve) => setImmediate(resolve));
      maxQueued = Math.max(maxQueued, sub.queued);
      // Pages are capped at the queue length, so a live message always finds room after one.
      expect(sub.queued).toBeLessThanOrEqual(3);
      received.push(...(await pull(sub, 1)));
    }
    expect(seqs(received)).toEqual(range(1, 35));
    // A replay longer than the queue never overflows (replay is not live delivery).
    expect(sub.closed).toBe(false);
    expect(maxQueued).toBe(3);
    await h.send(g, 'alice');
    expect(seqs(await pull(sub, 1))).toEqual([36]);
  });
});

describe('gateway: presence', () => {
  it('registers the user and the groups of an open subscription, and removes them when it closes', async () => {
    const h = await harness();
    const g1 = await h.group('alice');
    const g2 = await h.group('bob', ['alice']);
    const other = await h.group('bob');
    const { directory } = h.presence;
    expect(await directory.nodesForGroup(g1)).toEqual([]);
    const sub = await h.open('alice');
    expect(await directory.nodesForGroup(g1)).toEqual([h.nodeId]);
    expect(await directory.nodesForGroup(g2)).toEqual([h.nodeId]);
    expect(await directory.nodesForGroup(other)).toEqual([]);
    expect(await directory.nodesForUsers(['alice'])).toEqual([h.nodeId]);
    expect(h.gateway.size).toBe(1);
    await sub.return();
    expect(await directory.nodesForGroup(g1)).toEqual([]);
    expect(await directory.nodesForGroup(g2)).toEqual([]);
    expect(await directory.nodesForUsers(['alice'])).toEqual([]);
    expect(h.gateway.size).toBe(0);
  });

  it('keeps a group registered until the last of its subscriptions closes', async () => {
    const h = await harness();
    const g = await h.group('alice', ['bob']);
    const { directory } = h.presence;
    const first = await h.open('alice', { groupId: g });
    const second = await h.open('bob', { groupId: g });
    const third = await h.open('alice');
    await first.return();
    expect(await directory.nodesForGroup(g)).toEqual([h.nodeId]);
    expect(await directory.nodesForUsers(['alice', 'bob'])).toEqual([h.nodeId]);
    await second.return();
    expect(await directory.nodesForGroup(g)).toEqual([h.nodeId]);
    expect(await directory.nodesForUsers(['bob'])).toEqual([]);
    await third.return();
    expect(await directory.nodesForGroup(g)).toEqual([]);
    expect(await directory.nodesForUsers(['alice'])).toEqual([]);
  });

  it('stop() ends every subscription and unregisters it', async () => {
    const h = await harness();
    const g = await h.group('alice');
    const sub = await h.open('alice');
    await h.gateway.stop();
    expect(await sub.next()).toEqual({ value: undefined, done: true });
    expect(await h.presence.directory.nodesForGroup(g)).toEqual([]);
  });
});

describe('gateway: membership events', () => {
  it('a subscription without groupId follows a group it is added to, from the seq of the add', async () => {
    const h = await harness();
    const mine = await h.group('alice');
    const theirs = await h.group('bob');
    const sub = await h.open('alice');
    const before = [await h.send(theirs, 'bob'), await h.send(theirs, 'bob')];
    const added = await h.store.addMembers(theirs, ['alice'], { now: new Date(), maxMembers: 100 });
    expect(added.ok).toBe(true);
    await h.publish({ type: 'membersAdded', groupId: theirs, userIds: ['alice'], seq: 2 });
    // A retried publish of an earlier message is not history the member joined for.
    await h.publish({ type: 'message', message: before[0] as MessageRecord });
    const third = await h.send(theirs, 'bob');
    await h.send(mine, 'alice');
    const items = (await pull(sub, 2)) as MessageRecord[];
    expect(items.map((m) => [m.groupId, m.seq])).toEqual([
      [theirs, third.seq],
      [mine, 1],
    ]);
    expect(await h.presence.directory.nodesForGroup(theirs)).toEqual([h.nodeId]);
  });

  it('a removal stops that group at once and keeps the others; with groupId it completes the stream', async () => {
    const h = await harness();
    const mine = await h.group('alice');
    const theirs = await h.group('bob', ['alice']);
    const all = await h.open('alice');
    const fixed = await h.open('alice', { groupId: theirs });
    await h.send(theirs, 'bob');
    expect(seqs(await pull(all, 1))).toEqual([1]);
    expect(seqs(await pull(fixed, 1))).toEqual([1]);
    await h.store.removeMember(theirs, 'alice');
    await h.publish({ type: 'memberRemoved', groupId: theirs, userId: 'alice', seq: 1 });
    await h.send(theirs, 'bob');
    await h.send(mine, 'alice');
    const [item] = (await pull(all, 1)) as MessageRecord[];
    expect([item?.groupId, item?.seq]).toEqual([mine, 1]);
    expect(await fixed.next()).toEqual({ value: undefined, done: true });
    expect(await h.presence.directory.nodesForGroup(theirs)).toEqual([]);
  });

  it('a subscription that completes while it opens leaves no registration behind', async () => {
    // The membership is checked, then the user is removed before the group's lastSeq is read.
    let removeDuringOpen: (() => Promise<void>) | null = null;
    const h = await harness({
      wrapStore: (store) => ({
        ...store,
        async getGroups(ids) {
          const hook = removeDuringOpen;
          removeDuringOpen = null;
          if (hook !== null) await hook();
          return store.getGroups(ids);
        },
      }),
    });
    const g = await h.group('bob', ['alice']);
    removeDuringOpen = async () => {
      await h.store.removeMember(g, 'alice');
      await h.publish({ type: 'memberRemoved', groupId: g, userId: 'alice', seq: 0 });
    };
    const sub = await h.open('alice', { groupId: g });
    expect(await sub.next()).toEqual({ value: undefined, done: true });
    expect(await h.presence.directory.nodesForGroup(g)).toEqual([]);
    expect(h.gateway.size).toBe(0);
  });

  it('a group the user is removed from while the subscription opens is not followed', async () => {
    let removeDuringOpen: (() => Promise<void>) | null = null;
    const h = await harness({
      wrapStore: (store) => ({
        ...store,
        async listAllUserGroups(userId) {
          const groups = await store.listAllUserGroups(userId);
          const hook = removeDuringOpen;
          removeDuringOpen = null;
          if (hook !== null) await hook();
          return groups;
        },
      }),
    });
    const mine = await h.group('alice');
    const theirs = await h.group('bob', ['alice']);
    removeDuringOpen = async () => {
      await h.store.removeMember(theirs, 'alice');
      await h.publish({ type: 'memberRemoved', groupId: theirs, userId: 'alice', seq: 0 });
    };
    const sub = await h.open('alice');
    await h.send(theirs, 'bob');
    await h.send(mine, 'alice');
    const [item] = (await pull(sub, 1)) as MessageRecord[];
    expect([item?.groupId, item?.seq]).toEqual([mine, 1]);
    expect(await h.presence.directory.nodesForGroup(theirs)).toEqual([]);
  });
});

describe('LiveSubscription', () => {
  const message = (seq: number): MessageRecord => ({
    id: `m${seq}`,
    groupId: 'g',
    seq,
    senderId: 'u',
    body: `b${seq}`,
    clientMessageId: `c${seq}`,
    createdAt: new Date(0),
  });
  const subscription = (queueLength = 2, onClose: (s: LiveSubscription) => void = () => {}): LiveSubscription =>
    new LiveSubscription({ userId: 'u', fixedGroupId: null, queueLength, onClose });

  it('answers what each offered message is to it, and owns its cursors', () => {
    const sub = subscription(10);
    expect(sub.offer(message(1))).toBe('ignored');
    const cursor = sub.follow('g', 5);
    expect(cursor).not.toBeNull();
    expect(sub.follow('g', 0)).toBeNull();
    // Catching up until the gateway's read says otherwise: live messages are only noted.
    expect(sub.offer(message(7))).toBe('held');
    expect(cursor?.highestSeen).toBe(7);
    cursor?.goLive();
    expect(sub.offer(message(6))).toBe('delivered');
    expect(sub.offer(message(6))).toBe('duplicate');
    expect(sub.offer(message(8))).toBe('gap');
    expect(cursor?.last).toBe(6);
    const release = sub.hold();
    expect(sub.offer(message(7))).toBe('held');
    release();
    release(); // idempotent
    expect(sub.offer(message(7))).toBe('delivered');
    expect(sub.queued).toBe(2);
    expect(sub.unfollow('g')).toBe(true);
    expect(cursor?.current).toBe(false);
    expect(sub.offer(message(8))).toBe('ignored');
  });

  it('a catch-up ends only once its read was short and covered every seq seen meanwhile', () => {
    const sub = subscription(10);
    const cursor = sub.follow('g', 0) as NonNullable<ReturnType<LiveSubscription['follow']>>;
    expect(cursor.beginCatchUp(3)).toBe(false); // already catching up since follow()
    cursor.replay([message(1), message(2)]);
    expect(cursor.finishCatchUp(false)).toBe(false); // 3 was seen, only 2 read
    cursor.replay([message(3)]);
    expect(cursor.finishCatchUp(true)).toBe(false); // a full page: there may be more
    expect(cursor.finishCatchUp(false)).toBe(true);
    expect(cursor.catchingUp).toBe(false);
    expect(cursor.beginCatchUp(9)).toBe(true);
    expect(sub.queued).toBe(3);
  });

  it('hands a message straight to a waiting pull, without queueing it', async () => {
    const sub = subscription(1);
    const next = sub.next();
    sub.push(message(1));
    sub.push(message(2));
    expect(seqs([(await next).value as StreamItem])).toEqual([1]);
    expect(sub.queued).toBe(1);
    expect(sub.closed).toBe(false);
  });

  it('complete() delivers what is queued, then ends; later pushes are ignored', async () => {
    const closed: LiveSubscription[] = [];
    const sub = subscription(5, (s) => closed.push(s));
    sub.push(message(1));
    sub.push(message(2));
    sub.complete();
    sub.push(message(3));
    expect(closed).toEqual([sub]);
    expect(seqs(await pull(sub, 2))).toEqual([1, 2]);
    expect(await sub.next()).toEqual({ value: undefined, done: true });
  });

  it('complete() ends a pending pull', async () => {
    const sub = subscription();
    const next = sub.next();
    sub.complete();
    expect(await next).toEqual({ value: undefined, done: true });
  });

  it('fail() hands the error to a pending pull, then ends', async () => {
    const sub = subscription();
    const next = sub.next();
    const error = new Error('store down');
    sub.fail(error);
    expect((await next).value).toBe(error);
    expect(await sub.next()).toEqual({ value: undefined, done: true });
  });

  it('return() drops the queue and calls onClose once', async () => {
    let closes = 0;
    const sub = subscription(5, () => (closes += 1));
    sub.push(message(1));
    await sub.return();
    await sub.return();
    sub.fail(new Error('late'));
    expect(closes).toBe(1);
    expect(await sub.next()).toEqual({ value: undefined, done: true });
  });

  it('whenDrained waits for the consumer to take everything queued', async () => {
    const sub = subscription(5);
    sub.pushReplayed([message(1), message(2), message(3)]);
    const drained = sub.whenDrained();
    await pull(sub, 2);
    expect(await settledSoon(drained)).toBe(false);
    await pull(sub, 1);
    expect(await settledSoon(drained)).toBe(true);
  });

  it('pushReplayed is not bounded by queueLength', async () => {
    const sub = subscription(2);
    sub.pushReplayed([1, 2, 3, 4, 5].map(message));
    expect(sub.closed).toBe(false);
    expect(seqs(await pull(sub, 5))).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('interest index', () => {
  it('registers a key on its first subscriber and removes it after its last, and retries a failed registration', async () => {
    const calls: string[] = [];
    let failNext = false;
    const index = createInterestIndex<string>({
      register: async (keys) => {
        calls.push(`+${keys.join()}`);
        if (failNext) {
          failNext = false;
          throw new Error('presence down');
        }
      },
      unregister: async (keys) => {
        calls.push(`-${keys.join()}`);
      },
      onError: () => {},
    });
    await index.join('g', 's1');
    await index.join('g', 's2');
    index.leave('g', 's1');
    index.leave('g', 's1'); // not a subscriber any more: nothing happens
    expect([...(index.subscribers('g') ?? [])]).toEqual(['s2']);
    index.leave('g', 's2');
    expect(index.subscribers('g')).toBeUndefined();
    expect(calls).toEqual(['+g', '-g']);
    failNext = true;
    await expect(index.join('h', 's1')).rejects.toThrow('presence down');
    await new Promise((resolve) => setImmediate(resolve));
    // The failure was not cached: the next subscriber registers again.
    await index.join('h', 's2');
    expect(calls).toEqual(['+g', '-g', '+h', '+h']);
  });
});
