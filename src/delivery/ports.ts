/**
 * Ports of the delivery layer. The relay and the gateway use only these. Adapters live by port,
 * then by technology: `pubsub/`, `presence/` and `lease/` each hold `memory.ts` (the embedded
 * default, one process) and `redis.ts` (many nodes; a single Redis, Sentinel or Redis Cluster).
 */
import type { OutboxEvent } from '../storage/port.ts';

/** What travels from the relay to a gateway node: the outbox event, unchanged. */
export type DeliveryEvent = OutboxEvent;

/** The channel a gateway node listens on. */
export const nodeChannel = (nodeId: string): string => `node:${nodeId}`;

export interface PublishOptions {
  /**
   * The publisher's fencing token (the relay's lease grant). Each PubSub remembers the highest
   * fence it has delivered and drops events with a lower one, so a relay that lost its lease
   * cannot overwrite what its successor published (a stale `membersAdded` after a newer
   * `memberRemoved` would let a removed member read the group). Fences only grow: a relay
   * that restarts takes a new, higher one. Events published without a fence are always
   * delivered.
   */
  readonly fence?: number | undefined;
}

/**
 * At-most-once pub/sub. A subscriber that was disconnected may have missed events; it is told
 * through `onResubscribed` so it can repair gaps from the store.
 */
export interface PubSub {
  /** Resolves once the event is handed to the transport. */
  publish(channel: string, event: DeliveryEvent, options?: PublishOptions): Promise<void>;
  /**
   * Publishes events, in order, as one message: a relay's batch reaches a node in one PUBLISH
   * instead of one per event. Listeners still receive them one at a time, in this order.
   */
  publishBatch(channel: string, events: readonly DeliveryEvent[], options?: PublishOptions): Promise<void>;
  /** Resolves once the subscription is active; the returned function unsubscribes. */
  subscribe(channel: string, listener: (event: DeliveryEvent) => void): Promise<() => void>;
  /**
   * Called when the transport has (re)established its subscriptions after a disconnect, when
   * events may have been lost. Returns a function that removes the listener.
   */
  onResubscribed(listener: () => void): () => void;
  close(): Promise<void>;
}

/**
 * Read side of presence: which gateway nodes hold online members. Layout is interest-based:
 * a node registers the groups that have local subscribers (messages route by group) and the
 * users that have local subscriptions (membership changes route by user), so the relay's work
 * per message is one lookup plus one publish per interested node, whatever the group size.
 */
export interface PresenceDirectory {
  nodesForGroup(groupId: string): Promise<string[]>;
  nodesForUsers(userIds: readonly string[]): Promise<string[]>;
}

/**
 * Write side of presence, owned by one gateway node. Calls are idempotent set operations; the
 * gateway keeps its own reference counts and calls these on 0 → 1 and 1 → 0 transitions.
 */
export interface NodePresence {
  readonly nodeId: string;
  addGroups(groupIds: readonly string[]): Promise<void>;
  removeGroups(groupIds: readonly string[]): Promise<void>;
  addUsers(userIds: readonly string[]): Promise<void>;
  removeUsers(userIds: readonly string[]): Promise<void>;
  /**
   * Called when the node had to register everything again because its registrations expired
   * (e.g. a pause longer than the ttl). The relay skipped the node meanwhile, so subscribers
   * may have missed events: treat it like `PubSub.onResubscribed`. Returns a remover.
   */
  onReregistered(listener: () => void): () => void;
  /** Removes every registration of this node at once (clean shutdown). */
  close(): Promise<void>;
}

/** What holding the relay lease gives. */
export interface LeaseGrant {
  /** Aborts when the lease is lost (renewal failed or expired) or released. */
  readonly lost: AbortSignal;
  /**
   * The fencing token of this acquisition: larger than every token handed out before it (and
   * than `fenceFloor`). The relay claims its checkpoint and publishes with it, so that what a
   * deposed holder still does is refused (`Store.claimCheckpoint`, `PublishOptions.fence`).
   */
  readonly fence: number;
}

export interface AcquireOptions {
  /**
   * The new fence must be above this: the highest fence the store has seen (the checkpoint's),
   * so that tokens keep growing even when the lease's own counter was lost (a Redis restarted
   * without persistence, the in-process counter of a restarted process). @default 0
   */
  readonly fenceFloor?: number | undefined;
}

/**
 * Leadership for the relay: exactly one active relay across processes, with a fencing token
 * per acquisition. The in-process default is always the leader.
 */
export interface RelayLease {
  /** Resolves when this process holds the lease. `signal` aborts the wait. */
  acquire(signal: AbortSignal, options?: AcquireOptions): Promise<LeaseGrant>;
  /** Gives the lease up at once so a standby can take over. */
  release(): Promise<void>;
}
