/**
 * The Redis Quota adapter: per-user numbers that hold across every gateway on one Redis, or on a
 * Redis Cluster.
 *
 * Layout, one hash tag per user so that every key of a user lives in one cluster slot:
 *
 *   <prefix>quota:{<h>}:slots:<pool>     ZSET  member = <instance>:<n> (one held slot),
 *                                              score = epoch ms at which it lapses
 *   <prefix>quota:{<h>}:bucket:<rule>    HASH  tokens, at (epoch ms of the last refill)
 *
 * where <h> is a hash of the user id (ids may contain braces, which would move the hash tag).
 *
 * - A dead gateway never keeps a user's quota: each slot lapses `ttlMs` after its gateway last
 *   renewed it, and a gateway renews the slots it holds every `renewMs`. `acquire` first drops
 *   lapsed members, then counts. No sweep and no list of gateways is needed.
 * - A slot that lapsed while its gateway was paused is added again at the next renewal: the
 *   connection it stands for is still open, so it counts again.
 * - Every script touches only the one key it is given in KEYS and is declared with a `#!lua`
 *   shebang, so Redis Cluster enforces that it stays in its slot. Time is Redis's own (`TIME`),
 *   so gateways with skewed clocks agree.
 * - Redis down or slow: an answer later than `timeoutMs` fails open (the operation is allowed and
 *   `onError` is told). A quota must not take chat down with Redis; the per-connection limits
 *   still hold, and a slot written late lapses by itself since nobody renews it.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { BucketRule, Quota, Slot } from './port.ts';

const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS[1] slots; ARGV member, limit, ttlMs → 1 held, 0 full. */
const ACQUIRE = `#!lua
${NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1`;

/** KEYS[1] slots; ARGV ttlMs, member… → re-arms each member's lapse. */
const RENEW = `#!lua
${NOW_MS}
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + ttl, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ttl)
return #ARGV - 1`;

/** KEYS[1] bucket; ARGV tokens per ms, burst → 0 taken, else ms until a token is free. */
const TAKE = `#!lua
${NOW_MS}
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate) end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 1000)
return wait`;

type QuotaClient = Redis | Cluster;

interface QuotaCommands {
  quotaAcquire(key: string, member: string, limit: number, ttlMs: number): Promise<number>;
  quotaRenew(key: string, ttlMs: number, ...members: string[]): Promise<number>;
  quotaTake(key: string, ratePerMs: string, burst: number): Promise<number>;
}

export interface RedisQuotaOptions {
  /** A connected client (or Cluster); shared with other commands, never quit here. */
  readonly client: QuotaClient;
  readonly keyPrefix: string;
  /** Names this process in slot members (a random suffix keeps restarts apart). */
  readonly nodeId: string;
  /** A slot lapses this long after its gateway last renewed it. @default 30000 */
  readonly ttlMs?: number;
  /** How often held slots are renewed; well under `ttlMs`. @default 10000 */
  readonly renewMs?: number;
  /** Answers later than this fail open. @default 1000 */
  readonly timeoutMs?: number;
  /** Told about Redis failures (the operation was allowed). @default does nothing */
  readonly onError?: (error: unknown) => void;
}

/** The hash tag of a user's keys. */
const tag = (key: string): string => createHash('sha256').update(key).digest('base64url').slice(0, 16);

class QuotaTimeout extends Error {
  override readonly name = 'QuotaTimeout';
}

export function createRedisQuota({
  client,
  keyPrefix,
  nodeId,
  ttlMs = 30_000,
  renewMs = 10_000,
  timeoutMs = 1000,
  onError = () => {},
}: RedisQuotaOptions): Quota {
  for (const [name, lua, keys] of [
    ['quotaAcquire', ACQUIRE, 1],
    ['quotaRenew', RENEW, 1],
    ['quotaTake', TAKE, 1],
  ] as const) {
    // defineCommand is idempotent per name; EVALSHA with a fallback to EVAL.
    if (!(name in client)) client.defineCommand(name, { numberOfKeys: keys, lua });
  }
  const commands = client as unknown as QuotaCommands;
  const instance = `${nodeId}:${randomUUID().slice(0, 8)}`;
  let sequence = 0;
  /** Slots this process holds: key → members. */
  const held = new Map<string, Set<string>>();

  const bounded = <T>(work: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new QuotaTimeout(`Redis did not answer a quota command within ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  };

  const renew = async (): Promise<void> => {
    await Promise.all(
      [...held].map(([key, members]) =>
        members.size === 0 ? undefined : bounded(commands.quotaRenew(key, ttlMs, ...members)).catch(onError),
      ),
    );
  };
  const timer = setInterval(() => void renew(), renewMs);
  timer.unref();

  const forget = (key: string, member: string): void => {
    const members = held.get(key);
    members?.delete(member);
    if (members?.size === 0) held.delete(key);
  };

  return {
    async take(rule: BucketRule, key: string) {
      const bucket = `${keyPrefix}quota:{${tag(key)}}:bucket:${rule.name}`;
      try {
        return Number(await bounded(commands.quotaTake(bucket, String(rule.ratePerSecond / 1000), rule.burst)));
      } catch (error) {
        onError(error);
        return 0;
      }
    },
    async acquire(pool, key, limit) {
      const slots = `${keyPrefix}quota:{${tag(key)}}:slots:${pool}`;
      sequence += 1;
      const member = `${instance}:${sequence}`;
      const release = async (): Promise<void> => {
        if (!held.get(slots)?.has(member)) return;
        forget(slots, member);
        await bounded(client.zrem(slots, member)).catch(onError);
      };
      let granted: number;
      try {
        granted = Number(await bounded(commands.quotaAcquire(slots, member, limit, ttlMs)));
      } catch (error) {
        onError(error);
        // Failing open: nothing to renew or release; a member written late lapses by itself.
        return { release: async () => {} };
      }
      if (granted !== 1) return null;
      // Renewed from now on (a renewal that missed it finds it fresh from the script anyway).
      const members = held.get(slots) ?? new Set<string>();
      members.add(member);
      held.set(slots, members);
      const slot: Slot = { release };
      return slot;
    },
    async close() {
      clearInterval(timer);
      const all = [...held];
      held.clear();
      await Promise.all(all.map(([key, members]) => bounded(client.zrem(key, ...members)).catch(onError)));
    },
  };
}
