/**
 * The presence contract (NodePresence + PresenceDirectory), run against the in-process maps,
 * a single Redis and a real 3-master Redis Cluster. Redis blocks (on both) check expiry of dead
 * nodes, the sweep and re-registration under a new epoch; cost blocks check that the relay's
 * lookups cost a fixed number of commands whatever the number of registrations. Long on purpose:
 * a port's contract is one suite, so every adapter is held to all of it (house style 10).
 */
import { randomUUID } from 'node:crypto';
import { Redis, type Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { NodePresence, PresenceDirectory } from '../src/delivery/ports.ts';
import { createMemoryPresence } from '../src/delivery/presence/memory.ts';
import {
  createRedisPresence,
  createRedisPresenceDirectory,
  presenceKeys,
  USER_BUCKETS,
  userBucket,
  type RedisNodePresence,
  type RedisPresenceOptions,
} from '../src/delivery/presence/redis.ts';
import type { RedisClient } from '../src/delivery/redis/support.ts';
import { connectRedis, startRedis } from './support/redis.ts';
import { disposeAll, onDispose } from './support/dispose.ts';
import { sleep, waitFor } from './support/wait.ts';
import { startRedisCluster, type TestRedisCluster } from './support/redis-cluster.ts';

/** Keys are unique per run so parallel runs on the shared Redis never collide. */
const keyPrefix = `test:${randomUUID()}:`;

afterAll(disposeAll);

const shared = connectRedis();
afterAll(async () => {
  // Runs before disposeAll above (hooks run in reverse): the client is still connected.
  for await (const keys of shared.scanStream({ match: `${keyPrefix}*`, count: 1000 })) {
    if ((keys as string[]).length > 0) await shared.unlink(...(keys as string[]));
  }
});

const sorted = async (nodes: Promise<string[]>): Promise<string[]> => (await nodes).sort();

/** One private cluster for the file, started by the first suite that needs it. */
let clusterStarted: Promise<{ readonly cluster: TestRedisCluster; readonly client: Cluster }> | null = null;
const privateCluster = () =>
  (clusterStarted ??= (async () => {
    const cluster = await startRedisCluster();
    return { cluster, client: await cluster.client() };
  })());

interface Presence {
  readonly directory: PresenceDirectory;
  node(nodeId: string): NodePresence;
}

interface Adapter {
  readonly name: string;
  setup?(): Promise<void>;
  create(): Presence;
}

let clusterClient: Cluster | null = null;
const redisPresence = (client: () => RedisClient): Presence => {
  // A prefix per suite instance, so each test starts from an empty layout.
  const prefix = `${keyPrefix}${randomUUID()}:`;
  return {
    directory: createRedisPresenceDirectory({ client: client(), keyPrefix: prefix }),
    node(nodeId) {
      const node = createRedisPresence({ client: client(), nodeId, keyPrefix: prefix });
      onDispose(() => node.close());
      return node;
    },
  };
};

const adapters: Adapter[] = [
  {
    name: 'memory',
    create() {
      const presence = createMemoryPresence();
      return { directory: presence.directory, node: (nodeId) => presence.forNode(nodeId) };
    },
  },
  { name: 'redis', create: () => redisPresence(() => shared) },
  {
    name: 'redis-cluster',
    async setup() {
      clusterClient = (await privateCluster()).client;
    },
    create: () => redisPresence(() => clusterClient as Cluster),
  },
];

describe.each(adapters)('Presence contract: $name', ({ setup, create }) => {
  beforeAll(async () => {
    await setup?.();
  });

  test('answers for many users spread over every bucket, each node once', async () => {
    const { directory, node } = create();
    const a = node('a');
    const b = node('b');
    // Enough users that every one of the 16 user buckets (hash tags) holds some.
    const many = Array.from({ length: 200 }, (_, index) => `bucket-user-${index}`);
    expect(new Set(many.map(userBucket)).size).toBe(USER_BUCKETS);
    await a.addUsers(many.slice(0, 100));
    await b.addUsers(many.slice(150));
    expect(await sorted(directory.nodesForUsers(many))).toEqual(['a', 'b']);
    expect(await sorted(directory.nodesForUsers(many.slice(100, 150)))).toEqual([]);
    expect(await sorted(directory.nodesForUsers(many.slice(120, 160)))).toEqual(['b']);
  });

  test('answers which nodes registered a group', async () => {
    const { directory, node } = create();
    const a = node('a');
    const b = node('b');
    await a.addGroups(['g1', 'g2']);
    await b.addGroups(['g2', 'g3']);
    expect(await sorted(directory.nodesForGroup('g1'))).toEqual(['a']);
    expect(await sorted(directory.nodesForGroup('g2'))).toEqual(['a', 'b']);
    expect(await sorted(directory.nodesForGroup('g3'))).toEqual(['b']);
    expect(await directory.nodesForGroup('unknown')).toEqual([]);

    await a.removeGroups(['g2']);
    expect(await sorted(directory.nodesForGroup('g2'))).toEqual(['b']);
    expect(await sorted(directory.nodesForGroup('g1'))).toEqual(['a']);
  });

  test('answers which nodes registered any of some users, each node once', async () => {
    const { directory, node } = create();
    const a = node('a');
    const b = node('b');
    await a.addUsers(['u1', 'u2']);
    await b.addUsers(['u2', 'u3']);
    expect(await sorted(directory.nodesForUsers(['u1']))).toEqual(['a']);
    expect(await sorted(directory.nodesForUsers(['u1', 'u2', 'u3']))).toEqual(['a', 'b']);
    expect(await sorted(directory.nodesForUsers(['u3', 'nobody']))).toEqual(['b']);
    expect(await directory.nodesForUsers([])).toEqual([]);

    await b.removeUsers(['u2', 'u3']);
    expect(await sorted(directory.nodesForUsers(['u2', 'u3']))).toEqual(['a']);
  });

  test('keeps groups and users apart', async () => {
    const { directory, node } = create();
    await node('a').addGroups(['same-id']);
    await node('b').addUsers(['same-id']);
    expect(await directory.nodesForGroup('same-id')).toEqual(['a']);
    expect(await directory.nodesForUsers(['same-id'])).toEqual(['b']);
  });

  test('treats calls as idempotent set operations', async () => {
    const { directory, node } = create();
    const a = node('a');
    await a.addGroups(['g1']);
    await a.addGroups(['g1', 'g1']);
    expect(await directory.nodesForGroup('g1')).toEqual(['a']);
    await a.removeGroups(['g1']);
    expect(await directory.nodesForGroup('g1')).toEqual([]);
    await a.removeGroups(['g1', 'never-added']);
    await a.addUsers([]);
    await a.removeUsers(['never-added']);
    expect(await directory.nodesForUsers(['never-added'])).toEqual([]);
  });

  test('close() removes every registration of the node at once, and only of that node', async () => {
    const { directory, node } = create();
    const a = node('a');
    const b = node('b');
    await a.addGroups(['g1', 'g2']);
    await a.addUsers(['u1']);
    await b.addGroups(['g2']);
    await b.addUsers(['u1']);

    await a.close();
    expect(await directory.nodesForGroup('g1')).toEqual([]);
    expect(await directory.nodesForGroup('g2')).toEqual(['b']);
    expect(await directory.nodesForUsers(['u1'])).toEqual(['b']);
    await a.close(); // idempotent
  });
});

// --- Redis only: on a single Redis and on a cluster ---------------------------------------------

interface RedisSetup {
  readonly name: string;
  client(): Promise<RedisClient>;
  /** A client of its own, to kill a node by disconnecting it. */
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

describe.each(redisSetups)('Redis presence on $name: liveness', ({ client: getClient, ownClient }) => {
  const prefix = `${keyPrefix}${randomUUID()}:`;
  const keys = presenceKeys(prefix);
  let client: RedisClient;
  let directory: PresenceDirectory;
  beforeAll(async () => {
    client = await getClient();
    directory = createRedisPresenceDirectory({ client, keyPrefix: prefix });
  });
  const options = (nodeId: string, own: RedisClient): RedisPresenceOptions => ({
    client: own,
    nodeId,
    keyPrefix: prefix,
    ttlSeconds: 2,
    heartbeatMs: 500,
    onError: () => {},
  });
  const nodes: RedisNodePresence[] = [];
  const start = (nodeId: string, own = client): RedisNodePresence => {
    const node = createRedisPresence(options(nodeId, own));
    nodes.push(node);
    return node;
  };
  afterAll(async () => {
    for (const node of nodes) await node.close().catch(() => {});
  });

  test('a node that dies without close() disappears within ttlSeconds', async () => {
    const own = await ownClient();
    const dying = start('dying', own);
    const living = start('living');
    await dying.addGroups(['liveness-g']);
    await dying.addUsers(['liveness-u']);
    await living.addGroups(['liveness-g']);
    expect(await sorted(directory.nodesForGroup('liveness-g'))).toEqual(['dying', 'living']);

    // Death: the process's connection is gone, its heartbeats stop, close() never runs.
    own.disconnect();
    const diedAt = Date.now();
    await waitFor('the node to be listed for liveness-g', async () => (await directory.nodesForGroup('liveness-g')).length === 1, { timeoutMs: 5000 });
    const goneAfter = Date.now() - diedAt;
    console.info(`dead node left nodesForGroup after ${goneAfter} ms (ttl 2000 ms)`);
    // The last heartbeat was at most this long before the disconnect; the slack covers polling.
    expect(goneAfter).toBeLessThanOrEqual(2000 + 300);
    expect(await directory.nodesForGroup('liveness-g')).toEqual(['living']);
    expect(await directory.nodesForUsers(['liveness-u'])).toEqual([]);

    // The leftovers are then reaped from the sets by any live node's sweep.
    expect(await client.smembers(keys.group('liveness-g'))).toHaveLength(2);
    expect(await living.sweep()).toBeGreaterThanOrEqual(1);
    expect(await client.smembers(keys.group('liveness-g'))).toEqual([living.instanceId]);
    expect(await client.exists(keys.user('liveness-u'))).toBe(0);
    expect(await client.exists(keys.ownGroups(dying.instanceId))).toBe(0);
    expect(await client.sismember(keys.instances, dying.instanceId)).toBe(0);
  });

  test('a live node keeps its registrations well past the ttl', async () => {
    const node = start('steady');
    await node.addGroups(['steady-g']);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(await directory.nodesForGroup('steady-g')).toEqual(['steady']);
  });

  test('a node whose liveness lapsed and was reaped registers everything again', async () => {
    const node = start('paused');
    const sweeper = start('sweeper');
    let reregistered = 0;
    node.onReregistered(() => {
      reregistered += 1;
    });
    await node.addGroups(['paused-g1', 'paused-g2']);
    await node.addUsers(['paused-u']);
    const before = node.instanceId;
    // What a long pause looks like from outside: the alive key expired, then a sweep ran.
    await client.del(keys.alive(before));
    await sweeper.sweep();
    expect(await directory.nodesForGroup('paused-g1')).toEqual([]);

    await waitFor('the paused node to be listed again', async () => (await directory.nodesForGroup('paused-g1')).length === 1, { timeoutMs: 2000 });
    expect(await directory.nodesForGroup('paused-g2')).toEqual(['paused']);
    expect(await directory.nodesForUsers(['paused-u'])).toEqual(['paused']);
    // The gateway is told, so it can repair what it missed while it was not routed to.
    await waitFor('one re-registration', async () => reregistered === 1, { timeoutMs: 1000 });
    // Under a new epoch: the lapsed id is never revived, so a sweep reaping it cannot race it.
    expect(node.instanceId).not.toBe(before);
    expect(node.instanceId.startsWith('paused@')).toBe(true);
    expect(await client.smembers(keys.group('paused-g1'))).toEqual([node.instanceId]);
  });

  test('registrations Redis lost while the alive key survived come back at the next refresh, and the gateway is told', async () => {
    const node = createRedisPresence({ ...options('refreshed', client), refreshMs: 300 });
    nodes.push(node);
    let reregistered = 0;
    node.onReregistered(() => {
      reregistered += 1;
    });
    await node.addGroups(['refresh-g1', 'refresh-g2']);
    await node.addUsers(['refresh-u']);
    await sleep(700); // refreshes that found nothing missing tell nobody
    expect(reregistered).toBe(0);
    // One shard lost a group set and a user set (a restart without persistence); the alive
    // key, on another shard, did not expire, so the heartbeat sees nothing wrong.
    await client.del(keys.group('refresh-g2'));
    await client.del(keys.user('refresh-u'));
    expect(await directory.nodesForGroup('refresh-g2')).toEqual([]);
    await waitFor('the node to be listed for refresh-g2', async () => (await directory.nodesForGroup('refresh-g2')).length === 1, { timeoutMs: 3000 });
    expect(await directory.nodesForUsers(['refresh-u'])).toEqual(['refreshed']);
    await waitFor('a re-registration', async () => reregistered >= 1, { timeoutMs: 1000 });
  });

  test('a lapsed node whose old id was not reaped yet still ends up registered, and the old id is reaped later', async () => {
    const node = start('lapsed');
    const sweeper = start('sweeper-2');
    await node.addGroups(['lapsed-g']);
    const before = node.instanceId;
    await client.del(keys.alive(before));
    await waitFor('a new instance id', async () => node.instanceId !== before, { timeoutMs: 2000 });
    await waitFor('the lapsed node to be listed again', async () => (await directory.nodesForGroup('lapsed-g')).length === 1, { timeoutMs: 2000 });
    // Both ids are in the set until a sweep reaps the dead one; the directory shows the node once.
    expect((await client.smembers(keys.group('lapsed-g'))).sort()).toEqual([before, node.instanceId].sort());
    expect(await sweeper.sweep()).toBeGreaterThanOrEqual(1);
    expect(await client.smembers(keys.group('lapsed-g'))).toEqual([node.instanceId]);
    expect(await directory.nodesForGroup('lapsed-g')).toEqual(['lapsed']);
  });

  test('a node restarted under the same id does not inherit its old registrations', async () => {
    const oldClient = await ownClient();
    const before = start('restarted', oldClient);
    await before.addGroups(['old-g']);
    oldClient.disconnect();
    const after = start('restarted');
    await after.addGroups(['new-g']);
    await waitFor('the old instance to be forgotten', async () => (await directory.nodesForGroup('old-g')).length === 0, { timeoutMs: 5000 });
    expect(await directory.nodesForGroup('new-g')).toEqual(['restarted']);
  });
});

// --- Redis only: cost per lookup, on a private server whose stats we may reset ---------------

describe('Redis presence: cost', () => {
  let client: Redis;
  let admin: Redis;
  beforeAll(async () => {
    const { url } = await startRedis();
    client = connectRedis(url);
    admin = connectRedis(url);
  });

  /** Commands Redis ran while `work` ran, by name (`INFO commandstats` after CONFIG RESETSTAT). */
  async function commandsDuring(work: () => Promise<unknown>): Promise<Record<string, number>> {
    await admin.config('RESETSTAT');
    await work();
    const info = await admin.info('commandstats');
    const counts: Record<string, number> = {};
    for (const [, name, calls] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      if (name === undefined || calls === undefined) continue;
      // Our own measuring commands (Redis 7 names subcommands `config|resetstat`).
      if (name.startsWith('config') || name === 'info') continue;
      counts[name] = Number(calls);
    }
    return counts;
  }

  test('nodesForGroup and nodesForUsers cost 2 commands, however many registrations', async () => {
    const directory = createRedisPresenceDirectory({ client });
    const nodes = ['n1', 'n2', 'n3'].map((nodeId) =>
      createRedisPresence({ client, nodeId, heartbeatMs: 60_000, ttlSeconds: 120 }),
    );
    onDispose(() => Promise.all(nodes.map((node) => node.close())));
    for (const node of nodes) await node.addGroups(['big']);
    const users = (from: number, count: number) =>
      Array.from({ length: count }, (_, index) => `u${from + index}`);
    await nodes[0]?.addUsers(users(0, 10));

    const small = await commandsDuring(() => directory.nodesForGroup('big'));
    const smallUsers = await commandsDuring(() => directory.nodesForUsers(users(0, 10)));

    // 10,000 online members of the group spread over the three nodes, and 10,000 more
    // groups on one node: none of it may show in the relay's lookup.
    for (const [index, node] of nodes.entries()) {
      await node.addUsers(users(index * 3334, 3334));
    }
    await nodes[0]?.addGroups(Array.from({ length: 10_000 }, (_, index) => `other${index}`));

    let answer: string[] = [];
    const big = await commandsDuring(async () => {
      answer = await directory.nodesForGroup('big');
    });
    const bigUsers = await commandsDuring(() => directory.nodesForUsers(users(0, 1000)));
    console.info(
      `nodesForGroup: ${JSON.stringify(small)} with 10 users, ${JSON.stringify(big)} with 10,002 ` +
        `users and 10,001 groups; nodesForUsers(10): ${JSON.stringify(smallUsers)}, ` +
        `nodesForUsers(1000): ${JSON.stringify(bigUsers)}`,
    );
    expect(answer.sort()).toEqual(['n1', 'n2', 'n3']);
    expect(big).toEqual({ smembers: 1, mget: 1 });
    expect(small).toEqual(big);
    expect(bigUsers).toEqual({ sunion: 1, mget: 1 });
    expect(smallUsers).toEqual(bigUsers);
  });

  test('a heartbeat is one command, however many groups the node holds', async () => {
    const node = createRedisPresence({
      client,
      nodeId: 'busy',
      keyPrefix: 'hb:',
      ttlSeconds: 5,
      heartbeatMs: 200,
    });
    onDispose(() => node.close());
    await node.addGroups(Array.from({ length: 10_000 }, (_, index) => `g${index}`));
    await node.addUsers(Array.from({ length: 10_000 }, (_, index) => `u${index}`));
    // The node's own first registration runs in batches next to these adds: let it finish.
    await waitFor('the registrations to settle', async () => (await commandsDuring(() => sleep(300)))['sadd'] === undefined, { timeoutMs: 20_000 });
    const counts = await commandsDuring(() => new Promise((resolve) => setTimeout(resolve, 1100)));
    console.info(`commands in 1100 ms of heartbeats (every 200 ms): ${JSON.stringify(counts)}`);
    // Five or so heartbeats, each a single SET ... XX; no per-group work.
    expect(Object.keys(counts)).toEqual(['set']);
    expect(counts['set']).toBeGreaterThanOrEqual(4);
    expect(counts['set']).toBeLessThanOrEqual(7);
  });

  test('a refresh re-adds thousands of registrations in batches, never all in one turn', async () => {
    // The real client, watched: how many SADDs are waiting for their answer at once.
    let inFlight = 0;
    let most = 0;
    let issued = 0;
    const watched = new Proxy(client, {
      get(target, property, receiver) {
        if (property !== 'sadd') return Reflect.get(target, property, receiver);
        return (...args: Parameters<Redis['sadd']>) => {
          inFlight += 1;
          issued += 1;
          most = Math.max(most, inFlight);
          return (target.sadd as (...a: unknown[]) => Promise<number>)(...args).finally(() => (inFlight -= 1));
        };
      },
    });
    const node = createRedisPresence({ client: watched, nodeId: 'refresher', keyPrefix: 'rf:', heartbeatMs: 60_000, ttlSeconds: 120, refreshMs: 300 });
    onDispose(() => node.close());
    await node.addGroups(Array.from({ length: 3000 }, (_, index) => `g${index}`));
    await node.addUsers(Array.from({ length: 3000 }, (_, index) => `u${index}`));
    most = 0;
    issued = 0;
    await waitFor('one whole refresh', () => issued >= 6001, { timeoutMs: 10_000 });
    console.info(`refresh of 6,000 registrations: at most ${most} SADDs in flight`);
    // Before: all 6,000 (plus the own sets) were issued in one turn.
    expect(most).toBeLessThanOrEqual(250);
  });
});

describe('Redis presence on a cluster: cost', () => {
  /** Commands the whole cluster ran while `work` ran, by name, summed over the masters. */
  async function commandsDuring(cluster: TestRedisCluster, work: () => Promise<unknown>): Promise<Record<string, number>> {
    const admins = cluster.nodes.map((node) => connectRedis(`redis://${node.host}:${node.port}`));
    for (const admin of admins) await admin.config('RESETSTAT');
    await work();
    const counts: Record<string, number> = {};
    for (const admin of admins) {
      const info = await admin.info('commandstats');
      for (const [, name, calls] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
        if (name === undefined || calls === undefined) continue;
        // Our own measuring, and the client's topology refreshes (CLUSTER SLOTS every 5 s).
        if (name.startsWith('config') || name === 'info' || name.startsWith('cluster')) continue;
        counts[name] = (counts[name] ?? 0) + Number(calls);
      }
    }
    return counts;
  }

  test('nodesForGroup costs 2 commands; nodesForUsers one SUNION per bucket plus one MGET', async () => {
    const { cluster, client } = await privateCluster();
    const prefix = `${keyPrefix}${randomUUID()}:`;
    const directory = createRedisPresenceDirectory({ client, keyPrefix: prefix });
    const nodes = ['n1', 'n2', 'n3'].map((nodeId) =>
      createRedisPresence({ client, nodeId, keyPrefix: prefix, heartbeatMs: 60_000, ttlSeconds: 120 }),
    );
    onDispose(() => Promise.all(nodes.map((node) => node.close())));
    for (const node of nodes) await node.addGroups(['big']);
    const users = Array.from({ length: 1000 }, (_, index) => `u${index}`);
    for (const [index, node] of nodes.entries()) await node.addUsers(users.slice(index * 334, index * 334 + 334));

    let answer: string[] = [];
    const group = await commandsDuring(cluster, async () => {
      answer = await directory.nodesForGroup('big');
    });
    let userAnswer: string[] = [];
    const many = await commandsDuring(cluster, async () => {
      userAnswer = await directory.nodesForUsers(users);
    });
    const one = await commandsDuring(cluster, () => directory.nodesForUsers(['u1']));
    console.info(`cluster: nodesForGroup ${JSON.stringify(group)}; nodesForUsers(1000) ${JSON.stringify(many)}; nodesForUsers(1) ${JSON.stringify(one)}`);
    expect(answer.sort()).toEqual(['n1', 'n2', 'n3']);
    expect(userAnswer.sort()).toEqual(['n1', 'n2', 'n3']);
    expect(group).toEqual({ smembers: 1, mget: 1 });
    expect(many).toEqual({ sunion: USER_BUCKETS, mget: 1 });
    expect(one).toEqual({ sunion: 1, mget: 1 });
  });
});
