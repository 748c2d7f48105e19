/**
 * Fan-out cost: the sender and group lookups of one message pushed to many local subscribers
 * in the same tick are batched into one store read each, through the node's shared loaders.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { createLoaders, createSharedLoaders } from '../src/resolvers/loaders.ts';
import type { Store } from '../src/storage/port.ts';
import { createSqliteStore } from '../src/storage/sqlite/store.ts';
import { disposeAll, onDispose } from './support/dispose.ts';

afterAll(disposeAll);

it('batches the same lookups of many subscriptions into one read per tick, and never caches', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'chat-loaders-'));
  const real = createSqliteStore({ dataDir, synchronous: 'NORMAL' });
  onDispose(async () => {
    await real.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  await real.createGroup({ id: 'g1', name: 'one', ownerId: 'alice', memberIds: ['bob'], now: new Date() });
  await real.upsertUser({ id: 'alice', name: 'Alice' });
  const calls = { getUsers: 0, getGroups: 0 };
  const store = new Proxy(real, {
    get(target, property, receiver) {
      if (property === 'getUsers' || property === 'getGroups') calls[property] += 1;
      return Reflect.get(target, property, receiver) as unknown;
    },
  }) as Store;

  const shared = createSharedLoaders(store);
  const contexts = Array.from({ length: 100 }, (_, i) => createLoaders(store, `viewer-${i}`, shared));
  const senders = await Promise.all(contexts.map((loaders) => loaders.user.load('alice')));
  const groups = await Promise.all(contexts.map((loaders) => loaders.group.load('g1')));
  expect(senders.every((user) => user?.name === 'Alice')).toBe(true);
  expect(groups.every((group) => group?.memberCount === 2)).toBe(true);
  expect(calls).toEqual({ getUsers: 1, getGroups: 1 });

  // A later tick reads again: a renamed user is never served stale.
  await real.upsertUser({ id: 'alice', name: 'Alice B.' });
  expect((await contexts[0]?.user.load('alice'))?.name).toBe('Alice B.');
  expect(calls.getUsers).toBe(2);
});
