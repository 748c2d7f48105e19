import type { Context } from './builder.ts';

/**
 * Cost of a connection field: its selection counts once per item of the page asked for, the
 * default page size when neither `first` nor `last` is given. Sizes past the limit are counted at
 * the limit: the field rejects them itself with a clearer BAD_USER_INPUT.
 */
export function connectionComplexity(
  args: { readonly first?: number | null | undefined; readonly last?: number | null | undefined },
  context: Context,
): { field: number; multiplier: number } {
  const { maxPageSize, defaultPageSize } = context.deps.limits;
  const requested = args.first ?? args.last ?? defaultPageSize;
  return { field: 1, multiplier: Math.min(Math.max(requested, 0), maxPageSize) };
}
