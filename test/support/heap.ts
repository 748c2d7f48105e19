/**
 * The platform in a child process started with --expose-gc, for memory tests: `measure()`
 * forces GC in the child and returns its heap, so a test can show that an attack leaves the
 * heap where it was (no timed assertions).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createTokenVerifier } from '../../src/auth/jwt.ts';
import { GRAPHQL_PATH } from '../../src/app.ts';
import type { ProbeMessage } from './heap-probe.ts';
import type { StartOptions } from './server.ts';
import { onDispose } from './dispose.ts';

export interface Memory {
  /** V8 heap in use after GC, in bytes. */
  readonly heapUsed: number;
  /** Memory of Buffers and other objects outside the V8 heap, after GC, in bytes. */
  readonly external: number;
  readonly rss: number;
}

export interface ProbedServer {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  readonly wsUrl: string;
  token(userId: string, name?: string | null, expiresIn?: string): Promise<string>;
  /** Forces GC in the server process and reports its memory. */
  measure(): Promise<Memory>;
  stop(): Promise<void>;
}

export const MB = 1024 * 1024;

export async function startProbedServer(options: StartOptions = {}): Promise<ProbedServer> {
  const child = fork(join(import.meta.dirname, 'heap-probe.ts'), [], {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    env: { ...process.env, PROBE_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const next = (type: ProbeMessage['type']): Promise<ProbeMessage> =>
    new Promise((resolve, reject) => {
      const onMessage = (message: ProbeMessage): void => {
        if (message.type !== type) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message);
      };
      const onExit = (code: number | null, signal: string | null): void =>
        reject(new Error(`The probed server exited (code ${code}, signal ${signal}) while waiting for '${type}'.`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const ready = (await next('ready')) as Extract<ProbeMessage, { type: 'ready' }>;
  const tokens = createTokenVerifier(ready.jwtSecret);
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  onDispose(stop);
  return {
    child,
    port: ready.port,
    url: `http://127.0.0.1:${ready.port}${GRAPHQL_PATH}`,
    wsUrl: `ws://127.0.0.1:${ready.port}${GRAPHQL_PATH}`,
    token: (userId, name = null, expiresIn) => tokens.sign({ id: userId, name }, expiresIn === undefined ? {} : { expiresIn }),
    async measure() {
      const answer = next('memory');
      child.send({ type: 'measure' });
      const { heapUsed, external, rss } = (await answer) as Extract<ProbeMessage, { type: 'memory' }>;
      return { heapUsed, external, rss };
    },
    stop,
  };
}
