/**
 * The relay against a real embedded store and in-process pub/sub: per-node routing, commit
 * order, checkpoint and resume, at-least-once under publish failures, wake-up without
 * polling, the lease gate, and fencing: a deposed relay's checkpoint is refused by the store and
 * its publishes are dropped by subscribers (with the in-process lease and with the Redis lease).
 *
 * Long on purpose: the cases share one relay harness over the embedded store.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalLease } from '../src/delivery/lease/memory.ts';
import { createMemoryPresence } from '../src/delivery/presence/memory.ts';
import { createMemoryPubSub } from '../src/delivery/pubsub/memory.ts';
import { nodeChannel, type DeliveryEvent, type PubSub, type RelayLease } from '../src/delivery/ports.ts';
import { createRedisLease } from '../src/delivery/lease/redis.ts';
import { createRedisPubSub } from '../src/delivery/pubsub/redis.ts';
import { createRelay, RelayFencedError, type Relay } from '../src/delivery/relay.ts';
import type { Store } from '../src/storage/port.ts';
import { createSqliteStore } from '../src/storage/sqlite/store.ts';
import { startRedis } from './support/redis.ts';
import { disposeAll, onDispose } from './support/dispose.ts';
import { sleep } from './support/wait.ts';

afterEach(disposeAll);

async function newStore(options: { pollIntervalMs?: number } = {}): Promise<{ store: Store; dataDir: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'chat-relay-'));
  const store = createSqliteStore({ dataDir, synchronous: 'NORMAL', ...options });
  onDispose(async () => {
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  return { store, dataDir };
}

async function groupWith(store: Store, members: string[]): Promise<string> {
  const id = `g_${Math.random().toString(36).slice(2)}`;
  await store.createGroup({ id, name: id, ownerId: members[0] as string, memberIds: members.slice(1), now: new Date() });
  return id;
}

let counter = 0;
async function send(store: Store, groupId: string, senderId: string): Promise<number> {
  counter += 1;
  const outcome = await store.appendMessage({
    id: `m_${counter}_${Math.random().toString(36).slice(2)}`,
    groupId,
    senderId,
    body: `body ${counter}`,
    clientMessageId: `c${counter}`,
    now: new Date(),
  });
  if (!outcome.ok) throw new Error(outcome.reason);
  return outcome.message.seq;
}

/** Records what each node channel receives. */
async function listen(pubsub: PubSub, nodeId: string): Promise<DeliveryEvent[]> {
  const events: DeliveryEvent[] = [];
  const unsubscribe = await pubsub.subscribe(nodeChannel(nodeId), (event) => events.push(event));
  onDispose(unsubscribe);
  return events;
}

const messageSeqs = (events: DeliveryEvent[], groupId: string): number[] =>
  events.flatMap((event) => (event.type === 'message' && event.message.groupId === groupId ? [event.message.seq] : []));

async function until(predicate: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await sleep(5);
  }
}

