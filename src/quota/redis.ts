/**
 * The Redis Quota adapter: per-user numbers that hold across every gateway on one Redis, or on a
 * Redis Cluster.
 *
 * Layout:
 *
 *   <prefix>quota:instances              ZSET  member = a gateway instance (<nodeId>:<random>),
 *                                              score = epoch ms at which it lapses
 *   <prefix>quota:{<h>}:slots:<pool>     HASH  field = <start>:<instance>, value = how many
 *                                              slots of the pool that instance holds for the user
 *   <prefix>quota:{<h>}:bucket:<rule>    HASH  tokens, at (epoch ms of the last refill)
 *
 * where <h> is a hash of the user id (ids may contain braces, which would move the hash tag) and
 * <start> is the Redis time at which the instance registered.
 *
 * Why counts per instance, and liveness per instance: renewing each held slot (one ZADD per
 * connection and per subscription every few seconds) cost a gateway with 5,000 connections
 * bursts of a whole core and its Redis a steady 2,000 scripts a second, idle. Now an instance
 * renews one member of one sorted set (`renewMs`), whatever it holds, and learns from the same
 * call which instances are alive:
 * - `acquire` counts only the fields of live instances, and of instances registered after the
 *   caller last looked (too new to be listed, not dead). A field of an instance that registered
 *   before the caller's look and was not listed then has lapsed: it is deleted there and then.
 * - So a dead gateway never keeps a user's quota: its member lapses `ttlMs` after its last
 *   renewal, and the first acquire for each of its users after that drops its count.
 * - A gateway that lapsed while paused (its counts possibly dropped by others) registers again
 *   under a new start time and writes its counts back (HSET, so nothing counts twice). Its
 *   connections are still open, so they count again.
 * - User keys expire `keyTtlMs` after they were last written; every instance refreshes the keys
 *   it holds slots in well within that, a slice at each renewal.
 * - Every script touches only the one key it is given in KEYS and is declared with a `#!lua`
 *   shebang, so Redis Cluster enforces that it stays in its slot (the list of live instances
 *   travels in ARGV). Time is Redis's own (`TIME`), so gateways with skewed clocks agree.
 * - Redis down or slow: an answer later than `timeoutMs` fails open (the operation is allowed and
 *   `onError` is told). A quota must not take chat down with Redis; the per-connection limits
 *   still hold.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { BucketRule, Quota, Slot } from './port.ts';

const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * KEYS[1] instances; ARGV instance, ttlMs → { now, 1 when the instance had lapsed (or is new),
 * live instance… }.
 */
const RENEW = `#!lua
${NOW_MS}
local previous = redis.call('ZSCORE', KEYS[1], ARGV[1])
local lapsed = 0
if (not previous) or tonumber(previous) < now then lapsed = 1 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local reply = { now, lapsed }
for _, instance in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do reply[#reply + 1] = instance end
return reply`;

/**
 * KEYS[1] slots; ARGV field, limit, keyTtlMs, listedAt, live instance… → 1 held, 0 full.
 * A field counts when its instance is live, or registered at or after listedAt (in the same
 * millisecond, its registration may have run just after the caller's look).
 */
const ACQUIRE = `#!lua
local live = {}
for i = 5, #ARGV do live[ARGV[i]] = true end
local listedAt = tonumber(ARGV[4])
local total = 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local field = fields[i]
  local colon = string.find(field, ':', 1, true)
  local start = tonumber(string.sub(field, 1, colon - 1))
  local instance = string.sub(field, colon + 1)
  if live[instance] or start >= listedAt or field == ARGV[1] then
    total = total + tonumber(fields[i + 1])
  else
    redis.call('HDEL', KEYS[1], field)
  end
end
if total >= tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1`;

/** KEYS[1] slots; ARGV field → gives one slot back. */
const RELEASE = `#!lua
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1`;

/** KEYS[1] slots; ARGV old field, new field, count, keyTtlMs → the counts of a re-registered instance. */
const MOVE = `#!lua
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
return 1`;

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
  quotaRenew(key: string, instance: string, ttlMs: number): Promise<(string | number)[]>;
  quotaAcquire(key: string, field: string, limit: number, keyTtlMs: number, listedAt: number, ...live: string[]): Promise<number>;
  quotaRelease(key: string, field: string): Promise<number>;
  quotaMove(key: string, from: string, to: string, count: number, keyTtlMs: number): Promise<number>;
  quotaTake(key: string, ratePerMs: string, burst: number): Promise<number>;
}

