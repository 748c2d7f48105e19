/**
 * The platform as a real child process (`node --import tsx src/main.ts`), for crash and
 * multi-node tests. It listens on port 0 and the test reads the port from its JSON log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { onDispose } from './dispose.ts';

const root = join(import.meta.dirname, '..', '..');

export interface ServerProcess {
  readonly child: ChildProcess;
  /** The bound port, or null for ROLE=relay. */
  readonly port: number | null;
  readonly url: string;
  readonly wsUrl: string;
  /** Every log line so far, parsed. */
  readonly logs: Record<string, unknown>[];
  /** Resolves with the exit code (or signal) once the process has ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits for a log line matching the predicate. */
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Starts the process and waits for its `started` log line (reading the port from it). With
 * `awaitStarted: false` it returns at once with no port: for a process that may die on purpose
 * before it gets there (an armed failpoint).
 */
export async function startProcess(
  env: Record<string, string>,
  { readyTimeoutMs = 30_000, awaitStarted = true }: { readonly readyTimeoutMs?: number; readonly awaitStarted?: boolean } = {},
): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'main.ts')], {
    cwd: root,
    env: { PATH: process.env['PATH'] ?? '', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const listeners = new Set<() => void>();
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      logs.push({ msg: line });
    }
    for (const listener of listeners) listener();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
      for (const listener of listeners) listener();
    });
  });
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });

  const waitForLog = (predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 15_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = (): void => {
        const found = logs.find(predicate);
        if (found !== undefined) {
          finish();
          resolve(found);
        } else if (hasExited) {
          finish();
          reject(new Error(`The process exited before the expected log line.\nstderr: ${stderr}\nlogs: ${JSON.stringify(logs)}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`Timed out waiting for a log line.\nstderr: ${stderr}\nlogs: ${JSON.stringify(logs)}`));
      }, timeoutMs);
      function finish(): void {
        clearTimeout(timer);
        listeners.delete(check);
      }
      listeners.add(check);
      check();
    });

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (!hasExited) child.kill(signal);
    await exited;
  };
  onDispose(() => kill());

  const ready = awaitStarted ? await waitForLog((line) => line['msg'] === 'started', readyTimeoutMs) : {};
  const port = typeof ready['port'] === 'number' ? ready['port'] : null;
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    logs,
    exited,
    waitForLog,
    kill,
  };
}
