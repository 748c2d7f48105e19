/**
 * Builds the schema: importing each type file registers its types and fields.
 */
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { builder } from './builder.ts';
import './user.ts';
import './group.ts';
import './message.ts';
import './node.ts';

export const schema: GraphQLSchema = builder.toSchema({ sortSchema: false });

/** The schema as committed in schema.graphql: printed and sorted, so diffs stay readable. */
export const printedSchema = (): string => `${printSchema(lexicographicSortSchema(schema))}\n`;
