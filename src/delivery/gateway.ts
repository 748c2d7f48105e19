/**
 * The gateway side of delivery. One pub/sub listener per node receives the relay's events; a
 * local index from group to local subscriptions makes an event cost work proportional to the
 * recipients on this node. Each subscription gets each group's messages in seq order with no
 * gap and no duplicate: a seq jump (Redis is at-most-once) or a reconnect is repaired from
 * the store before anything newer is delivered.
 */
import type { GroupRecord, MessageRecord, Store } from '../storage/port.ts';
import { nodeChannel, type DeliveryEvent, type NodePresence, type PubSub } from './ports.ts';
import { LiveSubscription, type GroupCursor } from './subscription.ts';

export interface GatewayOptions {
  readonly nodeId: string;
  readonly store: Store;
  readonly pubsub: PubSub;
  readonly presence: NodePresence;
  /** Undelivered messages one subscription may hold. */
  readonly queueLength: number;
  /** Messages read per store page while catching up. */
  readonly replayPageSize: number;
  /** Reports failures of background work (presence updates, catch-up reads). @default ignores them */
  readonly onError?: (error: unknown, during: string) => void;
}

export interface OpenRequest {
  readonly userId: string;
  /** Only this group; the stream completes when the user leaves it. */
  readonly groupId: string | null;
  /** Replay after these seqs before going live; other groups start at their current lastSeq. */
  readonly since: ReadonlyMap<string, number>;
}

export interface GatewayStats {
  /** Messages handed to subscriptions (live and replayed). */
  delivered: number;
  /** Catch-ups started because a live event skipped seqs or the transport reconnected. */
  backfills: number;
  /** Messages dropped as already delivered (relay retries, overlap with replay). */
  duplicates: number;
}

export interface Gateway {
  /** Subscribes to this node's channel; call before serving clients. */
  start(): Promise<void>;
  /** Opens a subscription: registered for live events first, then caught up from the store. */
  open(request: OpenRequest): Promise<LiveSubscription>;
  readonly stats: Readonly<GatewayStats>;
  /** Live subscriptions on this node. */
  readonly size: number;
  /** Ends every subscription and stops listening. */
  stop(): Promise<void>;
}

/** Reference-counted interest, registered with presence on 0 → 1 and removed on 1 → 0. */
interface Interest {
  readonly subscriptions: Set<LiveSubscription>;
  /** Settles when presence holds this key (catch-ups wait for it before reading the store). */
  registered: Promise<void>;
}

