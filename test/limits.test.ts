/**
 * Hostile documents (issue 7, holes 1 and 2, and the 20,000-deep selection): every document and
 * cost limit at its edge over HTTP and graphql-ws, the attacks as reported, and input coercion
 * errors that carry a code. Memory under attack is measured in memory.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createParseCache, CACHED_BYTES_PER_TOKEN } from '../src/security/parse-cache.ts';
import { measureDocument } from '../src/security/document-limits.ts';
import { parse } from 'graphql';
import { codes, collect, ok, request, startServer, wsClient, type TestServer } from './support/server.ts';
import { disposeAll } from './support/dispose.ts';

afterAll(disposeAll);

interface LimitError {
  readonly message: string;
  readonly extensions?: { readonly code?: string; readonly limitName?: string; readonly limit?: number; readonly measured?: number };
}

async function post(server: Pick<TestServer, 'url'>, body: unknown, token: string | null = null, accept = 'application/json') {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept,
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text, json: () => JSON.parse(text) as { data?: unknown; errors?: LimitError[] } };
}

/** The one error a rejected operation answers, with its limit fields. */
function limitError(errors: readonly LimitError[] | undefined, limitName: string): LimitError {
  const found = (errors ?? []).find((error) => error.extensions?.limitName === limitName);
  if (found === undefined) throw new Error(`No ${limitName} error in ${JSON.stringify(errors)}`);
  expect(found.extensions?.code).toBe('QUERY_TOO_COMPLEX');
  return found;
}

/** `{ group(id: "g_x") { lastMessage { group { lastMessage … } } } }`, `depth` fields deep. */
function nestedQuery(depth: number): string {
  // group → lastMessage → group → … ; the innermost level selects a scalar.
  const names: string[] = ['group(id: "g_none")'];
  while (names.length < depth - 1) names.push(names.length % 2 === 1 ? 'lastMessage' : 'group');
  return `{ ${names.join(' { ')} { id }${' }'.repeat(names.length - 1)} }`;
}

