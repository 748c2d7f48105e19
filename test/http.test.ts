/**
 * What a new user meets over plain HTTP: GraphiQL served with no internet, health and
 * readiness endpoints.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './support/server.ts';
import { disposeAll } from './support/dispose.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(disposeAll);

describe('HTTP endpoints', () => {
  it('serves GraphiQL with every asset inline, so it renders with no internet', async () => {
    const response = await fetch(server.url, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('<script>');
    expect(html).toMatch(/graphiql/i);
    // No external script, stylesheet or font: every src/href is inline or a data: URI.
    const external = [...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]*)"/g)]
      .map((match) => match[1] as string)
      .filter((url) => !url.startsWith('data:'));
    expect(external).toEqual([]);
    expect(html).not.toMatch(/unpkg\.com|jsdelivr\.net|cdnjs/);
  });

  it('answers /health and /ready', async () => {
    expect((await fetch(`http://127.0.0.1:${server.port}/health`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${server.port}/ready`)).status).toBe(200);
  });

  it('streams subscriptions over server-sent events with the authorization header (what GraphiQL uses)', async () => {
    const token = await server.token('sse-user');
    const created = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'mutation HttpSseGroup { createGroup(input: { name: "sse" }) { group { id } } }' }),
    });
    const groupId = ((await created.json()) as { data: { createGroup: { group: { id: string } } } }).data.createGroup.group.id;
    const controller = new AbortController();
    const stream = await fetch(server.url, {
      method: 'POST',
      signal: controller.signal,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'subscription HttpSse { messageAdded { seq body } }' }),
    });
    expect(stream.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
    const send = fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: 'mutation HttpSseSend($g: ID!) { sendGroupMessage(input: { groupId: $g, body: "over sse", clientMessageId: "1" }) { created } }',
        variables: { g: groupId },
      }),
    });
    let text = '';
    const decoder = new TextDecoder();
    while (!text.includes('over sse')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    controller.abort();
    await send;
    expect(text).toContain('"messageAdded":{"seq":1,"body":"over sse"}');
  });

  it('answers GraphQL over GET for queries with a bearer token', async () => {
    const token = await server.token('getter');
    const response = await fetch(`${server.url}?query=${encodeURIComponent('{ viewer { id } }')}`, {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    });
    expect(await response.json()).toEqual({ data: { viewer: { id: 'getter' } } });
  });
});
