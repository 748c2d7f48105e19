/**
 * The cost of an operation, measured with the costs the schema declares on its fields.
 *
 * Why @pothos/plugin-complexity and not @escape.tech/graphql-armor: the cost has to follow the
 * arguments — a connection costs its selection times `first`/`last`, `groups(first: 100)` a
 * hundred times `groups(first: 1)` — and armor's cost-limit prices fields by type and depth only,
 * with no hook for arguments. Pothos lets each field declare its cost next to its definition
 * (`complexity:` in src/schema), so the model lives with the schema, and it memoises per
 * selection set, so fragments spread twice per level for 16 levels cost one pass to price, not
 * 2^16. The armor rules we would have used besides (tokens, depth, aliases, directives) are
 * measured before parsing instead (document-limits.ts), where they also protect the parser.
 *
 * The measure runs after validation and before execution, with the request's variables: as a
 * validation rule it would be cached per document by yoga and reused for other variable values.
 */
import { createComplexityRule } from '@pothos/plugin-complexity';
import { validate, type DocumentNode, type GraphQLSchema } from 'graphql';

export interface QueryCost {
  /** Sum of field costs, each connection's selection multiplied by its page size. */
  readonly complexity: number;
  /** Deepest field nesting, through fragments. */
  readonly depth: number;
  /** Fields selected, counted once per place a fragment is spread. */
  readonly breadth: number;
}

export interface CostInput {
  readonly schema: GraphQLSchema;
  readonly document: DocumentNode;
  readonly operationName?: string | null | undefined;
  readonly variableValues?: Readonly<Record<string, unknown>> | null | undefined;
  /** The GraphQL context: field costs may read limits from it (the default page size). */
  readonly context: object;
}

/**
 * The operation's cost, or null when it cannot be priced: unknown operation or variables that do
 * not coerce. Execution rejects those itself with the precise error.
 */
export function measureCost({ schema, document, operationName, variableValues, context }: CostInput): QueryCost | null {
  let measured: QueryCost | null = null;
  const rule = createComplexityRule({
    context,
    variableValues: { ...variableValues },
    operationName: operationName ?? null,
    validate: (result) => {
      // The rule runs per operation in the document; the selected one is the only one priced
      // when operationName is given, and a document without it has a single operation.
      measured = result;
    },
  });
  validate(schema, document, [rule]);
  return measured;
}
