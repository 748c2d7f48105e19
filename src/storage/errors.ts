/**
 * What the storage port throws, one class per kind, so a caller tells them apart by class
 * rather than by convention.
 *
 * For an argument it cannot accept: only `InvalidPageKeyError` can come from a client (a page
 * key travels inside a cursor the client sends back); the others are a caller's bug. They extend
 * RangeError because each value lies outside the set the port accepts; callers must not catch
 * RangeError for any of them.
 *
 * For a state of the store a caller can wait out: `StoreFullError`.
 */

/** A `PageRequest.after` the store never issued as a `PageItem.key`. */
export class InvalidPageKeyError extends RangeError {
  override readonly name = 'InvalidPageKeyError';
}

/** A `PageRequest.limit` or `MessageRange.limit` that is not an integer >= 0. */
export class InvalidPageLimitError extends RangeError {
  override readonly name = 'InvalidPageLimitError';
}

/** An outbox position the store never issued as an `OutboxRecord.position`. */
export class InvalidOutboxPositionError extends RangeError {
  override readonly name = 'InvalidOutboxPositionError';
}

/** A fencing token that is not a positive safe integer (see `Store.claimCheckpoint`). */
export class InvalidFenceError extends RangeError {
  override readonly name = 'InvalidFenceError';
}

/**
 * The store has no room for a write: its disk is full, or it reached the size an operator capped
 * it at (`SQLITE_MAX_BYTES`). Nothing of that write was stored, and nothing committed before it
 * is touched; the same write succeeds once space returns (disk freed, cap raised).
 */
export class StoreFullError extends Error {
  override readonly name = 'StoreFullError';
}
