/**
 * One execution per event per distinct operation, the idea of Hasura's multiplexed
 * subscriptions. Subscriptions on a node that share a document, the variables its selection
 * uses and (only when the selection reads viewer-dependent fields) the viewer, share a
 * `Shape`. The gateway hands the same event object to every subscription, so a shape renders
 * each event once, to a JSON payload that every socket then receives inside its own frame.
 *
 * Authorization stays per subscriber: the gateway decides which subscriptions receive an
 * event (membership, cursors); a shape only turns an event every receiver may see into JSON.
 * Fields whose value depends on who is looking are marked `extensions.viewerDependent` in the
 * schema; a document selecting one gets a shape per viewer, executed with that viewer.
 */
import {
  GraphQLError,
  Kind,
  type ASTNode,
  TypeInfo,
  execute,
  getOperationAST,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';

/** Set on a field's `extensions` when its value depends on the viewer. */
export const VIEWER_DEPENDENT = 'viewerDependent';

export interface SharedExecutorOptions<TViewer extends { readonly id: string }> {
  readonly schema: GraphQLSchema;
  /**
   * The context a shape executes with: `null` for shapes shared by every viewer. It lives as
   * long as the shape, so it must not cache results across events.
   */
  readonly contextFor: (viewer: TViewer | null) => unknown;
  /** Turns an error in a result into what a client may see (unexpected errors are masked). */
  readonly maskError: (error: GraphQLError) => GraphQLError;
  /**
   * Compiled documents kept for reuse, by query text. @default 1000
   */
  readonly compiledCacheSize?: number;
  /**
   * Compile documents to JavaScript with graphql-jit instead of interpreting them with
   * graphql-js on every event. @default true
   */
  readonly jit?: boolean;
}

export interface ShapeRequest<TViewer> {
  /** The operation's source text: shapes of equal texts are shared. */
  readonly query: string;
  readonly document: DocumentNode;
  readonly operationName: string | null;
  readonly variables: Readonly<Record<string, unknown>> | null;
  readonly viewer: TViewer;
}

export interface Shape {
  /** The result for this root value as JSON: executed once per value and shape. */
  render(root: object): string | Promise<string>;
  /** Gives the shape up; the last holder to release it frees it. */
  release(): void;
}

export interface SharedExecutorStats {
  /** Shapes alive now. */
  shapes: number;
  /** Executions run (one per event per shape). */
  executions: number;
  /** Renders answered from a shape's memo (one per receiver after the first). */
  reused: number;
}

export interface SharedExecutor<TViewer> {
  acquire(request: ShapeRequest<TViewer>): Shape;
  readonly stats: Readonly<SharedExecutorStats>;
}

/** What a document's operation needs to know once, whoever subscribes with it. */
interface Analysis {
  readonly operation: OperationDefinitionNode;
  /** Variables the result depends on: all but those only used by root field arguments. */
  readonly resultVariables: readonly string[];
  readonly viewerDependent: boolean;
}

type Executable = (root: object, context: unknown, variables: Readonly<Record<string, unknown>> | null) => ExecutionResult | Promise<ExecutionResult>;

function analyse(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): Analysis {
  const resultVariables = new Set<string>();
  const collectVariables = (node: ASTNode | readonly ASTNode[] | undefined): void => {
    if (node === undefined) return;
    for (const part of Array.isArray(node) ? node : [node]) {
      visit(part as ASTNode, { Variable: (variable) => void resultVariables.add(variable.name.value) });
    }
  };
  for (const selection of operation.selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      // Root field arguments (`messageAdded(since: $since)`) only choose what the stream
      // carries: every receiver of one event gets the same result whatever they were.
      collectVariables(selection.directives);
      collectVariables(selection.selectionSet);
    } else {
      collectVariables(selection);
    }
  }
  let viewerDependent = false;
  const typeInfo = new TypeInfo(schema);
  const findViewerFields = visitWithTypeInfo(typeInfo, {
    Field() {
      if (typeInfo.getFieldDef()?.extensions[VIEWER_DEPENDENT] === true) viewerDependent = true;
    },
  });
  for (const definition of document.definitions) {
    if (definition === operation) visit(definition, findViewerFields);
    else if (definition.kind === Kind.FRAGMENT_DEFINITION) {
      visit(definition, findViewerFields);
      // A fragment's variables count wherever it is spread.
      collectVariables(definition.selectionSet);
    }
  }
  return { operation, resultVariables: [...resultVariables].sort(), viewerDependent };
}

