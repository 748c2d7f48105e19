/**
 * The default limits let through every operation this project uses: each GraphQL document in the
 * README, in the tests and the benchmark (string literals, found with the TypeScript parser, so a
 * new test's operations are checked without listing them), GraphiQL's own introspection query,
 * and what a chat client shows. Each is measured exactly as the server does — document limits
 * before parsing, then depth and cost with the worst variables a client could send (every Int a
 * full page) — and none may be refused.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  getIntrospectionQuery,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  Kind,
  parse,
  typeFromAST,
  validate,
  visit,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLInputType,
  type OperationDefinitionNode,
} from 'graphql';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { defaultLimits } from '../src/config.ts';
import { schema } from '../src/schema/index.ts';
import { checkDocument, measureDocument } from '../src/security/document-limits.ts';
import { costErrors } from '../src/security/operation-limits.ts';
import { createCostMeter, measureCost } from '../src/security/query-cost.ts';

const root = join(import.meta.dirname, '..');

/** Test files that hold hostile documents on purpose. */
const HOSTILE = new Set(['limits.test.ts', 'memory.test.ts', 'operations.test.ts', 'http-short-path.test.ts']);

function filesUnder(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.tsx?$/.test(entry.name) && !HOSTILE.has(entry.name))
    .map((entry) => join(entry.parentPath, entry.name))
    // Codegen's output repeats the documents it was generated from.
    .filter((path) => !/[/\\]gql[/\\]/.test(path.slice(root.length)));
}

/** Every string literal without substitutions in a TypeScript source. */
function stringLiterals(source: string, name: string): string[] {
  const file = ts.createSourceFile(name, source, ts.ScriptTarget.Latest);
  const found: string[] = [];
  const walk = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) found.push(node.text);
    ts.forEachChild(node, walk);
  };
  walk(file);
  return found;
}

/** The text parsed as an executable document, or null when it is none. */
function asDocument(text: string): DocumentNode | null {
  if (!/\b(query|mutation|subscription|fragment)\b|^\s*\{/.test(text)) return null;
  try {
    const document = parse(text);
    return document.definitions.every((definition) => definition.kind === Kind.OPERATION_DEFINITION || definition.kind === Kind.FRAGMENT_DEFINITION)
      ? document
      : null;
  } catch {
    return null;
  }
}

/** README: each line of a graphql block, and the string literals of ts blocks. */
function readmeDocuments(): string[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const texts: string[] = [];
  for (const [, lang, body] of readme.matchAll(/```(\w+)\n([\s\S]*?)```/g)) {
    if (lang === 'graphql') texts.push(...(body as string).split('\n').filter((line) => line.trim() !== ''));
    if (lang === 'ts' || lang === 'js') texts.push(...stringLiterals(body as string, 'README.ts'));
  }
  return texts;
}

/** What a chat client sends besides: its inbox, a conversation, members, and its live stream. */
const CHAT_CLIENT = [
  'query Inbox($after: String) { viewer { id name } groups(first: 50, after: $after) { edges { cursor node { id name unreadCount lastReadSeq lastSeq memberCount lastMessage { id seq body createdAt sender { id name } } } } pageInfo { hasNextPage endCursor } } }',
  'query Conversation($g: ID!, $before: String) { group(id: $g) { id name memberCount owner { id name } } messages(groupId: $g, last: 100, before: $before) { edges { cursor node { id seq body clientMessageId createdAt sender { id name } } } pageInfo { hasPreviousPage startCursor } } }',
  'query Members($g: ID!, $after: String) { group(id: $g) { members(first: 100, after: $after) { edges { cursor node { id name } } pageInfo { hasNextPage endCursor } } } }',
  'subscription Live($since: [GroupSeqInput!]) { messageAdded(since: $since) { id groupId seq body clientMessageId createdAt sender { id name } group { id name unreadCount lastSeq } } }',
];

/** A value of `type` for a required variable: the largest page for every Int. */
function worstValue(type: GraphQLInputType): unknown {
  if (isNonNullType(type)) return worstValue(type.ofType);
  if (isListType(type)) return [worstValue(type.ofType)];
  if (isEnumType(type)) return type.getValues()[0]?.value;
  if (isInputObjectType(type)) {
    return Object.fromEntries(Object.values(type.getFields()).map((field) => [field.name, worstValue(field.type)]));
  }
  if (isScalarType(type)) {
    if (type.name === 'Int' || type.name === 'Float') return defaultLimits.maxPageSize;
    if (type.name === 'Boolean') return true;
    if (type.name === 'DateTime') return new Date(0).toISOString();
    return 'x';
  }
  return null;
}

interface Operation {
  readonly origin: string;
  readonly text: string;
  readonly document: DocumentNode;
  readonly operation: OperationDefinitionNode;
}

function collectOperations(): Operation[] {
  const sources: { origin: string; text: string }[] = [
    ...readmeDocuments().map((text) => ({ origin: 'README.md', text })),
    ...[...filesUnder('test'), ...filesUnder('bench'), ...filesUnder('client'), ...filesUnder('web/src')].flatMap((path) =>
      stringLiterals(readFileSync(path, 'utf8'), path).map((text) => ({ origin: path.slice(root.length + 1), text })),
    ),
    { origin: 'GraphiQL introspection', text: getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true, oneOf: true }) },
    ...CHAT_CLIENT.map((text) => ({ origin: 'chat client', text })),
  ];
  const documents = sources.flatMap((source) => {
    const document = asDocument(source.text);
    return document === null ? [] : [{ ...source, document }];
  });
  // Fragments live in their own literals (codegen's graphql() calls): spread them where used.
  const fragments = new Map<string, { text: string; node: FragmentDefinitionNode }>();
  for (const { text, document } of documents) {
    for (const definition of document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, { text, node: definition });
    }
  }
  return documents.flatMap(({ origin, text, document }) =>
    document.definitions
      .filter((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION)
      .map((operation) => {
        const needed = new Set<string>();
        const add = (node: DocumentNode | FragmentDefinitionNode | OperationDefinitionNode): void => {
          visit(node, {
            FragmentSpread(spread) {
              const name = spread.name.value;
              const fragment = fragments.get(name);
              if (needed.has(name) || fragment === undefined) return;
              needed.add(name);
              add(fragment.node);
            },
          });
        };
        add(operation);
        const local = new Set(document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [d.name.value] : [])));
        const full = [text, ...[...needed].filter((name) => !local.has(name)).map((name) => fragments.get(name)?.text ?? '')].join('\n');
        const fullDocument = parse(full);
        return { origin, text: full, document: fullDocument, operation: fullDocument.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION && d.name?.value === operation.name?.value) as OperationDefinitionNode };
      }),
  );
}

