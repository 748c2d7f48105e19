/**
 * The decisions `outbox.follow` in `outbox.ts` makes, as pure functions so that
 * `test/mongo-unit.test.ts` checks them without a server. The argument for why they are
 * correct is in the header of `outbox.ts`. Which errors fall back or retry is
 * `followErrorAction` in `errors.ts`.
 */
import type { Timestamp } from 'mongodb';
import type { OutboxKey } from './mapping.ts';
import type { OutboxPosition, RescanProgress } from './position.ts';

/** How the follower reads next. */
export type ReadPlan =
  /** Resume the change stream right after this token. */
  | { readonly mode: 'stream'; readonly startAfter: unknown }
  /**
   * Read the collection: every group with a record created at or after `from` (all records when
   * null), each group's records in n order, then stream from T0. `resume` continues a read a
   * previous follower did not finish: its T0 and the last record it yielded.
   */
  | { readonly mode: 'rescan'; readonly from: Date | null; readonly resume: RescanProgress | null };

/**
 * Where to read from. `overlapMs` is how far before the watermark the collection read starts:
 * at least the longest time from a record's `createdAt` to its commit plus twice the largest
 * clock error between two app servers (see `outbox.ts`).
 */
export function planRead(position: OutboxPosition, overlapMs: number): ReadPlan {
  if (position.token !== undefined) return { mode: 'stream', startAfter: position.token };
  return { mode: 'rescan', from: rescanFrom(position.watermark, overlapMs), resume: position.rescan ?? null };
}

/** The time a collection read starts from: `overlapMs` before the watermark (null: from the oldest). */
export function rescanFrom(watermark: number | null, overlapMs: number): Date | null {
  return watermark === null ? null : new Date(watermark - overlapMs);
}

/**
 * The position to read from after the change stream could not continue (its resume point left
 * the oplog, the token is invalid, the collection was dropped or renamed): a whole collection
 * read from the last watermark. A resumed read's T0 is dropped as well: it is older than the
 * stream that just failed, so it has left the oplog too.
 */
export function afterLostHistory(position: OutboxPosition): OutboxPosition {
  return { watermark: position.watermark };
}

/** The position of a record taken from the change stream (commit order). */
export function afterStreamRecord(createdAt: Date, token: unknown): OutboxPosition {
  return { watermark: createdAt.getTime(), token };
}

/**
 * The position of a record taken by a collection read: the read's watermark is kept (the read
 * is not in commit order, so a record's own time says nothing about the others), with how far
 * the read got and its T0.
 */
export function afterRescanRecord(position: OutboxPosition, at: Timestamp, key: OutboxKey): OutboxPosition {
  return { watermark: position.watermark, rescan: { at, g: key.g, n: key.n } };
}

/**
 * The first n of group `g` a collection read yields: the group's first record in the window,
 * or, for the group a resumed read stopped in, the one after the last it yielded. Groups before
 * that one (in id order) are skipped by the caller: the previous read yielded them whole.
 */
export function firstToRead(g: string, firstInWindow: number, resume: RescanProgress | null): number {
  return resume !== null && resume.g === g ? Math.max(firstInWindow, resume.n + 1) : firstInWindow;
}

/**
 * Whether records the follower never read may have expired (the TTL index deletes them
 * `retentionMs` after `createdAt`): the collection read starts before what is still kept.
 */
export function mayHaveExpired(from: Date | null, nowMs: number, retentionMs: number): boolean {
  return from !== null && from.getTime() < nowMs - retentionMs;
}

/** The change types the outbox stream passes on: inserts, and those that end the stream. */
export interface ChangeLike {
  readonly operationType: string;
}

/**
 * The inserts of a stream batch before the first change that ends the stream (drop, rename,
 * dropDatabase, invalidate: the server closes the stream after them), and whether one came.
 * Nothing after that change is taken: the follower reads the collection again.
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
