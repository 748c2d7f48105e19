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
import { TypeInfo, validate, visit, visitWithTypeInfo, type DocumentNode, type GraphQLSchema } from 'graphql';

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

/** A cost measure: `measureCost`, or a memoised one from `createCostMeter`. */
export type CostMeasure = (input: CostInput) => QueryCost | null;

/**
 * The variables a document's cost can depend on: those used in the arguments of fields whose
 * cost is a function (connections priced by `first`/`last`). Every other field costs a constant.
 */
function costVariables(schema: GraphQLSchema, document: DocumentNode): readonly string[] {
  const names = new Set<string>();
  const typeInfo = new TypeInfo(schema);
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        if (typeof typeInfo.getFieldDef()?.extensions['complexity'] !== 'function') return;
        for (const argument of node.arguments ?? []) {
          visit(argument.value, { Variable: (variable) => void names.add(variable.name.value) });
        }
      },
    }),
  );
  return [...names].sort();
}

interface DocumentCosts {
  readonly schema: GraphQLSchema;
  readonly variables: readonly string[];
  /** By operation name and the values of `variables`. */
  readonly costs: Map<string, QueryCost | null>;
}

/**
 * `measureCost` memoised per document (the parser cache hands out the same document object for
 * the same text), operation and the values of the variables its cost depends on. A send's
 * `sendGroupMessage(input: $input)` is then priced once, not once per message: the price of a
 * document is a validation pass, about a tenth of a send's CPU on the gateway before this.
 *
 * Field costs may read the server's limits from the context (the default page size): one meter
 * serves one server, whose limits do not change. Entries live as long as their document; each
 * document keeps at most `maxEntriesPerDocument` variable combinations.
 */
export function createCostMeter({ maxEntriesPerDocument = 64 }: { readonly maxEntriesPerDocument?: number } = {}): CostMeasure {
  const byDocument = new WeakMap<DocumentNode, DocumentCosts>();
  return (input) => {
    let entry = byDocument.get(input.document);
    if (entry === undefined || entry.schema !== input.schema) {
      entry = { schema: input.schema, variables: costVariables(input.schema, input.document), costs: new Map() };
      byDocument.set(input.document, entry);
    }
    const values = entry.variables.map((name) => input.variableValues?.[name]);
    let key: string;
    try {
      key = JSON.stringify([input.operationName ?? null, values]);
    } catch {
      return measureCost(input);
    }
    if (entry.costs.has(key)) return entry.costs.get(key) ?? null;
    const cost = measureCost(input);
    if (entry.costs.size >= maxEntriesPerDocument) entry.costs.clear();
    entry.costs.set(key, cost);
    return cost;
  };
}
