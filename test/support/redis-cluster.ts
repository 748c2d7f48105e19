/**
 * A test-owned Redis Cluster: three masters (no replicas) on free local ports, each
 * `redis-server --cluster-enabled yes` in its own temporary directory, joined with
 * `redis-cli --cluster create`, and ready once every node reports `cluster_state:ok` and knows
 * every other node. Killed and removed by `disposeAll`. A node can be killed and started again
 * on its port and directory (its nodes.conf keeps its id and slots, so it rejoins).
 *
 * Each node's cluster bus gets its own free port (`--cluster-port`, Redis 7) rather than the
 * default port + 10000, which for an ephemeral port may be past 65535 or taken.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis, type ClusterOptions } from 'ioredis';
import { freePort } from './redis.ts';
import { onDispose } from './dispose.ts';
import { waitFor } from './wait.ts';

const run = promisify(execFile);

export interface ClusterNode {
  readonly host: string;
  readonly port: number;
}

export interface TestRedisCluster {
  readonly nodes: readonly ClusterNode[];
  /** `REDIS_CLUSTER_NODES` for the app: `127.0.0.1:p1,127.0.0.1:p2,...`. */
  readonly nodesEnv: string;
  /** A connected cluster client, disconnected by `disposeAll`. */
  client(options?: ClusterOptions): Promise<Cluster>;
  /** The node (index into `nodes`) that serves `slot` as master now. */
  masterOf(slot: number): Promise<number>;
  /**
   * Moves one slot (and its keys) to another master, as resharding does (CLUSTER SETSLOT
   * IMPORTING / MIGRATING, MIGRATE, SETSLOT NODE on every node), and waits until every node
   * agrees on the new owner.
   */
  moveSlot(slot: number, toIndex: number): Promise<void>;
  /** kill -9 a node; resolves once it has exited. */
  kill(index: number): Promise<void>;
  /** Starts a killed node again and waits until the whole cluster is ok. */
  restart(index: number): Promise<void>;
  /** Resolves once every running node reports cluster_state:ok and knows every node. */
  waitUntilOk(timeoutMs?: number): Promise<void>;
}

async function clusterInfo(port: number): Promise<Map<string, string>> {
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => {});
  try {
    await probe.connect();
    const text = (await probe.call('CLUSTER', 'INFO')) as string;
    return new Map(text.split(/\r?\n/).flatMap((line) => {
      const [key, value] = line.split(':');
      return key && value !== undefined ? [[key, value.trim()] as [string, string]] : [];
    }));
  } finally {
    probe.disconnect();
  }
}

