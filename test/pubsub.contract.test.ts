/**
 * The PubSub contract, run against the in-process adapter, the Redis adapter on a single Redis
 * (classic channels) and on a real 3-master Redis Cluster (sharded channels). Redis-only blocks
 * restart a private redis-server, and a master of the private cluster, to check recovery after
 * a disconnect. Long on purpose: a port's contract is one suite, so every adapter is held to all
 * of it (house style 10).
 */
import { randomUUID } from 'node:crypto';
import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { DeliveryEvent, PubSub } from '../src/delivery/ports.ts';
import { createMemoryPubSub } from '../src/delivery/pubsub/memory.ts';
import { createRedisPubSub } from '../src/delivery/pubsub/redis.ts';
import { connectRedis, REDIS_URL, startRedis, type TestRedis } from './support/redis.ts';
import { disposeAll, onDispose } from './support/dispose.ts';
import { waitFor } from './support/wait.ts';
import { startRedisCluster, type TestRedisCluster } from './support/redis-cluster.ts';

/** Channels are unique per run so parallel runs on the shared Redis never hear each other. */
const runId = `test:${randomUUID()}`;
const newChannel = (): string => `${runId}:${randomUUID()}`;

afterAll(disposeAll);

let seq = 0;
const message = (groupId = 'g1'): DeliveryEvent => {
  seq += 1;
  return {
    type: 'message',
    message: {
      id: `m${seq}`,
      groupId,
      seq,
      senderId: 'u1',
      body: `hello ${seq}`,
      clientMessageId: `c${seq}`,
      createdAt: new Date(Date.UTC(2024, 1, 29, 12, 0, 0, seq % 1000)),
    },
  };
};

interface Adapter {
  readonly name: string;
  /** A new PubSub whose subscribe side may still be connecting. */
  create(): Promise<PubSub>;
}

/** One private cluster for the whole file, started by the first suite that needs it. */
let clusterStarted: Promise<TestRedisCluster> | null = null;
const privateCluster = (): Promise<TestRedisCluster> => (clusterStarted ??= startRedisCluster());

/** A PubSub on the private cluster: sharded channels (SPUBLISH / SSUBSCRIBE). */
async function clusterPubSub(options: { readonly cluster?: TestRedisCluster } = {}): Promise<{ pubsub: PubSub; subscribeClient: Cluster }> {
  const cluster = options.cluster ?? (await privateCluster());
  const publishClient = await cluster.client();
  // As the app's clients do (REDIS_CLUSTER_REFRESH_MS), shorter: a moved slot is noticed at a refresh.
  const subscribeClient = await cluster.client({ shardedSubscribers: true, slotsRefreshInterval: 1000 });
  const pubsub = createRedisPubSub({ publishClient, subscribeClient });
  onDispose(() => pubsub.close());
  return { pubsub, subscribeClient };
}

const adapters: Adapter[] = [
  { name: 'memory', create: async () => createMemoryPubSub() },
  {
    name: 'redis',
    async create() {
      const publishClient = connectRedis(REDIS_URL);
      // Publishing is ready at once while SUBSCRIBE still waits for its connection: the
      // harshest case for "subscribe resolves once active".
      await publishClient.ping();
      const pubsub = createRedisPubSub({ publishClient, subscribeClient: connectRedis(REDIS_URL) });
      onDispose(() => pubsub.close());
      return pubsub;
    },
  },
  { name: 'redis-cluster', create: async () => (await clusterPubSub()).pubsub },
];

