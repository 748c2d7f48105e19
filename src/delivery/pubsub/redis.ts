/**
 * Pub/sub over Redis: classic channels (PUBLISH/SUBSCRIBE) on a single Redis or a
 * Sentinel-managed primary, sharded channels (SPUBLISH/SSUBSCRIBE, Redis 7) on Redis Cluster.
 *
 * Why sharded on a cluster: a classic PUBLISH is broadcast over the cluster bus to every node,
 * so every shard carries every message and adding shards adds no pub/sub capacity. A shard
 * channel lives in one slot, like a key: SPUBLISH goes to the shard that owns the slot and only
 * that shard's subscribers hear it ("Sharded Pub/Sub", Redis docs). Each gateway node has one
 * channel (`node:<nodeId>`), so node channels spread over the shards and each message crosses
 * one shard.
 *
 * This file owns the channel demultiplexing (one SUBSCRIBE per channel however many local
 * listeners, one message handler dispatching to them) instead of wrapping an event-target
 * library: it must await each SUBSCRIBE's confirmation ("active once subscribe resolves"),
 * await each PUBLISH, speak the sharded commands, and apply fencing, none of which such a
 * library exposes.
 *
 * Wire format: JSON `{ "e": <outbox-codec event>, "f"?: <fence> }` for one event, or
 * `{ "b": [<outbox-codec event>…], "f"?: <fence> }` for a batch (one message per relay batch
 * and node: one PUBLISH and one parse instead of one per event).
 *
 * Lost events are reported through `onResubscribed`:
 * - single Redis: ioredis re-sends SUBSCRIBE for the previous channels inside its ready handler
 *   before it emits 'ready' (`event_handler.js` readyHandler); replies come in order on one
 *   connection, so once our own SUBSCRIBE of the same channels is confirmed, theirs are too.
 * - cluster: ioredis (5.11, `shardedSubscribers: true`) keeps one subscriber connection per
 *   master and, after a failure or a topology change, rebuilds them and re-sends SSUBSCRIBE,
 *   then emits 'subscribersReady' (`cluster/ClusterSubscriberGroup.js` reset). It emits that
 *   event after every reset, also the ones that changed nothing of ours, and without waiting
 *   for the SSUBSCRIBE replies. So a notification is due when a subscriber connection went away
 *   ('-subscriber', '-node') or the master owning one of our channels' slots changed (a
 *   failover or a slot migration, after which the server dropped our subscription); it is
 *   sent once our own SSUBSCRIBE of every channel is confirmed on the rebuilt connections.
 * In both modes a confirmation that fails or does not come is tried again with backoff (the
 * client's own re-subscription is fire-and-forget and may have met a shard that was not ready
 * yet): no later event may come to retry it for us.
 */
import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import { outboxEventFromJson, outboxEventToJson, type OutboxEventJson } from '../../storage/outbox-codec.ts';
import type { DeliveryEvent, PubSub } from '../ports.ts';
import { callEach, reportListenerError } from '../listeners.ts';
import { isCluster, type RedisClient } from '../redis/support.ts';
import { pause } from '../../util/pause.ts';
import { withTimeout } from '../../util/timeout.ts';
import { createFenceGate } from './fence.ts';

export interface RedisPubSubOptions {
  /** A connected client for PUBLISH/SPUBLISH; it may be shared with other non-subscriber work. */
  readonly publishClient: RedisClient;
  /**
   * A connected client dedicated to this pub/sub (it is put in subscriber mode). For a cluster,
   * a `Cluster` created with `shardedSubscribers: true`; both clients must be of one kind.
   */
  readonly subscribeClient: RedisClient;
  /** Told about each event dropped for a stale fence. @default does nothing */
  readonly onStale?: ((fence: number, highest: number) => void) | undefined;
  /** Told about a message that could not be decoded (it is dropped). @default reports it as uncaught */
  readonly onInvalid?: ((error: unknown) => void) | undefined;
  /**
   * How long one attempt to confirm the subscriptions after a reconnect may take before it is
   * tried again (with backoff, until it succeeds): a confirmation can be refused (a shard still
   * reporting CLUSTERDOWN, a server still loading) or, in ioredis, never answered (an SSUBSCRIBE
   * redirected with MOVED, `DataHandler.js` returnError).
   * @default 5000
   */
  readonly confirmTimeoutMs?: number | undefined;
}

