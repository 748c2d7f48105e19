/**
 * The Quota contract (per-user slots and token buckets), run against the in-process adapter,
 * Redis, and a Redis Cluster node (a test-owned redis-server in cluster mode owning every slot:
 * with `#!lua` scripts, Redis refuses any key outside the script's declared slot, so this proves
 * the scripts are Cluster-safe). Redis-only blocks: two gateways share one count, and a dead
 * gateway's slots lapse.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryQuota } from '../src/quota/memory.ts';
import type { Quota } from '../src/quota/port.ts';
import { createRedisQuota, type RedisQuotaOptions } from '../src/quota/redis.ts';
import { commandStats, connectRedis, freePort, REDIS_URL, startRedis } from './support/redis.ts';
import { disposeAll, onDispose } from './support/dispose.ts';
import { sleep, waitFor } from './support/wait.ts';

const keyPrefix = `test:quota:${randomUUID()}:`;

afterAll(disposeAll);

const connect = (url = REDIS_URL): Redis => connectRedis(url, { maxRetriesPerRequest: null });

/** redis-server in cluster mode on a free port, owning all 16384 slots, disposed by disposeAll. */
async function startClusterNode(): Promise<Cluster> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'quota-cluster-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-announce-ip', '127.0.0.1', '--cluster-config-file', join(dir, 'nodes.conf'), '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  onDispose(async () => {
    child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
  });
  const admin = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  admin.on('error', () => {});
  await waitFor('the cluster node to answer', async () => {
    await admin.connect().catch(() => {});
    return (await admin.ping()) === 'PONG';
  });
  await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
  await waitFor('the cluster to be ok', async () => String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok'));
  admin.disconnect();
  const cluster = new Cluster([{ host: '127.0.0.1', port }], { redisOptions: { maxRetriesPerRequest: null } });
  cluster.on('error', () => {});
  onDispose(() => cluster.disconnect());
  await waitFor('the cluster client to be ready', async () => (await cluster.ping()) === 'PONG');
  return cluster;
}

interface Adapter {
  readonly name: string;
  /** A Quota as one gateway sees it; `peer()` is another gateway on the same store. */
  create(): { quota: Quota; peer: () => Quota };
}

let cluster: Cluster;
beforeAll(async () => {
  cluster = await startClusterNode();
});

const redisAdapter = (name: string, client: () => Redis | Cluster, options: Partial<RedisQuotaOptions> = {}): Adapter => ({
  name,
  create() {
    const prefix = `${keyPrefix}${randomUUID()}:`;
    const make = (nodeId: string): Quota => {
      const quota = createRedisQuota({ client: client(), keyPrefix: prefix, nodeId, ...options });
      onDispose(() => quota.close());
      return quota;
    };
    return { quota: make('gateway-a'), peer: () => make('gateway-b') };
  },
});

const shared = connect();
const adapters: Adapter[] = [
  {
    name: 'memory',
    create() {
      const quota = createMemoryQuota();
      return { quota, peer: () => quota };
    },
  },
  redisAdapter('redis', () => shared),
  redisAdapter('redis cluster', () => cluster),
];

describe.each(adapters)('Quota contract: $name', (adapter) => {
  it('grants exactly `limit` slots per key, then refuses; a release frees one', async () => {
    const { quota } = adapter.create();
    const slots = [];
    for (let i = 0; i < 3; i += 1) slots.push(await quota.acquire('connections', 'alice', 3));
    expect(slots.every((slot) => slot !== null)).toBe(true);
    expect(await quota.acquire('connections', 'alice', 3)).toBeNull();
    // Other keys and other pools count apart.
    expect(await quota.acquire('connections', 'bob', 3)).not.toBeNull();
    expect(await quota.acquire('subscriptions', 'alice', 3)).not.toBeNull();
    await slots[0]?.release();
    await slots[0]?.release(); // idempotent: frees one slot, not two
    expect(await quota.acquire('connections', 'alice', 3)).not.toBeNull();
    expect(await quota.acquire('connections', 'alice', 3)).toBeNull();
  });

  it('counts a user across gateways', async () => {
    const { quota, peer } = adapter.create();
    const other = peer();
    expect(await quota.acquire('connections', 'carol', 2)).not.toBeNull();
    expect(await other.acquire('connections', 'carol', 2)).not.toBeNull();
    expect(await quota.acquire('connections', 'carol', 2)).toBeNull();
    expect(await other.acquire('connections', 'carol', 2)).toBeNull();
  });

  it('takes exactly `burst` tokens, then answers how long to wait, then refills', async () => {
    const { quota, peer } = adapter.create();
    const rule = { name: 'group-writes', ratePerSecond: 20, burst: 3 };
    expect([await quota.take(rule, 'dave'), await peer().take(rule, 'dave'), await quota.take(rule, 'dave')]).toEqual([0, 0, 0]);
    const wait = await quota.take(rule, 'dave');
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(50);
    expect(await quota.take(rule, 'erin')).toBe(0);
    // A different rule has its own bucket.
    expect(await quota.take({ ...rule, name: 'other' }, 'dave')).toBe(0);
    await sleep(wait + 20);
    expect(await quota.take(rule, 'dave')).toBe(0);
  });

  it('close releases every slot still held', async () => {
    const { quota, peer } = adapter.create();
    expect(await quota.acquire('connections', 'frank', 1)).not.toBeNull();
    const other = peer();
    expect(await other.acquire('connections', 'frank', 1)).toBeNull();
    await quota.close();
    expect(await other.acquire('connections', 'frank', 1)).not.toBeNull();
  });
});

