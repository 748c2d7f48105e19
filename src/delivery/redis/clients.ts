/**
 * Opens the two Redis clients a node needs, for each kind of deployment (`RedisTarget`): one
 * for commands (presence, lease, publishing) and one dedicated to subscriptions. Used by the
 * composition root only; the adapters receive the connected clients.
 *
 * - single (`REDIS_URL`): two `Redis` connections.
 * - sentinel (`REDIS_SENTINELS`, `REDIS_SENTINEL_NAME`): two `Redis` connections that ask the
 *   sentinels for the current primary and follow failovers (ioredis README, "Sentinel"); the
 *   layout and pub/sub are those of a single Redis.
 * - cluster (`REDIS_CLUSTER_NODES`): two `Cluster` clients; the subscriber one keeps a sharded
 *   subscriber connection per master (`shardedSubscribers: true`, ioredis README "Sharded
 *   Pub/Sub"), so pub/sub uses SPUBLISH/SSUBSCRIBE. Both re-read the slot map every
 *   `refreshMs` (REDIS_CLUSTER_REFRESH_MS).
 *
 * Every client queues commands while reconnecting (`maxRetriesPerRequest: null`) rather than
 * failing them, so a Redis restart delays work instead of failing it; `/ready` reports the
 * outage meanwhile (`status`).
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisTarget } from '../../config.ts';
import type { RedisClient } from './support.ts';

export interface RedisClients {
  readonly command: RedisClient;
  readonly subscriber: RedisClient;
  /** Disconnects both at once (queued commands fail). */
  disconnect(): void;
}

export interface OpenRedisOptions {
  /** Told about connection errors (ioredis reconnects by itself). */
  readonly onError: (error: Error, connection: 'command' | 'subscriber') => void;
  /** Told each time a client starts reconnecting. */
  readonly onReconnecting: (connection: 'command' | 'subscriber') => void;
}

function create(target: RedisTarget, role: 'command' | 'subscriber'): RedisClient {
  const common: RedisOptions = { lazyConnect: true, maxRetriesPerRequest: null };
  switch (target.mode) {
    case 'single':
      return new Redis(target.url, common);
    case 'sentinel':
      return new Redis({
        ...common,
        sentinels: target.sentinels.map(({ host, port }) => ({ host, port })),
        name: target.name,
        ...(target.password === null ? {} : { password: target.password }),
        ...(target.sentinelPassword === null ? {} : { sentinelPassword: target.sentinelPassword }),
      });
    case 'cluster': {
      const options: ClusterOptions = {
        lazyConnect: true,
        redisOptions: { maxRetriesPerRequest: null, ...(target.password === null ? {} : { password: target.password }) },
        shardedSubscribers: role === 'subscriber',
        // ioredis re-reads the slot map only on errors unless told to poll; a slot moved away
        // from under a shard subscription causes none (the server just drops the subscription).
        slotsRefreshInterval: target.refreshMs,
      };
      return new Cluster(
        target.nodes.map(({ host, port }) => ({ host, port })),
        options,
      );
    }
  }
}

/** Creates and connects both clients; on failure nothing is left open. */
export async function openRedisClients(target: RedisTarget, { onError, onReconnecting }: OpenRedisOptions): Promise<RedisClients> {
  const command = create(target, 'command');
  const subscriber = create(target, 'subscriber');
  for (const [name, client] of [['command', command], ['subscriber', subscriber]] as const) {
    client.on('error', (error: Error) => onError(error, name));
    client.on('reconnecting', () => onReconnecting(name));
  }
  const disconnect = (): void => {
    command.disconnect();
    subscriber.disconnect();
  };
  try {
    await Promise.all([command.connect(), subscriber.connect()]);
  } catch (error) {
    disconnect();
    throw error;
  }
  return { command, subscriber, disconnect };
}