interface Wire {
  readonly e?: OutboxEventJson;
  readonly b?: readonly OutboxEventJson[];
  readonly f?: number;
}

const encode = (events: readonly DeliveryEvent[], fence: number | undefined): string => {
  const wire: Wire = events.length === 1 ? { e: outboxEventToJson(events[0] as DeliveryEvent) } : { b: events.map(outboxEventToJson) };
  return JSON.stringify(fence === undefined ? wire : { ...wire, f: fence });
};

function decode(raw: string): { readonly events: readonly DeliveryEvent[]; readonly fence: number | undefined } {
  const wire = JSON.parse(raw) as Wire | null;
  const fence = wire?.f;
  if (fence !== undefined && !Number.isSafeInteger(fence)) throw new TypeError(`Not a fence: ${JSON.stringify(fence)}`);
  if (Array.isArray(wire?.b)) return { events: wire.b.map((json) => outboxEventFromJson(json)), fence };
  return { events: [outboxEventFromJson(wire?.e)], fence };
}

type Listener = (event: DeliveryEvent) => void;

export function createRedisPubSub({
  publishClient,
  subscribeClient,
  onStale = () => {},
  onInvalid = reportListenerError,
  confirmTimeoutMs = 5000,
}: RedisPubSubOptions): PubSub {
  const sharded = isCluster(subscribeClient);
  if (sharded !== isCluster(publishClient)) throw new TypeError('publishClient and subscribeClient must both be clusters or both not');

  /** Local listeners per channel: one Redis subscription each, whatever the listener count. */
  const channels = new Map<string, Set<Listener>>();
  const resubscribedListeners = new Set<() => void>();
  const gate = createFenceGate();
  let closed = false;

  const send = (channel: string, payload: string): Promise<unknown> =>
    sharded ? publishClient.spublish(channel, payload) : publishClient.publish(channel, payload);
  // One channel per SSUBSCRIBE: channels of one call must share a slot on a cluster.
  const listen = (names: readonly string[]): Promise<unknown> =>
    sharded
      ? Promise.all(names.map((name) => subscribeClient.ssubscribe(name)))
      : names.length === 0
        ? Promise.resolve()
        : subscribeClient.subscribe(...names);
  const unlisten = (names: readonly string[]): Promise<unknown> =>
    sharded ? Promise.all(names.map((name) => subscribeClient.sunsubscribe(name))) : subscribeClient.unsubscribe(...names);

  const onMessage = (channel: string, raw: string): void => {
    const listeners = channels.get(channel);
    if (listeners === undefined) return;
    let decoded: ReturnType<typeof decode>;
    try {
      decoded = decode(raw);
    } catch (error) {
      onInvalid(error);
      return;
    }
    if (!gate.admit(decoded.fence)) {
      onStale(decoded.fence as number, gate.highest);
      return;
    }
    for (const event of decoded.events) callEach(listeners, event);
  };
  const messageEvent = sharded ? 'smessage' : 'message';
  subscribeClient.on(messageEvent, onMessage);

  // --- reporting possible loss ------------------------------------------------------------------
  let interrupted = false;
  /** Per channel, the master that owned its slot when we last confirmed it (cluster only). */
  const owners = new Map<string, string | undefined>();
  const ownerOf = (channel: string): string | undefined => (subscribeClient as Cluster).slots[calculateSlot(channel)]?.[0];

  const notify = (): void => callEach(resubscribedListeners, undefined);
  const closing = new AbortController();
  let repairing = false;
  let repairAgain = false;
  /**
   * Subscribes every active channel again on the (re)built connections until that is confirmed,
   * then notifies once. Our SUBSCRIBE both confirms the client's own re-subscription and redoes
   * it where that failed. A reconnect while this runs makes it run once more afterwards, so the
   * notification always comes after the newest connection's subscriptions are confirmed.
   */
  const repair = async (): Promise<void> => {
    if (repairing) {
      repairAgain = true;
      return;
    }
    repairing = true;
    try {
      do {
        repairAgain = false;
        for (let attempt = 0; !closed; attempt += 1) {
          const active = [...channels.keys()];
          try {
            await withTimeout(listen(active), confirmTimeoutMs, 'subscriptions not confirmed in time');
          } catch {
            await pause(Math.min(100 * 2 ** attempt, 2000), closing.signal);
            continue;
          }
          for (const channel of active) owners.set(channel, sharded ? ownerOf(channel) : undefined);
          if (!repairAgain) notify();
          break;
        }
      } while (repairAgain && !closed);
    } finally {
      repairing = false;
    }
  };
  const onDown = (): void => {
    interrupted = true;
  };
  const onReady = (): void => {
    if (closed) return;
    const moved = sharded && [...channels.keys()].some((channel) => owners.get(channel) !== ownerOf(channel));
    if (!interrupted && !moved) return;
    interrupted = false;
    void repair();
  };
  const downEvents = sharded ? ['-subscriber', '-node', 'close', 'reconnecting', 'end'] : ['close', 'reconnecting', 'end'];
  const readyEvent = sharded ? 'subscribersReady' : 'ready';
  for (const event of downEvents) subscribeClient.on(event, onDown);
  subscribeClient.on(readyEvent, onReady);

  const assertOpen = (): void => {
    if (closed) throw new Error('PubSub is closed');
  };

  return {
    async publish(channel, event, { fence } = {}) {
      assertOpen();
      await send(channel, encode([event], fence));
    },
    async publishBatch(channel, events, { fence } = {}) {
      assertOpen();
      if (events.length === 0) return;
      await send(channel, encode(events, fence));
    },
    async subscribe(channel, listener) {
      assertOpen();
      // Wrapped, so that subscribing one function twice gives two independent subscriptions.
      const entry: Listener = (event) => listener(event);
      let listeners = channels.get(channel);
      if (listeners === undefined) {
        listeners = new Set();
        channels.set(channel, listeners);
      }
      listeners.add(entry);
      let subscribed = true;
      const unsubscribe = (): void => {
        if (!subscribed) return;
        subscribed = false;
        const current = channels.get(channel);
        current?.delete(entry);
        if (current?.size !== 0) return;
        channels.delete(channel);
        owners.delete(channel);
        // Nobody awaits this: a failure (connection closed) only means the server dropped it.
        if (!closed) unlisten([channel]).catch(() => {});
      };
      try {
        // Listening first, then confirming: nothing published after the confirmation is missed.
        // Redis treats a repeated SUBSCRIBE as a no-op and ioredis resolves on confirmation.
        await listen([channel]);
      } catch (error) {
        unsubscribe();
        throw error;
      }
      if (sharded && !owners.has(channel)) owners.set(channel, ownerOf(channel));
      return unsubscribe;
    },
    onResubscribed(listener) {
      const entry = (): void => listener();
      resubscribedListeners.add(entry);
      return () => {
        resubscribedListeners.delete(entry);
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      closing.abort();
      subscribeClient.off(messageEvent, onMessage);
      for (const event of downEvents) subscribeClient.off(event, onDown);
      subscribeClient.off(readyEvent, onReady);
      resubscribedListeners.clear();
      const active = [...channels.keys()];
      channels.clear();
      owners.clear();
      // Wait for the unsubscribe only when the client can answer: while Redis is down the
      // command would sit in the offline queue.
      if (active.length > 0 && subscribeClient.status === 'ready') await unlisten(active);
    },
  };
}
