/**
 * The use cases map the store's named errors by class: only a page key the store did not issue
 * (it travels inside the client's cursor) becomes BAD_USER_INPUT "not a cursor this list
 * returned"; any other store error, a RangeError or not, stays the server's and is masked.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Viewer } from '../src/auth/jwt.ts';
import { defaultLimits } from '../src/config.ts';
import type { UseCaseDeps } from '../src/resolvers/deps.ts';
import { ErrorCode, UserError } from '../src/resolvers/errors.ts';
import { listGroupMembers, listViewerGroups, requireMember } from '../src/resolvers/groups.ts';
import { encodeCursor } from '../src/resolvers/pagination.ts';
import { createRateLimiter } from '../src/resolvers/rate-limit.ts';
import { createMemoryQuota } from '../src/quota/memory.ts';
import { InvalidFenceError, InvalidOutboxPositionError, InvalidPageKeyError, InvalidPageLimitError } from '../src/storage/errors.ts';
import type { Store } from '../src/storage/port.ts';
import { createSqliteStore } from '../src/storage/sqlite/store.ts';
import { disposeAll, onDispose } from './support/dispose.ts';

afterAll(disposeAll);

const viewer: Viewer = { id: 'alice', name: null };

/** A real store whose page reads throw `error` (what an adapter throws, thrown on purpose). */
async function storeFailingWith(error: Error): Promise<{ deps: UseCaseDeps; store: Store }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'chat-store-errors-'));
  const real = createSqliteStore({ dataDir, synchronous: 'NORMAL' });
  onDispose(async () => {
    await real.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  await real.createGroup({ id: 'g1', name: 'one', ownerId: viewer.id, memberIds: [], now: new Date() });
  const store = new Proxy(real, {
    get(target, property, receiver) {
      if (property === 'listUserGroups' || property === 'listMembers') return () => Promise.reject(error);
      return Reflect.get(target, property, receiver) as unknown;
    },
  }) as Store;
  const deps: UseCaseDeps = {
    store,
    limits: defaultLimits,
    sendLimiter: createRateLimiter({ ratePerSecond: 1, burst: 1 }),
    quota: createMemoryQuota(),
    now: () => new Date(),
    newId: (prefix) => `${prefix}1`,
  };
  return { deps, store };
}

describe('store errors reaching the use cases', () => {
  it('turns InvalidPageKeyError into BAD_USER_INPUT on the cursor argument', async () => {
    const { deps } = await storeFailingWith(new InvalidPageKeyError('Not a group page key'));
    const after = encodeCursor('g', 'forged');
    const refused = await listViewerGroups(deps, viewer, { first: 1, after }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(UserError);
    expect(refused).toMatchObject({ code: ErrorCode.BAD_USER_INPUT, details: { field: 'after' } });
    expect((refused as Error).message).toBe('after is not a cursor this list returned.');
    const view = await requireMember(deps, viewer, 'g1');
    const members = await listGroupMembers(deps, view, { first: 1, after: encodeCursor('u', 'x') }).catch((error: unknown) => error);
    expect(members).toMatchObject({ code: ErrorCode.BAD_USER_INPUT, details: { field: 'after' } });
  });

  it.each([
    ['InvalidPageLimitError', new InvalidPageLimitError('bad limit')],
    ['InvalidOutboxPositionError', new InvalidOutboxPositionError('bad position')],
    ['InvalidFenceError', new InvalidFenceError('bad fence')],
    ['a plain RangeError', new RangeError('something else')],
  ])('lets %s through unchanged, to be masked', async (_name, error) => {
    const { deps } = await storeFailingWith(error);
    const after = encodeCursor('g', 'forged');
    await expect(listViewerGroups(deps, viewer, { first: 1, after })).rejects.toBe(error);
  });
});
