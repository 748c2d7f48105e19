/**
 * Production defaults and the smaller holes of issue 7: GraphiQL and introspection off unless
 * asked, /metrics behind a token (gateway and relay), CORS from an allow-list, idle timeouts,
 * lone surrogates refused so live and history agree, and an owner-only data directory.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { startProcess } from './support/process.ts';
import { codes, collect, ok, request, startServer, wsClient } from './support/server.ts';
import { disposeAll, onDispose } from './support/dispose.ts';
import { sleep } from './support/wait.ts';

afterAll(disposeAll);

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const production = { NODE_ENV: 'production', JWT_SECRET: 'a production secret' };
const closedHttp = { graphiql: false, introspection: false };

describe('configuration', () => {
  it('closes GraphiQL, introspection, /metrics and CORS in production unless a variable opens them', () => {
    expect(loadConfig(production).http).toEqual({
      graphiql: false,
      introspection: false,
      corsOrigins: [],
      metricsToken: null,
      requestTimeoutMs: 30_000,
      idleTimeoutMs: 30_000,
    });
    expect(loadConfig({}).http).toMatchObject({ graphiql: true, introspection: true, corsOrigins: [] });
    expect(loadConfig({ ...production, GRAPHIQL: '1', INTROSPECTION: 'true', METRICS_TOKEN: 's' }).http).toMatchObject({
      graphiql: true,
      introspection: true,
      metricsToken: 's',
    });
    expect(loadConfig({ GRAPHIQL: '0' }).http.graphiql).toBe(false);
    expect(() => loadConfig({ GRAPHIQL: 'maybe' })).toThrow(ConfigError);
  });

  it('reads CORS_ORIGINS as a list of exact origins', () => {
    expect(loadConfig({ CORS_ORIGINS: 'https://chat.example.com, http://localhost:5173' }).http.corsOrigins).toEqual([
      'https://chat.example.com',
      'http://localhost:5173',
    ]);
    expect(() => loadConfig({ CORS_ORIGINS: 'https://chat.example.com/' })).toThrow(/origins like/);
    expect(() => loadConfig({ CORS_ORIGINS: 'chat.example.com' })).toThrow(ConfigError);
  });

  it('reads the HTTP timeouts, and refuses an idle timeout that would cut server-sent events between pings', () => {
    expect(loadConfig({ HTTP_REQUEST_TIMEOUT_MS: '5000', HTTP_IDLE_TIMEOUT_MS: '15000' }).http).toMatchObject({
      requestTimeoutMs: 5000,
      idleTimeoutMs: 15_000,
    });
    expect(() => loadConfig({ HTTP_IDLE_TIMEOUT_MS: '14999' })).toThrow(/ping every 12 s/);
  });
});

describe('a gateway with production defaults', () => {
  it('serves no GraphiQL and refuses introspection, but answers __typename', async () => {
    const server = await startServer({ production: true, http: closedHttp });
    const page = await fetch(server.url, { headers: { accept: 'text/html' } });
    expect(page.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
    expect(await page.text()).not.toMatch(/graphiql/i);
    const token = await server.token('prod');
    const introspection = await request(server.url, token, '{ __schema { queryType { name } } }');
    expect(introspection.errors?.[0]?.message).toMatch(/introspection has been disabled/);
    expect(await ok(server.url, token, '{ __typename }')).toEqual({ __typename: 'Query' });
    // GRAPHIQL=1 / INTROSPECTION=1 open them again.
    const opened = await startServer({ production: true, http: { graphiql: true, introspection: true } });
    expect(await (await fetch(opened.url, { headers: { accept: 'text/html' } })).text()).toMatch(/graphiql/i);
    expect(await ok(opened.url, await opened.token('prod'), '{ __schema { queryType { name } } }')).toEqual({
      __schema: { queryType: { name: 'Query' } },
    });
  });

  it('answers /metrics only with METRICS_TOKEN, and not at all in production without one', async () => {
    const metrics = (port: number, token?: string) =>
      fetch(`http://127.0.0.1:${port}/metrics`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
    const off = await startServer({ production: true, http: closedHttp });
    expect((await metrics(off.port)).status).toBe(404);
    const guarded = await startServer({ production: true, http: { ...closedHttp, metricsToken: 'scrape-me' } });
    expect((await metrics(guarded.port)).status).toBe(401);
    expect((await metrics(guarded.port, 'scrape-m')).status).toBe(401);
    const scraped = await metrics(guarded.port, 'scrape-me');
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('chat_connections');
    // Development keeps it open.
    expect((await metrics((await startServer()).port)).status).toBe(200);
  });

  it('answers CORS only for listed origins, never with credentials', async () => {
    const preflight = (url: string, origin: string) =>
      fetch(url, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
    const none = await startServer();
    const unlisted = await preflight(none.url, 'https://evil.example');
    expect(unlisted.headers.get('access-control-allow-origin')).toBeNull();
    const listed = await startServer({ http: { corsOrigins: ['https://chat.example.com', 'http://localhost:5173'] } });
    const allowed = await preflight(listed.url, 'https://chat.example.com');
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://chat.example.com');
    expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
    const refused = await preflight(listed.url, 'https://evil.example');
    expect(refused.headers.get('access-control-allow-origin')).not.toBe('https://evil.example');
    const post = await fetch(listed.url, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(post.headers.get('access-control-allow-origin')).not.toBe('https://evil.example');
  });

  it('cuts a client that stops reading a response, but not an idle WebSocket', async () => {
    const idleTimeoutMs = 1000;
    const server = await startServer({ http: { idleTimeoutMs } });
    // The page is rendered on first use; render it now, so the idle clock below only runs on reading.
    // Rendering the first time may itself outlast the short idle timeout on a loaded machine:
    // the first request can be cut, the render still completes.
    let pageBytes = 0;
    for (let attempt = 1; pageBytes === 0; attempt += 1) {
      try {
        pageBytes = (await (await fetch(server.url, { headers: { accept: 'text/html', 'accept-encoding': 'identity' } })).arrayBuffer()).byteLength;
      } catch (error) {
        if (attempt === 5) throw error;
        await sleep(idleTimeoutMs);
      }
    }
    // A raw HTTP client that asks for GraphiQL (uncompressed, ~9 MB) four times, pipelined, and
    // stops reading after the first chunk for four idle timeouts. Four pages are more than the
    // kernel's socket buffers on loopback can absorb (a single page sometimes fits in them, and
    // then the server has nothing left to wait for).
    const socket = connect(server.port, '127.0.0.1');
    socket.on('error', () => {});
    let received = 0;
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => {
      if (received === 0) {
        socket.pause();
        setTimeout(() => socket.resume(), idleTimeoutMs * 4);
      }
      received += chunk.length;
    });
    socket.write('GET /graphql HTTP/1.1\r\nHost: x\r\naccept: text/html\r\n\r\n'.repeat(4));
    await closed;
    expect(received).toBeGreaterThan(0);
    // The server gave up on it: the pages never arrived whole.
    expect(received).toBeLessThan(pageBytes * 4);
    // WebSockets are exempt: one idle for four timeouts still works.
    const token = await server.token('idle');
    const client = wsClient(server, token);
    await collect(client, '{ viewer { id } }').done;
    await sleep(idleTimeoutMs * 4);
    const later = collect(client, '{ viewer { id } }');
    await later.done;
    expect(later.results).toEqual([{ data: { viewer: { id: 'idle' } } }]);
  });
});

describe('a relay', () => {
  it('answers /metrics only with METRICS_TOKEN in production', async () => {
    const env = { ...production, ROLE: 'relay', REDIS_URL, REDIS_KEY_PREFIX: `test:relay-metrics:${randomUUID()}:`, DATA_DIR: await mkdtemp(join(tmpdir(), 'relay-')) };
    onDispose(() => rm(env.DATA_DIR, { recursive: true, force: true }));
    const closed = await startProcess(env);
    expect((await fetch(`http://127.0.0.1:${closed.port}/metrics`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${closed.port}/health`)).status).toBe(200);
    await closed.kill();
    const guarded = await startProcess({ ...env, METRICS_TOKEN: 'relay-scrape' });
    expect((await fetch(`http://127.0.0.1:${guarded.port}/metrics`)).status).toBe(401);
    const scraped = await fetch(`http://127.0.0.1:${guarded.port}/metrics`, { headers: { authorization: 'Bearer relay-scrape' } });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('chat_relay_active');
  }, 60_000);
});

describe('stored text', () => {
  it('refuses lone surrogates in bodies, client message ids, group names and member ids, so live and history agree', async () => {
    const server = await startServer();
    const token = await server.token('unicode');
    const create = 'mutation Create($name: String!, $ids: [ID!]) { createGroup(input: { name: $name, memberIds: $ids }) { group { id } } }';
    expect(codes(await request(server.url, token, create, { name: 'bad \ud800 name' }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await request(server.url, token, create, { name: 'fine', ids: ['x\udc00'] }))).toEqual(['BAD_USER_INPUT']);
    const groupId = (await ok<{ createGroup: { group: { id: string } } }, { name: string }>(server.url, token, create, { name: 'unicode' })).createGroup.group.id;

    const client = wsClient(server, token);
    const live = collect(client, 'subscription Live($g: ID!) { messageAdded(since: [{ groupId: $g, seq: 0 }]) { seq body } }', { g: groupId });
    const send = 'mutation Send($g: ID!, $body: String!, $id: String!) { sendGroupMessage(input: { groupId: $g, body: $body, clientMessageId: $id }) { message { seq } } }';
    expect(codes(await request(server.url, token, send, { g: groupId, body: 'half \ud83d', id: '1' }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await request(server.url, token, send, { g: groupId, body: 'ok', id: '\udfff' }))).toEqual(['BAD_USER_INPUT']);
    // A whole surrogate pair is a character and round-trips exactly, live and from history.
    await ok(server.url, token, send, { g: groupId, body: 'emoji 🙂', id: '2' });
    await live.until((results) => results.length === 1);
    const history = await ok<{ messages: { edges: { node: { seq: number; body: string } }[] } }, { g: string }>(
      server.url,
      token,
      'query History($g: ID!) { messages(groupId: $g, first: 10) { edges { node { seq body } } } }',
      { g: groupId },
    );
    expect(history.messages.edges.map((edge) => edge.node)).toEqual([{ seq: 1, body: 'emoji 🙂' }]);
    expect(live.results.map((result) => (result.data as { messageAdded: unknown }).messageAdded)).toEqual([{ seq: 1, body: 'emoji 🙂' }]);
  });

  it('creates the data directory 0700 and chat.db with its -wal and -shm 0600', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'chat-perms-'));
    onDispose(() => rm(parent, { recursive: true, force: true }));
    const dataDir = join(parent, 'data');
    const server = await startServer({ dataDir });
    const token = await server.token('perm');
    await ok(server.url, token, 'mutation { createGroup(input: { name: "p" }) { group { id } } }');
    const mode = async (path: string) => (await stat(path)).mode & 0o777;
    expect(await mode(dataDir)).toBe(0o700);
    for (const file of ['chat.db', 'chat.db-wal', 'chat.db-shm']) expect([file, await mode(join(dataDir, file))]).toEqual([file, 0o600]);
  });
});