export function createGateway({
  nodeId,
  store,
  pubsub,
  presence,
  queueLength,
  replayPageSize,
  onError = () => {},
}: GatewayOptions): Gateway {
  // A replayed page counts against the queue; a page larger than the queue would leave no room
  // for the live message that follows it.
  const pageSize = Math.min(replayPageSize, queueLength);
  const byGroup = new Map<string, Interest>();
  const byUser = new Map<string, Interest>();
  const stats: GatewayStats = { delivered: 0, backfills: 0, duplicates: 0 };
  const inflightReads = new Map<string, Promise<MessageRecord[]>>();
  /**
   * Subscriptions still opening: groups left meanwhile (their membership read may predate the
   * removal), and whether a resync was asked for (it runs once the open has set every start).
   */
  const opening = new Map<LiveSubscription, { readonly removed: Set<string>; resync: boolean }>();
  let unsubscribe: (() => void) | null = null;
  let removeResubscribed: (() => void) | null = null;
  let removeReregistered: (() => void) | null = null;
  let stopped = false;

  /** Concurrent identical reads (many subscribers repairing one gap) share one store query. */
  const readAfter = (groupId: string, afterSeq: number): Promise<MessageRecord[]> => {
    const key = `${groupId}\u0000${afterSeq}`;
    let read = inflightReads.get(key);
    if (read === undefined) {
      read = store
        .listMessages({ groupId, afterSeq, limit: pageSize, order: 'asc' })
        .finally(() => inflightReads.delete(key));
      inflightReads.set(key, read);
    }
    return read;
  };

  function join(
    index: Map<string, Interest>,
    key: string,
    subscription: LiveSubscription,
    register: (keys: string[]) => Promise<void>,
  ): Promise<void> {
    let interest = index.get(key);
    if (interest === undefined) {
      const created: Interest = { subscriptions: new Set(), registered: register([key]) };
      // A failed registration must not stay cached: the next subscriber registers again.
      created.registered.catch(() => {
        if (index.get(key) === created) index.delete(key);
      });
      interest = created;
      index.set(key, interest);
    }
    interest.subscriptions.add(subscription);
    return interest.registered;
  }

  function leave(
    index: Map<string, Interest>,
    key: string,
    subscription: LiveSubscription,
    unregister: (keys: string[]) => Promise<void>,
  ): void {
    const interest = index.get(key);
    if (interest === undefined || !interest.subscriptions.delete(subscription)) return;
    if (interest.subscriptions.size === 0) {
      index.delete(key);
      unregister([key]).catch((error: unknown) => onError(error, 'presence removal'));
    }
  }

  const addGroups = (keys: string[]): Promise<void> => presence.addGroups(keys);
  const removeGroups = (keys: string[]): Promise<void> => presence.removeGroups(keys);
  const addUsers = (keys: string[]): Promise<void> => presence.addUsers(keys);
  const removeUsers = (keys: string[]): Promise<void> => presence.removeUsers(keys);

  function close(subscription: LiveSubscription): void {
    for (const groupId of subscription.cursors.keys()) leave(byGroup, groupId, subscription, removeGroups);
    leave(byUser, subscription.userId, subscription, removeUsers);
  }

  /** Ends a subscription whose background work (catch-up, join, resync) failed. */
  function failWith(subscription: LiveSubscription, error: unknown, during: string): void {
    // Work still in flight when the gateway stopped fails on the closed store: not news.
    if (stopped || subscription.closed) return;
    onError(error, during);
    subscription.fail(error instanceof Error ? error : new Error(String(error)));
  }

  /** The user's groups a subscription covers now: all of them, or the fixed one while a member. */
  async function currentGroups(userId: string, fixedGroupId: string | null): Promise<GroupRecord[]> {
    if (fixedGroupId === null) return store.listAllUserGroups(userId);
    return (await store.getMembership(fixedGroupId, userId)) === null ? [] : store.getGroups([fixedGroupId]);
  }

  function deliver(subscription: LiveSubscription, cursor: GroupCursor, message: MessageRecord): void {
    cursor.last = message.seq;
    stats.delivered += 1;
    subscription.push(message);
  }

  /**
   * Reads the store after `cursor.last` until it has nothing newer and every seq announced
   * live meanwhile is covered; then the group is live again. Pages wait for the consumer, so
   * a replay of any length holds at most one page in memory.
   */
  async function catchUp(subscription: LiveSubscription, cursor: GroupCursor): Promise<void> {
    try {
      for (;;) {
        await subscription.whenDrained();
        if (subscription.closed || subscription.cursors.get(cursor.groupId) !== cursor) return;
        const page = (await readAfter(cursor.groupId, cursor.last)).filter((m) => m.seq > cursor.last);
        if (subscription.closed || subscription.cursors.get(cursor.groupId) !== cursor) return;
        // The read may reach past a removal whose event has not arrived yet (or was lost): only
        // a member may be handed what it found.
        if (page.length > 0 && (await store.getMembership(cursor.groupId, subscription.userId)) === null) {
          dropGroup(subscription, cursor.groupId);
          return;
        }
        if (subscription.closed || subscription.cursors.get(cursor.groupId) !== cursor) return;
        if (page.length > 0) {
          // Pages are contiguous from cursor.last + 1: seqs have no gaps and a read shows commits.
          cursor.last = (page.at(-1) as MessageRecord).seq;
          stats.delivered += page.length;
          subscription.pushReplayed(page);
        }
        if (page.length < pageSize && cursor.last >= cursor.highestSeen) {
          // Nothing awaited between this check and the switch: the next event sees it live.
          cursor.catchingUp = false;
          return;
        }
      }
    } catch (error) {
      failWith(subscription, error, 'catch-up read');
    }
  }

  function startCatchUp(subscription: LiveSubscription, cursor: GroupCursor, upTo: number): void {
    cursor.highestSeen = Math.max(cursor.highestSeen, upTo);
    if (cursor.catchingUp) return;
    cursor.catchingUp = true;
    void catchUp(subscription, cursor);
  }

  function onMessage(message: MessageRecord): void {
    const interest = byGroup.get(message.groupId);
    if (interest === undefined) return;
    for (const subscription of interest.subscriptions) {
      const cursor = subscription.cursors.get(message.groupId);
      if (cursor === undefined) continue;
      if (cursor.catchingUp || subscription.resyncing > 0) {
        cursor.highestSeen = Math.max(cursor.highestSeen, message.seq);
      } else if (message.seq === cursor.last + 1) {
        deliver(subscription, cursor, message);
      } else if (message.seq <= cursor.last) {
        stats.duplicates += 1;
      } else {
        stats.backfills += 1;
        startCatchUp(subscription, cursor, message.seq);
      }
    }
  }

  /** Adds groups to a subscription: interest first, then one read to see what it missed. */
  async function follow(subscription: LiveSubscription, starts: ReadonlyMap<string, number>): Promise<void> {
    // Completed meanwhile (removed from its group while opening): close() has already run.
    if (subscription.closed) return;
    const cursors: GroupCursor[] = [];
    const registrations: Promise<void>[] = [];
    for (const [groupId, last] of starts) {
      if (subscription.cursors.has(groupId)) continue;
      const cursor: GroupCursor = { groupId, last, catchingUp: true, highestSeen: 0 };
      subscription.cursors.set(groupId, cursor);
      cursors.push(cursor);
      registrations.push(join(byGroup, groupId, subscription, addGroups));
    }
    if (cursors.length === 0) return;
    await Promise.all(registrations);
    // Presence now routes every later commit here; this read covers the ones before it.
    const groups = await store.getGroups(cursors.map((c) => c.groupId));
    const lastSeqs = new Map(groups.map((g) => [g.id, g.lastSeq]));
    for (const cursor of cursors) {
      if (subscription.closed || subscription.cursors.get(cursor.groupId) !== cursor) continue;
      const lastSeq = lastSeqs.get(cursor.groupId) ?? 0;
      cursor.catchingUp = false;
      if (lastSeq > cursor.last || cursor.highestSeen > cursor.last) startCatchUp(subscription, cursor, lastSeq);
    }
  }

  function unfollow(subscription: LiveSubscription, groupId: string): void {
    if (!subscription.cursors.delete(groupId)) return;
    leave(byGroup, groupId, subscription, removeGroups);
  }

  /** The user is no longer in the group: a single-group stream ends, a following one drops it. */
  function dropGroup(subscription: LiveSubscription, groupId: string): void {
    if (subscription.fixedGroupId === groupId) subscription.complete();
    else unfollow(subscription, groupId);
  }

  /**
   * Re-reads a subscription's memberships after membership events may have been lost, holding
   * live delivery meanwhile: groups left are dropped, groups joined are followed from the seq
   * the user joined at, and every remaining group catches up from the store.
   */
  async function resync(subscription: LiveSubscription): Promise<void> {
    subscription.resyncing += 1;
    try {
      const { userId, fixedGroupId } = subscription;
      const groups = await currentGroups(userId, fixedGroupId);
      if (subscription.closed) return;
      const current = new Set(groups.map((group) => group.id));
      for (const groupId of [...subscription.cursors.keys()]) {
        if (!current.has(groupId)) dropGroup(subscription, groupId);
      }
      const joined = groups.filter((group) => !subscription.cursors.has(group.id));
      if (fixedGroupId === null && joined.length > 0) {
        const memberships = await Promise.all(joined.map((group) => store.getMembership(group.id, userId)));
        const starts = new Map<string, number>();
        joined.forEach((group, index) => {
          const membership = memberships[index];
          if (membership != null) starts.set(group.id, membership.joinedSeq);
        });
        await follow(subscription, starts);
      }
    } finally {
      subscription.resyncing -= 1;
    }
    if (subscription.closed) return;
    for (const cursor of subscription.cursors.values()) {
      if (!cursor.catchingUp) stats.backfills += 1;
      startCatchUp(subscription, cursor, 0);
    }
  }

  function onMembersAdded(groupId: string, userIds: readonly string[], seq: number): void {
    for (const userId of userIds) {
      const interest = byUser.get(userId);
      if (interest === undefined) continue;
      for (const subscription of interest.subscriptions) {
        if (subscription.fixedGroupId !== null || subscription.cursors.has(groupId)) continue;
        follow(subscription, new Map([[groupId, seq]])).catch((error: unknown) =>
          failWith(subscription, error, 'joining a group'),
        );
      }
    }
  }

  function onMemberRemoved(groupId: string, userId: string): void {
    const interest = byUser.get(userId);
    if (interest === undefined) return;
    for (const subscription of [...interest.subscriptions]) {
      opening.get(subscription)?.removed.add(groupId);
      dropGroup(subscription, groupId);
    }
  }

  function onEvent(event: DeliveryEvent): void {
    switch (event.type) {
      case 'message':
        onMessage(event.message);
        break;
      case 'membersAdded':
        onMembersAdded(event.groupId, event.userIds, event.seq);
        break;
      case 'memberRemoved':
        onMemberRemoved(event.groupId, event.userId);
        break;
    }
  }

  function startResync(subscription: LiveSubscription): void {
    resync(subscription).catch((error: unknown) => failWith(subscription, error, 'resync after reconnect'));
  }

  /**
   * After a transport reconnect, or presence lapsing, anything may have been lost, messages and
   * membership changes alike: every subscription re-reads its memberships and catches up.
   */
  function onResubscribed(): void {
    for (const interest of [...byUser.values()]) {
      for (const subscription of [...interest.subscriptions]) {
        // An opening subscription has no cursors yet: a resync now would take every group as
        // newly joined and start it at joinedSeq, ignoring `since`. It runs after the open.
        const pending = opening.get(subscription);
        if (pending !== undefined) pending.resync = true;
        else startResync(subscription);
      }
    }
  }

  return {
    stats,
    get size() {
      let count = 0;
      for (const interest of byUser.values()) count += interest.subscriptions.size;
      return count;
    },
    async start() {
      removeResubscribed = pubsub.onResubscribed(onResubscribed);
      removeReregistered = presence.onReregistered(onResubscribed);
      unsubscribe = await pubsub.subscribe(nodeChannel(nodeId), onEvent);
    },
    async open({ userId, groupId, since }) {
      const subscription = new LiveSubscription({ userId, fixedGroupId: groupId, queueLength, onClose: close });
      const pending = { removed: new Set<string>(), resync: false };
      const { removed } = pending;
      opening.set(subscription, pending);
      try {
        // Membership changes route by user: register before reading the memberships.
        await join(byUser, userId, subscription, addUsers);
        const groups = await currentGroups(userId, groupId);
        if (groupId !== null && groups.length === 0) {
          // Removed between the resolver's check and now: the stream is over before it began.
          subscription.complete();
          return subscription;
        }
        // A since past the group's last message starts live: later seqs must not be skipped.
        const starts = groups
          .filter((g) => !removed.has(g.id))
          .map((g): [string, number] => [g.id, Math.min(since.get(g.id) ?? g.lastSeq, g.lastSeq)]);
        await follow(subscription, new Map(starts));
      } catch (error) {
        subscription.return();
        throw error;
      } finally {
        opening.delete(subscription);
      }
      if (pending.resync && !subscription.closed) startResync(subscription);
      return subscription;
    },
    async stop() {
      stopped = true;
      unsubscribe?.();
      removeResubscribed?.();
      removeReregistered?.();
      for (const interest of [...byUser.values()]) {
        for (const subscription of [...interest.subscriptions]) subscription.complete();
      }
    },
  };
}
