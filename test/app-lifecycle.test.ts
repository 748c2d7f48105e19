/**
 * The composition root's lifecycle: the parts it starts are disposables on one stack, so a
 * start that fails part way closes what it had opened by itself, and every role answers the
 * operational endpoints from the same handler (app/ops.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { openConfiguredStore, type OpenStore } from '../src/app/connections.ts';
import { leaseKeys } from '../src/delivery/lease/redis.ts';
import { Disposables, startAll } from '../src/util/disposables.ts';
import { disposeAll, onDispose } from './support/dispose.ts';
import { startRedis } from './support/redis.ts';
import { startServer } from './support/server.ts';
import { waitFor } from './support/wait.ts';

afterEach(disposeAll);

describe('Disposables', () => {
  it('disposes most recent first, every part even when one fails, then throws the first failure', async () => {
    const order: string[] = [];
    const stack = new Disposables();
    stack.defer(() => void order.push('first'));
    stack.use({
      dispose: async () => {
        order.push('second');
        throw new Error('second failed');
      },
    });
    stack.defer(() => {
      order.push('third');
      throw new Error('third failed');
    });
    await expect(stack.dispose()).rejects.toThrow('third failed');
    expect(order).toEqual(['third', 'second', 'first']);
    // Emptied: disposing again disposes nothing twice.
    await stack.dispose();
    expect(order).toEqual(['third', 'second', 'first']);
  });

  it('startAll disposes what a failed start had started, and rethrows the start error', async () => {
    const order: string[] = [];
    const failing = startAll(async (parts) => {
      parts.defer(() => void order.push('opened first'));
      parts.defer(() => {
        order.push('opened second');
        throw new Error('cleanup failed too');
      });
      throw new Error('start failed');
    });
    await expect(failing).rejects.toThrow('start failed');
    expect(order).toEqual(['opened second', 'opened first']);
    const started = await startAll(async (parts) => {
      parts.defer(() => void order.push('started'));
      return { value: 42 };
    });
    expect(started.value).toBe(42);
    await started.dispose();
    expect(order.at(-1)).toBe('started');
  });
});

/** A TCP port something else listens on for the rest of the test. */
async function takenPort(): Promise<number> {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', () => resolve()));
  onDispose(() => new Promise<void>((resolve) => holder.close(() => resolve())));
  const address = holder.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

async function redisClients(client: Redis): Promise<number> {
  return String(await client.call('CLIENT', 'LIST')).trim().split('\n').length;
}

describe('a start that fails part way', () => {
  it('closes the store, the relay and the Redis clients it had opened, without stop()', async () => {
    const redis = await startRedis();
    const before = await redisClients(redis.client);
    const dataDir = await mkdtemp(join(tmpdir(), 'chat-lifecycle-'));
    onDispose(() => rm(dataDir, { recursive: true, force: true }));
    let closes = 0;
    const openStore: OpenStore = async (config, extras) => {
      const opened = await openConfiguredStore(config, extras);
      return {
        store: opened.store,
        close: async () => {
          closes += 1;
          await opened.close();
        },
      };
    };
    const started = startServer({
      dataDir,
      redisUrl: redis.url,
      redisKeyPrefix: 'lifecycle:',
      openStore,
      // Everything opens and starts (store, Redis, relay, gateway); only listening fails.
      settings: { port: await takenPort() },
    });
    await expect(started).rejects.toThrow(/EADDRINUSE/);
    expect(closes).toBe(1);
    // Every client the app opened (command, subscriber, the relay's and the commit signal's
    // subscriptions) is gone again; only the test's own inspection client is left.
    await waitFor('the app to disconnect from Redis', async () => (await redisClients(redis.client)) === before, {
      timeoutMs: 5000,
    });
    // Nothing holds the lease: no relay of the failed start is still running.
    expect(await redis.client.exists(leaseKeys('lifecycle:').lease)).toBe(0);
  });
});

describe('operational endpoints', () => {
  it('are answered alike by a gateway and by a relay: /health, /ready, and /metrics behind its token', async () => {
    const redis = await startRedis();
    const settings = { redis: { mode: 'single', url: redis.url }, redisKeyPrefix: 'ops:' } as const;
    const http = { metricsToken: 'scrape' };
    const gateway = await startServer({ settings, http });
    const relay = await startServer({ settings: { ...settings, role: 'relay' }, http });
    const answer = async (port: number, path: string, token?: string) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
      const body = await response.text();
      return {
        status: response.status,
        type: response.headers.get('content-type'),
        authenticate: response.headers.get('www-authenticate'),
        body: path === '/metrics' && response.status === 200 ? body.includes('chat_relay_active') : body,
      };
    };
    for (const [path, token] of [['/health'], ['/ready'], ['/metrics'], ['/metrics', 'wrong'], ['/metrics', 'scrape']] as const) {
      const fromGateway = await answer(gateway.port, path, token);
      expect({ path, token, ...(await answer(relay.port, path, token)) }).toEqual({ path, token, ...fromGateway });
    }
    expect(await answer(relay.port, '/health')).toEqual({ status: 200, type: 'text/plain', authenticate: null, body: 'ok' });
    expect(await answer(relay.port, '/metrics')).toMatchObject({ status: 401, authenticate: 'Bearer' });
    expect(await answer(relay.port, '/metrics', 'scrape')).toMatchObject({ status: 200, body: true });
    // Anything else is the relay's 404, and the gateway's own (its chat or GraphQL).
    expect((await fetch(`http://127.0.0.1:${relay.port}/graphql`)).status).toBe(404);
  });
});