export async function startRedisCluster({ masters = 3, nodeTimeoutMs = 2000 } = {}): Promise<TestRedisCluster> {
  const nodes: { port: number; busPort: number; dir: string; child: ChildProcess | null; exited: Promise<void>; output: string }[] = [];
  for (let i = 0; i < masters; i += 1) {
    const dir = await mkdtemp(join(tmpdir(), `chat-cluster-${i}-`));
    onDispose(() => rm(dir, { recursive: true, force: true }));
    let port = await freePort();
    let busPort = await freePort();
    while (busPort === port || nodes.some((n) => [n.port, n.busPort].includes(port) || [n.port, n.busPort].includes(busPort))) {
      port = await freePort();
      busPort = await freePort();
    }
    nodes.push({ port, busPort, dir, child: null, exited: Promise.resolve(), output: '' });
  }

  const launch = async (index: number): Promise<void> => {
    const node = nodes[index]!;
    const child = spawn(
      'redis-server',
      [
        '--port', String(node.port),
        '--cluster-port', String(node.busPort),
        '--bind', '127.0.0.1',
        '--cluster-enabled', 'yes',
        '--cluster-config-file', 'nodes.conf',
        '--cluster-node-timeout', String(nodeTimeoutMs),
        '--save', '',
        '--appendonly', 'no',
        '--dir', node.dir,
      ],
      { cwd: node.dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    node.child = child;
    node.output = '';
    node.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const append = (chunk: Buffer): void => {
      node.output += chunk.toString();
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    await waitFor(`cluster node on port ${node.port} to answer`, async () => {
      if (child.exitCode !== null) throw new Error(`redis-server exited: ${node.output}`);
      return (await clusterInfo(node.port)).has('cluster_state');
    }, { timeoutMs: 10_000 });
  };

  const kill = async (index: number): Promise<void> => {
    const node = nodes[index]!;
    const child = node.child;
    if (child !== null && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await node.exited;
  };
  onDispose(async () => {
    for (let i = 0; i < nodes.length; i += 1) await kill(i);
  });

  const running = (): typeof nodes => nodes.filter((node) => node.child !== null && node.child.exitCode === null && node.child.signalCode === null);

  const waitUntilOk = (timeoutMs = 30_000): Promise<void> =>
    waitFor(
      'every cluster node to report cluster_state:ok',
      async () => {
        for (const node of running()) {
          const info = await clusterInfo(node.port);
          if (info.get('cluster_state') !== 'ok' || info.get('cluster_known_nodes') !== String(nodes.length)) return false;
          if (info.get('cluster_slots_ok') !== '16384') return false;
        }
        return true;
      },
      { timeoutMs, intervalMs: 100 },
    );

  for (let i = 0; i < nodes.length; i += 1) await launch(i);
  await run(
    'redis-cli',
    ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '0', '--cluster-yes'],
    { timeout: 60_000 },
  );
  await waitUntilOk();

  const list: ClusterNode[] = nodes.map((node) => ({ host: '127.0.0.1', port: node.port }));
  const masterOf = async (slot: number): Promise<number> => {
    const probe = new Redis({ port: running()[0]?.port ?? list[0]!.port, host: '127.0.0.1' });
    probe.on('error', () => {});
    try {
      const ranges = (await probe.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]]][];
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (range === undefined) throw new Error(`No master serves slot ${slot}`);
      const port = Number(range[2][1]);
      return list.findIndex((node) => node.port === port);
    } finally {
      probe.disconnect();
    }
  };
  return {
    nodes: list,
    nodesEnv: list.map(({ host, port }) => `${host}:${port}`).join(','),
    async client(options = {}) {
      const cluster = new Cluster(list, { ...options, lazyConnect: true });
      cluster.on('error', () => {});
      onDispose(() => cluster.disconnect());
      await cluster.connect();
      return cluster;
    },
    masterOf,
    async moveSlot(slot, toIndex) {
      const admins = list.map(({ host, port }) => {
        const admin = new Redis({ host, port });
        admin.on('error', () => {});
        return admin;
      });
      try {
        const ids = await Promise.all(admins.map(async (admin) => (await admin.call('CLUSTER', 'MYID')) as string));
        const fromIndex = await masterOf(slot);
        if (fromIndex === toIndex) return;
        const [source, target] = [admins[fromIndex]!, admins[toIndex]!];
        await target.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', ids[fromIndex]!);
        await source.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', ids[toIndex]!);
        for (;;) {
          const keys = (await source.call('CLUSTER', 'GETKEYSINSLOT', String(slot), '100')) as string[];
          if (keys.length === 0) break;
          await source.call('MIGRATE', '127.0.0.1', String(list[toIndex]!.port), '', '0', '5000', 'KEYS', ...keys);
        }
        for (const admin of [target, source, ...admins.filter((_, i) => i !== fromIndex && i !== toIndex)]) {
          await admin.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', ids[toIndex]!);
        }
        await waitFor(`every node to see slot ${slot} on node ${toIndex}`, async () => {
          for (const admin of admins) {
            const ranges = (await admin.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]]][];
            const range = ranges.find(([from, to]) => slot >= from && slot <= to);
            if (range === undefined || Number(range[2][1]) !== list[toIndex]!.port) return false;
          }
          return true;
        });
      } finally {
        for (const admin of admins) admin.disconnect();
      }
    },
    kill,
    async restart(index) {
      await kill(index);
      await launch(index);
      await waitUntilOk();
    },
    waitUntilOk,
  };
}
