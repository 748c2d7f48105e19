/**
 * The decisions `outbox.follow` in `store.ts` makes, as pure functions so that
 * `test/mongo-unit.test.ts` checks them without a server. Which errors fall back or retry is
 * `followErrorAction` in `errors.ts`.
 */

/** Where a record's key falls relative to the last key the follower yielded. */
export type KeyPlace =
  /** At or below the last key: already yielded (catch-up and stream overlap from T0). Skip it. */
  | 'seen'
  /** The record after the last one. */
  | 'next'
  /**
   * Past the next key. Keys are consecutive in commit order (see `appendOutbox`), so the records
   * between were committed and are gone: the TTL removed them before the follower read them.
   */
  | 'gap';

/** `expectNext` is false until the first record when following from the start (`after` null). */
export function placeKey(key: number, lastKey: number, expectNext: boolean): KeyPlace {
  if (key <= lastKey) return 'seen';
  return expectNext && key !== lastKey + 1 ? 'gap' : 'next';
}

/** The change types the outbox stream passes on: inserts, and those that end the stream. */
export interface ChangeLike {
  readonly operationType: string;
}

/**
 * The inserts of a stream batch before the first change that ends the stream (drop, rename,
 * dropDatabase, invalidate: the server closes the stream after them), and whether one came.
 * Nothing after that change is taken: the follower re-reads the collection from its last key.
 */
export function insertsUntilEnd<C extends ChangeLike>(
  changes: readonly C[],
): { readonly inserts: Extract<C, { readonly operationType: 'insert' }>[]; readonly ended: boolean } {
  const inserts: Extract<C, { readonly operationType: 'insert' }>[] = [];
  for (const change of changes) {
    if (change.operationType !== 'insert') return { inserts, ended: true };
    inserts.push(change as Extract<C, { readonly operationType: 'insert' }>);
  }
  return { inserts, ended: false };
}

/**
 * Wait before attempt `attempt` (0-based) after a failed read: at once first, then 100 ms doubling
 * to 5 s. The driver has already resumed the stream by itself before a resumable error gets here.
 */
export const retryDelayMs = (attempt: number): number =>
  attempt <= 0 ? 0 : Math.min(100 * 2 ** (attempt - 1), 5000);