describe.each(adapters)('PubSub contract: $name', ({ create }) => {
  let pubsub: PubSub;
  beforeAll(async () => {
    pubsub = await create();
  });
  afterAll(() => pubsub.close());

  /** Subscribes and collects; `barrier` proves that earlier publishes had their chance. */
  async function collect(channel: string) {
    const received: DeliveryEvent[] = [];
    const unsubscribe = await pubsub.subscribe(channel, (event) => received.push(event));
    return { received, unsubscribe };
  }
  async function barrier(): Promise<void> {
    // Redis delivers one connection's messages in order, so once a later publish on another
    // channel arrives, anything published before it that was going to arrive has arrived.
    const fence = await collect(newChannel());
    const channel = newChannel();
    const marker = await collect(channel);
    await pubsub.publish(channel, message());
    await waitFor('the marker event', () => marker.received.length === 1);
    marker.unsubscribe();
    fence.unsubscribe();
  }

  test('delivers every event of a channel, in publish order', async () => {
    const channel = newChannel();
    const { received, unsubscribe } = await collect(channel);
    const sent = Array.from({ length: 200 }, () => message());
    await Promise.all(sent.map((event) => pubsub.publish(channel, event)));
    await waitFor('every event sent', () => received.length === sent.length);
    expect(received).toEqual(sent);
    unsubscribe();
  });

  test('keeps channels apart', async () => {
    const [a, b] = [newChannel(), newChannel()];
    const onA = await collect(a);
    const onB = await collect(b);
    const forA = message('ga');
    const forB = message('gb');
    await pubsub.publish(a, forA);
    await pubsub.publish(b, forB);
    await waitFor('one event on each channel', () => onA.received.length === 1 && onB.received.length === 1);
    await barrier();
    expect(onA.received).toEqual([forA]);
    expect(onB.received).toEqual([forB]);
    onA.unsubscribe();
    onB.unsubscribe();
  });

  test('gives each subscription its own copy, and unsubscribe stops only that one', async () => {
    const channel = newChannel();
    const first = await collect(channel);
    const second = await collect(channel);
    const both = message();
    await pubsub.publish(channel, both);
    await waitFor('one event on each subscription', () => first.received.length === 1 && second.received.length === 1);

    first.unsubscribe();
    first.unsubscribe(); // idempotent
    const secondOnly = message();
    await pubsub.publish(channel, secondOnly);
    await waitFor('a second event on the remaining subscription', () => second.received.length === 2);
    expect(first.received).toEqual([both]);
    expect(second.received).toEqual([both, secondOnly]);

    second.unsubscribe();
    await pubsub.publish(channel, message());
    await barrier();
    expect(second.received).toEqual([both, secondOnly]);
  });

  test('a channel can be subscribed again after its last listener left', async () => {
    const channel = newChannel();
    (await collect(channel)).unsubscribe();
    const again = await collect(channel);
    const event = message();
    await pubsub.publish(channel, event);
    await waitFor('the event after resubscribing', () => again.received.length === 1);
    again.unsubscribe();
  });

  test('round-trips Dates and every event type', async () => {
    const channel = newChannel();
    const { received, unsubscribe } = await collect(channel);
    const sent: DeliveryEvent[] = [
      message(),
      { type: 'membersAdded', groupId: 'g1', userIds: ['u2', 'u3'], seq: 7 },
      { type: 'memberRemoved', groupId: 'g1', userId: 'u2', seq: 8 },
    ];
    for (const event of sent) await pubsub.publish(channel, event);
    await waitFor('every event sent', () => received.length === sent.length);
    expect(received).toEqual(sent);
    const [first] = received;
    if (first?.type !== 'message') throw new Error('expected a message event first');
    expect(first.message.createdAt).toBeInstanceOf(Date);
    expect(first.message.createdAt.getTime()).toBe(
      sent[0]?.type === 'message' ? sent[0].message.createdAt.getTime() : NaN,
    );
    unsubscribe();
  });

  test('is active as soon as subscribe resolves, even on a new connection', async () => {
    // No waiting between subscribe and publish: a subscribe that resolved before Redis
    // confirmed it would lose these.
    const fresh = await create();
    const subscriptions = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const channel = newChannel();
        const received: DeliveryEvent[] = [];
        const unsubscribe = await fresh.subscribe(channel, (event) => received.push(event));
        await fresh.publish(channel, message());
        return { received, unsubscribe };
      }),
    );
    await waitFor('one event on every subscription', () => subscriptions.every(({ received }) => received.length === 1));
    await fresh.close();
  });

  test('is active as soon as subscribe resolves, on a busy connection', async () => {
    const subscriptions = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const channel = newChannel();
        const subscription = await collect(channel);
        await pubsub.publish(channel, message());
        return subscription;
      }),
    );
    await waitFor('one event on every subscription', () => subscriptions.every(({ received }) => received.length === 1));
    for (const { unsubscribe } of subscriptions) unsubscribe();
  });

  test('rejects publish and subscribe after close, and close is idempotent', async () => {
    const closing = await create();
    await closing.subscribe(newChannel(), () => {});
    await closing.close();
    await closing.close();
    await expect(closing.publish(newChannel(), message())).rejects.toThrow(/closed/);
    await expect(closing.subscribe(newChannel(), () => {})).rejects.toThrow(/closed/);
  });

  test('drops events whose fence is lower than one already delivered; equal and higher pass', async () => {
    const channel = newChannel();
    const other = newChannel();
    const { received, unsubscribe } = await collect(channel);
    const onOther = await collect(other);
    const [before, newer, sameFence, stale, unfenced, onOtherChannel, higher] = Array.from({ length: 7 }, () => message());
    await pubsub.publish(channel, before!, { fence: 7 });
    await pubsub.publish(channel, newer!, { fence: 8 });
    await pubsub.publish(channel, sameFence!, { fence: 8 });
    // What a deposed relay (fence 7) still publishes after its successor (fence 8) was heard.
    await pubsub.publish(channel, stale!, { fence: 7 });
    await pubsub.publish(other, onOtherChannel!, { fence: 7 });
    await pubsub.publish(channel, unfenced!);
    await pubsub.publish(channel, higher!, { fence: 9 });
    await waitFor('five events', () => received.length === 5);
    await barrier();
    expect(received).toEqual([before, newer, sameFence, unfenced, higher]);
    // The mark is the subscriber's, not the channel's: the deposed relay is refused everywhere.
    expect(onOther.received).toEqual([]);
    unsubscribe();
    onOther.unsubscribe();
  });

  test('onResubscribed returns a remover and does not fire while connected', async () => {
    let fired = 0;
    const remove = pubsub.onResubscribed(() => {
      fired += 1;
    });
    await barrier();
    remove();
    expect(fired).toBe(0);
  });
});

