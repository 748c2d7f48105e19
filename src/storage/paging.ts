/** Keyset paging helpers shared by the storage adapters. */
import { InvalidPageLimitError } from './errors.ts';
import type { Page } from './port.ts';

/** A page limit as the port allows it; InvalidPageLimitError otherwise. */
export function checkLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new InvalidPageLimitError(`A page limit must be an integer >= 0, got ${limit}`);
  return limit;
}

/** Rows fetched with `limit + 1` as a page: the extra row only says that more exist. */
export function toPage<R, T>(rows: readonly R[], limit: number, key: (row: R) => string, node: (row: R) => T): Page<T> {
  return {
    items: rows.slice(0, limit).map((row) => ({ key: key(row), node: node(row) })),
    hasMore: rows.length > limit,
  };
}
