/**
 * The deployment under soak: a private Redis (its own port, no persistence: a restart keeps
 * nothing) and the compiled server (`node dist/main.js`) as four processes on one embedded
 * store: two relays (one active, one standby, by the lease) and two gateways. Each keeps its
 * port across restarts, so clients come back to where they were.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { startServer, type ServerProcess } from '../bench/fanout/processes.ts';
import { rssKiB } from '../bench/fanout/procstat.ts';
import { freePort, startRedis, type TestRedis } from '../test/support/redis.ts';
import { waitFor } from '../test/support/wait.ts';

export type ProcessName = 'relay-1' | 'relay-2' | 'gateway-a' | 'gateway-b';
export const GATEWAYS: readonly ProcessName[] = ['gateway-a', 'gateway-b'];
export const RELAYS: readonly ProcessName[] = ['relay-1', 'relay-2'];

/** Settings that differ from the shipped defaults, and why; the report lists them. */
export const SOAK_ENV: Readonly<Record<string, string>> = {
  // A gateway SIGSTOPped for 5-30 s then outlives its presence, as the fault list intends.
  PRESENCE_TTL_SECONDS: '10',
  PRESENCE_HEARTBEAT_MS: '3000',
  LOG_LEVEL: 'info',
};

export interface Member {
  readonly name: ProcessName;
  readonly port: number;
  /** The running process, or null while it is down. */
  current: ServerProcess | null;
  stopped: boolean;
  restarts: number;
  peakRssKiB: number;
}

