/**
 * A child process that runs a test server (`startServer`) and, when asked over IPC, forces
 * garbage collection and reports its memory. Started by `startProbedServer` with --expose-gc,
 * so memory tests compare heap after GC, never timings.
 */
import { startServer, type StartOptions } from './server.ts';

/** What the parent asks. */
export type ProbeRequest = { readonly type: 'measure' } | { readonly type: 'stop' };

/** What the child answers. */
export type ProbeMessage =
  | { readonly type: 'ready'; readonly port: number; readonly jwtSecret: string }
  | { readonly type: 'memory'; readonly heapUsed: number; readonly external: number; readonly rss: number }
  | { readonly type: 'stopped' };

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('heap-probe needs node --expose-gc');
const send = (message: ProbeMessage): void => {
  process.send?.(message);
};

const options = JSON.parse(process.env['PROBE_OPTIONS'] ?? '{}') as StartOptions;
const server = await startServer(options);
process.on('message', (raw) => {
  const request = raw as ProbeRequest;
  if (request.type === 'measure') {
    // Twice, a turn apart: the first pass runs finalizers that free more on the second.
    gc();
    setImmediate(() => {
      gc();
      const { heapUsed, external, rss } = process.memoryUsage();
      send({ type: 'memory', heapUsed, external, rss });
    });
  } else {
    void server.stop().then(() => {
      send({ type: 'stopped' });
      process.disconnect();
    });
  }
});
send({ type: 'ready', port: server.port, jwtSecret: server.config.jwtSecret as string });
