/**
 * Per-key token buckets held in this process. A gateway limits the users it serves; with
 * several gateways a user could spread sends across them, which the limit tolerates as it
 * protects each node, not a global quota.
 */
export interface RateLimiter {
  /** Takes one token for `key`; returns 0 when allowed, else milliseconds until a token is free. */
  take(key: string): number;
}

export interface RateLimiterOptions {
  /** Tokens added per second. */
  readonly ratePerSecond: number;
  /** Bucket size: the burst allowed after a quiet period. */
  readonly burst: number;
  /** Buckets kept before full ones are pruned. @default 10000 */
  readonly maxTrackedKeys?: number;
  /** Monotonic clock in milliseconds. @default performance.now */
  readonly now?: () => number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export function createRateLimiter({
  ratePerSecond,
  burst,
  maxTrackedKeys = 10_000,
  now = () => performance.now(),
}: RateLimiterOptions): RateLimiter {
  const buckets = new Map<string, Bucket>();
  const refill = (bucket: Bucket, at: number): void => {
    bucket.tokens = Math.min(burst, bucket.tokens + ((at - bucket.updatedAt) * ratePerSecond) / 1000);
    bucket.updatedAt = at;
  };
  const prune = (at: number): void => {
    for (const [key, bucket] of buckets) {
      refill(bucket, at);
      if (bucket.tokens >= burst) buckets.delete(key);
    }
  };
  return {
    take(key) {
      const at = now();
      let bucket = buckets.get(key);
      if (bucket === undefined) {
        if (buckets.size >= maxTrackedKeys) prune(at);
        bucket = { tokens: burst, updatedAt: at };
        buckets.set(key, bucket);
      } else {
        refill(bucket, at);
      }
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return 0;
      }
      return Math.ceil(((1 - bucket.tokens) * 1000) / ratePerSecond);
    },
  };
}
