/**
 * Connection arguments and cursors. Cursors are opaque to clients (base64url of a prefixed
 * key) so that their format can change without breaking anyone.
 */
import type { Limits } from '../config.ts';
import { badInput } from './errors.ts';

export interface ForwardArgs {
  readonly first?: number | null | undefined;
  readonly after?: string | null | undefined;
}

/** A page of a connection, as the GraphQL layer exposes it. */
export interface Connection<T> {
  readonly edges: readonly { readonly cursor: string; readonly node: T }[];
  readonly pageInfo: {
    readonly hasNextPage: boolean;
    readonly hasPreviousPage: boolean;
    readonly startCursor: string | null;
    readonly endCursor: string | null;
  };
}

export function encodeCursor(kind: string, key: string): string {
  return Buffer.from(`${kind}:${key}`, 'utf8').toString('base64url');
}

/** The key inside a cursor of `kind`; BAD_USER_INPUT for anything else. */
export function decodeCursor(kind: string, cursor: string, field: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!text.startsWith(`${kind}:`) || encodeCursor(kind, text.slice(kind.length + 1)) !== cursor) {
    throw badInput(field, `${field} is not a cursor this list returned.`);
  }
  return text.slice(kind.length + 1);
}

/** Validates a page size against the named limits. */
export function pageSize(
  value: number | null | undefined,
  field: string,
  limits: Pick<Limits, 'maxPageSize' | 'defaultPageSize'>,
): number {
  if (value === null || value === undefined) return limits.defaultPageSize;
  if (!Number.isInteger(value) || value < 0 || value > limits.maxPageSize) {
    throw badInput(field, `${field} must be between 0 and ${limits.maxPageSize}.`, { limit: limits.maxPageSize });
  }
  return value;
}
