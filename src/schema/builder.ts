/**
 * The Pothos builder, its plugins and the typed context every resolver gets.
 */
import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import type { Viewer } from '../auth/jwt.ts';
import type { Gateway } from '../delivery/gateway.ts';
import type { UseCaseDeps } from '../resolvers/deps.ts';
import { ErrorCode, UserError } from '../resolvers/errors.ts';
import type { Loaders } from '../resolvers/loaders.ts';

/** Who is calling: a verified viewer, or why there is none. */
export type Auth =
  /** `expiresAt`: epoch ms of the token's `exp`; operations and subscriptions end there. */
  | { readonly viewer: Viewer; readonly expiresAt?: number }
  | { readonly viewer: null; readonly reason: string };

export interface Context {
  readonly auth: Auth;
  readonly deps: UseCaseDeps;
  readonly gateway: Pick<Gateway, 'open'>;
  readonly loaders: Loaders;
}

/** The verified viewer; UNAUTHENTICATED otherwise. */
export function viewerOf(context: Context): Viewer {
  if (context.auth.viewer === null) throw new UserError(ErrorCode.UNAUTHENTICATED, context.auth.reason);
  return context.auth.viewer;
}

export const builder = new SchemaBuilder<{
  Context: Context;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    ID: { Input: string; Output: string };
  };
}>({
  plugins: [ComplexityPlugin],
  defaultFieldNullability: false,
  // Fields carry their cost here (`complexity`, next to each field), and src/security/query-cost.ts
  // measures an operation with it before execution, variables included. The plugin's own check is
  // disabled: it runs in the root resolvers, after execution has started, and for a subscription
  // only once per event instead of when it is opened.
  complexity: { defaultComplexity: 1, defaultListMultiplier: 10, disabled: true },
});

builder.scalarType('DateTime', {
  description: 'An instant, as an ISO-8601 string in UTC (e.g. 2026-11-26T15:33:44.123Z).',
  serialize: (value) => value.toISOString(),
  parseValue: (value) => {
    const date = typeof value === 'string' ? new Date(value) : new Date(Number.NaN);
    if (Number.isNaN(date.getTime())) throw new UserError(ErrorCode.BAD_USER_INPUT, 'DateTime must be an ISO-8601 string.');
    return date;
  },
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
