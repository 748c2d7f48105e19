/**
 * Multi-node delivery over a real 3-master Redis Cluster, with real processes: a relay and two
 * gateways (`node src/main.ts` children with REDIS_CLUSTER_NODES) on one test-owned cluster and
 * one embedded store (a shared DATA_DIR). Clients subscribe on one gateway and send on the
 * other. Node channels are sharded channels (SPUBLISH/SSUBSCRIBE): the test checks that no
 * classic PUBLISH crosses the cluster, counts commands per message, and restarts the master
 * that owns a gateway's channel mid-stream: the gateway's sharded subscription comes back and
 * its subscribers repair the gap from the store, ending with every message once, in order.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import calculateSlot from 'cluster-key-slot';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../src/auth/jwt.ts';
import { nodeChannel, type PresenceDirectory } from '../src/delivery/ports.ts';
import { createRedisPresenceDirectory } from '../src/delivery/presence/redis.ts';
import { startProcess, type ServerProcess } from './support/process.ts';
import { seqRange, seqsIn, untilSeq, type SeqMessage } from './support/redis.ts';
import { disposeAll, onDispose } from './support/dispose.ts';
import { sleep, waitFor } from './support/wait.ts';
import { startRedisCluster, type TestRedisCluster } from './support/redis-cluster.ts';
import { collect, wsClient, type Collected } from './support/server.ts';
import { createGroup, isActiveLine, sameNodes, send } from './support/cluster.ts';

const MESSAGE_ADDED =
  'subscription ($groupId: ID, $since: [GroupSeqInput!]) { messageAdded(groupId: $groupId, since: $since) { id groupId seq body } }';

type Subscriber = Collected<{ readonly messageAdded: SeqMessage & { readonly body: string } }>;

interface Setup {
  readonly cluster: TestRedisCluster;
  readonly directory: PresenceDirectory;
  start(env: Record<string, string>): Promise<ServerProcess>;
  token(userId: string): Promise<string>;
}

async function setup(): Promise<Setup> {
  const cluster = await startRedisCluster();
  const dataDir = await mkdtemp(join(tmpdir(), 'chat-multinode-cluster-'));
  onDispose(() => rm(dataDir, { recursive: true, force: true }));
  const secret = randomBytes(32).toString('base64url');
  const prefix = `multi:${randomUUID().slice(0, 8)}:`;
  const tokens = createTokenVerifier(secret);
  const shared: Record<string, string> = {
    REDIS_CLUSTER_NODES: cluster.nodesEnv,
    REDIS_KEY_PREFIX: prefix,
    DATA_DIR: dataDir,
    JWT_SECRET: secret,
    SQLITE_SYNCHRONOUS: 'NORMAL',
    LIMIT_SEND_RATE_PER_SECOND: '100000',
    LIMIT_SEND_BURST: '100000',
    // The restart below takes the cluster down for seconds: heartbeats must not lapse meanwhile.
    PRESENCE_TTL_SECONDS: '60',
  };
  return {
    cluster,
    directory: createRedisPresenceDirectory({ client: await cluster.client(), keyPrefix: prefix }),
    start: (env) => startProcess({ ...shared, ...env }, { readyTimeoutMs: 60_000 }),
    token: (userId) => tokens.sign({ id: userId }),
  };
}

function subscribe(server: ServerProcess, token: string, groupId: string): Subscriber {
  return collect(wsClient(server, token), MESSAGE_ADDED, { groupId, since: [{ groupId, seq: 0 }] });
}

/** `INFO commandstats` summed over the masters, by command. */
async function clusterCommandStats(cluster: TestRedisCluster): Promise<Map<string, number>> {
  const stats = new Map<string, number>();
  for (const node of cluster.nodes) {
    const admin = new Redis({ host: node.host, port: node.port });
    admin.on('error', () => {});
    try {
      for (const [, name, calls] of (await admin.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
        if (name !== undefined && calls !== undefined) stats.set(name, (stats.get(name) ?? 0) + Number(calls));
      }
    } finally {
      admin.disconnect();
    }
  }
  return stats;
}

async function resetStats(cluster: TestRedisCluster): Promise<void> {
  for (const node of cluster.nodes) {
    const admin = new Redis({ host: node.host, port: node.port });
    admin.on('error', () => {});
    try {
      await admin.config('RESETSTAT');
    } finally {
      admin.disconnect();
    }
  }
}

afterEach(disposeAll);
afterAll(disposeAll);

describe('multi-node delivery over Redis Cluster (real processes, sharded pub/sub)', () => {
  it('relay + two gateways: subscribe on one, send on the other, both ways; node channels use SPUBLISH only', async () => {
    const c = await setup();
    const r = await c.start({ ROLE: 'relay', NODE_ID: 'relay' });
    const [a, b] = await Promise.all([c.start({ ROLE: 'gateway', NODE_ID: 'a' }), c.start({ ROLE: 'gateway', NODE_ID: 'b' })]);
    await r.waitForLog(isActiveLine, 30_000);
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((id) => c.token(id)));
    const groupId = await createGroup(a.url, alice!, ['bob', 'carol']);
    const subscribers: [string, Subscriber][] = [
      ['bob on A', subscribe(a, bob!, groupId)],
      ['carol on B', subscribe(b, carol!, groupId)],
    ];
    await waitFor('both gateways registered for the group', async () => sameNodes(await c.directory.nodesForGroup(groupId), ['a', 'b']));

    await resetStats(c.cluster);
    const N = 20;
    const sent: number[] = [];
    for (let i = 0; i < N / 2; i += 1) sent.push(await send(b.url, alice!, groupId, `onB-${i}`));
    for (let i = 0; i < N / 2; i += 1) {
      // In lockstep, so that each relay batch holds one record and the count is per message.
      const seq = await send(a.url, alice!, groupId, `onA-${i}`);
      sent.push(seq);
      await Promise.all(subscribers.map(([who, subscriber]) => untilSeq(subscriber, groupId, seq, { who })));
    }
    expect(sent).toEqual(seqRange(1, N));
    for (const [who, subscriber] of subscribers) {
      await untilSeq(subscriber, groupId, N, { who });
      expect(seqsIn(subscriber.results, groupId), who).toEqual(seqRange(1, N));
    }
    const stats = await clusterCommandStats(c.cluster);
    console.log(`[multinode-cluster] commands while sending ${N} messages to 2 gateways: ${JSON.stringify(Object.fromEntries([...stats].sort()))}`);
    // Every message went to both nodes as a sharded publish; classic PUBLISH (broadcast to every
    // shard over the cluster bus) was never used.
    expect(stats.get('spublish') ?? 0).toBeGreaterThanOrEqual(2 * N);
    expect(stats.get('publish') ?? 0).toBe(0);
    // The relay's lookups stay two commands per group per batch whatever the cluster: the lockstep
    // half is one batch per message, so at most SMEMBERS + MGET per message overall.
    expect(stats.get('smembers') ?? 0).toBeLessThanOrEqual(N + 2);
    expect(stats.get('mget') ?? 0).toBeLessThanOrEqual(N + 2);
  }, 120_000);

  it('a restart of the master owning a gateway channel: its subscribers end with every message, once, in order', async () => {
    const c = await setup();
    const r = await c.start({ ROLE: 'relay', NODE_ID: 'relay' });
    const [a, b] = await Promise.all([c.start({ ROLE: 'gateway', NODE_ID: 'a' }), c.start({ ROLE: 'gateway', NODE_ID: 'b' })]);
    await r.waitForLog(isActiveLine, 30_000);
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((id) => c.token(id)));
    const groupId = await createGroup(b.url, alice!, ['bob', 'carol']);
    const subscribers: [string, Subscriber][] = [
      ['bob on A', subscribe(a, bob!, groupId)],
      ['carol on B', subscribe(b, carol!, groupId)],
    ];
    await waitFor('both gateways registered for the group', async () => sameNodes(await c.directory.nodesForGroup(groupId), ['a', 'b']));

    const total = 120;
    const seqs: number[] = [];
    let stop = false;
    // Sent on B throughout: sending only touches the store, which the restart does not affect.
    const sender = (async () => {
      for (let i = 0; i < total && !stop; i += 1) {
        seqs.push(await send(b.url, alice!, groupId, `m-${i}`));
        await sleep(25);
      }
    })();
    await waitFor('30 messages sent', () => seqs.length >= 30, { timeoutMs: 30_000, intervalMs: 10 });
    const owner = await c.cluster.masterOf(calculateSlot(nodeChannel('a')));
    await c.cluster.kill(owner);
    await sleep(1000);
    await c.cluster.restart(owner);
    await sender.finally(() => {
      stop = true;
    });
    expect(seqs).toEqual(seqRange(1, total));
    for (const [who, subscriber] of subscribers) {
      await untilSeq(subscriber, groupId, total, { who, timeoutMs: 60_000 });
      expect(seqsIn(subscriber.results, groupId), who).toEqual(seqRange(1, total));
      expect(subscriber.completed(), who).toBe(false);
    }
    // Gateway A was told its sharded subscription had been rebuilt (onResubscribed) and caught
    // its subscription up from the store: a backfill.
    const metrics = await (await fetch(`http://127.0.0.1:${a.port}/metrics`)).text();
    const backfills = Number(/^chat_backfills_total(?:\{[^}]*\})?\s+(\S+)$/m.exec(metrics)?.[1] ?? 0);
    console.log(`[multinode-cluster] gateway A backfills after the master restart: ${backfills}`);
    expect(backfills).toBeGreaterThan(0);
  }, 180_000);
});
