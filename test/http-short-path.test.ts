/**
 * The short path for API clients' JSON POSTs (src/delivery/http.ts) must answer exactly as
 * yoga does. Every request below is sent twice to one server: as an API client sends it (no
 * Origin: the short path when eligible) and as a browser would (with an Origin: yoga's whole
 * HTTP layer). Status, content type and body must be the same.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ok, startServer, type TestServer } from './support/server.ts';
import { connect } from 'node:net';
import { disposeAll, onDispose } from './support/dispose.ts';
import { waitFor } from './support/wait.ts';

afterEach(disposeAll);
afterAll(disposeAll);

interface Answer {
  readonly status: number;
  readonly contentType: string | null;
  readonly body: string;
}

async function post(server: TestServer, body: string, headers: Record<string, string>): Promise<Answer> {
  const response = await fetch(server.url, { method: 'POST', headers, body });
  return { status: response.status, contentType: response.headers.get('content-type'), body: await response.text() };
}

async function shortPathCount(server: TestServer): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  const line = text.split('\n').find((row) => row.startsWith('chat_http_short_path_total '));
  return Number(line?.split(' ')[1] ?? 0);
}

describe('HTTP short path', () => {
  it('answers every request as yoga does, and takes the short path only when it may', async () => {
    const server = await startServer({ limits: { maxRequestBodyBytes: 4096 } });
    const alice = await server.token('alice', 'Alice');
    const created = await ok<{ createGroup: { group: { id: string } } }, unknown>(
      server.url,
      alice,
      'mutation { createGroup(input: { name: "short", memberIds: ["bob"] }) { group { id } } }',
    );
    const groupId = created.createGroup.group.id;
    const send = 'mutation ($input: SendGroupMessageInput!) { sendGroupMessage(input: $input) { created message { seq body } } }';
    // Sent once before, so both answers below are the same retry (created: false).
    await ok(server.url, alice, send, { input: { groupId, body: 'hi', clientMessageId: 'c1' } });

    const json = { 'content-type': 'application/json' };
    const auth = { ...json, authorization: `Bearer ${alice}` };
    const cases: { name: string; headers: Record<string, string>; body: string; short: boolean }[] = [
      { name: 'query', headers: auth, body: JSON.stringify({ query: '{ viewer { id name } }' }), short: true },
      { name: 'mutation retry', headers: auth, body: JSON.stringify({ query: send, variables: { input: { groupId, body: 'hi', clientMessageId: 'c1' } } }), short: true },
      { name: 'unauthenticated', headers: json, body: JSON.stringify({ query: '{ viewer { id } }' }), short: true },
      { name: 'forbidden', headers: auth, body: JSON.stringify({ query: '{ messages(groupId: "g_nope", last: 1) { edges { cursor } } }' }), short: true },
      { name: 'bad user input', headers: auth, body: JSON.stringify({ query: send, variables: { input: { groupId, body: '', clientMessageId: 'c2' } } }), short: true },
      { name: 'missing variable', headers: auth, body: JSON.stringify({ query: send, variables: {} }), short: true },
      { name: 'mistyped variable', headers: auth, body: JSON.stringify({ query: send, variables: { input: { groupId: 1, body: 2 } } }), short: true },
      { name: 'operation by name', headers: auth, body: JSON.stringify({ query: 'query A { viewer { id } } query B { viewer { name } }', operationName: 'B' }), short: true },
      { name: 'graphql-response+json', headers: { ...auth, accept: 'application/graphql-response+json' }, body: JSON.stringify({ query: '{ nope }' }), short: false },
      { name: 'graphql-response+json with errors', headers: { ...auth, accept: 'application/graphql-response+json, application/json' }, body: JSON.stringify({ query: send, variables: {} }), short: true },
      { name: 'accept json', headers: { ...json, accept: 'application/json' }, body: JSON.stringify({ query: '{ viewer { id } }' }), short: true },
      { name: 'accept anything', headers: { ...auth, accept: '*/*' }, body: JSON.stringify({ query: '{ viewer { id } }' }), short: true },
      { name: 'over the cost limit', headers: auth, body: JSON.stringify({ query: '{ groups(first: 100) { edges { node { members(first: 100) { edges { node { id } } } } } } }' }), short: true },
      { name: 'over the token limit', headers: auth, body: JSON.stringify({ query: `{ ${Array.from({ length: 600 }, (_, i) => `a${i}: __typename`).join(' ')} }` }), short: false },
      { name: 'unknown operation name', headers: auth, body: JSON.stringify({ query: '{ viewer { id } }', operationName: 'Nope' }), short: false },
      { name: 'syntax error', headers: auth, body: JSON.stringify({ query: '{ viewer { id }' }), short: false },
      { name: 'validation error', headers: auth, body: JSON.stringify({ query: '{ viewer { nope } }' }), short: false },
      { name: 'invalid JSON', headers: auth, body: '{"query": ', short: false },
      { name: 'not an object', headers: auth, body: '[1, 2]', short: false },
      { name: 'unexpected parameter', headers: auth, body: JSON.stringify({ query: '{ viewer { id } }', extra: 1 }), short: false },
      { name: 'no query', headers: auth, body: JSON.stringify({ variables: {} }), short: false },
      { name: 'subscription, JSON only', headers: { ...auth, accept: 'application/json' }, body: JSON.stringify({ query: 'subscription { messageAdded { seq } }' }), short: false },
      { name: 'other charset', headers: { ...auth, accept: 'application/json; charset=utf-16' }, body: JSON.stringify({ query: '{ viewer { id } }' }), short: false },
      { name: 'body at the limit', headers: auth, body: JSON.stringify({ query: `{ viewer { id } }${' '.repeat(4096 - 29)}` }), short: true },
      { name: 'body over the limit', headers: auth, body: JSON.stringify({ query: `{ viewer { id } }${' '.repeat(4096 - 28)}` }), short: false },
    ];
    expect(Buffer.byteLength(cases.at(-2)?.body ?? '')).toBe(4096);
    expect(Buffer.byteLength(cases.at(-1)?.body ?? '')).toBe(4097);

    for (const { name, headers, body, short } of cases) {
      const before = await shortPathCount(server);
      const api = await post(server, body, headers);
      const taken = (await shortPathCount(server)) - before;
      const browser = await post(server, body, { ...headers, origin: 'http://localhost:5173' });
      expect({ name, ...api }).toEqual({ name, ...browser });
      expect({ name, short: taken === 1 }).toEqual({ name, short });
    }
  });

  it('streams a subscription that yoga answers with server-sent events', async () => {
    const server = await startServer();
    const alice = await server.token('alice');
    const { createGroup } = await ok<{ createGroup: { group: { id: string } } }, unknown>(
      server.url,
      alice,
      'mutation { createGroup(input: { name: "sse" }) { group { id } } }',
    );
    await ok(server.url, alice, 'mutation ($g: ID!) { sendGroupMessage(input: { groupId: $g, body: "streamed", clientMessageId: "s1" }) { created } }', {
      g: createGroup.group.id,
    });
    const aborted = new AbortController();
    // Accept */*: eligible by its headers, handed to yoga once the body shows a subscription.
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${alice}` },
      body: JSON.stringify({
        query: 'subscription ($since: [GroupSeqInput!]) { messageAdded(since: $since) { body } }',
        variables: { since: [{ groupId: createGroup.group.id, seq: 0 }] },
      }),
      signal: aborted.signal,
    });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    while (!text.includes('streamed')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
    expect(text).toContain('"body":"streamed"');
    aborted.abort();
  });

  it('answers 413 from Content-Length without reading the body', async () => {
    const server = await startServer({ limits: { maxRequestBodyBytes: 1000 } });
    const body = JSON.stringify({ query: `{ viewer { id } }${' '.repeat(5000)}` });
    const api = await post(server, body, { 'content-type': 'application/json' });
    const browser = await post(server, body, { 'content-type': 'application/json', origin: 'http://localhost:5173' });
    expect(api.status).toBe(413);
    expect(browser.status).toBe(413);
    expect(JSON.parse(api.body)).toEqual(JSON.parse(browser.body));
  });

  it('reads and drops an oversized body after its 413, so a client still sending it reads the answer', async () => {
    // Closing the connection right after the answer reset it under a client still writing the
    // body (fetch failed with EPIPE): here the body follows only once the 413 has arrived, and
    // the same connection then carries a second request.
    const server = await startServer({ limits: { maxRequestBodyBytes: 1000 } });
    const body = JSON.stringify({ query: `{ __typename }${' '.repeat(300_000)}` });
    const small = JSON.stringify({ query: '{ __typename }' });
    const socket = connect(server.port, '127.0.0.1');
    onDispose(() => socket.destroy());
    let received = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
    const head = (length: number) =>
      `POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n\r\n`;
    socket.write(head(Buffer.byteLength(body)) + body.slice(0, 1000));
    await waitFor('the 413', () => received.includes('REQUEST_ENTITY_TOO_LARGE'));
    expect(received).toMatch(/^HTTP\/1\.1 413 /);
    socket.write(body.slice(1000));
    socket.write(head(Buffer.byteLength(small)) + small);
    await waitFor('the second answer', () => received.includes('"__typename":"Query"'));
    expect(received.match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 413', 'HTTP/1.1 200']);
  });
});
