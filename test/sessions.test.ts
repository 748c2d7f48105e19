/**
 * Tokens and per-user quotas on live connections (issue 7, hole 4 and the per-user items):
 * expiry closes graphql-ws sockets with 4403 and ends SSE streams, tokens must expire and name
 * a bounded subject, and connections, subscriptions and group writes are capped per user —
 * across two gateways on one Redis too.
 */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createChatClient, type ChatClient } from '../client/index.ts';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createMemoryQuota } from '../src/quota/memory.ts';
import { createSocketGuard, TOKEN_EXPIRED } from '../src/delivery/socket-guard.ts';
import { defaultLimits } from '../src/config.ts';
import { disposeAll, onDispose } from './support/dispose.ts';
import { sleep, waitFor } from './support/wait.ts';
import { codes, collect, ok, request, startServer, wsClient, type TestServer } from './support/server.ts';

afterAll(disposeAll);

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** Resolves with the close event of a graphql-ws client that connects with `token`. */
function closeOf(server: Pick<TestServer, 'wsUrl'>, token: string): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => {
    wsClient(server, token, { onClosed: resolve });
  });
}

/** A client whose connection is acknowledged before the promise resolves. */
async function connected(server: Pick<TestServer, 'wsUrl'>, token: string) {
  let closed: { code: number; reason: string } | null = null;
  const client = wsClient(server, token, {
    onClosed: (event) => {
      closed = event;
    },
  });
  const probe = collect(client, '{ viewer { id } }');
  await probe.done;
  return { client, closed: () => closed };
}

const signWith = (server: TestServer) => (claims: Record<string, unknown>, configure: (jwt: SignJWT) => SignJWT) =>
  configure(new SignJWT(claims).setProtectedHeader({ alg: 'HS256' })).sign(new TextEncoder().encode(server.config.jwtSecret as string));

describe('tokens', () => {
  it('refuses a token without exp, over HTTP and at connection_init', async () => {
    const server = await startServer();
    const forever = await signWith(server)({}, (jwt) => jwt.setSubject('forever'));
    const result = await request(server.url, forever, '{ viewer { id } }');
    expect(codes(result)).toEqual(['UNAUTHENTICATED']);
    expect(result.errors?.[0]?.message).toMatch(/exp/);
    expect((await closeOf(server, forever)).code).toBe(4403);
  });

  it('accepts a sub of exactly maxUserIdLength characters and refuses one more, or a lone surrogate', async () => {
    const server = await startServer({ limits: { maxUserIdLength: 8 } });
    const viewer = async (id: string) => (await ok<{ viewer: { id: string } }, Record<string, never>>(server.url, await server.token(id), '{ viewer { id } }')).viewer;
    expect(await viewer('12345678')).toEqual({ id: '12345678' });
    // Characters are code points: an emoji counts once.
    expect(await viewer('1234567🙂')).toEqual({ id: '1234567🙂' });
    expect(codes(await request(server.url, await server.token('123456789'), '{ viewer { id } }'))).toEqual(['UNAUTHENTICATED']);
    expect(codes(await request(server.url, await server.token('a\ud800'), '{ viewer { id } }'))).toEqual(['UNAUTHENTICATED']);
    expect((await closeOf(server, await server.token('123456789'))).code).toBe(4403);
  });
});