const withoutUndefined = (value: unknown): string => JSON.stringify(value === undefined ? null : value);

export function createSharedExecutor<TViewer extends { readonly id: string }>({
  schema,
  contextFor,
  maskError,
  compiledCacheSize = 1000,
  jit = true,
}: SharedExecutorOptions<TViewer>): SharedExecutor<TViewer> {
  const analyses = new WeakMap<DocumentNode, Map<string | null, Analysis>>();
  const compiled = new Map<string, Executable>();
  const shapes = new Map<string, { shape: Shape; holders: number }>();
  const stats: SharedExecutorStats = { shapes: 0, executions: 0, reused: 0 };

  function analysisOf(document: DocumentNode, operationName: string | null): Analysis {
    let byName = analyses.get(document);
    if (byName === undefined) {
      byName = new Map();
      analyses.set(document, byName);
    }
    let analysis = byName.get(operationName);
    if (analysis === undefined) {
      const operation = getOperationAST(document, operationName);
      if (operation == null) throw new GraphQLError('Unable to identify operation');
      analysis = analyse(schema, document, operation);
      byName.set(operationName, analysis);
    }
    return analysis;
  }

  function executableFor(query: string, document: DocumentNode, operationName: string | null): Executable {
    const key = `${operationName ?? ''}\u0000${query}`;
    let executable = compiled.get(key);
    if (executable !== undefined) {
      // Map order is insertion order: re-inserting keeps the most recently used last.
      compiled.delete(key);
      compiled.set(key, executable);
      return executable;
    }
    const compiledQuery: CompiledQuery | ExecutionResult | null = jit ? compileQuery(schema, document, operationName ?? undefined) : null;
    if (compiledQuery !== null && isCompiledQuery(compiledQuery)) {
      executable = (root, context, variables) => compiledQuery.query(root, context, variables);
    } else {
      // graphql-js: execute() runs a subscription operation's selection on one event, which is
      // what mapSourceToResponse does for each event of a subscription.
      executable = (rootValue, contextValue, variableValues) =>
        execute({ schema, document, operationName, rootValue, contextValue, variableValues });
    }
    if (compiled.size >= compiledCacheSize) compiled.delete(compiled.keys().next().value as string);
    compiled.set(key, executable);
    return executable;
  }

  const serialize = (result: ExecutionResult): string =>
    JSON.stringify(result.errors === undefined ? result : { ...result, errors: result.errors.map((error) => maskError(error)) });

  return {
    stats,
    acquire({ query, document, operationName, variables, viewer }) {
      const analysis = analysisOf(document, operationName);
      const shared = analysis.resultVariables.map((name) => withoutUndefined(variables?.[name])).join(',');
      const key = `${operationName ?? ''}\u0000${analysis.viewerDependent ? viewer.id : ''}\u0000${shared}\u0000${query}`;
      const existing = shapes.get(key);
      if (existing !== undefined) {
        existing.holders += 1;
        return existing.shape;
      }
      const executable = executableFor(query, document, operationName);
      const context = contextFor(analysis.viewerDependent ? viewer : null);
      const rendered = new WeakMap<object, string | Promise<string>>();
      const entry = {
        holders: 1,
        shape: {
          render(root: object): string | Promise<string> {
            const known = rendered.get(root);
            if (known !== undefined) {
              stats.reused += 1;
              return known;
            }
            stats.executions += 1;
            const result = executable(root, context, variables);
            const json = result instanceof Promise ? result.then(serialize) : serialize(result);
            rendered.set(root, json);
            return json;
          },
          release() {
            entry.holders -= 1;
            if (entry.holders === 0 && shapes.get(key) === entry) {
              shapes.delete(key);
              stats.shapes = shapes.size;
            }
          },
        },
      };
      shapes.set(key, entry);
      stats.shapes = shapes.size;
      return entry.shape;
    },
  };
}
