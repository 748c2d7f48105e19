/**
 * Per-user quotas that hold across gateways: concurrent slots (connections, subscriptions) and
 * token buckets (throttles). The in-process adapter serves one node; the Redis adapter makes the
 * same numbers hold for a user whichever gateways their connections land on.
 */

/** A token bucket: `burst` tokens, refilled at `ratePerSecond` (fractions allowed). */
export interface BucketRule {
  /** Names the bucket in storage; rules with different names never share tokens. */
  readonly name: string;
  readonly ratePerSecond: number;
  readonly burst: number;
}

/** One held slot of a pool. */
export interface Slot {
  /** Gives the slot back. Idempotent. */
  release(): Promise<void>;
}

export interface Quota {
  /** Takes one token of `rule` for `key`: 0 when taken, else milliseconds until one is free. */
  take(rule: BucketRule, key: string): Promise<number>;
  /**
   * Holds one of `limit` slots of `pool` for `key`, or answers null when all are held. A slot is
   * held until released, or — with Redis — until its gateway stops renewing it (it died), so a
   * dead gateway never keeps a user's quota.
   */
  acquire(pool: string, key: string, limit: number): Promise<Slot | null>;
  /** Stops renewing and releases every slot still held (clean shutdown). */
  close(): Promise<void>;
}
