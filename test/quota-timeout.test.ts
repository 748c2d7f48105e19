/**
 * A quota command that times out still runs once Redis answers: `bounded()` stops waiting, it
 * does not take the command back. Under `CLIENT PAUSE` (or a slow Redis) an acquire fails open
 * after its timeout, and the slot it asked for is then taken a moment later. Found by the soak
 * (`npm run soak`): after a `CLIENT PAUSE` fault, 36 connection and subscription slots stayed
 * held by live gateways once every client had closed, and a user collects such phantom slots
 * until MAX_CONNECTIONS_PER_USER refuses them while their gateway lives. The slot taken late must
 * be given back with the one handed out when failing open.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createRedisQuota } from '../src/quota/redis.ts';
import { disposeAll, onDispose } from './support/dispose.ts';
import { startRedis } from './support/redis.ts';
import { waitFor } from './support/wait.ts';

afterAll(disposeAll);

/** Slots held for `user` in `pool`, summed over instances. */
async function heldSlots(client: Redis, prefix: string): Promise<number> {
  let total = 0;
  for await (const keys of client.scanStream({ match: `${prefix}quota:*:slots:*`, count: 100 })) {
    for (const key of keys as string[]) {
      for (const count of Object.values(await client.hgetall(key))) total += Number(count);
    }
  }
  return total;
}

describe('Redis quota under CLIENT PAUSE', () => {
  it('gives back a slot whose acquire timed out but ran later, whether released before or after it landed', async () => {
    const redis = await startRedis();
    const client = new Redis(redis.url, { maxRetriesPerRequest: null });
    client.on('error', () => {});
    onDispose(() => client.disconnect());
    const errors: unknown[] = [];
    const quota = createRedisQuota({ client, keyPrefix: 'pause:', nodeId: 'gw', timeoutMs: 200, onError: (error) => errors.push(error) });
    onDispose(() => quota.close());
    // Registered, and a slot taken and given back normally: nothing held.
    await (await quota.acquire('connections', 'alice', 5))?.release();
    expect(await heldSlots(redis.client, 'pause:')).toBe(0);

    // Redis stops answering (another client paused it); both acquires fail open after 200 ms.
    await redis.client.client('PAUSE', 1500, 'ALL');
    const releasedEarly = await quota.acquire('connections', 'alice', 5);
    const releasedLate = await quota.acquire('connections', 'bob', 5);
    expect(releasedEarly).not.toBeNull();
    expect(releasedLate).not.toBeNull();
    expect(errors.length).toBeGreaterThan(0);
    // The first connection closes while Redis is still paused.
    await releasedEarly?.release();

    // Once Redis answers, the queued acquires run: bob's slot is held until released, alice's
    // was released already and must not stay held.
    await waitFor('the paused acquires to land', async () => (await heldSlots(redis.client, 'pause:')) > 0, { timeoutMs: 10_000 });
    await waitFor('only the slot still in use to be held', async () => (await heldSlots(redis.client, 'pause:')) === 1, { timeoutMs: 5000 });
    await releasedLate?.release();
    await waitFor('every slot to be given back', async () => (await heldSlots(redis.client, 'pause:')) === 0, { timeoutMs: 5000 });
  });
});
