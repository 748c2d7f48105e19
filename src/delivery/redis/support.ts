/**
 * What the Redis adapters (`../pubsub/redis.ts`, `../presence/redis.ts`, `../lease/redis.ts`) share: the
 * client type they accept and the rules their keys follow so that one layout serves a single
 * Redis, a Sentinel-managed primary and Redis Cluster alike.
 *
 * Redis Cluster rules this code keeps ("Redis cluster specification", Hash tags; "EVAL",
 * Script execution in cluster mode):
 * - A command or script with several keys needs them all in one hash slot, else CROSSSLOT.
 *   Keys that must meet share a hash tag: the part between the first `{` and the next `}`.
 * - A script may touch only the keys it is given in KEYS.
 * So no key prefix may contain braces (it would become every key's tag), and ids from users
 * (group and user ids) only ever appear after a key's own tag, where their braces do nothing.
 */
import type { Cluster, Redis } from 'ioredis';

/** A connected ioredis client: one server (or a Sentinel-managed primary), or a cluster. */
export type RedisClient = Redis | Cluster;

export const isCluster = (client: RedisClient): client is Cluster => client.isCluster;

/** The prefix every key starts with; refuses braces, which would tag every key alike. */
export function checkKeyPrefix(prefix: string): string {
  if (/[{}]/.test(prefix)) {
    throw new RangeError(`A Redis key prefix must not contain { or } (they would be every key's hash tag): ${JSON.stringify(prefix)}`);
  }
  return prefix;
}

/**
 * Awaits a clean-up command only while Redis can answer. Offline, ioredis queues it (forever
 * with `maxRetriesPerRequest: null`), which would hang shutdown; the ttl cleans up instead,
 * and the queued command still runs if the connection comes back before it is closed.
 */
export async function unlessOffline(client: RedisClient, command: Promise<unknown>): Promise<void> {
  if (client.status === 'ready') {
    await command;
    return;
  }
  command.catch(() => {});
}