describe('token expiry on live connections', () => {
  it('closes a graphql-ws socket with 4403 naming the expiry at exp, subscriptions included', async () => {
    const server = await startServer();
    const token = await server.token('shortlived', null, '2s');
    const { client, closed } = await connected(server, token);
    const subscription = collect(client, 'subscription { messageAdded { seq } }');
    await waitFor('the socket to close at exp', () => closed() !== null, { timeoutMs: 5000 });
    expect(closed() as { code: number; reason: string } | null).toEqual({ code: TOKEN_EXPIRED.code, reason: expect.stringMatching(/expired/i) });
    // The subscription ended with the socket (a retrying client resubscribes on its own).
    await expect(subscription.done).rejects.toBeDefined();
  });

  it('refuses a new operation on a socket whose token has expired even before its timer fires', async () => {
    let now = Date.now();
    const closes: { code: number; reason: string }[] = [];
    const guard = createSocketGuard({ quota: createMemoryQuota(), maxConnectionsPerUser: 5, documentLimits: defaultLimits, now: () => now });
    const connection = await guard.admit({ viewer: { id: 'u', name: null }, expiresAt: now + 60_000 }, (code, reason) => closes.push({ code, reason }));
    expect(connection?.check()).toBe(true);
    now += 60_000;
    expect(connection?.check()).toBe(false);
    expect(closes).toEqual([{ code: 4403, reason: TOKEN_EXPIRED.reason }]);
    connection?.end();
  });

  it('arms the close for tokens valid longer than one timer can wait (30 days)', async () => {
    const closes: number[] = [];
    const guard = createSocketGuard({ quota: createMemoryQuota(), maxConnectionsPerUser: 5, documentLimits: defaultLimits });
    const connection = await guard.admit({ viewer: { id: 'u', name: null }, expiresAt: Date.now() + 30 * 86_400_000 }, (code) => closes.push(code));
    await sleep(50);
    // setTimeout with more than 2^31 − 1 ms fires at once; the guard must not.
    expect(closes).toEqual([]);
    connection?.end();
  });

  it('ends a server-sent events subscription at exp with UNAUTHENTICATED', async () => {
    const server = await startServer();
    const token = await server.token('sse-expiry', null, '2s');
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'subscription { messageAdded { seq } }' }),
    });
    // The stream ends by itself: read to the end.
    const text = await response.text();
    expect(text).toMatch(/"code":"UNAUTHENTICATED"/);
    expect(text).toMatch(/expired/);
    expect(text).toMatch(/event: complete/);
  });

  it("the README's refresh snippet reconnects with a fresh token when the old one expires", async () => {
    const server = await startServer();
    const owner = await server.token('refresher');
    const { createGroup } = await ok<{ createGroup: { group: { id: string } } }, Record<string, never>>(
      server.url,
      owner,
      'mutation { createGroup(input: { name: "refresh" }) { group { id } } }',
    );
    const groupId = createGroup.group.id;
    // The README's snippet, run as written: only its import and URL are bound to this test.
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const snippet = /Refreshing tokens on a live connection[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    if (snippet === undefined) throw new Error('The README lost its token refresh snippet.');
    const { outputText } = ts.transpileModule(snippet, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
    const body = outputText.replace(/^import .*$/m, '').replace("'http://localhost:4000/graphql'", JSON.stringify(server.url));
    expect(body).toContain(server.url);
    const issued: string[] = [];
    const refreshes: boolean[] = [];
    // The first token lives 2 s; every later connect gets a fresh one.
    const getFreshToken = async (refresh: boolean) => {
      refreshes.push(refresh);
      if (!refresh && issued.length > 0) return issued[issued.length - 1] as string;
      const token = await server.token('refresher', null, issued.length === 0 ? '2s' : '1h');
      issued.push(token);
      return token;
    };
    const boundCreate: typeof createChatClient = (options) =>
      createChatClient({ ...options, webSocketImpl: WebSocket, backoff: { baseMs: 50, capMs: 200 } });
    const chat = new Function('createChatClient', 'getFreshToken', `${body}\nreturn chat;`)(boundCreate, getFreshToken) as ChatClient;
    onDispose(() => chat.dispose());
    const messages = chat.messages(groupId);
    const bodies = () => messages.getSnapshot().messages.map((message) => message.body);
    const send = (text: string) =>
      ok(server.url, owner, `mutation { sendGroupMessage(input: { groupId: "${groupId}", body: "${text}", clientMessageId: "${randomUUID()}" }) { created } }`);
    await waitFor('the first message', async () => {
      if (!bodies().includes('before')) await send('before');
      return bodies().includes('before');
    });
    await waitFor('a reconnect with a fresh token', () => issued.length >= 2, { timeoutMs: 15_000 });
    expect(refreshes).toContain(true);
    await send('after');
    await waitFor('the message sent after the reconnect', () => bodies().includes('after'));
    expect(bodies().filter((text) => text === 'before')).toHaveLength(1);
  });
});