export interface Cluster {
  readonly redis: TestRedis;
  readonly members: ReadonlyMap<ProcessName, Member>;
  readonly env: Readonly<Record<string, string>>;
  url(name: ProcessName): string;
  kill9(name: ProcessName): Promise<void>;
  start(name: ProcessName): Promise<void>;
  stop(name: ProcessName): void;
  cont(name: ProcessName): void;
  /** Which relay holds the lease now (by its `chat_relay_active` metric), if any answers. */
  activeRelay(): Promise<ProcessName | null>;
  /** A gauge or counter of a process's /metrics, or null when it does not answer. */
  metric(name: ProcessName, metric: string): Promise<number | null>;
  /** Samples RSS of every process (Redis by INFO) into the peaks. */
  sampleRss(): Promise<Record<string, number>>;
  peakRedisRssKiB: number;
  /** Every process back up and running (SIGCONT, restart). */
  heal(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface ClusterOptions {
  readonly dataDir: string;
  readonly logDir: string;
  readonly jwtSecret: string;
}

export async function startCluster({ dataDir, logDir, jwtSecret }: ClusterOptions): Promise<Cluster> {
  const redis = await startRedis();
  const root = join(import.meta.dirname, '..');
  const env: Record<string, string> = {
    REDIS_URL: redis.url,
    DATA_DIR: dataDir,
    JWT_SECRET: jwtSecret,
    HOST: '127.0.0.1',
    ...SOAK_ENV,
  };
  const members = new Map<ProcessName, Member>();
  for (const name of [...RELAYS, ...GATEWAYS]) {
    members.set(name, { name, port: await freePort(), current: null, stopped: false, restarts: -1, peakRssKiB: 0 });
  }
  const logs = new Map<ProcessName, WriteStream>();
  const logOf = (name: ProcessName): WriteStream => {
    let log = logs.get(name);
    if (log === undefined) {
      log = createWriteStream(join(logDir, `${name}.log`), { flags: 'a' });
      logs.set(name, log);
    }
    return log;
  };

  const member = (name: ProcessName): Member => members.get(name) as Member;

  const start = async (name: ProcessName): Promise<void> => {
    const m = member(name);
    if (m.current !== null && m.current.exitStatus() === null) return;
    const log = logOf(name);
    log.write(`{"soak":"starting ${name}","at":"${new Date().toISOString()}"}\n`);
    m.current = await startServer({
      name,
      command: [process.execPath, join(root, 'dist', 'main.js')],
      env: {
        PATH: process.env['PATH'] ?? '',
        ...env,
        ROLE: name.startsWith('relay') ? 'relay' : 'gateway',
        NODE_ID: name,
        PORT: String(m.port),
      },
      cwd: root,
      pinning: { enabled: false, generatorCpus: '', serverCpus: '' },
      // Called for every stdout line: keeps the log, and spots the platform's "started" line.
      ready: (line) => {
        log.write(`${line}\n`);
        return line.includes('"msg":"started"') ? { port: m.port } : null;
      },
      readyTimeoutMs: 60_000,
    });
    m.stopped = false;
    m.restarts += 1;
  };

  const kill9 = async (name: ProcessName): Promise<void> => {
    const m = member(name);
    const current = m.current;
    if (current === null) return;
    if (current.exitStatus() === null) process.kill(current.pid, 'SIGKILL');
    await waitFor(`${name} to exit after SIGKILL`, () => current.exitStatus() !== null, { timeoutMs: 10_000 });
    logOf(name).write(`{"soak":"killed ${name} (${current.exitStatus()})","stderr":${JSON.stringify(current.stderrTail().slice(-1000))}}\n`);
    m.current = null;
    m.stopped = false;
  };

  const signal = (name: ProcessName, sig: 'SIGSTOP' | 'SIGCONT'): void => {
    const m = member(name);
    if (m.current === null || m.current.exitStatus() !== null) return;
    process.kill(m.current.pid, sig);
    m.stopped = sig === 'SIGSTOP';
  };

  const metric = async (name: ProcessName, metricName: string): Promise<number | null> => {
    const m = member(name);
    if (m.current === null || m.stopped) return null;
    try {
      const response = await fetch(`http://127.0.0.1:${m.port}/metrics`, { signal: AbortSignal.timeout(3000) });
      const text = await response.text();
      const match = new RegExp(`^${metricName}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
      return match === null ? null : Number(match[1]);
    } catch {
      return null;
    }
  };

  const cluster: Cluster = {
    redis,
    members,
    env,
    peakRedisRssKiB: 0,
    url: (name) => `http://127.0.0.1:${member(name).port}/graphql`,
    kill9,
    start,
    stop: (name) => signal(name, 'SIGSTOP'),
    cont: (name) => signal(name, 'SIGCONT'),
    metric,
    async activeRelay() {
      for (const name of RELAYS) if ((await metric(name, 'chat_relay_active')) === 1) return name;
      return null;
    },
    async sampleRss() {
      const sample: Record<string, number> = {};
      for (const m of members.values()) {
        if (m.current === null || m.current.exitStatus() !== null) continue;
        const kib = rssKiB(m.current.pid);
        sample[m.name] = kib;
        m.peakRssKiB = Math.max(m.peakRssKiB, kib);
      }
      if (redis.running()) {
        try {
          const info = await redis.client.info('memory');
          const rss = /used_memory_rss:(\d+)/.exec(info);
          if (rss !== null) {
            const kib = Math.round(Number(rss[1]) / 1024);
            sample['redis'] = kib;
            cluster.peakRedisRssKiB = Math.max(cluster.peakRedisRssKiB, kib);
          }
        } catch {
          // Redis restarting or paused: no sample this time.
        }
      }
      return sample;
    },
    async heal() {
      if (!redis.running()) await redis.restart();
      await redis.client.client('UNPAUSE').catch(() => {});
      for (const m of members.values()) {
        if (m.stopped) signal(m.name, 'SIGCONT');
        if (m.current === null || m.current.exitStatus() !== null) {
          m.current = null;
          await start(m.name);
        }
      }
    },
    async shutdown() {
      for (const m of members.values()) {
        if (m.stopped) signal(m.name, 'SIGCONT');
        await m.current?.stop();
      }
      for (const log of logs.values()) log.end();
    },
  };

  for (const name of RELAYS) await start(name);
  await Promise.all(GATEWAYS.map((name) => start(name)));
  return cluster;
}
