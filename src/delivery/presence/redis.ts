/**
 * Presence in Redis, for many gateway nodes and relays. The same layout serves a single Redis,
 * a Sentinel-managed primary and Redis Cluster.
 *
 * Data layout, and why
 * --------------------
 * Interest is registered per process *instance* (`nodeId@epoch`, the epoch random), not per
 * member:
 *
 *   <p>presence:group:<groupId>          SET of instance ids with local subscribers of the group
 *                                        (messages route by group)
 *   <p>{presence:u<b>}:user:<userId>     SET of instance ids with local subscriptions of the
 *                                        user (membership changes route by user); b = a hash
 *                                        of the user id mod 16, see USER_BUCKETS
 *   <p>{presence}:alive:<instanceId>     STRING = nodeId, PX ttl: the heartbeat key
 *   <p>{presence}:instances              SET of instance ids, for the sweep
 *   <p>presence:own:<instanceId>:groups  SET of the instance's group ids  } what to undo
 *   <p>presence:own:<instanceId>:users   SET of the instance's user ids   } when it dies
 *
 * - The relay's cost per message is O(nodes), never O(members) or O(groups): `nodesForGroup`
 *   is SMEMBERS of the group's set plus one MGET of those instances' alive keys, 2 commands
 *   whatever the group or node count; then one publish per live node. `nodesForUsers` is SUNION
 *   of the users' sets plus one MGET: 2 commands on a single Redis; on a cluster one SUNION per
 *   bucket the users fall in (at most 16) plus the MGET, since one command's keys must share a
 *   slot.
 * - Hash tags, so that every multi-key command stays in one slot on a cluster: all alive keys
 *   share `{presence}` (the MGET), the users of one bucket share `{presence:u<b>}` (the SUNION).
 *   Group sets carry no tag, so groups spread over the shards. All alive keys sit on one shard;
 *   only the relay reads them (one MGET per group per batch) and each gateway writes one every
 *   heartbeat, so that shard's load is bounded by the single relay's own rate.
 * - No Lua script: every command names its keys itself, so nothing touches an undeclared key.
 * - Set members cannot carry a TTL, so liveness lives in one key per instance. A heartbeat is a
 *   single `SET alive nodeId PX ttl XX`, O(1) however many groups the node holds. A node that
 *   dies stops heartbeating, its alive key expires within ttl, and readers filter it out at once.
 * - The alive key's value is the node id, so the MGET answers "which node" as well as "alive".
 * - An instance id is never revived. A restarted process takes a new epoch, and so does a live
 *   process whose alive key lapsed (a pause longer than the ttl): it registers everything again
 *   under a new id from its local state and tells the gateway (`onReregistered`). So once an
 *   instance's alive key is gone it stays gone, and reaping it needs no atomicity with the
 *   instance itself: a sweep (every live node runs one every `sweepMs`) reads a dead instance's
 *   own sets, removes its id from each group and user set, then deletes its own sets and
 *   finally its entry in `instances`, so an interrupted sweep is finished by the next one.
 *   Readers do not need the sweep to be right, only to stay small.
 * - `close()` deletes the alive key first (readers stop routing here at once), then reaps its
 *   own registrations the same way.
 * - Redis can also lose some registrations while the alive key survives: on a cluster the shard
 *   holding a group's set restarts without persistence or fails over to a replica that had not
 *   received the latest writes, while the alive keys live on another shard; or eviction under
 *   maxmemory. The heartbeat cannot see that, so each node adds all its registrations again
 *   every `refreshMs`, and right after a cluster node's connection failed; SADD answers whether
 *   a member was missing, and when any was the gateway is told (`onReregistered`) so it repairs
 *   what was not routed to it meanwhile. That is O(registrations) commands per `refreshMs`.
 *
 * Commands: addGroups(n) / addUsers(n) = n + 1 SADD; removeGroups / removeUsers = n + 1 SREM;
 * heartbeat = 1 SET; refresh = groups + users + 3 SADD; nodesForGroup = SMEMBERS + MGET;
 * nodesForUsers = SUNION (one per bucket on a cluster) + MGET.
 *
 * Past 400 lines because of this header: the layout and its reasons are the adapter's contract.
 */