export interface RedisQuotaOptions {
  /** A connected client (or Cluster); shared with other commands, never quit here. */
  readonly client: QuotaClient;
  readonly keyPrefix: string;
  /** Names this process among the instances (a random suffix keeps restarts apart). */
  readonly nodeId: string;
  /** An instance lapses this long after its last renewal, and its counts with it. @default 30000 */
  readonly ttlMs?: number;
  /** How often the instance renews itself and re-reads the live instances; well under `ttlMs`. @default 10000 */
  readonly renewMs?: number;
  /** A user key nobody has refreshed for this long expires. @default 3600000 */
  readonly keyTtlMs?: number;
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
  keyTtlMs = 60 * 60 * 1000,
  timeoutMs = 1000,
  onError = () => {},
}: RedisQuotaOptions): Quota {
  for (const [name, lua] of [
    ['quotaRenew', RENEW],
    ['quotaAcquire', ACQUIRE],
    ['quotaRelease', RELEASE],
    ['quotaMove', MOVE],
    ['quotaTake', TAKE],
  ] as const) {
    // defineCommand is idempotent per name; EVALSHA with a fallback to EVAL.
    if (!(name in client)) client.defineCommand(name, { numberOfKeys: 1, lua });
  }
  const commands = client as unknown as QuotaCommands;
  const instancesKey = `${keyPrefix}quota:instances`;
  const instance = `${nodeId}:${randomUUID().slice(0, 8)}`;
  /** This instance's field in user keys: its registration time, then its name. */
  let field: string | null = null;
  /** What the last renewal saw: its Redis time and the live instances. */
  let listedAt = 0;
  let live: string[] = [];
  /** Slots this process holds: user key → count. */
  const held = new Map<string, number>();
  /** Where the next slice of key-expiry refreshes starts. */
  let refreshCursor = 0;
  let closed = false;

  const bounded = <T>(work: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new QuotaTimeout(`Redis did not answer a quota command within ${timeoutMs} ms`)), timeoutMs);
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  };

  const renew = async (): Promise<void> => {
    const [now, lapsed, ...instances] = (await bounded(commands.quotaRenew(instancesKey, instance, ttlMs))).map(String);
    listedAt = Number(now);
    live = instances;
    if (field === null || lapsed === '1') {
      // New, or back after lapsing: a new start time, so that instances that listed us as
      // lapsed count us again; then our counts are written back under it.
      const previous = field;
      field = `${listedAt}:${instance}`;
      if (previous !== null) {
        const to = field;
        await Promise.all([...held].map(([key, count]) => bounded(commands.quotaMove(key, previous, to, count, keyTtlMs)).catch(onError)));
      }
    }
    // A slice of the held keys gets its expiry pushed back at each renewal, all of them within
    // a third of keyTtlMs.
    const keys = [...held.keys()];
    const slice = Math.ceil((keys.length * renewMs) / (keyTtlMs / 3));
    for (let i = 0; i < Math.min(slice, keys.length); i += 1) {
      const key = keys[(refreshCursor + i) % keys.length] as string;
      bounded(client.pexpire(key, keyTtlMs)).catch(onError);
    }
    refreshCursor = keys.length === 0 ? 0 : (refreshCursor + slice) % keys.length;
  };
  let registered: Promise<void> = renew().catch(onError);
  const timer = setInterval(() => {
    registered = renew().catch(onError);
  }, renewMs);
  timer.unref();

  /** Counts a slot as held by this instance; answers the idempotent function that gives it back. */
  const hold = (slots: string): (() => Promise<void>) => {
    held.set(slots, (held.get(slots) ?? 0) + 1);
    let released = false;
    return async () => {
      if (released || closed) return;
      released = true;
      const left = (held.get(slots) ?? 1) - 1;
      if (left <= 0) held.delete(slots);
      else held.set(slots, left);
      if (field !== null) await bounded(commands.quotaRelease(slots, field)).catch(onError);
    };
  };

  /** The slot handed out when an acquire failed open while its command may still run. */
  const lateSlot = (slots: string, command: Promise<number>): Slot => {
    let ended = false;
    let giveBack: (() => Promise<void>) | null = null;
    void command.then(
      (granted) => {
        if (Number(granted) !== 1 || closed) return;
        giveBack = hold(slots);
        if (ended) giveBack().catch(onError);
      },
      // Never ran (the connection failed): nothing held.
      () => {},
    );
    return {
      async release() {
        if (ended) return;
        ended = true;
        await giveBack?.();
      },
    };
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
      await registered;
      if (field === null) {
        onError(new Error('The quota instance is not registered in Redis'));
        // Failing open: nothing was sent, so there is nothing to give back.
        return { release: async () => {} };
      }
      const command = commands.quotaAcquire(slots, field, limit, keyTtlMs, listedAt, ...live);
      let granted: number;
      try {
        granted = Number(await bounded(command));
      } catch (error) {
        onError(error);
        // Failing open. A timeout stops the wait, not the command: it still runs once Redis
        // answers (after a CLIENT PAUSE, a slow spell), and may then hold a slot. That slot is
        // tracked from when it lands and given back with this one, or at once if this one was
        // released meanwhile; otherwise it would stay held for as long as this gateway lives.
        return lateSlot(slots, command);
      }
      if (granted !== 1) return null;
      return { release: hold(slots) };
    },
    async close() {
      closed = true;
      clearInterval(timer);
      const all = [...held];
      held.clear();
      const mine = field;
      if (mine === null) return;
      await Promise.all([
        ...all.map(([key]) => bounded(client.hdel(key, mine)).catch(onError)),
        bounded(client.zrem(instancesKey, instance)).catch(onError),
      ]);
    },
  };
}
