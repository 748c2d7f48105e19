/**
 * The gateway side of delivery. One pub/sub listener per node receives the relay's events; a
 * local index from group to local subscriptions makes an event cost work proportional to the
 * recipients on this node. Each subscription gets each group's messages in seq order with no
 * gap and no duplicate: a seq jump (Redis is at-most-once) or a reconnect is repaired from
 * the store before anything newer is delivered.
 */
import type { GroupRecord, MessageRecord, Store } from '../storage/port.ts';
import { createCatchUpReader } from './catch-up-reads.ts';
import { createInterestIndex } from './interest.ts';
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
  /**
   * Told when events may have been lost and every subscription is resynced from the store: the
   * pub/sub connection was re-established (`'pubsub'`), or this node's presence had lapsed or
   * lost registrations and was registered again (`'presence'`). @default does nothing
   */
  readonly onResync?: (cause: ResyncCause, subscriptions: number) => void;
}

/** Why a gateway resynced every subscription (`GatewayOptions.onResync`). */
export type ResyncCause = 'pubsub' | 'presence';

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
  /** Pages of history asked for by catch-ups (after subscribing with since, joining, a gap). */
  catchUpPages: number;
  /** Store reads made for those pages: one read serves every page of a group asked meanwhile. */
  catchUpReads: number;
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