import { randomBytes } from 'node:crypto';
import type { NodePresence, PresenceDirectory } from '../ports.ts';
import { callEach } from '../listeners.ts';

/** Registrations re-added per round trip when presence is refreshed or registered again. */
const REFRESH_BATCH = 200;
import { checkKeyPrefix, isCluster, unlessOffline, type RedisClient } from '../redis/support.ts';
import { pause } from '../../util/pause.ts';

/**
 * User sets are spread over this many hash tags: enough that users spread over the shards of a
 * cluster, few enough that `nodesForUsers` of a thousand users stays a handful of commands.
 */
export const USER_BUCKETS = 16;

/** FNV-1a (32 bit) of the id, mod USER_BUCKETS: stable across processes and versions. */
export function userBucket(userId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < userId.length; i += 1) {
    hash ^= userId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % USER_BUCKETS;
}

/** Every key of the layout at the top, under `prefix`. */
export const presenceKeys = (prefix: string) => {
  checkKeyPrefix(prefix);
  return {
    group: (groupId: string) => `${prefix}presence:group:${groupId}`,
    user: (userId: string) => `${prefix}{presence:u${userBucket(userId)}}:user:${userId}`,
    alive: (instanceId: string) => `${prefix}{presence}:alive:${instanceId}`,
    instances: `${prefix}{presence}:instances`,
    ownGroups: (instanceId: string) => `${prefix}presence:own:${instanceId}:groups`,
    ownUsers: (instanceId: string) => `${prefix}presence:own:${instanceId}:users`,
  };
};
type PresenceKeys = ReturnType<typeof presenceKeys>;

/** Removes every registration of a dead (or closing) instance, in an order a retry can finish. */
async function reap(client: RedisClient, keys: PresenceKeys, instanceId: string): Promise<void> {
  const [groups, users] = await Promise.all([
    client.smembers(keys.ownGroups(instanceId)),
    client.smembers(keys.ownUsers(instanceId)),
  ]);
  await Promise.all([
    ...groups.map((groupId) => client.srem(keys.group(groupId), instanceId)),
    ...users.map((userId) => client.srem(keys.user(userId), instanceId)),
  ]);
  await Promise.all([client.unlink(keys.ownGroups(instanceId)), client.unlink(keys.ownUsers(instanceId))]);
  await client.srem(keys.instances, instanceId);
}

export interface RedisPresenceOptions {
  /** A connected client in normal (non-subscriber) mode; it may be shared. */
  readonly client: RedisClient;
  readonly nodeId: string;
  /**
   * Registrations of a node that dies without `close()` disappear within this many seconds.
   * @default 30
   */
  readonly ttlSeconds?: number | undefined;
  /** How often the node refreshes its liveness; must be well below the ttl. @default 10_000 */
  readonly heartbeatMs?: number | undefined;
  /** Starts every key (no braces). @default 'chat:' */
  readonly keyPrefix?: string | undefined;
  /** How often this node reaps dead nodes' leftover registrations. @default 60_000 */
  readonly sweepMs?: number | undefined;
  /**
   * How often this node adds all its registrations again, restoring any Redis lost while the
   * alive key survived (see the layout notes). Also run soon after a cluster node's connection
   * fails. @default 60_000
   */
  readonly refreshMs?: number | undefined;
  /** Receives failures of background heartbeats and sweeps. @default console.error */
  readonly onError?: ((error: unknown) => void) | undefined;
}

export interface RedisNodePresence extends NodePresence {
  /** This process's registrations are stored under `nodeId@epoch`; a new epoch after a lapse. */
  readonly instanceId: string;
  /** Reaps the registrations of every instance whose liveness expired; resolves to how many. */
  sweep(): Promise<number>;
}

const newInstanceId = (nodeId: string): string => `${nodeId}@${randomBytes(6).toString('base64url')}`;