describe('relay', () => {
  it('publishes each message once to every node with interest in the group, and nowhere else', async () => {
    const { store } = await newStore();
    const pubsub = createMemoryPubSub();
    const presence = createMemoryPresence();
    const group = await groupWith(store, ['alice', 'bob', 'carol']);
    const other = await groupWith(store, ['dave']);
    await presence.forNode('a').addGroups([group]);
    await presence.forNode('b').addGroups([group, other]);
    const [a, b, c] = [await listen(pubsub, 'a'), await listen(pubsub, 'b'), await listen(pubsub, 'c')];
    const relay = createRelay({ store, pubsub, directory: presence.directory, lease: createLocalLease() });
    relay.start();
    onDispose(() => relay.stop());
    for (let i = 0; i < 10; i += 1) await send(store, group, 'alice');
    await send(store, other, 'dave');
    await until(() => messageSeqs(a, group).length === 10 && messageSeqs(b, other).length === 1);
    expect(messageSeqs(a, group)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(messageSeqs(b, group)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(messageSeqs(a, other)).toEqual([]);
    expect(c).toEqual([]);
  });

  it('routes membership changes to the nodes of the users concerned', async () => {
    const { store } = await newStore();
    const pubsub = createMemoryPubSub();
    const presence = createMemoryPresence();
    await presence.forNode('a').addUsers(['bob']);
    const [a, b] = [await listen(pubsub, 'a'), await listen(pubsub, 'b')];
    const relay = createRelay({ store, pubsub, directory: presence.directory, lease: createLocalLease() });
    relay.start();
    onDispose(() => relay.stop());
    const group = await groupWith(store, ['alice']);
    await store.addMembers(group, ['bob'], { now: new Date(), maxMembers: 10 });
    await store.removeMember(group, 'bob');
    await until(() => a.length === 2);
    expect(a.map((event) => event.type)).toEqual(['membersAdded', 'memberRemoved']);
    expect(b).toEqual([]);
  });

  it('wakes on a commit in its own process without waiting for a poll', async () => {
    const { store } = await newStore({ pollIntervalMs: 60_000 });
    const pubsub = createMemoryPubSub();
    const presence = createMemoryPresence();
    const group = await groupWith(store, ['alice']);
    await presence.forNode('a').addGroups([group]);
    const a = await listen(pubsub, 'a');
    const relay = createRelay({ store, pubsub, directory: presence.directory, lease: createLocalLease() });
    relay.start();
    onDispose(() => relay.stop());
    await sleep(50);
    await send(store, group, 'alice');
    await until(() => messageSeqs(a, group).length === 1, 2000);
  });

  it('checkpoints, drops published outbox records, and a new relay resumes after the checkpoint', async () => {
    const { store } = await newStore();
    const pubsub = createMemoryPubSub();
    const presence = createMemoryPresence();
    const group = await groupWith(store, ['alice']);
    await presence.forNode('a').addGroups([group]);
    const a = await listen(pubsub, 'a');
    const first = createRelay({ store, pubsub, directory: presence.directory, lease: createLocalLease() });
    first.start();
    for (let i = 0; i < 5; i += 1) await send(store, group, 'alice');
    await until(() => messageSeqs(a, group).length === 5);
    await first.stop();
    const checkpoint = await store.getCheckpoint('relay');
    expect(checkpoint).not.toBeNull();

    // Published records are gone: a follower from the start sees only what comes next.
    for (let i = 0; i < 3; i += 1) await send(store, group, 'alice');
    const controller = new AbortController();
    const pending: number[] = [];
    for await (const batch of store.outbox.follow(null, controller.signal)) {
      for (const record of batch) if (record.event.type === 'message') pending.push(record.event.message.seq);
      if (pending.length >= 3) break;
    }
    controller.abort();
    expect(pending).toEqual([6, 7, 8]);

    const second = createRelay({ store, pubsub, directory: presence.directory, lease: createLocalLease() });
    second.start();
    onDispose(() => second.stop());
    await until(() => messageSeqs(a, group).length === 8);
    expect(messageSeqs(a, group)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('publishes a batch to each node as one message, in commit order', async () => {
    const { store } = await newStore();
    const inner = createMemoryPubSub();
    const calls: { channel: string; seqs: number[] }[] = [];
    const counting: PubSub = {
      ...inner,
      publishBatch: (channel, events, options) => {
        calls.push({ channel, seqs: events.flatMap((event) => (event.type === 'message' ? [event.message.seq] : [])) });
        return inner.publishBatch(channel, events, options);
      },
    };
    const presence = createMemoryPresence();
    const group = await groupWith(store, ['alice']);
    await presence.forNode('a').addGroups([group]);
    await presence.forNode('b').addGroups([group]);
    const a = await listen(inner, 'a');
    // Committed before the relay starts: its first read holds them all.
    for (let i = 0; i < 5; i += 1) await send(store, group, 'alice');
    const relay = createRelay({ store, pubsub: counting, directory: presence.directory, lease: createLocalLease() });
    relay.start();
    onDispose(() => relay.stop());
    await until(() => messageSeqs(a, group).length === 5);
    const messageCalls = calls.filter((call) => call.seqs.length > 0);
    expect(messageCalls.map((call) => call.channel).sort()).toEqual(['node:a', 'node:b']);
    for (const call of messageCalls) expect(call.seqs).toEqual([1, 2, 3, 4, 5]);
    expect(messageSeqs(a, group)).toEqual([1, 2, 3, 4, 5]);
  });

  it('publishes at least once when publishing fails: nothing is skipped', async () => {
    const { store } = await newStore();
    const inner = createMemoryPubSub();
    let failures = 2;
    const flaky: PubSub = {
      ...inner,
      publishBatch: (channel, events, options) => {
        if (events.some((event) => event.type === 'message' && event.message.seq === 3) && failures > 0) {
          failures -= 1;
          return Promise.reject(new Error('transport down'));
        }
        return inner.publishBatch(channel, events, options);
      },
    };
    const presence = createMemoryPresence();
    const group = await groupWith(store, ['alice']);
    await presence.forNode('a').addGroups([group]);
    const a = await listen(inner, 'a');
    const errors: unknown[] = [];
    const relay = createRelay({
      store,
      pubsub: flaky,
      directory: presence.directory,
      lease: createLocalLease(),
      retryDelayMs: 10,
      onError: (error) => errors.push(error),
    });
    relay.start();
    onDispose(() => relay.stop());
    for (let i = 0; i < 5; i += 1) await send(store, group, 'alice');
    await until(() => [1, 2, 3, 4, 5].every((seq) => messageSeqs(a, group).includes(seq)));
    expect(errors.length).toBeGreaterThanOrEqual(1);
    // Every seq arrived; the retried batch may repeat some, which gateways drop by seq.
    expect([...new Set(messageSeqs(a, group))].sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5]);
    expect(await store.getCheckpoint('relay')).not.toBeNull();
  });

  it('a checkpoint write that fails does not stop later checkpoints', async () => {
    const { store: inner } = await newStore();
    let failures = 1;
    const store: Store = {
      ...inner,
      setCheckpoint(name, position, fence) {
        if (failures > 0) {
          failures -= 1;
          return Promise.reject(new Error('disk busy'));
        }
        return inner.setCheckpoint(name, position, fence);
      },
    };
    const pubsub = createMemoryPubSub();
    const presence = createMemoryPresence();
    const group = await groupWith(inner, ['alice']);
    await presence.forNode('a').addGroups([group]);
    const a = await listen(pubsub, 'a');
    const errors: unknown[] = [];
    const relay = createRelay({
      store,
      pubsub,
      directory: presence.directory,
      lease: createLocalLease(),
      checkpointIntervalMs: 10,
      onError: (error) => errors.push(error),
    });
    relay.start();
    onDispose(() => relay.stop());
    await send(inner, group, 'alice');
    await until(() => errors.length === 1);
    await send(inner, group, 'alice');
    await until(() => messageSeqs(a, group).length === 2);
    // The timer's next save writes the newest position instead of repeating the old failure.
    await until(async () => relay.stats.position !== null && (await inner.getCheckpoint('relay'))?.position === relay.stats.position);
    expect(errors).toHaveLength(1);
  });

  it('does not relay until it holds the lease, and stops when the lease is lost', async () => {
    const { store } = await newStore();
    const pubsub = createMemoryPubSub();
    const presence = createMemoryPresence();
    const group = await groupWith(store, ['alice']);
    await presence.forNode('a').addGroups([group]);
    const a = await listen(pubsub, 'a');
    let grant: (value: { lost: AbortSignal; fence: number }) => void = () => {};
    const lost = new AbortController();
    let grants = 0;
    const lease: RelayLease = {
      // Granted by the test once; later acquisitions wait until the relay stops.
      acquire: (signal) =>
        new Promise((resolve, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
          if (grants === 0) grant = resolve;
          grants += 1;
        }),
      release: () => Promise.resolve(),
    };
    const relay = createRelay({ store, pubsub, directory: presence.directory, lease });
    relay.start();
    onDispose(() => relay.stop());
    await send(store, group, 'alice');
    await sleep(200);
    expect(a).toEqual([]);
    expect(relay.stats.leader).toBe(false);
    grant({ lost: lost.signal, fence: 1 });
    await until(() => messageSeqs(a, group).length === 1);
    expect(relay.stats.leader).toBe(true);
    lost.abort();
    await until(() => !relay.stats.leader);
    await send(store, group, 'alice');
    await sleep(200);
    expect(messageSeqs(a, group)).toEqual([1]);
  });
});

/** A PubSub whose publishes wait while paused: a relay frozen mid-publish (a long GC pause). */
function pausable(inner: PubSub): PubSub & { pause(): void; resume(): void } {
  let gate: { promise: Promise<void>; open: () => void } | null = null;
  return {
    ...inner,
    async publish(channel, event, options) {
      while (gate !== null) await gate.promise;
      return inner.publish(channel, event, options);
    },
    async publishBatch(channel, events, options) {
      while (gate !== null) await gate.promise;
      return inner.publishBatch(channel, events, options);
    },
    pause() {
      let open = (): void => {};
      const promise = new Promise<void>((resolve) => {
        open = resolve;
      });
      gate = { promise, open };
    },
    resume() {
      const current = gate;
      gate = null;
      current?.open();
    },
  };
}

describe('relay fencing', () => {
  /**
   * Relay A leads and is frozen while publishing message 2; relay B takes over with a higher
   * fence and publishes message 2; then A wakes up. A's late publish must not reach the node,
   * and its checkpoint must be refused, which ends its leadership.
   */
  async function deposedRelayScenario(options: {
    readonly pubsub: PubSub;
    readonly leaseA: RelayLease;
    readonly leaseB: RelayLease;
    /** Runs after A is frozen and before B starts: e.g. A's lease expiring in Redis. */
    readonly beforeB?: () => Promise<void>;
  }): Promise<{ received: number[]; errorsOfA: unknown[]; a: Relay; b: Relay; store: Store }> {
    const { store } = await newStore();
    const presence = createMemoryPresence();
    const group = await groupWith(store, ['alice']);
    await presence.forNode('a').addGroups([group]);
    const events = await listen(options.pubsub, 'a');
    const pubsubA = pausable(options.pubsub);
    const errorsOfA: unknown[] = [];
    const a = createRelay({
      store,
      pubsub: pubsubA,
      directory: presence.directory,
      lease: options.leaseA,
      checkpointIntervalMs: 10,
      retryDelayMs: 60_000,
      onError: (error) => errorsOfA.push(error),
    });
    a.start();
    onDispose(() => a.stop());
    await send(store, group, 'alice');
    await until(() => messageSeqs(events, group).length === 1);
    await until(async () => (await store.getCheckpoint('relay'))?.position != null);
    const fenceOfA = a.stats.fence as number;

    pubsubA.pause();
    await send(store, group, 'alice');
    await options.beforeB?.();
    const b = createRelay({ store, pubsub: options.pubsub, directory: presence.directory, lease: options.leaseB, checkpointIntervalMs: 10 });
    b.start();
    onDispose(() => b.stop());
    await until(() => messageSeqs(events, group).length === 2);
    expect(b.stats.fence).toBeGreaterThan(fenceOfA);
    await until(async () => (await store.getCheckpoint('relay'))?.fence === b.stats.fence);

    // A wakes up: it publishes message 2 with its old fence, then tries to checkpoint.
    pubsubA.resume();
    await until(() => errorsOfA.some((error) => error instanceof RelayFencedError), 10_000);
    await until(() => !a.stats.leader);
    // One more message: only B relays it, and A's copy of message 2 never arrived.
    await send(store, group, 'alice');
    await until(() => messageSeqs(events, group).includes(3));
    await sleep(100);
    return { received: messageSeqs(events, group), errorsOfA, a, b, store };
  }

  it('in one process: the deposed relay is refused by the store and its late publish is dropped', async () => {
    // Two in-process leases stand for two processes; B's floor is read from the store.
    const { received, b, store } = await deposedRelayScenario({
      pubsub: createMemoryPubSub(),
      leaseA: createLocalLease(),
      leaseB: createLocalLease(),
    });
    expect(received).toEqual([1, 2, 3]);
    expect(b.stats.leader).toBe(true);
    expect((await store.getCheckpoint('relay'))?.fence).toBe(b.stats.fence);
  });

  it('on Redis: a relay whose lease expired while it was frozen is refused, and its publish is dropped by the subscriber', async () => {
    const redis = await startRedis();
    const { Redis } = await import('ioredis');
    const client = (): InstanceType<typeof Redis> => {
      const created = new Redis(redis.url);
      created.on('error', () => {});
      onDispose(() => created.disconnect());
      return created;
    };
    const commands = client();
    const pubsub = createRedisPubSub({ publishClient: commands, subscribeClient: client() });
    onDispose(() => pubsub.close());
    const keyPrefix = 'fencing:';
    // A renews rarely: frozen, it does not notice for seconds that its lease expired and B took it.
    const leaseA = createRedisLease({ client: commands, keyPrefix, ttlMs: 20_000, renewMs: 10_000, holderId: 'relay-a' });
    const leaseB = createRedisLease({ client: commands, keyPrefix, ttlMs: 20_000, renewMs: 10_000, holderId: 'relay-b' });
    const { received, b } = await deposedRelayScenario({
      pubsub,
      leaseA,
      leaseB,
      // A's lease expires while A is frozen (what the ttl does; here at once).
      beforeB: async () => {
        await commands.del(`${keyPrefix}{relay}:lease`);
      },
    });
    expect(received).toEqual([1, 2, 3]);
    expect(b.stats.leader).toBe(true);
    expect(Number(await commands.get(`${keyPrefix}{relay}:fence`))).toBe(b.stats.fence);
  });
});
