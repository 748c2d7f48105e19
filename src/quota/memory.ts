/**
 * The in-process Quota adapter: the embedded default, one node. Counts and buckets live in maps;
 * an empty pool or a full bucket is forgotten, so memory follows active users only.
 */
import { createRateLimiter, type RateLimiter } from '../resolvers/rate-limit.ts';
import type { BucketRule, Quota, Slot } from './port.ts';

export interface MemoryQuotaOptions {
  /** Monotonic clock in milliseconds, for the buckets. @default performance.now */
  readonly now?: () => number;
}

export function createMemoryQuota({ now = () => performance.now() }: MemoryQuotaOptions = {}): Quota {
  const held = new Map<string, number>();
  const buckets = new Map<string, RateLimiter>();
  return {
    async take(rule: BucketRule, key: string) {
      let limiter = buckets.get(rule.name);
      if (limiter === undefined) {
        limiter = createRateLimiter({ ratePerSecond: rule.ratePerSecond, burst: rule.burst, now });
        buckets.set(rule.name, limiter);
      }
      return limiter.take(key);
    },
    async acquire(pool, key, limit) {
      const id = `${pool}\u0000${key}`;
      const count = held.get(id) ?? 0;
      if (count >= limit) return null;
      held.set(id, count + 1);
      let released = false;
      const slot: Slot = {
        async release() {
          if (released) return;
          released = true;
          const left = (held.get(id) ?? 1) - 1;
          if (left <= 0) held.delete(id);
          else held.set(id, left);
        },
      };
      return slot;
    },
    async close() {
      held.clear();
    },
  };
}
