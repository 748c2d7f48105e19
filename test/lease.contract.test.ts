/**
 * The RelayLease contract, run against the in-process lease and the Redis lease on a single
 * Redis and on a real 3-master Redis Cluster. Redis blocks (on both) check mutual exclusion,
 * hand-over on release, takeover after the holder dies, that `lost` fires when the key is taken
 * away, and fencing: every acquisition takes a higher token, also after Redis lost its counter.
 */
import { randomUUID } from 'node:crypto';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createLocalLease } from '../src/delivery/lease/memory.ts';
import { createRedisLease, leaseKeys, type RedisLeaseOptions } from '../src/delivery/lease/redis.ts';
import type { RelayLease } from '../src/delivery/ports.ts';
import type { RedisClient } from '../src/delivery/redis/support.ts';
import { connectRedis } from './support/redis.ts';
import { startRedisCluster, type TestRedisCluster } from './support/redis-cluster.ts';
import { disposeAll, onDispose } from './support/dispose.ts';
import { sleep } from './support/wait.ts';

/** Keys are unique per run so parallel runs on the shared Redis never collide. */
const keyPrefix = `test:${randomUUID()}:`;
/** A lease of its own: a prefix of its own. */
const newPrefix = (): string => `${keyPrefix}${randomUUID()}:`;

afterAll(disposeAll);

const shared = connectRedis();

/** One private cluster for the file, started by the first suite that needs it. */
let clusterStarted: Promise<{ readonly cluster: TestRedisCluster; readonly client: Cluster }> | null = null;
const privateCluster = () =>
  (clusterStarted ??= (async () => {
    const cluster = await startRedisCluster();
    return { cluster, client: await cluster.client() };
  })());
afterAll(async () => {
  // Hooks run in reverse, so this runs before disposeAll: the client is still connected.
  for await (const keys of shared.scanStream({ match: `${keyPrefix}*`, count: 1000 })) {
    if ((keys as string[]).length > 0) await shared.unlink(...(keys as string[]));
  }
});

const never = new AbortController().signal;

interface Adapter {
  readonly name: string;
  setup?(): Promise<void>;
  create(): RelayLease;
}

let clusterClient: Cluster | null = null;
const adapters: Adapter[] = [
  { name: 'local', create: () => createLocalLease() },
  {
    name: 'redis',
    create() {
      const lease = createRedisLease({ client: shared, keyPrefix: newPrefix(), ttlMs: 1000, renewMs: 300 });
      onDispose(() => lease.release());
      return lease;
    },
  },
  {
    name: 'redis-cluster',
    async setup() {
      clusterClient = (await privateCluster()).client;
    },
    create() {
      const lease = createRedisLease({ client: clusterClient as Cluster, keyPrefix: newPrefix(), ttlMs: 1000, renewMs: 300 });
      onDispose(() => lease.release());
      return lease;
    },
  },
];

describe.each(adapters)('RelayLease contract: $name', ({ setup, create }) => {
  beforeAll(async () => {
    await setup?.();
  });

  test('each acquisition takes a higher fence than every one before, and above the floor', async () => {
    const lease = create();
    const first = await lease.acquire(never);
    expect(Number.isSafeInteger(first.fence) && first.fence >= 1).toBe(true);
    // Holding: asking again answers the same grant.
    expect((await lease.acquire(never)).fence).toBe(first.fence);
    await lease.release();
    const second = await lease.acquire(never);
    expect(second.fence).toBeGreaterThan(first.fence);
    await lease.release();
    // The floor is the fence the store has seen: the next token is above it, whatever the counter.
    const floored = await lease.acquire(never, { fenceFloor: second.fence + 100 });
    expect(floored.fence).toBe(second.fence + 101);
    await lease.release();
    // Exactly the floor's successor, then counting on from there.
    expect((await lease.acquire(never, { fenceFloor: 0 })).fence).toBe(second.fence + 102);
    await lease.release();
  });

  test('an uncontended acquire resolves, and the lease holds until released', async () => {
    const lease = create();
    const { lost } = await lease.acquire(never);
    // Longer than the Redis lease's ttl: renewals keep it.
    await sleep(1500);
    expect(lost.aborted).toBe(false);
    await lease.release();
    expect(lost.aborted).toBe(true);
  });

  test('can be acquired again after release', async () => {
    const lease = create();
    await lease.acquire(never);
    await lease.release();
    const { lost } = await lease.acquire(never);
    expect(lost.aborted).toBe(false);
    await lease.release();
  });

  test('acquire with an aborted signal rejects with its reason', async () => {
    const lease = create();
    const controller = new AbortController();
    const reason = new Error('shutting down');
    controller.abort(reason);
    await expect(lease.acquire(controller.signal)).rejects.toBe(reason);
  });
});

// --- Redis only: on a single Redis and on a cluster ---------------------------------------------

interface RedisSetup {
  readonly name: string;
  client(): Promise<RedisClient>;
  /** A client of its own, to kill a holder by disconnecting it. */
  ownClient(): Promise<RedisClient>;
}

const redisSetups: RedisSetup[] = [
  { name: 'single Redis', client: async () => shared, ownClient: async () => connectRedis() },
  {
    name: 'Redis Cluster',
    client: async () => (await privateCluster()).client,
    ownClient: async () => (await privateCluster()).cluster.client(),
  },
];

