/**
 * Redis adapters of the delivery ports, for many gateway nodes and relays on one Redis.
 * They receive connected ioredis clients and never quit them: the composition root owns them.
 *
 * Presence data layout, and why
 * -----------------------------
 * Interest is registered per process *instance* (`nodeId` plus a random epoch), not per member:
 *
 *   <prefix>presence:group:<groupId>              SET of instance ids with local subscribers of
 *                                                 the group (messages route by group)
 *   <prefix>presence:user:<userId>                SET of instance ids with local subscriptions
 *                                                 of the user (membership changes route by user)
 *   <prefix>presence:instance:<instanceId>:alive  STRING = nodeId, PX ttl; the heartbeat key
 *   <prefix>presence:instance:<instanceId>:groups SET of the instance's group ids  } what to undo
 *   <prefix>presence:instance:<instanceId>:users  SET of the instance's user ids   } on death
 *   <prefix>presence:instances                    SET of instance ids, for the sweep
 *
 * - The relay's per-message cost is O(nodes), never O(members): `nodesForGroup` is SMEMBERS of
 *   the group's set plus one MGET of those instances' alive keys (2 commands, whatever the group
 *   or user count). `nodesForUsers` is SUNION of the users' sets plus one MGET (2 commands).
 * - Set members cannot carry a TTL, so liveness lives in one key per instance. A heartbeat is a
 *   single `SET alive nodeId PX ttl XX`, O(1) however many groups the node holds (a sorted set
 *   scored by expiry would need one ZADD per group per heartbeat). A node that dies stops
 *   heartbeating, its alive key expires within ttl, and readers filter it out at once.
 * - The alive key's value is the node id, so the MGET answers "which node" as well as "alive".
 * - The epoch makes a restarted node with the same id start clean: registrations its previous
 *   life left behind point at a dead instance and are filtered out, never resurrected.
 * - Dead instances' ids are removed from the group/user sets by a sweep (every live node runs
 *   one every `sweepMs`; a Lua script reaps one instance atomically from its own group/user
 *   lists), so sets do not grow with every deploy. Readers do not need the sweep to be right,
 *   only to stay small.
 * - If this node's own alive key lapses (a long pause, a partition) a sweep elsewhere may reap
 *   its registrations; the next heartbeat sees `XX` fail and registers everything again from
 *   the node's local state.
 * - `close()` runs the same reap script for its own instance: everything goes at once, atomically.
 *
 * Scripts name keys that are not in KEYS (the per-group and per-user sets), so the layout
 * targets a single Redis (or a primary with replicas), not Redis Cluster.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import type { ChainableCommander, Redis } from 'ioredis';
import type { MessageRecord } from '../storage/port.ts';
import type {
  DeliveryEvent,
  NodePresence,
  PresenceDirectory,
  PubSub,
  RelayLease,
} from './ports.ts';
import { reportListenerError } from './listeners.ts';

// --- pub/sub ---------------------------------------------------------------------------------

/** A `DeliveryEvent` as JSON carries it: Dates become ISO strings. */
type WireEvent =
  | {
      readonly type: 'message';
      readonly message: Omit<MessageRecord, 'createdAt'> & { readonly createdAt: string };
    }
  | Exclude<DeliveryEvent, { readonly type: 'message' }>;

const serializer = {
  stringify: (event: unknown): string => JSON.stringify(event),
  parse(raw: string): DeliveryEvent {
    // Trusted input: only our own `publish` writes to these channels.
    const wire = JSON.parse(raw) as WireEvent;
    return wire.type === 'message'
      ? { ...wire, message: { ...wire.message, createdAt: new Date(wire.message.createdAt) } }
      : wire;
  },
};

export interface RedisPubSubOptions {
  /** A connected client for PUBLISH; it may be shared with other non-subscriber work. */
  readonly publishClient: Redis;
  /** A connected client dedicated to this pub/sub: it is put in subscriber mode. */
  readonly subscribeClient: Redis;
}