// --- Redis only: recovery after the server goes away ------------------------------------------

describe('Redis PubSub across a Redis restart', () => {
  let server: TestRedis;
  beforeAll(async () => {
    server = await startRedis();
  });

  test('fires onResubscribed after reconnecting, and delivers what is published after', async () => {
    const { url } = server;
    const subscribeClient = connectRedis(url, { retryStrategy: () => 100 });
    const publishClient = connectRedis(url, { retryStrategy: () => 100 });
    const pubsub = createRedisPubSub({ publishClient, subscribeClient });
    onDispose(() => pubsub.close());

    const channel = newChannel();
    const kept: DeliveryEvent[] = [];
    const dropped: DeliveryEvent[] = [];
    await pubsub.subscribe(channel, (event) => kept.push(event));
    const unsubscribeDropped = await pubsub.subscribe(channel, (event) => dropped.push(event));
    let resubscribed = 0;
    pubsub.onResubscribed(() => {
      resubscribed += 1;
    });
    await pubsub.publish(channel, message());
    await waitFor('the first event', () => kept.length === 1);

    await server.kill();
    await waitFor('the subscriber connection to drop', () => subscribeClient.status !== 'ready');
    const restartedAt = Date.now();
    await server.restart();
    await waitFor('one resubscription', () => resubscribed === 1, { timeoutMs: 10_000 });
    console.info(`onResubscribed fired ${Date.now() - restartedAt} ms after the restart`);

    // Nothing waits between the signal and this publish: the subscription must be live.
    const after = message();
    await pubsub.publish(channel, after);
    await waitFor('the event after the reconnect', () => kept.length === 2);
    expect(kept[1]).toEqual(after);

    // The bookkeeping survived the reconnect: unsubscribing one listener keeps the other.
    unsubscribeDropped();
    const last = message();
    await pubsub.publish(channel, last);
    await waitFor('the third event', () => kept.length === 3);
    expect(dropped).toHaveLength(2);
    expect(resubscribed).toBe(1);
  });
});

// --- Redis Cluster only: a master restart under a sharded subscription ---------------------------