describe('document limits (measured before parsing)', () => {
  let server: TestServer;
  let token: string;
  beforeAll(async () => {
    server = await startServer({
      limits: { maxQueryTokens: 60, maxQueryDepth: 6, maxQueryAliases: 3, maxQueryDirectives: 2 },
    });
    token = await server.token('limits');
  });

  it('accepts exactly maxQueryTokens tokens and refuses one more, over HTTP with 400', async () => {
    // `{` + n × `__typename` + `}`.
    const atLimit = `{ ${'__typename '.repeat(58)}}`;
    expect(measureDocument(atLimit).tokens).toBe(60);
    expect((await post(server, { query: atLimit }, token)).status).toBe(200);
    const over = await post(server, { query: `{ ${'__typename '.repeat(59)}}` }, token);
    expect(over.status).toBe(400);
    expect(limitError(over.json().errors, 'MAX_QUERY_TOKENS').extensions).toMatchObject({ limit: 60, measured: 61 });
  });

  it('accepts exactly maxQueryDepth levels and refuses one more, in selections and in values', async () => {
    expect(measureDocument(nestedQuery(6)).selectionDepth).toBe(6);
    const atLimit = await post(server, { query: nestedQuery(6) }, token);
    expect(atLimit.json()).toEqual({ data: { group: null } });
    const over = await post(server, { query: nestedQuery(7) }, token);
    expect(over.status).toBe(400);
    expect(limitError(over.json().errors, 'MAX_QUERY_DEPTH').extensions).toMatchObject({ limit: 6, measured: 7 });

    // Lists nested in an argument: 6 levels reach validation (a type error), 7 do not.
    const values = (n: number) => `{ group(id: ${'['.repeat(n)}1${']'.repeat(n)}) { id } }`;
    expect(codes(await request(server.url, token, values(6)))).not.toContain('QUERY_TOO_COMPLEX');
    const deepValues = await post(server, { query: values(7) }, token);
    expect(limitError(deepValues.json().errors, 'MAX_QUERY_DEPTH').extensions).toMatchObject({ limit: 6, measured: 7 });
  });

  it('counts depth through fragments too', async () => {
    // Each fragment nests 2 levels; lexically nothing is deeper than 3, but spread they make 7.
    const query = `{ group(id: "g_none") { ...A } }
      fragment A on Group { lastMessage { group { ...B } } }
      fragment B on Group { lastMessage { group { ...C } } }
      fragment C on Group { lastMessage { id } }`;
    expect(measureDocument(query).selectionDepth).toBe(3);
    const result = await post(server, { query }, token);
    expect(result.status).toBe(400);
    expect(limitError(result.json().errors, 'MAX_QUERY_DEPTH').extensions).toMatchObject({ limit: 6, measured: 7 });
  });

  it('accepts exactly maxQueryAliases aliases and refuses one more', async () => {
    const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: __typename`).join(' ')} }`;
    expect((await post(server, { query: aliases(3) }, token)).json()).toEqual({ data: { a0: 'Query', a1: 'Query', a2: 'Query' } });
    const over = await post(server, { query: aliases(4) }, token);
    expect(over.status).toBe(400);
    expect(limitError(over.json().errors, 'MAX_QUERY_ALIASES').extensions).toMatchObject({ limit: 3, measured: 4 });
  });

  it('does not count argument names, object fields or variable definitions as aliases', () => {
    const measure = measureDocument(
      'query Q($g: ID!, $n: Int = 1) { messages(groupId: $g, first: $n) { edges { cursor } } createGroup(input: { name: "x" }) { group { id } } }',
    );
    expect(measure.aliases).toBe(0);
    expect(measureDocument('{ a: viewer { b: id } }').aliases).toBe(2);
  });

  it('accepts exactly maxQueryDirectives directives and refuses one more', async () => {
    const two = '{ viewer @include(if: true) { id @skip(if: false) } }';
    expect((await post(server, { query: two }, token)).json()).toEqual({ data: { viewer: { id: 'limits' } } });
    const over = await post(server, { query: '{ viewer @include(if: true) { id @skip(if: false) name @skip(if: false) } }' }, token);
    expect(over.status).toBe(400);
    expect(limitError(over.json().errors, 'MAX_QUERY_DIRECTIVES').extensions).toMatchObject({ limit: 2, measured: 3 });
  });

  it('applies the same limits over graphql-ws, answering the operation and keeping the socket', async () => {
    const client = wsClient(server, token);
    const over = collect(client, `{ ${'__typename '.repeat(59)}}`);
    await expect(over.done).rejects.toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'QUERY_TOO_COMPLEX', limitName: 'MAX_QUERY_TOKENS', measured: 61 }) }),
    ]);
    const deep = collect(client, nestedQuery(7));
    await expect(deep.done).rejects.toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ limitName: 'MAX_QUERY_DEPTH', measured: 7 }) }),
    ]);
    const fine = collect(client, '{ viewer { id } }');
    await fine.done;
    expect(fine.results).toEqual([{ data: { viewer: { id: 'limits' } } }]);
  });
});

