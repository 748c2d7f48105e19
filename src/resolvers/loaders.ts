/**
 * Batching for the fields that fan out (owners, senders, last messages). Loaders never cache
 * across ticks, because a subscription's context lives as long as the subscription and must
 * not serve stale groups; they only merge the lookups one execution makes together.
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

export function createLoaders(store: Store, viewerId: string | null): Loaders {
  const options = { cache: false } as const;
  return {
    user: new DataLoader(async (ids) => byId(ids, await store.getUsers([...new Set(ids)])), options),
    group: new DataLoader(async (ids) => byId(ids, await store.getGroups([...new Set(ids)])), options),
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
