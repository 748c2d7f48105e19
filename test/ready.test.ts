/**
 * `/ready` is bounded by READY_TIMEOUT_MS: a store whose ping never answers (MongoDB with no
 * primary waits 30 s for server selection) makes it answer 503 instead of hanging the probe,
 * on a gateway and on a relay alike (both answer it from app/ops.ts). The stuck
 * store is a real embedded store whose `ping` never settles, given through the app's
 * `openStore` option.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { OpenedStore } from '../src/app/connections.ts';
import type { Config } from '../src/config.ts';
import { createSqliteStore } from '../src/storage/sqlite/store.ts';
import { startRedis } from './support/redis.ts';
import { disposeAll } from './support/dispose.ts';
import { startServer } from './support/server.ts';

afterEach(disposeAll);

/** The configured embedded store, except that `ping` never settles while `hang` is true. */
function hangingStore(state: { hang: boolean }) {
  return async (config: Config): Promise<OpenedStore> => {
    const store = createSqliteStore({ dataDir: config.dataDir, synchronous: 'NORMAL' });
    return {
      store: {
        ...store,
        ping: () => (state.hang ? new Promise<void>(() => {}) : store.ping()),
      },
      close: () => store.close(),
    };
  };
}

/** GET path; the generous abort only keeps a broken build from hanging the suite. */
async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(20_000) });
  return { status: response.status, body: await response.text() };
}

describe('/ready with a store that does not answer', () => {
  it('a gateway answers 503 within READY_TIMEOUT_MS, and 200 again once the store answers', async () => {
    const state = { hang: false };
    const server = await startServer({ settings: { readyTimeoutMs: 200 }, openStore: hangingStore(state) });
    expect((await get(server.port, '/ready')).status).toBe(200);
    state.hang = true;
    expect((await get(server.port, '/ready')).status).toBe(503);
    // /health does not touch the store.
    expect((await get(server.port, '/health')).status).toBe(200);
    state.hang = false;
    expect((await get(server.port, '/ready')).status).toBe(200);
  });

  it('a relay answers 503 on its operational port too', async () => {
    const redis = await startRedis();
    const state = { hang: true };
    const server = await startServer({
      settings: { role: 'relay', readyTimeoutMs: 200, redis: { mode: 'single', url: redis.url }, redisKeyPrefix: 'ready:' },
      openStore: hangingStore(state),
    });
    expect(await get(server.port, '/ready')).toEqual({ status: 503, body: 'not ready' });
    state.hang = false;
    expect(await get(server.port, '/ready')).toEqual({ status: 200, body: 'ready' });
  });
});