describe.each(redisSetups)('Redis lease on $name: one holder at a time, fenced', ({ client: getClient, ownClient }) => {
  let client: RedisClient;
  beforeAll(async () => {
    client = await getClient();
  });
  const newKey = newPrefix;
  const lease = (prefix: string, options: Partial<RedisLeaseOptions> = {}) => {
    const created = createRedisLease({ client, keyPrefix: prefix, ttlMs: 1000, renewMs: 300, ...options });
    onDispose(() => created.release().catch(() => {}));
    return created;
  };

  test('a standby that takes over gets a higher fence than the holder it replaced', async () => {
    const prefix = newKey();
    const active = lease(prefix);
    const standby = lease(prefix);
    const held = await active.acquire(never);
    const waiting = standby.acquire(never);
    await active.release();
    const next = await waiting;
    expect(next.fence).toBeGreaterThan(held.fence);
    expect(await client.get(leaseKeys(prefix).fence)).toBe(String(next.fence));
  });

  test('after Redis lost the fence counter, the floor keeps tokens above every earlier one', async () => {
    const prefix = newKey();
    const first = lease(prefix);
    const { fence } = await first.acquire(never);
    await first.release();
    // What a Redis restarted without persistence looks like: the counter is gone.
    await client.del(leaseKeys(prefix).fence);
    const second = lease(prefix);
    // Without the floor the counter would start again at 1, below the stale holder's token.
    expect((await second.acquire(never, { fenceFloor: fence })).fence).toBe(fence + 1);
  });

  test('a standby waits while another holds, and takes over quickly on release', async () => {
    const key = newKey();
    const active = lease(key);
    const standby = lease(key);
    await active.acquire(never);
    let standbyHolds = false;
    const waiting = standby.acquire(never).then((held) => {
      standbyHolds = true;
      return held;
    });
    await sleep(2000); // two ttls: the active one renews, the standby keeps polling
    expect(standbyHolds).toBe(false);

    const releasedAt = Date.now();
    await active.release();
    const { lost } = await waiting;
    const tookOver = Date.now() - releasedAt;
    console.info(`takeover after release: ${tookOver} ms (renewMs 300)`);
    expect(tookOver).toBeLessThanOrEqual(300 + 150);
    expect(lost.aborted).toBe(false);
  });

  test('never lets two contenders hold at once', async () => {
    const key = newKey();
    const contenders = Array.from({ length: 4 }, () => lease(key, { renewMs: 50, ttlMs: 500 }));
    let holding = 0;
    let mostAtOnce = 0;
    let turns = 0;
    const until = Date.now() + 3000;
    await Promise.all(
      contenders.map(async (contender) => {
        while (Date.now() < until) {
          await contender.acquire(never);
          holding += 1;
          turns += 1;
          mostAtOnce = Math.max(mostAtOnce, holding);
          await sleep(20 + Math.random() * 30);
          holding -= 1;
          await contender.release();
        }
      }),
    );
    console.info(`${turns} turns among 4 contenders, at most ${mostAtOnce} holding at once`);
    expect(mostAtOnce).toBe(1);
    expect(turns).toBeGreaterThan(10);
  });

  test('a holder that dies is replaced within ttl + poll (defaults: 5000 + 1500 ms)', async () => {
    const key = newKey();
    const own = await ownClient();
    const dying = createRedisLease({ client: own, keyPrefix: key });
    const standby = lease(key, { ttlMs: 5000, renewMs: 1500 });
    const { lost: dyingLost } = await dying.acquire(never);
    const waiting = standby.acquire(never);
    await sleep(100);

    // Death: the connection is gone, renewals stop, release never runs.
    own.disconnect();
    const diedAt = Date.now();
    const { lost } = await waiting;
    const tookOver = Date.now() - diedAt;
    console.info(`takeover after the holder died: ${tookOver} ms (ttl 5000 ms, poll 1500 ms)`);
    expect(tookOver).toBeLessThanOrEqual(5000 + 1500 + 200);
    expect(tookOver).toBeGreaterThan(3000); // the key outlived its holder, as it should
    expect(lost.aborted).toBe(false);
    // The dead holder's own view: its renewal failed, so it stopped leading.
    expect(dyingLost.aborted).toBe(true);
  });

  test('lost fires when the key is taken by another holder', async () => {
    const key = newKey();
    const holder = lease(key);
    const { lost } = await holder.acquire(never);
    await client.set(leaseKeys(key).lease, 'intruder', 'PX', 10_000);
    const stolenAt = Date.now();
    await new Promise((resolve) => lost.addEventListener('abort', resolve, { once: true }));
    console.info(`lost fired ${Date.now() - stolenAt} ms after the key was stolen`);
    expect(Date.now() - stolenAt).toBeLessThanOrEqual(300 + 150);
    // Releasing must not delete someone else's lease.
    await holder.release();
    expect(await client.get(leaseKeys(key).lease)).toBe('intruder');
  });

  test('lost fires when the key is deleted', async () => {
    const key = newKey();
    const holder = lease(key);
    const { lost } = await holder.acquire(never);
    await client.del(leaseKeys(key).lease);
    await new Promise((resolve) => lost.addEventListener('abort', resolve, { once: true }));
    expect(lost.reason).toBeInstanceOf(Error);
  });

  test('aborting a standby stops its wait without taking the lease', async () => {
    const key = newKey();
    const active = lease(key);
    const standby = lease(key);
    await active.acquire(never);
    const controller = new AbortController();
    const waiting = standby.acquire(controller.signal);
    await sleep(400);
    const reason = new Error('stop waiting');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    await active.release();
    await sleep(700); // past the standby's next poll: it must not have taken the lease
    expect(await client.exists(leaseKeys(key).lease)).toBe(0);
  });
});
