import type { ObjectRef, SchemaTypes } from '@pothos/core';
import type { Connection } from '../resolvers/pagination.ts';
import { builder, type Context } from './builder.ts';

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T extends SchemaTypes> ? T : never;

/** The backing shapes are the use cases' `Connection`: resolvers return it as it is. */
const PageInfo = builder.objectRef<Connection<unknown>['pageInfo']>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    hasPreviousPage: t.exposeBoolean('hasPreviousPage'),
    startCursor: t.exposeString('startCursor', { nullable: true }),
    endCursor: t.exposeString('endCursor', { nullable: true }),
  }),
});

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

/** Edge and connection types for a node type, shaped like the contract's. */
export function connectionType<T>(name: string, node: ObjectRef<Types, T>) {
  const Edge = builder.objectRef<Connection<T>['edges'][number]>(`${name}Edge`).implement({
    fields: (t) => ({
      cursor: t.exposeString('cursor'),
      node: t.expose('node', { type: node }),
    }),
  });
  return builder.objectRef<Connection<T>>(`${name}Connection`).implement({
    fields: (t) => ({
      // The connection field already multiplies by the page size: one edge costs its fields.
      edges: t.field({ type: [Edge], complexity: { field: 1, multiplier: 1 }, resolve: (connection) => connection.edges }),
      nodes: t.field({
        type: [node],
        description: 'The nodes of `edges`, in the same order, for clients that need no cursors.',
        // Like edges: the connection field already multiplies by the page size.
        complexity: { field: 1, multiplier: 1 },
        resolve: (connection) => connection.edges.map((edge) => edge.node),
      }),
      pageInfo: t.field({ type: PageInfo, resolve: (connection) => connection.pageInfo }),
    }),
  });
}