describe('Redis quota: gateways that die', () => {
  const ttlMs = 400;
  const renewMs = 100;

  it('keeps a live gateway’s slots past the ttl by renewing them', async () => {
    const prefix = `${keyPrefix}${randomUUID()}:`;
    const a = createRedisQuota({ client: shared, keyPrefix: prefix, nodeId: 'a', ttlMs, renewMs });
    const b = createRedisQuota({ client: shared, keyPrefix: prefix, nodeId: 'b', ttlMs, renewMs });
    onDispose(() => a.close());
    onDispose(() => b.close());
    expect(await a.acquire('connections', 'gina', 1)).not.toBeNull();
    await sleep(ttlMs * 3);
    expect(await b.acquire('connections', 'gina', 1)).toBeNull();
  });

  it('lets a dead gateway’s slots lapse, so its users get their quota back', async () => {
    const prefix = `${keyPrefix}${randomUUID()}:`;
    // The dying gateway has its own connection to Redis, which dies with it.
    const dying = connect();
    const a = createRedisQuota({ client: dying, keyPrefix: prefix, nodeId: 'a', ttlMs, renewMs, timeoutMs: 100 });
    const b = createRedisQuota({ client: shared, keyPrefix: prefix, nodeId: 'b', ttlMs, renewMs });
    onDispose(() => b.close());
    expect(await a.acquire('connections', 'hank', 2)).not.toBeNull();
    expect(await a.acquire('connections', 'hank', 2)).not.toBeNull();
    expect(await b.acquire('connections', 'hank', 2)).toBeNull();
    dying.disconnect();
    await waitFor('the dead gateway’s slots to lapse', async () => (await b.acquire('connections', 'hank', 2)) !== null, { timeoutMs: 5000 });
    expect(await b.acquire('connections', 'hank', 2)).not.toBeNull();
    expect(await b.acquire('connections', 'hank', 2)).toBeNull();
    await a.close();
  });

  it('a gateway whose registration lapsed (cut off from Redis past the ttl) writes its counts back, and they count again', async () => {
    const prefix = `${keyPrefix}${randomUUID()}:`;
    const cutOff = new Redis(REDIS_URL, { maxRetriesPerRequest: null, lazyConnect: true });
    cutOff.on('error', () => {});
    onDispose(() => cutOff.disconnect());
    await cutOff.connect();
    const a = createRedisQuota({ client: cutOff, keyPrefix: prefix, nodeId: 'a', ttlMs, renewMs, timeoutMs: 50 });
    const b = createRedisQuota({ client: shared, keyPrefix: prefix, nodeId: 'b', ttlMs, renewMs });
    onDispose(() => b.close());
    expect(await a.acquire('connections', 'iris', 2)).not.toBeNull();
    expect(await a.acquire('connections', 'iris', 2)).not.toBeNull();
    expect(await b.acquire('connections', 'iris', 2)).toBeNull();
    // a cannot renew: its registration lapses, and b, listing it no more, drops its counts.
    cutOff.disconnect();
    await waitFor('b to drop the lapsed gateway\'s counts', async () => (await b.acquire('connections', 'iris', 2)) !== null, { timeoutMs: 5000 });
    // a is back: its next renewal finds it lapsed, registers again and writes its two slots back.
    await cutOff.connect();
    await waitFor('a\'s counts to count again', async () => (await b.acquire('connections', 'iris', 2)) === null, { timeoutMs: 5000 });
    await a.close();
  });

  it('costs one renewal command per gateway, whatever it holds', async () => {
    const redis = await startRedis();
    const client = connect(redis.url);
    const prefix = `${keyPrefix}${randomUUID()}:`;
    const quota = createRedisQuota({ client, keyPrefix: prefix, nodeId: 'a', ttlMs, renewMs });
    onDispose(() => quota.close());
    for (let user = 0; user < 200; user += 1) expect(await quota.acquire('connections', `u${user}`, 1)).not.toBeNull();
    await redis.client.config('RESETSTAT');
    await sleep(renewMs * 5);
    const stats = await commandStats(redis.client);
    const scripts = (stats.get('evalsha') ?? 0) + (stats.get('eval') ?? 0);
    // Five or six renewals in the window (plus a few key-expiry refreshes), not 200 per renewal.
    expect(scripts).toBeGreaterThanOrEqual(4);
    expect(scripts).toBeLessThanOrEqual(8);
  });

  it('fails open, and says so, when Redis does not answer', async () => {
    const errors: unknown[] = [];
    const unreachable = new Redis({ port: await freePort(), host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: null });
    unreachable.on('error', () => {});
    onDispose(() => unreachable.disconnect());
    const quota = createRedisQuota({ client: unreachable, keyPrefix, nodeId: 'x', timeoutMs: 100, onError: (error) => errors.push(error) });
    onDispose(() => quota.close());
    expect(await quota.acquire('connections', 'ivy', 1)).not.toBeNull();
    expect(await quota.take({ name: 'r', ratePerSecond: 1, burst: 1 }, 'ivy')).toBe(0);
    // The acquire and the take, and the instance's registration, which failed first.
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors.every((error) => error instanceof Error && /within 100 ms|not registered/.test(error.message))).toBe(true);
  });
});
