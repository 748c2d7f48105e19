/**
 * Errors a user can act on. Use cases throw `UserError`; the GraphQL layer turns it into a
 * `GraphQLError` with `extensions.code`, and masks every other error. A store error a client
 * can wait out becomes one here too (`asUserError`), whichever use case met it.
 */
import { StoreFullError } from '../storage/errors.ts';

export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  RATE_LIMITED: 'RATE_LIMITED',
  /** An operation over a document or cost limit (`extensions.limitName`, `limit`, `measured`). */
  QUERY_TOO_COMPLEX: 'QUERY_TOO_COMPLEX',
  /**
   * The server cannot do this now but nothing is wrong with the request: retry it unchanged
   * later (`extensions.reason` says why, e.g. STORE_FULL).
   */
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class UserError extends Error {
  override readonly name = 'UserError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra machine-readable fields for `extensions` (e.g. `field`, `limit`, `retryAfterMs`). */
    readonly details: Readonly<Record<string, string | number>> = {},
  ) {
    super(message);
  }
}

export const badInput = (field: string, message: string, details: Record<string, string | number> = {}): UserError =>
  new UserError(ErrorCode.BAD_USER_INPUT, message, { field, ...details });

export const forbidden = (message: string): UserError => new UserError(ErrorCode.FORBIDDEN, message);

export const notFound = (message: string): UserError => new UserError(ErrorCode.NOT_FOUND, message);

/** Why a SERVICE_UNAVAILABLE was answered. */
export const UnavailableReason = {
  /** The store has no room for writes (disk full or SQLITE_MAX_BYTES): nothing was written. */
  STORE_FULL: 'STORE_FULL',
} as const;

/**
 * The UserError an error amounts to, or null when it is the server's own (to be masked). A
 * write refused for lack of space is the client's to retry: with a clientMessageId a retried
 * send is stored once.
 */
export function asUserError(error: unknown): UserError | null {
  if (error instanceof UserError) return error;
  if (error instanceof StoreFullError) {
    return new UserError(ErrorCode.SERVICE_UNAVAILABLE, 'The server is out of storage space and stored nothing; retry later.', {
      reason: UnavailableReason.STORE_FULL,
    });
  }
  return null;
}
