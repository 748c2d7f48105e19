/**
 * The presence contract (NodePresence + PresenceDirectory), run against the in-process maps
 * and against Redis. Redis-only blocks check expiry of dead nodes, the sweep, and that the
 * relay's lookups cost a fixed number of commands whatever the number of registrations.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createMemoryPresence } from '../src/delivery/memory.ts';
import type { NodePresence, PresenceDirectory } from '../src/delivery/ports.ts';
import {
  createRedisPresence,
  createRedisPresenceDirectory,
  type RedisNodePresence,
  type RedisPresenceOptions,
} from '../src/delivery/redis.ts';
import { startRedis } from './support/redis.ts';
import { disposeAll } from './support/server.ts';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
/** Keys are unique per run so parallel runs on the shared Redis never collide. */
const keyPrefix = `test:${randomUUID()}:`;

const disposers: (() => Promise<unknown> | unknown)[] = [];
afterAll(disposeAll);
afterAll(async () => {
  for (const dispose of disposers.reverse()) await dispose();
});

function connect(url = REDIS_URL): Redis {
  const client = new Redis(url);
  client.on('error', () => {});
  disposers.push(() => client.disconnect());
  return client;
}

const shared = connect();
afterAll(async () => {
  // Runs before the disposers above (hooks run in reverse): the client is still connected.
  for await (const keys of shared.scanStream({ match: `${keyPrefix}*`, count: 1000 })) {
    if ((keys as string[]).length > 0) await shared.unlink(...(keys as string[]));
  }
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const sorted = async (nodes: Promise<string[]>): Promise<string[]> => (await nodes).sort();

interface Presence {
  readonly directory: PresenceDirectory;
  node(nodeId: string): NodePresence;
}

interface Adapter {
  readonly name: string;
  create(): Presence;
}

const adapters: Adapter[] = [
  {
    name: 'memory',
    create() {
      const presence = createMemoryPresence();
      return { directory: presence.directory, node: (nodeId) => presence.forNode(nodeId) };
    },
  },
  {
    name: 'redis',
    create() {
      // A prefix per suite instance, so each test starts from an empty layout.
      const prefix = `${keyPrefix}${randomUUID()}:`;
      return {
        directory: createRedisPresenceDirectory({ client: shared, keyPrefix: prefix }),
        node(nodeId) {
          const node = createRedisPresence({ client: shared, nodeId, keyPrefix: prefix });
          disposers.push(() => node.close());
          return node;
        },
      };
    },
  },
];

describe.each(adapters)('Presence contract: $name', ({ create }) => {
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

// --- Redis only ------------------------------------------------------------------------------

describe('Redis presence: liveness', () => {
  const options = (nodeId: string, client: Redis): RedisPresenceOptions => ({
    client,
    nodeId,
    keyPrefix,
    ttlSeconds: 2,
    heartbeatMs: 500,
    onError: () => {},
  });
  const directory = createRedisPresenceDirectory({ client: shared, keyPrefix });
  const nodes: RedisNodePresence[] = [];
  const start = (nodeId: string, client = shared): RedisNodePresence => {
    const node = createRedisPresence(options(nodeId, client));
    nodes.push(node);
    return node;
  };
  afterAll(async () => {
    for (const node of nodes) await node.close().catch(() => {});
  });

  test('a node that dies without close() disappears within ttlSeconds', async () => {
    const ownClient = connect();
    const dying = start('dying', ownClient);
    const living = start('living');
    await dying.addGroups(['liveness-g']);
    await dying.addUsers(['liveness-u']);
    await living.addGroups(['liveness-g']);
    expect(await sorted(directory.nodesForGroup('liveness-g'))).toEqual(['dying', 'living']);

    // Death: the process's connection is gone, its heartbeats stop, close() never runs.
    ownClient.disconnect();
    const diedAt = Date.now();
    await waitFor(async () => (await directory.nodesForGroup('liveness-g')).length === 1, 5000);
    const goneAfter = Date.now() - diedAt;
    console.info(`dead node left nodesForGroup after ${goneAfter} ms (ttl 2000 ms)`);
    // The last heartbeat was at most this long before the disconnect; the slack covers polling.
    expect(goneAfter).toBeLessThanOrEqual(2000 + 300);
    expect(await directory.nodesForGroup('liveness-g')).toEqual(['living']);
    expect(await directory.nodesForUsers(['liveness-u'])).toEqual([]);

    // The leftovers are then reaped from the sets by any live node's sweep.
    expect(await shared.smembers(`${keyPrefix}presence:group:liveness-g`)).toHaveLength(2);
    expect(await living.sweep()).toBeGreaterThanOrEqual(1);
    expect(await shared.smembers(`${keyPrefix}presence:group:liveness-g`)).toEqual([
      living.instanceId,
    ]);
    expect(await shared.exists(`${keyPrefix}presence:user:liveness-u`)).toBe(0);
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
    // What a long pause looks like from outside: the alive key expired, then a sweep ran.
    await shared.del(`${keyPrefix}presence:instance:${node.instanceId}:alive`);
    await sweeper.sweep();
    expect(await directory.nodesForGroup('paused-g1')).toEqual([]);

    await waitFor(async () => (await directory.nodesForGroup('paused-g1')).length === 1, 2000);
    expect(await directory.nodesForGroup('paused-g2')).toEqual(['paused']);
    expect(await directory.nodesForUsers(['paused-u'])).toEqual(['paused']);
    // The gateway is told, so it can repair what it missed while it was not routed to.
    await waitFor(async () => reregistered === 1, 1000);
  });

  test('a node restarted under the same id does not inherit its old registrations', async () => {
    const oldClient = connect();
    const before = start('restarted', oldClient);
    await before.addGroups(['old-g']);
    oldClient.disconnect();
    const after = start('restarted');
    await after.addGroups(['new-g']);
    await waitFor(async () => (await directory.nodesForGroup('old-g')).length === 0, 5000);
    expect(await directory.nodesForGroup('new-g')).toEqual(['restarted']);
  });
});

// --- Redis only: cost per lookup, on a private server whose stats we may reset ---------------

describe('Redis presence: cost', () => {
  let client: Redis;
  let admin: Redis;
  beforeAll(async () => {
    const { url } = await startRedis();
    client = connect(url);
    admin = connect(url);
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
    disposers.push(() => Promise.all(nodes.map((node) => node.close())));
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
    disposers.push(() => node.close());
    await node.addGroups(Array.from({ length: 10_000 }, (_, index) => `g${index}`));
    await node.addUsers(Array.from({ length: 10_000 }, (_, index) => `u${index}`));
    const counts = await commandsDuring(() => new Promise((resolve) => setTimeout(resolve, 1100)));
    console.info(`commands in 1100 ms of heartbeats (every 200 ms): ${JSON.stringify(counts)}`);
    // Five or so heartbeats, each a single SET ... XX; no per-group work.
    expect(Object.keys(counts)).toEqual(['set']);
    expect(counts['set']).toBeGreaterThanOrEqual(4);
    expect(counts['set']).toBeLessThanOrEqual(7);
  });
});
