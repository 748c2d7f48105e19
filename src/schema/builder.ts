/**
 * The Pothos builder, its plugins and the typed context every resolver gets.
 *
 * - Scope auth (`@pothos/plugin-scope-auth`): a field that needs a signed-in viewer says
 *   `t.withAuth({ authenticated: true })`, and its resolver gets a context whose
 *   `auth.viewer` is the verified viewer; the check runs before the resolver, and when a
 *   subscription is opened rather than for each of its events.
 * - Relay (`@pothos/plugin-relay`): the `Node` interface, the objects' `id` fields and the
 *   connection types. Ids keep the contract's form: the stored id as it is (`g_…`, `m_…`, a
 *   user's `sub`), never the plugin's default base64 of `Type:id`.
 * - Complexity (`@pothos/plugin-complexity`): each field's cost, next to the field.
 */
import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import type { Viewer } from '../auth/jwt.ts';
import type { Gateway } from '../delivery/gateway.ts';
import type { UseCaseDeps } from '../resolvers/deps.ts';
import { ErrorCode, UserError } from '../resolvers/errors.ts';
import { IdPrefix } from '../resolvers/ids.ts';
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

/** The context of a field behind `withAuth({ authenticated: true })`. */
export type AuthenticatedContext = Context & { readonly auth: { readonly viewer: Viewer } };

/** The verified viewer; UNAUTHENTICATED otherwise (for fields that need one only sometimes). */
export function viewerOf(context: Context): Viewer {
  if (context.auth.viewer === null) throw new UserError(ErrorCode.UNAUTHENTICATED, context.auth.reason);
  return context.auth.viewer;
}

/** The type an id names: a group's or a message's by its prefix; anything else is a user's sub. */
function typenameOf(id: string): 'Group' | 'Message' | 'User' {
  if (id.startsWith(IdPrefix.group)) return 'Group';
  if (id.startsWith(IdPrefix.message)) return 'Message';
  return 'User';
}

export const builder = new SchemaBuilder<{
  Context: Context;
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    ID: { Input: string; Output: string };
  };
  AuthScopes: { authenticated: boolean };
  AuthContexts: { authenticated: AuthenticatedContext };
}>({
  // Scope auth first, so no other plugin's wrapper runs before the check (its README).
  plugins: [ScopeAuthPlugin, RelayPlugin, ComplexityPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: (context) => ({ authenticated: context.auth.viewer !== null }),
    // Checked when the subscription is opened: its events are rendered once per shape for every
    // subscriber (delivery/shared-execution.ts), with a context that has no viewer.
    authorizeOnSubscribe: true,
    unauthorizedError: (_parent, context) =>
      new UserError(ErrorCode.UNAUTHENTICATED, context.auth.viewer === null ? context.auth.reason : 'Not authorized.'),
  },
  relay: {
    encodeGlobalID: (_typename, id) => String(id),
    decodeGlobalID: (globalID) => ({ typename: typenameOf(globalID), id: globalID }),
    // node and nodes are defined in node.ts: they differ from the plugin's (see there).
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    edgesFieldOptions: {
      nullable: false,
      // The connection field already multiplies by the page size: one edge costs its fields.
      complexity: { field: 1, multiplier: 1 },
    },
    nodeFieldOptions: { nullable: false },
    nodesOnConnection: {
      description: 'The nodes of `edges`, in the same order, for clients that need no cursors.',
      // Like edges: the connection field already multiplies by the page size.
      complexity: { field: 1, multiplier: 1 },
    },
  },
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
