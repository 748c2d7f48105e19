/**
 * Errors a user can act on. Use cases throw `UserError`; the GraphQL layer turns it into a
 * `GraphQLError` with `extensions.code`, and masks every other error.
 */
export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  RATE_LIMITED: 'RATE_LIMITED',
  /** An operation over a document or cost limit (`extensions.limitName`, `limit`, `measured`). */
  QUERY_TOO_COMPLEX: 'QUERY_TOO_COMPLEX',
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