describe('per-user caps', () => {
  it('admits exactly maxConnectionsPerUser connections, closes one more with 4429, and counts closes', async () => {
    const server = await startServer({ limits: { maxConnectionsPerUser: 2 } });
    const token = await server.token('many-tabs');
    const first = await connected(server, token);
    await connected(server, token);
    const refused = await closeOf(server, token);
    expect(refused.code).toBe(4429);
    expect(refused.reason).toMatch(/MAX_CONNECTIONS_PER_USER/);
    // Another user is not affected.
    await connected(server, await server.token('someone-else'));
    await first.client.dispose();
    await waitFor('a freed slot', async () => {
      const attempt = await new Promise<boolean>((resolve) => {
        const client = wsClient(server, token, { onClosed: (event) => resolve(event.code !== 4429) });
        collect(client, '{ viewer { id } }').done.then(() => resolve(true), () => {});
      });
      return attempt;
    });
  });

  it('admits exactly maxSubscriptionsPerUser subscriptions over WebSocket and SSE, refuses one more with RATE_LIMITED', async () => {
    const server = await startServer({ limits: { maxSubscriptionsPerUser: 2 } });
    const token = await server.token('subscriber');
    const a = await connected(server, token);
    const b = await connected(server, token);
    const one = collect(a.client, 'subscription { messageAdded { seq } }');
    const controller = new AbortController();
    const sse = await fetch(server.url, {
      method: 'POST',
      signal: controller.signal,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: 'subscription { messageAdded { seq } }' }),
    });
    expect(sse.status).toBe(200);
    const refused = collect(b.client, 'subscription { messageAdded { seq } }');
    await refused.done;
    expect(refused.results).toEqual([
      { errors: [expect.objectContaining({ extensions: expect.objectContaining({ code: 'RATE_LIMITED', limit: 2 }) })] },
    ]);
    // Ending one (a cancelled SSE request here) gives its slot back.
    controller.abort();
    await waitFor('the freed subscription slot', async () => {
      const attempt = collect(b.client, 'subscription { messageAdded { seq } }');
      await sleep(100);
      if (attempt.completed()) return false;
      attempt.unsubscribe();
      return true;
    });
    one.unsubscribe();
  });

  it('throttles createGroup and addGroupMembers together: the burst passes, one more is RATE_LIMITED', async () => {
    const server = await startServer({ limits: { groupWritesPerMinute: defaultLimits.groupWritesPerMinute, groupWriteBurst: defaultLimits.groupWriteBurst } });
    const token = await server.token('organiser');
    const create = 'mutation Create($name: String!) { createGroup(input: { name: $name }) { group { id } } }';
    const ids: string[] = [];
    for (let i = 0; i < defaultLimits.groupWriteBurst - 1; i += 1) {
      ids.push((await ok<{ createGroup: { group: { id: string } } }, { name: string }>(server.url, token, create, { name: `g${i}` })).createGroup.group.id);
    }
    await ok(server.url, token, 'mutation Add($g: ID!) { addGroupMembers(input: { groupId: $g, userIds: ["x"] }) { group { id } } }', { g: ids[0] });
    const over = await request(server.url, token, create, { name: 'one too many' });
    expect(codes(over)).toEqual(['RATE_LIMITED']);
    // 30 per minute: a token every 2 s.
    expect(over.errors?.[0]?.extensions?.['retryAfterMs']).toBeGreaterThan(1000);
    expect(over.errors?.[0]?.extensions?.['retryAfterMs']).toBeLessThanOrEqual(2000);
    // Bad input is refused before the throttle and costs nothing; other users are unaffected.
    expect(codes(await request(server.url, token, create, { name: '   ' }))).toEqual(['BAD_USER_INPUT']);
    await ok(server.url, await server.token('someone-else'), create, { name: 'theirs' });
  });
});

describe('per-user caps across two gateways on one Redis', () => {
  it('counts connections, subscriptions and group writes of a user on both gateways together', async () => {
    const redisKeyPrefix = `test:caps:${randomUUID()}:`;
    const limits = { maxConnectionsPerUser: 2, maxSubscriptionsPerUser: 1, groupWritesPerMinute: 1, groupWriteBurst: 1 };
    const a = await startServer({ redisUrl: REDIS_URL, redisKeyPrefix, limits });
    const b = await startServer({ redisUrl: REDIS_URL, redisKeyPrefix, limits, dataDir: a.config.dataDir, jwtSecret: a.config.jwtSecret as string });
    const token = await a.token('roamer');
    const onA = await connected(a, token);
    const onB = await connected(b, token);
    expect((await closeOf(a, token)).code).toBe(4429);
    expect((await closeOf(b, token)).code).toBe(4429);

    const live = collect(onA.client, 'subscription { messageAdded { seq } }');
    const refused = collect(onB.client, 'subscription { messageAdded { seq } }');
    await refused.done;
    expect(refused.results[0]?.errors?.[0]?.extensions?.['code']).toBe('RATE_LIMITED');
    live.unsubscribe();

    const create = 'mutation { createGroup(input: { name: "roaming" }) { group { id } } }';
    await ok(a.url, token, create);
    expect(codes(await request(b.url, token, create))).toEqual(['RATE_LIMITED']);
  });
});