/** The write side of presence for one gateway process. See the layout notes at the top. */
export function createRedisPresence({
  client,
  nodeId,
  ttlSeconds = 30,
  heartbeatMs = 10_000,
  keyPrefix = 'chat:',
  sweepMs = 60_000,
  refreshMs = 60_000,
  onError = (error: unknown) => console.error('presence:', error),
}: RedisPresenceOptions): RedisNodePresence {
  const ttlMs = Math.round(ttlSeconds * 1000);
  if (!(heartbeatMs > 0 && heartbeatMs < ttlMs)) {
    throw new RangeError(`heartbeatMs (${heartbeatMs}) must be between 0 and the ttl (${ttlMs} ms)`);
  }
  const keys = presenceKeys(keyPrefix);
  let instanceId = newInstanceId(nodeId);
  // Local truth, so the node can register everything again under a new epoch after a lapse.
  const groups = new Set<string>();
  const users = new Set<string>();
  const reregisteredListeners = new Set<() => void>();
  let closed = false;

  /** SADDs for some ids of one kind, under the current instance id; each answers how many were new. */
  const addAll = (kind: 'group' | 'user', ids: readonly string[]): Promise<number>[] => {
    if (ids.length === 0) return [];
    const id = instanceId;
    const own = kind === 'group' ? keys.ownGroups(id) : keys.ownUsers(id);
    // The own set first: a sweep that finds this instance dead must find every set it is in.
    return [client.sadd(own, ...ids), ...ids.map((key) => client.sadd(keys[kind](key), id))];
  };

  /**
   * Every registration again, `REFRESH_BATCH` ids at a time, each batch once the previous one is
   * answered: a gateway holding 6,000 registrations issued them all in one turn, which held its
   * event loop (and Redis) for about 300 ms every `refreshMs`, the slowest deliveries of a run.
   * Answers how many of each batch's SADDs were new.
   */
  const addEverything = async (): Promise<number[]> => {
    const added: number[] = [];
    for (const [kind, ids] of [['group', [...groups]], ['user', [...users]]] as const) {
      for (let start = 0; start < ids.length && !closed; start += REFRESH_BATCH) {
        added.push(...(await Promise.all(addAll(kind, ids.slice(start, start + REFRESH_BATCH)))));
      }
    }
    return added;
  };

  /** Liveness first, so the directory never holds an instance id a sweep could take for dead. */
  const register = async (): Promise<void> => {
    const id = instanceId;
    await Promise.all([client.set(keys.alive(id), nodeId, 'PX', ttlMs), client.sadd(keys.instances, id)]);
    await addEverything();
  };

  const tellReregistered = (): void => callEach(reregisteredListeners, undefined);

  const heartbeat = async (): Promise<void> => {
    // XX: refresh only. A missing key means we lapsed and may have been reaped: start over
    // under a new epoch rather than revive an id a sweep may be reaping right now.
    const refreshed = await client.set(keys.alive(instanceId), nodeId, 'PX', ttlMs, 'XX');
    if (refreshed !== null || closed) return;
    instanceId = newInstanceId(nodeId);
    await register();
    tellReregistered();
  };

  /** Adds every registration again; tells the gateway when Redis had lost any of them. */
  const refresh = async (): Promise<void> => {
    const id = instanceId;
    const added = [await client.sadd(keys.instances, id), ...(await addEverything())];
    // A lapse meanwhile (new epoch) is the heartbeat's to report.
    if (!closed && id === instanceId && added.some((count) => count > 0)) tellReregistered();
  };

  const sweep = async (): Promise<number> => {
    const instances = await client.smembers(keys.instances);
    if (instances.length === 0) return 0;
    const alive = await client.mget(instances.map(keys.alive));
    const dead = instances.filter((_, index) => alive[index] == null);
    for (const id of dead) await reap(client, keys, id);
    return dead.length;
  };

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
  const stopRefresh = every(refreshMs, refresh);

  // A cluster node's connection failed: the node may come back without our registrations (a
  // restart without persistence, a failover). Refresh once it answers again, retrying with
  // backoff while the cluster is down; one refresh at a time, one more if it failed again meanwhile.
  const stopping = new AbortController();
  let refreshing = false;
  let refreshAgain = false;
  const refreshSoon = async (): Promise<void> => {
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    refreshing = true;
    try {
      do {
        refreshAgain = false;
        for (let attempt = 0; !closed; attempt += 1) {
          await pause(Math.min(200 * 2 ** attempt, 5000), stopping.signal);
          if (closed) return;
          try {
            await refresh();
            break;
          } catch {
            // Still down: try again.
          }
        }
      } while (refreshAgain && !closed);
    } finally {
      refreshing = false;
    }
  };
  const onNodeError = (): void => {
    void refreshSoon();
  };
  if (isCluster(client)) client.on('node error', onNodeError);
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
    await Promise.all(addAll(kind, ids));
  };
  const remove = async (kind: 'group' | 'user', ids: readonly string[]): Promise<void> => {
    assertOpen();
    if (ids.length === 0) return;
    const local = kind === 'group' ? groups : users;
    for (const id of ids) local.delete(id);
    const id = instanceId;
    await Promise.all([
      client.srem(kind === 'group' ? keys.ownGroups(id) : keys.ownUsers(id), ...ids),
      ...ids.map((key) => client.srem(keys[kind](key), id)),
    ]);
  };

  return {
    nodeId,
    get instanceId() {
      return instanceId;
    },
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
      client.off('node error', onNodeError);
      stopping.abort();
      stopHeartbeat();
      stopSweep();
      stopRefresh();
      reregisteredListeners.clear();
      groups.clear();
      users.clear();
      const id = instanceId;
      await unlessOffline(
        client,
        client.unlink(keys.alive(id)).then(() => reap(client, keys, id)),
      );
    },
  };
}

