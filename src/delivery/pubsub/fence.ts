/**
 * The subscriber side of fencing (see `PublishOptions.fence`), shared by every PubSub adapter:
 * remembers the highest fence delivered and refuses lower ones.
 *
 * Why the subscriber and not the publisher: a deposed relay does not know it is deposed until
 * its next renewal or checkpoint fails, and a check in Redis at publish time (a script reading
 * the lease before SPUBLISH) cannot run on Redis Cluster, where the lease key and a node's
 * shard channel live in different slots. The gateway sees every event in arrival order, so it
 * can refuse the stale ones itself. Tokens only grow (`RelayLease.acquire`), so a relay that
 * restarts is never refused: its new token is higher than any before it.
 */
export interface FenceGate {
  /** True when an event with this fence may be delivered (always for none); raises the mark. */
  admit(fence: number | undefined): boolean;
  /** The highest fence admitted so far (0 before any). */
  readonly highest: number;
}

export function createFenceGate(): FenceGate {
  let highest = 0;
  return {
    admit(fence) {
      if (fence === undefined) return true;
      if (fence < highest) return false;
      highest = fence;
      return true;
    },
    get highest() {
      return highest;
    },
  };
}
