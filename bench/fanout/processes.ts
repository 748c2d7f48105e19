/**
 * Server processes of a run: each is started (optionally under `taskset -c`), reports its
 * port with a `{"msg":"started","port":N}` JSON line on stdout (the platform's log line, which
 * the peers print too), and is stopped with SIGTERM, then SIGKILL.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { processTree } from './procstat.ts';

/**
 * How long a process may take to exit after SIGTERM before it is killed. Raise it to let a
 * server started with --cpu-prof write its profile, which happens on exit.
 */
const STOP_GRACE_MS = Number(process.env['BENCH_STOP_GRACE_MS'] ?? 3000);

export interface Pinning {
  readonly enabled: boolean;
  readonly generatorCpus: string;
  readonly serverCpus: string;
}

export const tasksetAvailable = (): boolean => {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** Pins every thread of this process (the load generator) to `cpus`. */
export function pinSelf(cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(process.pid)], { stdio: 'ignore' });
}


export interface ServerProcess {
  /** e.g. `gateway-a`, `redis`. */
  readonly name: string;
  readonly pid: number;
  /** The port it listens on (null for processes that serve nothing, like the relay). */
  readonly port: number | null;
  /** The pids whose CPU and memory count for this process (it and its descendants). */
  readonly pids: readonly number[];
  /** Null while running; otherwise how it ended. */
  exitStatus(): string | null;
  /** The last lines of its stderr, for error messages. */
  stderrTail(): string;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  readonly name: string;
  readonly command: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly pinning: Pinning;
  /** How to recognise readiness on a stdout line. @default the `{"msg":"started","port":N}` JSON line */
  readonly ready?: (line: string) => { port: number | null } | null;
  /** @default 120000 */
  readonly readyTimeoutMs?: number;
}

const startedLine = (line: string): { port: number | null } | null => {
  if (!line.startsWith('{')) return null;
  try {
    const parsed = JSON.parse(line) as { msg?: unknown; port?: unknown };
    if (parsed.msg !== 'started') return null;
    return { port: typeof parsed.port === 'number' ? parsed.port : null };
  } catch {
    return null;
  }
};

export async function startServer({
  name,
  command,
  env,
  cwd,
  pinning,
  ready = startedLine,
  readyTimeoutMs = 120_000,
}: SpawnOptions): Promise<ServerProcess> {
  const argv = pinning.enabled ? ['taskset', '-c', pinning.serverCpus, ...command] : [...command];
  const child: ChildProcess = spawn(argv[0] as string, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let exitStatus: string | null = null;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitStatus = signal === null ? `exit code ${code}` : `signal ${signal}`;
      resolve();
    });
  });
  const stop = async (): Promise<void> => {
    if (exitStatus !== null || child.pid === undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };
  const port = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${readyTimeoutMs} ms\n${stderr}`)), readyTimeoutMs);
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      const found = ready(line);
      if (found !== null) {
        clearTimeout(timer);
        resolve(found.port);
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before it started (${exitStatus}): ${argv.join(' ')}\n${stderr}`));
    });
  }).catch(async (error: unknown) => {
    await stop();
    throw error;
  });
  const pid = child.pid as number;
  return {
    name,
    pid,
    port,
    pids: processTree(pid),
    exitStatus: () => exitStatus,
    stderrTail: () => stderr,
    stop,
  };
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A bench-owned redis-server on a free port, without persistence, pinned like the servers. */
export async function startRedis(pinning: Pinning): Promise<ServerProcess & { readonly url: string }> {
  const port = await freePort();
  const server = await startServer({
    name: 'redis',
    command: ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'notice'],
    env: process.env,
    cwd: process.cwd(),
    pinning,
    ready: (line) => (line.includes('Ready to accept connections') ? { port } : null),
    readyTimeoutMs: 15_000,
  });
  return { ...server, url: `redis://127.0.0.1:${port}` };
}

/** `redis-server --version`, e.g. "7.0.15". */
export function redisVersion(): string {
  try {
    const text = execFileSync('redis-server', ['--version'], { encoding: 'utf8' });
    return /v=(\S+)/.exec(text)?.[1] ?? text.trim();
  } catch {
    return 'unknown';
  }
}