export interface RedisPresenceDirectoryOptions {
  /** A connected client in normal (non-subscriber) mode; it may be shared. */
  readonly client: RedisClient;
  /** Must match the nodes' `keyPrefix`. @default 'chat:' */
  readonly keyPrefix?: string | undefined;
}

/** The read side: two commands per group lookup, O(interested nodes). */
export function createRedisPresenceDirectory({
  client,
  keyPrefix = 'chat:',
}: RedisPresenceDirectoryOptions): PresenceDirectory {
  const keys = presenceKeys(keyPrefix);
  const cluster = isCluster(client);

  /** Node ids of the live instances; a dead instance's alive key has expired (null). */
  const liveNodes = async (instances: readonly string[]): Promise<string[]> => {
    if (instances.length === 0) return [];
    const nodeIds = await client.mget(instances.map(keys.alive));
    // A Set: two live instances may share a node id (a restart overlapping its predecessor).
    return [...new Set(nodeIds.filter((nodeId): nodeId is string => nodeId != null))];
  };

  /** The union of the users' sets: one SUNION, or on a cluster one per bucket (slot). */
  const unionOfUsers = async (userIds: readonly string[]): Promise<string[]> => {
    const userKeys = [...new Set(userIds)].map(keys.user);
    if (!cluster) return client.sunion(...userKeys);
    const byBucket = new Map<string, string[]>();
    for (const key of userKeys) {
      const tag = key.slice(key.indexOf('{'), key.indexOf('}') + 1);
      const bucket = byBucket.get(tag);
      if (bucket === undefined) byBucket.set(tag, [key]);
      else bucket.push(key);
    }
    const unions = await Promise.all([...byBucket.values()].map((bucketKeys) => client.sunion(...bucketKeys)));
    return [...new Set(unions.flat())];
  };

  return {
    async nodesForGroup(groupId) {
      return liveNodes(await client.smembers(keys.group(groupId)));
    },
    async nodesForUsers(userIds) {
      if (userIds.length === 0) return [];
      return liveNodes(await unionOfUsers(userIds));
    },
  };
}