describe('Redis PubSub on a cluster across a master restart', () => {
  test('fires onResubscribed once the shard is back, and delivers what is published after', async () => {
    // A cluster of its own: the restart fails the whole cluster for a while.
    const cluster = await startRedisCluster();
    const { pubsub } = await clusterPubSub({ cluster });
    const channel = newChannel();
    const kept: DeliveryEvent[] = [];
    await pubsub.subscribe(channel, (event) => kept.push(event));
    let resubscribed = 0;
    pubsub.onResubscribed(() => {
      resubscribed += 1;
    });
    await pubsub.publish(channel, message());
    await waitFor('the first event', () => kept.length === 1);

    // The master that owns the channel's slot: its sharded subscriber connection dies with it.
    const owner = await cluster.masterOf(calculateSlot(channel));
    await cluster.kill(owner);
    const killedAt = Date.now();
    await cluster.restart(owner);
    await waitFor('a resubscription', () => resubscribed >= 1, { timeoutMs: 20_000 });
    console.info(`onResubscribed fired ${Date.now() - killedAt} ms after the master was killed`);

    // Nothing waits between the signal and this publish: the sharded subscription must be live.
    const after = message();
    await pubsub.publish(channel, after);
    await waitFor('the event after the reconnect', () => kept.length === 2, { timeoutMs: 10_000 });
    expect(kept[1]).toEqual(after);
    expect(resubscribed).toBe(1);
  }, 60_000);

  test("fires onResubscribed after the channel's slot moved to another master, and delivers what is published after", async () => {
    const cluster = await startRedisCluster();
    const { pubsub } = await clusterPubSub({ cluster });
    const channel = newChannel();
    const kept: DeliveryEvent[] = [];
    await pubsub.subscribe(channel, (event) => kept.push(event));
    let resubscribed = 0;
    pubsub.onResubscribed(() => {
      resubscribed += 1;
    });
    await pubsub.publish(channel, message());
    await waitFor('the first event', () => kept.length === 1);

    // Resharding moves the slot: the old owner drops our shard subscription, the client learns
    // the new owner at its next topology refresh and subscribes there.
    const slot = calculateSlot(channel);
    const from = await cluster.masterOf(slot);
    const movedAt = Date.now();
    await cluster.moveSlot(slot, (from + 1) % cluster.nodes.length);
    await waitFor('a resubscription', () => resubscribed >= 1, { timeoutMs: 20_000 });
    console.info(`onResubscribed fired ${Date.now() - movedAt} ms after the slot moved`);

    const after = message();
    await pubsub.publish(channel, after);
    await waitFor('the event after the reconnect', () => kept.length === 2, { timeoutMs: 10_000 });
    expect(kept[1]).toEqual(after);
  }, 60_000);

  test('spreads node channels over the shards: SPUBLISH reaches only the owning master', async () => {
    const cluster = await privateCluster();
    const { pubsub } = await clusterPubSub();
    // Channels whose slots belong to different masters.
    const channels: string[] = [];
    const owners = new Set<number>();
    while (owners.size < cluster.nodes.length) {
      const channel = newChannel();
      const owner = await cluster.masterOf(calculateSlot(channel));
      if (!owners.has(owner)) {
        owners.add(owner);
        channels.push(channel);
      }
    }
    const admins = cluster.nodes.map((node) => connectRedis(`redis://${node.host}:${node.port}`));
    const received = await Promise.all(channels.map(async (channel) => (await (async () => {
      const events: DeliveryEvent[] = [];
      await pubsub.subscribe(channel, (event) => events.push(event));
      return events;
    })())));
    const before = await Promise.all(admins.map(async (admin) => Number(/spublish:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0)));
    for (const channel of channels) await pubsub.publish(channel, message());
    await waitFor('one event on every node channel', () => received.every((events) => events.length === 1));
    const after = await Promise.all(admins.map(async (admin) => Number(/spublish:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0)));
    // One SPUBLISH per channel, each on its own master: every master ran exactly one.
    expect(after.map((calls, index) => calls - (before[index] ?? 0))).toEqual(cluster.nodes.map(() => 1));
  });
});