export function createGateway({
  nodeId,
  store,
  pubsub,
  presence,
  queueLength,
  replayPageSize,
  onError = () => {},
  onResync = () => {},
}: GatewayOptions): Gateway {
  // A replayed page counts against the queue; a page larger than the queue would leave no room
  // for the live message that follows it.
  const pageSize = Math.min(replayPageSize, queueLength);
  const onRemovalError = (error: unknown): void => onError(error, 'presence removal');
  // Messages route by group, membership changes by user.
  const byGroup = createInterestIndex<LiveSubscription>({
    register: (keys) => presence.addGroups(keys),
    unregister: (keys) => presence.removeGroups(keys),
    onError: onRemovalError,
  });
  const byUser = createInterestIndex<LiveSubscription>({
    register: (keys) => presence.addUsers(keys),
    unregister: (keys) => presence.removeUsers(keys),
    onError: onRemovalError,
  });
  const stats: GatewayStats = { delivered: 0, backfills: 0, duplicates: 0, catchUpPages: 0, catchUpReads: 0 };
  /**
   * Subscriptions still opening: groups left meanwhile (their membership read may predate the
   * removal), and whether a resync was asked for (it runs once the open has set every start).
   */
  const opening = new Map<LiveSubscription, { readonly removed: Set<string>; resync: boolean }>();
  let unsubscribe: (() => void) | null = null;
  let removeResubscribed: (() => void) | null = null;
  let removeReregistered: (() => void) | null = null;
  let stopped = false;

  // Many subscribers catching up at once (a reconnect storm, a gap seen by all) share reads.
  const reader = createCatchUpReader({
    store,
    pageSize,
    onPage: () => {
      stats.catchUpPages += 1;
    },
    onRead: () => {
      stats.catchUpReads += 1;
    },
  });

  function close(subscription: LiveSubscription): void {
    for (const groupId of subscription.groupIds()) byGroup.leave(groupId, subscription);
    byUser.leave(subscription.userId, subscription);
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

  /**
   * Reads the store after the cursor's last seq until it has nothing newer and every seq
   * announced live meanwhile is covered; then the group is live again. Pages wait for the
   * consumer, so a replay of any length holds at most one page in memory.
   */
  async function catchUp(cursor: GroupCursor): Promise<void> {
    const { subscription, groupId } = cursor;
    try {
      for (;;) {
        await subscription.whenDrained();
        if (!cursor.current) return;
        const page = (await reader.read(groupId, cursor.last)).filter((m) => m.seq > cursor.last);
        if (!cursor.current) return;
        // The read may reach past a removal whose event has not arrived yet (or was lost): only
        // a member may be handed what it found.
        if (page.length > 0 && (await store.getMembership(groupId, subscription.userId)) === null) {
          dropGroup(subscription, groupId);
          return;
        }
        if (!cursor.current) return;
        stats.delivered += page.length;
        cursor.replay(page);
        // Nothing awaited between this check and the switch: the next event sees it live.
        if (cursor.finishCatchUp(page.length >= pageSize)) return;
      }
    } catch (error) {
      failWith(subscription, error, 'catch-up read');
    }
  }

  function startCatchUp(cursor: GroupCursor, upTo: number): void {
    if (cursor.beginCatchUp(upTo)) void catchUp(cursor);
  }

  function onMessage(message: MessageRecord): void {
    const subscriptions = byGroup.subscribers(message.groupId);
    if (subscriptions === undefined) return;
    for (const subscription of subscriptions) {
      switch (subscription.offer(message)) {
        case 'delivered':
          stats.delivered += 1;
          break;
        case 'duplicate':
          stats.duplicates += 1;
          break;
        case 'gap':
          stats.backfills += 1;
          startCatchUp(subscription.cursorOf(message.groupId) as GroupCursor, message.seq);
          break;
        case 'held':
        case 'ignored':
          break;
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
      const cursor = subscription.follow(groupId, last);
      if (cursor === null) continue;
      cursors.push(cursor);
      registrations.push(byGroup.join(groupId, subscription));
    }
    if (cursors.length === 0) return;
    await Promise.all(registrations);
    // Presence now routes every later commit here; this read covers the ones before it.
    const groups = await store.getGroups(cursors.map((c) => c.groupId));
    const lastSeqs = new Map(groups.map((g) => [g.id, g.lastSeq]));
    for (const cursor of cursors) {
      if (!cursor.current) continue;
      const lastSeq = lastSeqs.get(cursor.groupId) ?? 0;
      cursor.goLive();
      if (lastSeq > cursor.last || cursor.highestSeen > cursor.last) startCatchUp(cursor, lastSeq);
    }
  }

  function unfollow(subscription: LiveSubscription, groupId: string): void {
    if (subscription.unfollow(groupId)) byGroup.leave(groupId, subscription);
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
    const release = subscription.hold();
    try {
      const { userId, fixedGroupId } = subscription;
      const groups = await currentGroups(userId, fixedGroupId);
      if (subscription.closed) return;
      const current = new Set(groups.map((group) => group.id));
      for (const groupId of [...subscription.groupIds()]) {
        if (!current.has(groupId)) dropGroup(subscription, groupId);
      }
      const joined = groups.filter((group) => !subscription.follows(group.id));
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
      release();
    }
    if (subscription.closed) return;
    for (const cursor of subscription.cursors()) {
      if (!cursor.catchingUp) stats.backfills += 1;
      startCatchUp(cursor, 0);
    }
  }

  function onMembersAdded(groupId: string, userIds: readonly string[], seq: number): void {
    for (const userId of userIds) {
      for (const subscription of byUser.subscribers(userId) ?? []) {
        if (subscription.fixedGroupId !== null || subscription.follows(groupId)) continue;
        follow(subscription, new Map([[groupId, seq]])).catch((error: unknown) =>
          failWith(subscription, error, 'joining a group'),
        );
      }
    }
  }

  function onMemberRemoved(groupId: string, userId: string): void {
    for (const subscription of [...(byUser.subscribers(userId) ?? [])]) {
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
  function resyncAll(cause: ResyncCause): void {
    let count = 0;
    for (const subscriptions of byUser.all()) count += subscriptions.size;
    onResync(cause, count);
    for (const subscriptions of [...byUser.all()]) {
      for (const subscription of [...subscriptions]) {
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
      for (const subscriptions of byUser.all()) count += subscriptions.size;
      return count;
    },
    async start() {
      removeResubscribed = pubsub.onResubscribed(() => resyncAll('pubsub'));
      removeReregistered = presence.onReregistered(() => resyncAll('presence'));
      unsubscribe = await pubsub.subscribe(nodeChannel(nodeId), onEvent);
    },
    async open({ userId, groupId, since }) {
      const subscription = new LiveSubscription({ userId, fixedGroupId: groupId, queueLength, onClose: close });
      const pending = { removed: new Set<string>(), resync: false };
      const { removed } = pending;
      opening.set(subscription, pending);
      try {
        // Membership changes route by user: register before reading the memberships.
        await byUser.join(userId, subscription);
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
      for (const subscriptions of [...byUser.all()]) {
        for (const subscription of [...subscriptions]) subscription.complete();
      }
    },
  };
}
