/**
 * The RelayLease contract, run against the in-process lease and the Redis lease (real Redis).
 * Redis-only blocks check mutual exclusion, hand-over on release, takeover after the holder
 * dies, and that `lost` fires when the key is taken away.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, test } from 'vitest';
import { createLocalLease } from '../src/delivery/memory.ts';
import type { RelayLease } from '../src/delivery/ports.ts';
import { createRedisLease, type RedisLeaseOptions } from '../src/delivery/redis.ts';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
/** Keys are unique per run so parallel runs on the shared Redis never collide. */
const keyPrefix = `test:${randomUUID()}:`;
const newKey = (): string => `${keyPrefix}${randomUUID()}`;

const disposers: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const dispose of disposers.reverse()) await dispose();
});

function connect(): Redis {
  const client = new Redis(REDIS_URL);
  client.on('error', () => {});
  disposers.push(() => client.disconnect());
  return client;
}

const shared = connect();
afterAll(async () => {
  // Hooks run in reverse, so this runs before the disposers: the client is still connected.
  for await (const keys of shared.scanStream({ match: `${keyPrefix}*`, count: 1000 })) {
    if ((keys as string[]).length > 0) await shared.unlink(...(keys as string[]));
  }
});

const never = new AbortController().signal;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Adapter {
  readonly name: string;
  create(): RelayLease;
}

const adapters: Adapter[] = [
  { name: 'local', create: () => createLocalLease() },
  {
    name: 'redis',
    create() {
      const lease = createRedisLease({ client: shared, key: newKey(), ttlMs: 1000, renewMs: 300 });
      disposers.push(() => lease.release());
      return lease;
    },
  },
];

describe.each(adapters)('RelayLease contract: $name', ({ create }) => {
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

// --- Redis only ------------------------------------------------------------------------------

describe('Redis lease: one holder at a time', () => {
  const lease = (key: string, options: Partial<RedisLeaseOptions> = {}) => {
    const created = createRedisLease({ client: shared, key, ttlMs: 1000, renewMs: 300, ...options });
    disposers.push(() => created.release().catch(() => {}));
    return created;
  };

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
    const ownClient = connect();
    const dying = createRedisLease({ client: ownClient, key });
    const standby = lease(key, { ttlMs: 5000, renewMs: 1500 });
    const { lost: dyingLost } = await dying.acquire(never);
    const waiting = standby.acquire(never);
    await sleep(100);

    // Death: the connection is gone, renewals stop, release never runs.
    ownClient.disconnect();
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
    await shared.set(key, 'intruder', 'PX', 10_000);
    const stolenAt = Date.now();
    await new Promise((resolve) => lost.addEventListener('abort', resolve, { once: true }));
    console.info(`lost fired ${Date.now() - stolenAt} ms after the key was stolen`);
    expect(Date.now() - stolenAt).toBeLessThanOrEqual(300 + 150);
    // Releasing must not delete someone else's lease.
    await holder.release();
    expect(await shared.get(key)).toBe('intruder');
  });

  test('lost fires when the key is deleted', async () => {
    const key = newKey();
    const holder = lease(key);
    const { lost } = await holder.acquire(never);
    await shared.del(key);
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
    expect(await shared.exists(key)).toBe(0);
  });
});
