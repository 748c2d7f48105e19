/**
 * Which MongoDB errors the adapter handles, and how. Pure predicates over the driver's error
 * classes so that `test/mongo-unit.test.ts` can check them without a server.
 *
 * Server codes are listed in the MongoDB manual, "Reference > Error Codes"; the labels in
 * "Transactions > Drivers API" (Transaction Error Handling) and the driver specification
 * "Change Streams" (Resumable Error).
 */
import { MongoError, MongoErrorLabel, MongoNetworkError, MongoServerError, MongoServerSelectionError } from 'mongodb';

/** Server error codes the adapter reacts to, by their `codeName`. */
export const ServerCode = {
  /** Unique index violated ("Indexes > Unique Indexes"). */
  DuplicateKey: 11000,
  /** Two transactions wrote the same document; the server labels it TransientTransactionError. */
  WriteConflict: 112,
  /** The transaction was already aborted on the server (e.g. after a failed statement). */
  NoSuchTransaction: 251,
  /** A change stream resume token that the server cannot parse or that names another stream. */
  InvalidResumeToken: 260,
  /** The oplog no longer reaches back to the resume point ("Change Streams > Resume a Change Stream"). */
  ChangeStreamHistoryLost: 286,
  /** Resume point not found although the oplog covers its time (e.g. after a rollback). */
  ChangeStreamFatalError: 280,
  /**
   * An open stream's oplog scan fell behind the oplog's truncation point (a slow or paused
   * follower). Not resumable for the driver; the server does not translate it to 286 mid-stream.
   */
  CappedPositionLost: 136,
  /** createIndexes met an index of the same name with other options (e.g. a new TTL). */
  IndexOptionsConflict: 85,
  /** createCollection of a collection that exists. */
  NamespaceExists: 48,
} as const;

/**
 * Codes after which reading again later can succeed: elections, shutdowns, killed cursors and
 * network trouble seen by the server. The driver's own change stream resume handles most of these
 * once; these are for when that resume attempt fails too.
 */
const RETRY_LATER_CODES: ReadonlySet<number> = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  43, // CursorNotFound
  89, // NetworkTimeout
  91, // ShutdownInProgress
  189, // PrimarySteppedDown
  237, // CursorKilled
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11601, // Interrupted
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

const serverCode = (error: unknown): number | undefined =>
  error instanceof MongoServerError && typeof error.code === 'number' ? error.code : undefined;

/**
 * A unique index rejected a write (code 11000). `MongoBulkWriteError` (insertMany, bulkWrite)
 * extends `MongoServerError` and carries the code of its first write error.
 */
export function isDuplicateKey(error: unknown): boolean {
  return serverCode(error) === ServerCode.DuplicateKey;
}

/**
 * The whole transaction may be retried: the server (or the driver, for network errors inside a
 * transaction) attached the TransientTransactionError label, as it does for WriteConflict (112)
 * and NoSuchTransaction (251). `ClientSession.withTransaction` retries these by itself.
 */
export function isTransient(error: unknown): boolean {
  return error instanceof MongoError && error.hasErrorLabel(MongoErrorLabel.TransientTransactionError);
}

/**
 * The commit may or may not have happened (UnknownTransactionCommitResult). withTransaction
 * retries the commit until its 120 s budget is spent; a caller that still sees this label must
 * treat the write as possibly done, which appendMessage's clientMessageId makes safe to retry.
 */
export function isUnknownCommitResult(error: unknown): boolean {
  return error instanceof MongoError && error.hasErrorLabel(MongoErrorLabel.UnknownTransactionCommitResult);
}

/** Code 112: another transaction changed a document this one wrote (always transient). */
export function isWriteConflict(error: unknown): boolean {
  return serverCode(error) === ServerCode.WriteConflict;
}

/**
 * A change stream cannot continue from its resume point: the oplog has rolled past it
 * (ChangeStreamHistoryLost, 286, when opening; CappedPositionLost, 136, under an open stream), the
 * token is not valid for this stream (InvalidResumeToken, 260) or its event is not in the oplog
 * (ChangeStreamFatalError, 280). The driver does not resume these; the follower falls back to
 * reading the outbox collection from its last key.
 */
export function isHistoryLost(error: unknown): boolean {
  const code = serverCode(error);
  return (
    code === ServerCode.ChangeStreamHistoryLost ||
    code === ServerCode.CappedPositionLost ||
    code === ServerCode.InvalidResumeToken ||
    code === ServerCode.ChangeStreamFatalError
  );
}

/**
 * Trying again later can succeed: network and server selection errors, errors the server labels
 * resumable or retryable, and the codes of elections and shutdowns.
 */
export function isRetryLater(error: unknown): boolean {
  if (error instanceof MongoNetworkError || error instanceof MongoServerSelectionError) return true;
  if (!(error instanceof MongoError)) return false;
  if (
    error.hasErrorLabel(MongoErrorLabel.ResumableChangeStreamError) ||
    error.hasErrorLabel(MongoErrorLabel.RetryableWriteError) ||
    error.hasErrorLabel(MongoErrorLabel.TransientTransactionError)
  ) {
    return true;
  }
  const code = serverCode(error);
  return code !== undefined && RETRY_LATER_CODES.has(code);
}

/** What `outbox.follow` does after an error of its reads or change stream. */
export type FollowErrorAction =
  /** Resume point unusable: read the outbox from the last key, then open a new stream. */
  | 'fallback'
  /** Wait (with backoff), then continue from the last yielded position. */
  | 'retry'
  /** Not recoverable by waiting (bad credentials, a bug): the iterator throws it. */
  | 'fail';

export function followErrorAction(error: unknown): FollowErrorAction {
  if (isHistoryLost(error)) return 'fallback';
  if (isRetryLater(error)) return 'retry';
  return 'fail';
}

/** Code 85: an index of that name exists with other options (createIndexes). */
export function isIndexOptionsConflict(error: unknown): boolean {
  return serverCode(error) === ServerCode.IndexOptionsConflict;
}

/** Code 48: the collection exists (createCollection). */
export function isNamespaceExists(error: unknown): boolean {
  return serverCode(error) === ServerCode.NamespaceExists;
}
