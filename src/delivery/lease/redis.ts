/**
 * The relay lease in Redis, with fencing tokens: one relay at a time across processes, and a
 * token per acquisition that grows with every acquisition.
 *
 * Keys (both under the hash tag `{relay}`, so the acquire script's two keys share a slot on
 * Redis Cluster):
 *
 *   <prefix>{relay}:lease   STRING "<holderId>#<fence>", PX ttl: who holds the lease
 *   <prefix>{relay}:fence   INTEGER, no ttl: the last fence handed out (INCR on acquisition)
 *
 * SET-if-absent + INCR in one script takes the lease; compare-and-PEXPIRE keeps it;
 * compare-and-DEL gives it up. A standby polls every `renewMs`, so it takes over at most
 * `ttlMs + renewMs` after the holder dies. The fence key has no ttl; if Redis loses it (a
 * restart without persistence) the caller's `fenceFloor` (the fence stored with the checkpoint)
 * keeps new tokens above every token that ever wrote a checkpoint or published.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LeaseGrant, RelayLease } from '../ports.ts';
import { checkKeyPrefix, unlessOffline, type RedisClient } from '../redis/support.ts';

/**
 * Takes the lease if nobody holds it, with a new fence above the floor; if this holder already
 * holds it (a retry after a lost reply), extends it and answers its fence. 0: held by another.
 * KEYS: lease, fence. ARGV: holder id, ttl ms, fence floor.
 */
const ACQUIRE_SCRIPT = `
local mine = ARGV[1] .. '#'
local current = redis.call('GET', KEYS[1])
if current then
  if string.sub(current, 1, #mine) == mine then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(string.sub(current, #mine + 1))
  end
  return 0
end
local fence = redis.call('INCR', KEYS[2])
local floor = tonumber(ARGV[3])
if fence <= floor then
  fence = floor + 1
  redis.call('SET', KEYS[2], fence)
end
redis.call('SET', KEYS[1], mine .. fence, 'PX', ARGV[2])
return fence
`;

/** Extends the lease only while we hold it. KEYS: lease. ARGV: holder id, ttl ms. */
const RENEW_SCRIPT = `
local mine = ARGV[1] .. '#'
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, 1, #mine) == mine then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

/** Deletes the lease only while we hold it. KEYS: lease. ARGV: holder id. */
const RELEASE_SCRIPT = `
local mine = ARGV[1] .. '#'
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, 1, #mine) == mine then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

export interface RedisLeaseOptions {
  /** A connected client in normal (non-subscriber) mode; it may be shared. */
  readonly client: RedisClient;
  /** Starts both keys (no braces). @default 'chat:' */
  readonly keyPrefix?: string | undefined;
  /** How long the lease outlives its holder's last renewal. @default 5000 */
  readonly ttlMs?: number | undefined;
  /** How often the holder renews and a standby retries; must be well below ttlMs. @default 1500 */
  readonly renewMs?: number | undefined;
  /** Identifies this process in the lease key; unique per process. @default a random UUID */
  readonly holderId?: string | undefined;
}

/** The two keys of the lease under `keyPrefix`. */
export const leaseKeys = (keyPrefix: string): { readonly lease: string; readonly fence: string } => ({
  lease: `${checkKeyPrefix(keyPrefix)}{relay}:lease`,
  fence: `${keyPrefix}{relay}:fence`,
});

/** Resolves with the promise, or rejects with the signal's reason when it aborts first. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export function createRedisLease({
  client,
  keyPrefix = 'chat:',
  ttlMs = 5000,
  renewMs = 1500,
  holderId = randomUUID(),
}: RedisLeaseOptions): RelayLease {
  if (!(renewMs > 0 && renewMs < ttlMs)) {
    throw new RangeError(`renewMs (${renewMs}) must be between 0 and ttlMs (${ttlMs})`);
  }
  const keys = leaseKeys(keyPrefix);
  let held: { readonly grant: LeaseGrant; readonly lost: AbortController; readonly stop: () => void } | null = null;

  const renew = async (): Promise<boolean> => (await client.eval(RENEW_SCRIPT, 1, keys.lease, holderId, ttlMs)) === 1;

  /** The fence when we hold the lease now (also when it was still ours after a blip), else 0. */
  const tryAcquire = async (fenceFloor: number): Promise<number> =>
    Number(await client.eval(ACQUIRE_SCRIPT, 2, keys.lease, keys.fence, holderId, ttlMs, fenceFloor));

  /** Keeps the lease from `acquiredAt` on; aborts `lost` as soon as we may no longer hold it. */
  const hold = (acquiredAt: number, fence: number) => {
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
    return { grant: { lost: lost.signal, fence }, lost, stop };
  };

  return {
    async acquire(signal, { fenceFloor = 0 } = {}) {
      if (!Number.isSafeInteger(fenceFloor) || fenceFloor < 0) {
        throw new RangeError(`fenceFloor must be a safe integer >= 0, got ${String(fenceFloor)}`);
      }
      for (;;) {
        signal.throwIfAborted();
        if (held) return held.grant;
        const sentAt = Date.now();
        const attempt = tryAcquire(fenceFloor);
        let fence = 0;
        try {
          fence = await untilAborted(attempt, signal);
        } catch {
          if (signal.aborted) {
            // The caller gave up while the script was in flight: if it won, hand the lease back
            // now rather than making a standby wait out the ttl.
            attempt.then((won) => won > 0 && client.eval(RELEASE_SCRIPT, 1, keys.lease, holderId)).catch(() => {});
            throw signal.reason;
          }
          // Redis unreachable: keep waiting, as a standby would.
        }
        if (fence > 0) {
          held = hold(sentAt, fence);
          return held.grant;
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
      await unlessOffline(client, client.eval(RELEASE_SCRIPT, 1, keys.lease, holderId));
    },
  };
}