/**
 * Pub/sub over Redis channels through `@graphql-yoga/redis-event-target`, which keeps one
 * SUBSCRIBE per channel however many local listeners it has, and one `message` handler.
 */
export function createRedisPubSub({ publishClient, subscribeClient }: RedisPubSubOptions): PubSub {
  // The event target fires SUBSCRIBE/UNSUBSCRIBE without awaiting them, so a failure (the
  // connection closed, offline-queue retries exhausted) would be an unhandled rejection that
  // ends the process. We issue and await our own SUBSCRIBE for every channel anyway (to know
  // when it is active), so the target's copies are redundant and their failures can be dropped.
  const quietSubscriber = new Proxy(subscribeClient, {
    get(target, property) {
      if (property === 'subscribe' || property === 'unsubscribe') {
        return (...channels: string[]) => target[property](...channels).catch(() => undefined);
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const eventTarget = createRedisEventTarget<CustomEvent<DeliveryEvent>>({
    publishClient,
    subscribeClient: quietSubscriber,
    serializer,
  });

  /** Our callbacks per channel: what to resubscribe after a reconnect and remove on close. */
  const channels = new Map<string, Set<(event: CustomEvent<DeliveryEvent>) => void>>();
  const resubscribedListeners = new Set<() => void>();
  let interrupted = false;
  let closed = false;

  const onDown = (): void => {
    interrupted = true;
  };
  const onReady = (): void => {
    if (!interrupted || closed) return;
    interrupted = false;
    // ioredis re-sends SUBSCRIBE for the previous channels inside its ready handler, before it
    // emits 'ready' (`event_handler.js` readyHandler). Replies come in order on a connection, so
    // once our own SUBSCRIBE for the same channels is confirmed, theirs are active too.
    const active = [...channels.keys()];
    const confirmed = active.length > 0 ? subscribeClient.subscribe(...active) : Promise.resolve();
    confirmed.then(
      () => {
        if (closed) return;
        for (const listener of [...resubscribedListeners]) {
          try {
            listener();
          } catch (error) {
            reportListenerError(error);
          }
        }
      },
      // The connection dropped again before confirming; the next 'ready' tries again.
      () => {
        interrupted = true;
      },
    );
  };
  subscribeClient.on('close', onDown);
  subscribeClient.on('reconnecting', onDown);
  subscribeClient.on('end', onDown);
  subscribeClient.on('ready', onReady);

  const assertOpen = (): void => {
    if (closed) throw new Error('PubSub is closed');
  };

  return {
    async publish(channel, event) {
      assertOpen();
      // Not `eventTarget.dispatchEvent`: it drops the PUBLISH promise, so callers could not
      // await the hand-off and a failure would be an unhandled rejection. Same serializer, so
      // the wire format is the event target's.
      await publishClient.publish(channel, serializer.stringify(event));
    },
    async subscribe(channel, listener) {
      assertOpen();
      const callback = (event: CustomEvent<DeliveryEvent>): void => {
        try {
          listener(event.detail);
        } catch (error) {
          reportListenerError(error);
        }
      };
      let callbacks = channels.get(channel);
      if (!callbacks) {
        callbacks = new Set();
        channels.set(channel, callbacks);
      }
      callbacks.add(callback);
      // Listen first, then confirm: nothing published after the confirmation can be missed.
      eventTarget.addEventListener(channel, callback);
      let subscribed = true;
      const unsubscribe = (): void => {
        if (!subscribed) return;
        subscribed = false;
        const current = channels.get(channel);
        current?.delete(callback);
        if (current?.size === 0) channels.delete(channel);
        // Sends UNSUBSCRIBE when this was the channel's last local listener.
        eventTarget.removeEventListener(channel, callback);
      };
      try {
        // Redis treats a repeated SUBSCRIBE as a no-op and ioredis resolves on confirmation.
        await subscribeClient.subscribe(channel);
      } catch (error) {
        unsubscribe();
        throw error;
      }
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
      subscribeClient.off('close', onDown);
      subscribeClient.off('reconnecting', onDown);
      subscribeClient.off('end', onDown);
      subscribeClient.off('ready', onReady);
      resubscribedListeners.clear();
      const active = [...channels.keys()];
      for (const [channel, callbacks] of channels) {
        for (const callback of callbacks) eventTarget.removeEventListener(channel, callback);
      }
      channels.clear();
      // The event target keeps its 'message' handler on the client (it has no dispose); with
      // no callbacks left it ignores every message. Wait for UNSUBSCRIBE only when the client
      // can answer: while Redis is down the command would sit in the offline queue.
      if (active.length > 0 && subscribeClient.status === 'ready') {
        await subscribeClient.unsubscribe(...active);
      }
    },
  };
}

// --- presence --------------------------------------------------------------------------------

const presenceKeys = (prefix: string) => ({
  group: (groupId: string) => `${prefix}presence:group:${groupId}`,
  user: (userId: string) => `${prefix}presence:user:${userId}`,
  instances: `${prefix}presence:instances`,
  alive: (instanceId: string) => `${prefix}presence:instance:${instanceId}:alive`,
  ownGroups: (instanceId: string) => `${prefix}presence:instance:${instanceId}:groups`,
  ownUsers: (instanceId: string) => `${prefix}presence:instance:${instanceId}:users`,
});

/**
 * Removes every registration of one instance. KEYS: alive, own groups, own users, instances.
 * ARGV: instance id, group key prefix, user key prefix, '1' to reap only if the alive key is
 * gone (sweep) or '0' to reap regardless (clean shutdown). Returns 1 when it reaped.
 */
const REAP_SCRIPT = `
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for _, groupId in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('SREM', ARGV[2] .. groupId, ARGV[1])
end
for _, userId in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  redis.call('SREM', ARGV[3] .. userId, ARGV[1])
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('SREM', KEYS[4], ARGV[1])
return 1
`;

/**
 * Awaits a clean-up command only while Redis can answer. Offline, ioredis queues it (forever
 * with `maxRetriesPerRequest: null`), which would hang shutdown; the ttl cleans up instead,
 * and the queued command still runs if the connection comes back before it is closed.
 */
async function unlessOffline(client: Redis, command: Promise<unknown>): Promise<void> {
  if (client.status === 'ready') {
    await command;
    return;
  }
  command.catch(() => {});
}

/** Runs a pipeline and rejects on the first failed command (ioredis resolves with them). */
async function execPipeline(pipeline: ChainableCommander): Promise<unknown[]> {
  const results = (await pipeline.exec()) ?? [];
  return results.map(([error, result]) => {
    if (error) throw error;
    return result;
  });
}

export interface RedisPresenceOptions {
  /** A connected client in normal (non-subscriber) mode; it may be shared. */
  readonly client: Redis;
  readonly nodeId: string;
  /**
   * Registrations of a node that dies without `close()` disappear within this many seconds.
   * @default 30
   */
  readonly ttlSeconds?: number | undefined;
  /** How often the node refreshes its liveness; must be well below the ttl. @default 10_000 */
  readonly heartbeatMs?: number | undefined;
  /** @default 'chat:' */
  readonly keyPrefix?: string | undefined;
  /** How often this node reaps dead nodes' leftover registrations. @default 60_000 */
  readonly sweepMs?: number | undefined;
  /** Receives failures of background heartbeats and sweeps. @default console.error */
  readonly onError?: ((error: unknown) => void) | undefined;
}

export interface RedisNodePresence extends NodePresence {
  /** This process's registrations are stored under `nodeId@epoch`, unique per process. */
  readonly instanceId: string;
  /** Reaps the registrations of every instance whose liveness expired; resolves to how many. */
  sweep(): Promise<number>;
}

/** The write side of presence for one gateway process. See the layout notes at the top. */
export function createRedisPresence({
  client,
  nodeId,
  ttlSeconds = 30,
  heartbeatMs = 10_000,
  keyPrefix = 'chat:',
  sweepMs = 60_000,
  onError = (error: unknown) => console.error('presence:', error),
}: RedisPresenceOptions): RedisNodePresence {
  const ttlMs = Math.round(ttlSeconds * 1000);
  if (!(heartbeatMs > 0 && heartbeatMs < ttlMs)) {
    throw new RangeError(`heartbeatMs (${heartbeatMs}) must be between 0 and the ttl (${ttlMs} ms)`);
  }
  const keys = presenceKeys(keyPrefix);
  const instanceId = `${nodeId}@${randomBytes(6).toString('base64url')}`;
  const aliveKey = keys.alive(instanceId);
  const ownGroupsKey = keys.ownGroups(instanceId);
  const ownUsersKey = keys.ownUsers(instanceId);
  // Local truth, so the node can register everything again after its liveness lapsed.
  const groups = new Set<string>();
  const users = new Set<string>();
  const reregisteredListeners = new Set<() => void>();
  let closed = false;

  /** Writes liveness first, so a concurrent sweep that sees it leaves this instance alone. */
  const register = async (): Promise<void> => {
    const pipeline = client.pipeline();
    pipeline.set(aliveKey, nodeId, 'PX', ttlMs);
    pipeline.sadd(keys.instances, instanceId);
    addToPipeline(pipeline, 'group', [...groups]);
    addToPipeline(pipeline, 'user', [...users]);
    await execPipeline(pipeline);
  };

  const addToPipeline = (
    pipeline: ChainableCommander,
    kind: 'group' | 'user',
    ids: readonly string[],
  ): void => {
    if (ids.length === 0) return;
    pipeline.sadd(kind === 'group' ? ownGroupsKey : ownUsersKey, ...ids);
    for (const id of ids) pipeline.sadd(keys[kind](id), instanceId);
  };

  const heartbeat = async (): Promise<void> => {
    // XX: refresh only. A missing key means we lapsed and may have been reaped.
    const refreshed = await client.set(aliveKey, nodeId, 'PX', ttlMs, 'XX');
    if (refreshed !== null || closed) return;
    await register();
    for (const listener of [...reregisteredListeners]) {
      try {
        listener();
      } catch (error) {
        reportListenerError(error);
      }
    }
  };

  const sweep = async (): Promise<number> => {
    const instances = await client.smembers(keys.instances);
    if (instances.length === 0) return 0;
    const alive = await client.mget(instances.map(keys.alive));
    let reaped = 0;
    for (const [index, id] of instances.entries()) {
      if (alive[index] != null) continue;
      reaped += Number(await reap(id, true));
    }
    return reaped;
  };

  const reap = (id: string, onlyIfDead: boolean) =>
    client.eval(
      REAP_SCRIPT,
      4,
      keys.alive(id),
      keys.ownGroups(id),
      keys.ownUsers(id),
      keys.instances,
      id,
      keys.group(''),
      keys.user(''),
      onlyIfDead ? '1' : '0',
    );

  const every = (ms: number, task: () => Promise<unknown>): (() => void) => {
    let timer: NodeJS.Timeout | undefined;
    const schedule = (): void => {
      // unref: background upkeep must not keep a finished process alive.
      timer = setTimeout(() => {
        task().then(
          () => !closed && schedule(),
          (error: unknown) => {
            if (closed) return;
            onError(error);
            schedule();
          },
        );
      }, ms).unref();
    };
    schedule();
    return () => clearTimeout(timer);
  };

  register().catch(onError);
  const stopHeartbeat = every(heartbeatMs, heartbeat);
  const stopSweep = every(sweepMs, sweep);
  // A Redis that restarted (or failed over) may have lost every key: check at once rather than
  // at the next heartbeat, so routing to this node resumes as soon as the connection is back.
  const onReady = (): void => {
    if (!closed) heartbeat().catch(onError);
  };
  client.on('ready', onReady);

  const assertOpen = (): void => {
    if (closed) throw new Error(`Presence of ${nodeId} is closed`);
  };
  const add = async (kind: 'group' | 'user', ids: readonly string[]): Promise<void> => {
    assertOpen();
    if (ids.length === 0) return;
    const local = kind === 'group' ? groups : users;
    for (const id of ids) local.add(id);
    const pipeline = client.pipeline();
    addToPipeline(pipeline, kind, ids);
    await execPipeline(pipeline);
  };
  const remove = async (kind: 'group' | 'user', ids: readonly string[]): Promise<void> => {
    assertOpen();
    if (ids.length === 0) return;
    const local = kind === 'group' ? groups : users;
    for (const id of ids) local.delete(id);
    const pipeline = client.pipeline();
    pipeline.srem(kind === 'group' ? ownGroupsKey : ownUsersKey, ...ids);
    for (const id of ids) pipeline.srem(keys[kind](id), instanceId);
    await execPipeline(pipeline);
  };

  return {
    nodeId,
    instanceId,
    addGroups: (groupIds) => add('group', groupIds),
    removeGroups: (groupIds) => remove('group', groupIds),
    addUsers: (userIds) => add('user', userIds),
    removeUsers: (userIds) => remove('user', userIds),
    sweep,
    onReregistered(listener) {
      const entry = (): void => listener();
      reregisteredListeners.add(entry);
      return () => {
        reregisteredListeners.delete(entry);
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      client.off('ready', onReady);
      stopHeartbeat();
      stopSweep();
      reregisteredListeners.clear();
      groups.clear();
      users.clear();
      await unlessOffline(client, reap(instanceId, false));
    },
  };
}

export interface RedisPresenceDirectoryOptions {
  /** A connected client in normal (non-subscriber) mode; it may be shared. */
  readonly client: Redis;
  /** Must match the nodes' `keyPrefix`. @default 'chat:' */
  readonly keyPrefix?: string | undefined;
}

/** The read side: two commands per lookup, O(interested nodes). */
export function createRedisPresenceDirectory({
  client,
  keyPrefix = 'chat:',
}: RedisPresenceDirectoryOptions): PresenceDirectory {
  const keys = presenceKeys(keyPrefix);

  /** Node ids of the live instances; a dead instance's alive key has expired (null). */
  const liveNodes = async (instances: readonly string[]): Promise<string[]> => {
    if (instances.length === 0) return [];
    const nodeIds = await client.mget(instances.map(keys.alive));
    // A Set: two live instances may share a node id (a restart overlapping its predecessor).
    return [...new Set(nodeIds.filter((nodeId): nodeId is string => nodeId != null))];
  };

  return {
    async nodesForGroup(groupId) {
      return liveNodes(await client.smembers(keys.group(groupId)));
    },
    async nodesForUsers(userIds) {
      if (userIds.length === 0) return [];
      return liveNodes(await client.sunion(userIds.map(keys.user)));
    },
  };
}

// --- relay lease -----------------------------------------------------------------------------

/** Extends the lease only while we hold it. KEYS: lease. ARGV: holder id, ttl ms. */
const RENEW_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

/** Deletes the lease only while we hold it. KEYS: lease. ARGV: holder id. */
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

export interface RedisLeaseOptions {
  /** A connected client in normal (non-subscriber) mode; it may be shared. */
  readonly client: Redis;
  /** @default 'chat:relay:lease' */
  readonly key?: string | undefined;
  /** How long the lease outlives its holder's last renewal. @default 5000 */
  readonly ttlMs?: number | undefined;
  /** How often the holder renews and a standby retries; must be well below ttlMs. @default 1500 */
  readonly renewMs?: number | undefined;
  /** Identifies this process in the lease key; unique per process. @default a random UUID */
  readonly holderId?: string | undefined;
}

/** Resolves with the promise, or rejects with the signal's reason when it aborts first. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * One relay at a time across processes: SET NX PX to take the lease, compare-and-PEXPIRE to
 * keep it, compare-and-DEL to give it up. A standby polls every `renewMs`, so it takes over at
 * most `ttlMs + renewMs` after the holder dies.
 */
export function createRedisLease({
  client,
  key = 'chat:relay:lease',
  ttlMs = 5000,
  renewMs = 1500,
  holderId = randomUUID(),
}: RedisLeaseOptions): RelayLease {
  if (!(renewMs > 0 && renewMs < ttlMs)) {
    throw new RangeError(`renewMs (${renewMs}) must be between 0 and ttlMs (${ttlMs})`);
  }
  let held: { readonly lost: AbortController; readonly stop: () => void } | null = null;

  const renew = async (): Promise<boolean> =>
    (await client.eval(RENEW_SCRIPT, 1, key, holderId, ttlMs)) === 1;

  /** True when we hold the lease now; also true when it was still ours (a retry after a blip). */
  const tryAcquire = async (): Promise<boolean> =>
    (await client.set(key, holderId, 'PX', ttlMs, 'NX')) === 'OK' || (await renew());

  /** Keeps the lease from `acquiredAt` on; aborts `lost` as soon as we may no longer hold it. */
  const hold = (acquiredAt: number) => {
    const lost = new AbortController();
    let renewTimer: NodeJS.Timeout | undefined;
    let watchdog: NodeJS.Timeout | undefined;
    const stop = (): void => {
      clearTimeout(renewTimer);
      clearTimeout(watchdog);
    };
    const lose = (reason: Error): void => {
      if (lost.signal.aborted) return;
      stop();
      if (held?.lost === lost) held = null;
      lost.abort(reason);
    };
    // Redis starts the TTL when it runs the command, after we sent it, so `sentAt + ttlMs` is
    // a safe local bound. The watchdog covers a renewal that hangs (ioredis queues commands
    // while reconnecting), which would otherwise let the key expire while we still lead.
    const armWatchdog = (sentAt: number): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(
        () => lose(new Error('Relay lease expired before it could be renewed')),
        sentAt + ttlMs - Date.now(),
      ).unref();
    };
    const scheduleRenewal = (): void => {
      renewTimer = setTimeout(() => {
        const sentAt = Date.now();
        renew().then(
          (ok) => {
            if (lost.signal.aborted) return;
            if (!ok) return lose(new Error('Relay lease is held by another process'));
            armWatchdog(sentAt);
            scheduleRenewal();
          },
          (error: unknown) => lose(new Error('Relay lease renewal failed', { cause: error })),
        );
      }, renewMs).unref();
    };
    armWatchdog(acquiredAt);
    scheduleRenewal();
    return { lost, stop };
  };

  return {
    async acquire(signal) {
      for (;;) {
        signal.throwIfAborted();
        if (held) return { lost: held.lost.signal };
        const sentAt = Date.now();
        const attempt = tryAcquire();
        let acquired = false;
        try {
          acquired = await untilAborted(attempt, signal);
        } catch {
          if (signal.aborted) {
            // The caller gave up while SET was in flight: if it won, hand the lease back now
            // rather than making a standby wait out the ttl.
            attempt.then((won) => won && client.eval(RELEASE_SCRIPT, 1, key, holderId)).catch(
              () => {},
            );
            throw signal.reason;
          }
          // Redis unreachable: keep waiting, as a standby would.
        }
        if (acquired) {
          held = hold(sentAt);
          return { lost: held.lost.signal };
        }
        try {
          await sleep(renewMs, undefined, { signal });
        } catch {
          // timers/promises rejects with its own AbortError; the caller expects its reason.
          throw signal.reason;
        }
      }
    },
    async release() {
      const current = held;
      held = null;
      if (current) {
        current.stop();
        current.lost.abort(new Error('Relay lease released'));
      }
      // Also when not held: `lost` may have fired on a blip while the key is still ours.
      await unlessOffline(client, client.eval(RELEASE_SCRIPT, 1, key, holderId));
    },
  };
}