describe('every operation the project uses passes the default limits', () => {
  const operations = collectOperations();

  it('finds the operations of the README, the tests, the benchmark and a chat client', () => {
    const origins = new Set(operations.map((operation) => operation.origin));
    expect(origins).toContain('README.md');
    expect(origins).toContain('bench/delivery.ts');
    expect(origins).toContain('test/api.test.ts');
    expect(origins).toContain('test/subscriptions.test.ts');
    expect(origins).toContain('chat client');
    expect(operations.length).toBeGreaterThan(60);
  });

  it('refuses none of them', () => {
    const refused: string[] = [];
    const stats: string[] = [];
    for (const { origin, text, document, operation } of operations) {
      const measured = checkDocument(measureDocument(text), defaultLimits);
      // Operations that are invalid on purpose (tests of validation) cannot be priced.
      const valid = validate(schema, document).length === 0;
      const variableValues = Object.fromEntries(
        (operation.variableDefinitions ?? []).map((definition) => [
          definition.variable.name.value,
          worstValue(typeFromAST(schema, definition.type as never) as GraphQLInputType),
        ]),
      );
      const priced = valid
        ? costErrors(
            { schema, document, operationName: operation.name?.value ?? null, variableValues, contextValue: { deps: { limits: defaultLimits } } },
            defaultLimits,
          )
        : [];
      const cost = valid ? measureCost({ schema, document, operationName: operation.name?.value ?? null, variableValues, context: { deps: { limits: defaultLimits } } }) : null;
      stats.push(`${origin}\t${valid}\t${JSON.stringify(measureDocument(text))}\t${JSON.stringify(cost)}`);
      for (const error of [...measured, ...priced]) refused.push(`${origin}: ${error.message}\n  ${text.slice(0, 200)}`);
    }
    expect(refused).toEqual([]);
    if (process.env['SHOW_OPERATION_COSTS']) console.info(stats.join('\n'));
  });
});

describe('the cost meter', () => {
  const context = { deps: { limits: defaultLimits } };

  it('prices a document once, whatever the variables its cost does not depend on', () => {
    const meter = createCostMeter();
    const document = parse('mutation Send($input: SendGroupMessageInput!) { sendGroupMessage(input: $input) { message { id seq } } }');
    const input = (body: string) => ({ groupId: 'g_1', body, clientMessageId: body });
    const first = meter({ schema, document, operationName: 'Send', variableValues: { input: input('a') }, context });
    const second = meter({ schema, document, operationName: 'Send', variableValues: { input: input('b') }, context });
    expect(first).not.toBeNull();
    expect(second).toBe(first);
    expect(first).toEqual(measureCost({ schema, document, operationName: 'Send', variableValues: { input: input('b') }, context }));
  });

  it('prices again when a variable a connection is priced by changes', () => {
    const meter = createCostMeter();
    const document = parse('query Page($n: Int, $g: ID!) { group(id: $g) { members(first: $n) { edges { node { id } } } } }');
    const cost = (n: number, g: string) => meter({ schema, document, operationName: null, variableValues: { n, g }, context })?.complexity;
    expect(cost(10, 'g_1')).toBe(measureCost({ schema, document, variableValues: { n: 10, g: 'g_1' }, context })?.complexity);
    expect(cost(50, 'g_1')).toBe(measureCost({ schema, document, variableValues: { n: 50, g: 'g_1' }, context })?.complexity);
    expect(cost(50, 'g_1')).toBeGreaterThan(cost(10, 'g_2') as number);
  });
});