describe('the reported attacks, at the default limits', () => {
  let server: TestServer;
  let token: string;
  beforeAll(async () => {
    server = await startServer();
    token = await server.token('attacker');
  });

  it('a 20,000-deep selection is a 400 with QUERY_TOO_COMPLEX, not a 500, over HTTP and graphql-ws', async () => {
    const query = `{ ${'viewer { '.repeat(19_999)}id${' }'.repeat(19_999)} }`;
    for (const accept of ['application/json', 'application/graphql-response+json']) {
      const result = await post(server, { query }, token, accept);
      expect(result.status).toBe(400);
      expect(limitError(result.json().errors, 'MAX_QUERY_DEPTH').extensions).toMatchObject({ limit: 12, measured: 20_000 });
      limitError(result.json().errors, 'MAX_QUERY_TOKENS');
    }
    const client = wsClient(server, token);
    const deep = collect(client, query);
    // Every broken limit at once: its 60,000 tokens too.
    await expect(deep.done).rejects.toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ limitName: 'MAX_QUERY_TOKENS', measured: 60_000 }) }),
      expect.objectContaining({ extensions: expect.objectContaining({ limitName: 'MAX_QUERY_DEPTH', measured: 20_000 }) }),
    ]);
  });

  it('a body over maxRequestBodyBytes is refused with 413 before it is parsed', async () => {
    const query = `{ ${Array.from({ length: 60_000 }, (_, i) => `a${i}: __typename`).join(' ')} }`;
    expect(query.length).toBeGreaterThan(256 * 1024);
    const result = await post(server, { query });
    expect(result.status).toBe(413);
    // Exactly at the limit the body is read (and here refused for its tokens, not its size).
    const body = JSON.stringify({ query: `{ __typename }${' '.repeat(256 * 1024)}` }).slice(0, 256 * 1024 - 2);
    const fitting = `${body}"}`;
    expect(Buffer.byteLength(fitting)).toBe(256 * 1024);
    expect((await post(server, fitting, token)).json()).toEqual({ data: { __typename: 'Query' } });
    expect((await post(server, `${body} "}`, token)).status).toBe(413);
  });

  it('1,000 aliases of groups × members(first: 100) are refused without running', async () => {
    const query = `{ ${Array.from({ length: 1000 }, (_, i) => `g${i}: groups(first: 100) { edges { node { members(first: 100) { edges { node { id } } } } } }`).join(' ')} }`;
    const result = await post(server, { query }, token);
    expect(result.status).toBe(400);
    limitError(result.json().errors, 'MAX_QUERY_ALIASES');
    limitError(result.json().errors, 'MAX_QUERY_TOKENS');
    // One such field alone is within the document limits and priced by its page sizes.
    const one = await post(server, { query: '{ groups(first: 100) { edges { node { members(first: 100) { edges { node { id } } } } } } }' }, token);
    expect(one.status).toBe(400);
    expect(limitError(one.json().errors, 'MAX_QUERY_COST').extensions).toMatchObject({ limit: 10_000, measured: 30_301 });
  });

  it('nested fragments spread twice per level for 16 levels are priced in one pass and refused', async () => {
    const levels = 16;
    const fragments = Array.from(
      { length: levels },
      (_, i) => `fragment F${i} on Group { lastMessage { group { ${i + 1 < levels ? `...F${i + 1} ...F${i + 1}` : 'id'} } } }`,
    ).join('\n');
    const query = `{ groups(first: 1) { edges { node { ...F0 } } } }\n${fragments}`;
    expect(query.length).toBeLessThan(1700);
    const result = await post(server, { query }, token);
    expect(result.status).toBe(400);
    const errors = result.json().errors;
    // Far deeper than allowed, and 2^16-fold in cost.
    expect(limitError(errors, 'MAX_QUERY_DEPTH').extensions?.measured).toBe(3 + 2 * levels + 1);
    expect((await fetch(`http://127.0.0.1:${server.port}/health`)).status).toBe(200);
  });
});

describe('cost limit at its edge', () => {
  let server: TestServer;
  let token: string;
  // groups(first: n) { edges { node { id } } } costs 1 + n × (edges 1 + node 1 + id 1).
  const cost = (n: number) => 1 + n * 3;
  beforeAll(async () => {
    server = await startServer({ limits: { maxQueryCost: cost(10), defaultPageSize: 10 } });
    token = await server.token('coster');
  });

  it('counts a connection by first, from variables too, and by the default page size without it', async () => {
    const query = 'query Cost($n: Int) { groups(first: $n) { edges { node { id } } } }';
    await ok(server.url, token, query, { n: 10 });
    const over = await post(server, { query, variables: { n: 11 } }, token);
    expect(over.status).toBe(400);
    expect(limitError(over.json().errors, 'MAX_QUERY_COST').extensions).toMatchObject({ limit: 31, measured: 34 });
    // Without first: the default page size (10 here).
    await ok(server.url, token, '{ groups { edges { node { id } } } }');
    // Aliases add up.
    const twice = await post(server, { query: '{ a: groups(first: 5) { edges { node { id } } } b: groups(first: 5) { edges { node { id } } } }' }, token);
    expect(limitError(twice.json().errors, 'MAX_QUERY_COST').extensions?.measured).toBe(32);
  });

  it('counts messages by last, and refuses an expensive subscription before it opens', async () => {
    const messages = (n: number) => `{ messages(groupId: "g_none", last: ${n}) { edges { node { id } } } }`;
    // Within the cost limit the field itself answers (the group does not exist).
    expect(codes(await request(server.url, token, messages(10)))).toEqual(['NOT_FOUND']);
    expect(codes(await request(server.url, token, messages(11)))).toEqual(['QUERY_TOO_COMPLEX']);
    // Group.messages is priced the same way, nested or not: 1 (group) + 1 + n × 3.
    const nested = (n: number) => `{ group(id: "g_none") { messages(last: ${n}) { edges { node { id } } } } }`;
    await ok(server.url, token, nested(9));
    const overNested = await post(server, { query: nested(10) }, token);
    expect(limitError(overNested.json().errors, 'MAX_QUERY_COST').extensions).toMatchObject({ limit: 31, measured: 32 });
    const client = wsClient(server, token);
    const subscription = collect(client, 'subscription { messageAdded { group { members(first: 11) { edges { node { id } } } } } }');
    // Refused as subscribe's result: one result with the error, then complete, no stream.
    await subscription.done;
    expect(subscription.results).toEqual([
      { errors: [expect.objectContaining({ extensions: expect.objectContaining({ code: 'QUERY_TOO_COMPLEX', limitName: 'MAX_QUERY_COST', measured: 36 }) })] },
    ]);
  });
});

