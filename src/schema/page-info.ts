import type { ObjectRef, SchemaTypes } from '@pothos/core';
import { builder } from './builder.ts';

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T extends SchemaTypes> ? T : never;

export interface PageInfoShape {
  readonly hasNextPage: boolean;
  readonly hasPreviousPage: boolean;
  readonly startCursor: string | null;
  readonly endCursor: string | null;
}

export const PageInfo = builder.objectRef<PageInfoShape>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    hasPreviousPage: t.exposeBoolean('hasPreviousPage'),
    startCursor: t.exposeString('startCursor', { nullable: true }),
    endCursor: t.exposeString('endCursor', { nullable: true }),
  }),
});

/** Edge and connection types for a node type, shaped like the contract's. */
export function connectionType<T>(name: string, node: ObjectRef<Types, T>) {
  const Edge = builder.objectRef<{ readonly cursor: string; readonly node: T }>(`${name}Edge`).implement({
    fields: (t) => ({
      cursor: t.exposeString('cursor'),
      node: t.expose('node', { type: node }),
    }),
  });
  const Connection = builder
    .objectRef<{ readonly edges: readonly { readonly cursor: string; readonly node: T }[]; readonly pageInfo: PageInfoShape }>(
      `${name}Connection`,
    )
    .implement({
      fields: (t) => ({
        edges: t.field({ type: [Edge], resolve: (connection) => connection.edges }),
        pageInfo: t.field({ type: PageInfo, resolve: (connection) => connection.pageInfo }),
      }),
    });
  return Connection;
}
