/**
 * Opens what a node talks to, as the config says: the store, and either the in-process
 * adapters or Redis clients with the Redis adapters of every port (pub/sub, presence, lease,
 * quota). Nothing else in the app creates a connection. Disposing closes everything in the
 * reverse order of opening, so the store commits what it accepted (and signals it) while Redis
 * is still connected.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Roles, type Config } from '../config.ts';
import { createRedisCommitSignal } from '../delivery/commit-signal.ts';
import { createLocalLease } from '../delivery/lease/memory.ts';
import { createRedisLease } from '../delivery/lease/redis.ts';
import type { NodePresence, PresenceDirectory, PubSub, RelayLease } from '../delivery/ports.ts';
import { createMemoryPresence } from '../delivery/presence/memory.ts';
import { createRedisPresence, createRedisPresenceDirectory } from '../delivery/presence/redis.ts';
import { createMemoryPubSub } from '../delivery/pubsub/memory.ts';
import { createRedisPubSub } from '../delivery/pubsub/redis.ts';
import { openRedisClients } from '../delivery/redis/clients.ts';
import type { RedisClient } from '../delivery/redis/support.ts';
import type { Metrics } from '../metrics.ts';
import { createMemoryQuota } from '../quota/memory.ts';
import type { Quota } from '../quota/port.ts';
import { createRedisQuota } from '../quota/redis.ts';
import type { CommitSignal, Store } from '../storage/port.ts';
import { createSqliteStore } from '../storage/sqlite/store.ts';
import { startAll, type Disposable } from '../util/disposables.ts';

/** An opened store and how to close it (with whatever client it owns). */
export interface OpenedStore {
  readonly store: Store;
  close(): Promise<void>;
}

/** What the composition root hands a store it opens besides the config. */
export interface StoreExtras {
  /** Wakes relays in other processes on the embedded store's commits (null without Redis). */
  readonly commits: CommitSignal | null;
}

/** Opens the store a config names; `BuildAppOptions.openStore` replaces it in tests. */
export type OpenStore = (config: Config, extras: StoreExtras) => Promise<OpenedStore>;

export interface Connections extends Disposable {
  readonly store: Store;
  readonly pubsub: PubSub;
  readonly directory: PresenceDirectory;
  /** Null for a relay: it serves no subscribers, so it has no presence of its own. */
  readonly presence: NodePresence | null;
  readonly lease: RelayLease;
  /** Per-user connection, subscription and group-write quotas, shared by gateways through Redis. */
  readonly quota: Quota;
  readonly redis: { readonly command: RedisClient; readonly subscriber: RedisClient } | null;
}

export const openConfiguredStore: OpenStore = async (config, { commits }) => {
  if (config.mongodbUri !== null) {
    const { MongoClient } = await import('mongodb');
    const { createMongoStore } = await import('../storage/mongo/store.ts');
    const client = await new MongoClient(config.mongodbUri).connect();
    let store: Store;
    try {
      store = await createMongoStore({
        client,
        dbName: config.mongodbDb,
        outboxRetentionSeconds: config.outboxRetentionSeconds,
        rescanOverlapSeconds: config.outboxRescanOverlapSeconds,
      });
    } catch (error) {
      await client.close();
      throw error;
    }
    return {
      store,
      close: async () => {
        await store.close();
        await client.close();
      },
    };
  }
  const store = createSqliteStore({
    dataDir: config.dataDir,
    synchronous: config.sqliteSynchronous,
    maxBytes: config.sqliteMaxBytes,
    pollIntervalMs: config.outboxPollMs,
    commits: commits ?? undefined,
  });
  return { store, close: () => store.close() };
};

export interface ConnectOptions {
  readonly logger: Logger;
  readonly metrics: Pick<Metrics, 'redisReconnects'>;
  readonly openStore: OpenStore;
}

/** Opens the node's connections; a failure part way closes what was opened before it. */
export function openConnections(config: Config, { logger, metrics, openStore }: ConnectOptions): Promise<Connections> {
  return startAll(async (opened) => {
    if (config.redis === null) {
      const { store, close: closeStore } = await openStore(config, { commits: null });
      opened.defer(closeStore);
      const pubsub = createMemoryPubSub();
      opened.defer(() => pubsub.close());
      const memory = createMemoryPresence();
      const presence = memory.forNode(config.nodeId);
      opened.defer(() => presence.close());
      return {
        store,
        pubsub,
        directory: memory.directory,
        presence,
        lease: createLocalLease(),
        quota: createMemoryQuota(),
        redis: null,
      };
    }
    const clients = await openRedisClients(config.redis, {
      onError: (error, connection) => logger.warn({ err: error, connection }, 'redis connection error'),
      onReconnecting: (connection) => metrics.redisReconnects.inc({ connection }),
    });
    // Disposed last: everything opened after the clients still needs them to close.
    opened.defer(() => clients.disconnect());
    const { command, subscriber } = clients;
    // Processes sharing the embedded store wake each other's relay through Redis.
    const commits =
      config.mongodbUri === null
        ? createRedisCommitSignal({
            publishClient: command,
            subscribeClient: subscriber,
            channel: `${config.redisKeyPrefix}outbox:commits`,
            onError: (error) => logger.warn({ err: error }, 'outbox commit signal failed; the relay polls meanwhile'),
          })
        : null;
    if (commits !== null) opened.defer(() => commits.close());
    const { store, close: closeStore } = await openStore(config, { commits });
    // The store commits what it accepted (and signals it) while Redis is still connected.
    opened.defer(closeStore);
    const pubsub = createRedisPubSub({
      publishClient: command,
      subscribeClient: subscriber,
      onStale: (fence, highest) => logger.warn({ fence, highest }, 'dropped an event from a deposed relay'),
    });
    opened.defer(() => pubsub.close());
    const quota = createRedisQuota({
      client: command,
      keyPrefix: config.redisKeyPrefix,
      nodeId: config.nodeId,
      // Slots of a dead gateway lapse like its presence does.
      ttlMs: config.presence.ttlSeconds * 1000,
      renewMs: config.presence.heartbeatMs,
      onError: (error) => logger.warn({ err: error }, 'quota check failed; allowed'),
    });
    opened.defer(() => quota.close());
    const presence =
      config.role === Roles.relay
        ? null
        : createRedisPresence({
            client: command,
            nodeId: config.nodeId,
            ttlSeconds: config.presence.ttlSeconds,
            heartbeatMs: config.presence.heartbeatMs,
            keyPrefix: config.redisKeyPrefix,
            onError: (error) => logger.warn({ err: error }, 'presence heartbeat failed'),
          });
    if (presence !== null) opened.defer(() => presence.close());
    return {
      store,
      pubsub,
      directory: createRedisPresenceDirectory({ client: command, keyPrefix: config.redisKeyPrefix }),
      presence,
      lease: createRedisLease({
        client: command,
        keyPrefix: config.redisKeyPrefix,
        holderId: `${config.nodeId}:${randomUUID()}`,
        ttlMs: config.lease.ttlMs,
        renewMs: config.lease.renewMs,
      }),
      quota,
      redis: { command, subscriber },
    };
  });
}
