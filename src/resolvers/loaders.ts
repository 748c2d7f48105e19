/**
 * Batching for the fields that fan out (owners, senders, last messages). Loaders never cache
 * across ticks, because a subscription's context lives as long as the subscription and must
 * not serve stale groups; they only merge the lookups made together.
 *
 * The user and group loaders are shared by every request and subscription of the node: when
 * one message is pushed to 100 local subscribers in the same tick, their `sender` and `group`
 * lookups become one batched read each, not 100.
 */
import DataLoader from 'dataloader';
import type { GroupRecord, MembershipRecord, MessageRecord, Store, UserRecord } from '../storage/port.ts';

export interface Loaders {
  readonly user: DataLoader<string, UserRecord | null>;
  readonly group: DataLoader<string, GroupRecord | null>;
  readonly lastMessage: DataLoader<string, MessageRecord | null>;
  /** The viewer's membership of a group. */
  readonly membership: DataLoader<string, MembershipRecord | null>;
}

function byId<T extends { readonly id: string }>(keys: readonly string[], rows: readonly T[]): (T | null)[] {
  const found = new Map(rows.map((row) => [row.id, row]));
  return keys.map((key) => found.get(key) ?? null);
}

const options = { cache: false } as const;

/** The loaders that hold nothing viewer-specific: create once per node and share. */
export type SharedLoaders = Pick<Loaders, 'user' | 'group'>;

export function createSharedLoaders(store: Store): SharedLoaders {
  return {
    user: new DataLoader(async (ids) => byId(ids, await store.getUsers([...new Set(ids)])), options),
    group: new DataLoader(async (ids) => byId(ids, await store.getGroups([...new Set(ids)])), options),
  };
}

export function createLoaders(store: Store, viewerId: string | null, shared: SharedLoaders = createSharedLoaders(store)): Loaders {
  return {
    ...shared,
    lastMessage: new DataLoader(async (groupIds) => {
      const rows = await store.getLastMessages([...new Set(groupIds)]);
      const found = new Map(rows.map((row) => [row.groupId, row]));
      return groupIds.map((id) => found.get(id) ?? null);
    }, options),
    membership: new DataLoader(
      (groupIds) =>
        Promise.all(groupIds.map((groupId) => (viewerId === null ? null : store.getMembership(groupId, viewerId)))),
      options,
    ),
  };
}