describe('input coercion errors', () => {
  let server: TestServer;
  let token: string;
  beforeAll(async () => {
    server = await startServer();
    token = await server.token('coercer');
  });

  it('answer BAD_USER_INPUT for values in the document and in variables', async () => {
    expect(codes(await request(server.url, token, '{ groups(first: 99999999999) { edges { cursor } } }'))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await request(server.url, token, '{ groups(first: "ten") { edges { cursor } } }'))).toEqual(['BAD_USER_INPUT']);
    const query = 'query Page($n: Int) { groups(first: $n) { edges { cursor } } }';
    expect(codes(await request(server.url, token, query, { n: 99_999_999_999 }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await request(server.url, token, query, { n: 1.5 }))).toEqual(['BAD_USER_INPUT']);
    const send = 'mutation Send($input: SendGroupMessageInput!) { sendGroupMessage(input: $input) { created } }';
    expect(codes(await request(server.url, token, send, { input: { groupId: 'g_x', body: 'hi' } }))).toEqual(['BAD_USER_INPUT']);
    const client = wsClient(server, token);
    const overWs = collect(client, query, { n: 99_999_999_999 });
    await overWs.done;
    expect(overWs.results[0]?.errors?.map((error) => error.extensions?.['code'])).toEqual(['BAD_USER_INPUT']);
  });
});

describe('parse cache', () => {
  it('holds at most its byte budget, however many distinct documents pass through', () => {
    const maxBytes = 1_000_000;
    const cache = createParseCache({ maxBytes });
    for (let i = 0; i < 500; i += 1) {
      const source = `{ ${Array.from({ length: 50 }, (_, k) => `a${i}_${k}: __typename`).join(' ')} }`;
      cache.documentCache.set(source, parse(source));
      expect(cache.size()).toBeLessThanOrEqual(maxBytes);
    }
    // The latest documents are the ones kept; one costs (3 tokens × 50 + 2) × CACHED_BYTES_PER_TOKEN + its text.
    expect(cache.size()).toBeGreaterThan(maxBytes - 152 * CACHED_BYTES_PER_TOKEN - 4000);
    const last = `{ ${Array.from({ length: 50 }, (_, k) => `a499_${k}: __typename`).join(' ')} }`;
    expect(cache.documentCache.get(last)).toBeDefined();
    expect(cache.documentCache.get(`{ ${Array.from({ length: 50 }, (_, k) => `a0_${k}: __typename`).join(' ')} }`)).toBeUndefined();
  });

  it('never caches parse errors, whose keys an attacker chooses', () => {
    const cache = createParseCache({ maxBytes: 1_000_000 });
    cache.errorCache.set('{ broken', new Error('x'));
    expect(cache.errorCache.get('{ broken')).toBeUndefined();
    expect(cache.size()).toBe(0);
  });
});
