/**
 * The browser chat over plain HTTP: the built app served at `/` (content types, caching, the
 * index.html fallback, nothing outside the build directory), its runtime settings, and the
 * dev-only sign-in endpoint, which exists only with the generated dev secret: never under
 * NODE_ENV=production, never with JWT_SECRET set.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { devTokenMaxBodyBytes } from '../src/http/dev-token.ts';
import { ok } from './support/server.ts';
import { disposeAll, onDispose } from './support/dispose.ts';

afterAll(disposeAll);

const webDir = join(import.meta.dirname, '..', 'web', 'dist');

/** The app in-process from an environment, as `npm start` would read it. */
async function serve(env: Record<string, string>): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'chat-web-'));
  onDispose(() => rm(dataDir, { recursive: true, force: true }));
  const app = buildApp(loadConfig({ PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, WEB_DIR: webDir, ...env }), {
    logger: pino({ level: 'silent' }),
  });
  const { port } = await app.start();
  onDispose(() => app.stop());
  return `http://127.0.0.1:${port}`;
}

const mint = (base: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  fetch(`${base}/dev/token`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });

const Viewer = `query WebViewer { viewer { id name } }`;

describe('the built chat at /', () => {
  let base: string;
  let assets: string[];
  beforeAll(async () => {
    base = await serve({});
    const html = await readFile(join(webDir, 'index.html'), 'utf8');
    assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((match) => match[1] as string);
  });

  it('serves index.html at / with no-cache, a content security policy and no external resource', async () => {
    const response = await fetch(`${base}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-cache');
    expect(response.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await response.text();
    expect(html).toContain('<div id="root">');
    // Offline: every script and stylesheet is served from here.
    const external = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string).filter((url) => !url.startsWith('/'));
    expect(external).toEqual([]);
  });

  it('serves the hashed script and stylesheet with their types, cached for a year', async () => {
    expect(assets.some((path) => path.endsWith('.js'))).toBe(true);
    expect(assets.some((path) => path.endsWith('.css'))).toBe(true);
    for (const path of assets) {
      const response = await fetch(`${base}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe(path.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8');
      expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(Number(response.headers.get('content-length'))).toBe((await response.arrayBuffer()).byteLength);
    }
    const bundle = await (await fetch(`${base}${assets.find((path) => path.endsWith('.js'))}`)).text();
    expect(bundle).not.toMatch(/https?:\/\/(fonts\.googleapis|unpkg|cdn\.jsdelivr|cdnjs)/);
    // React's production build, even when the tests (NODE_ENV=test) built it: the development
    // build is slower and warns about act(...).
    expect(bundle).not.toContain('act(...)');
  });

  it('answers 304 to a matching If-None-Match, and HEAD without a body', async () => {
    const first = await fetch(`${base}/favicon.svg`);
    expect(first.headers.get('content-type')).toBe('image/svg+xml');
    const etag = first.headers.get('etag') as string;
    expect(etag).toMatch(/^W\/"/);
    expect((await fetch(`${base}/favicon.svg`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    const head = await fetch(`${base}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('renders the app for its own routes (a reload of /g/<id>), but 404s a missing file', async () => {
    const route = await fetch(`${base}/g/g_123`);
    expect(route.status).toBe(200);
    expect(route.headers.get('cache-control')).toBe('no-cache');
    expect(await route.text()).toContain('<div id="root">');
    const missing = await fetch(`${base}/assets/index-missing.js`);
    expect(missing.status).toBe(404);
  });

  it('never serves a file outside the build directory', async () => {
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/assets/..%2f..%2f..%2fpackage.json', '/%00.js']) {
      const response = await fetch(`${base}${path}`);
      expect([400, 404]).toContain(response.status);
      expect(await response.text()).not.toContain('"dependencies"');
    }
    expect((await fetch(`${base}/%E0%A4%A`)).status).toBe(400);
  });

  it('leaves /graphql (GraphiQL), /health and /ready to the API', async () => {
    const graphiql = await fetch(`${base}/graphql`, { headers: { accept: 'text/html' } });
    expect(await graphiql.text()).toMatch(/graphiql/i);
    expect(await (await fetch(`${base}/health`)).text()).not.toContain('<div id="root">');
    expect((await fetch(`${base}/ready`)).status).toBe(200);
  });

  it('says how to build the chat when it is not built, and GraphQL keeps working', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'chat-web-empty-'));
    onDispose(() => rm(empty, { recursive: true, force: true }));
    const unbuilt = await serve({ WEB_DIR: empty });
    const response = await fetch(`${unbuilt}/`);
    expect(response.status).toBe(503);
    expect(await response.text()).toContain('npm run build:web');
    expect((await fetch(`${unbuilt}/health`)).status).toBe(200);
  });
});

describe('sign-in for the chat', () => {
  it('mints tokens at POST /dev/token while the generated dev secret is in use, with the configured lifetime', async () => {
    const base = await serve({ DEV_TOKEN_TTL_SECONDS: '120' });
    const config = (await (await fetch(`${base}/chat-config.json`)).json()) as Record<string, unknown>;
    expect(config).toEqual({ devSignIn: true, tokenUrl: null, graphqlPath: '/graphql' });
    const response = await mint(base, { userId: 'ada', name: 'Ada Lovelace' });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const { token } = (await response.json()) as { token: string };
    const claims = decodeJwt(token);
    expect((claims.exp as number) - (claims.iat as number)).toBe(120);
    expect(await ok(`${base}/graphql`, token, Viewer)).toEqual({ viewer: { id: 'ada', name: 'Ada Lovelace' } });
  });

  it('does not exist with JWT_SECRET set', async () => {
    const base = await serve({ JWT_SECRET: randomBytes(32).toString('base64url') });
    expect((await mint(base, { userId: 'mallory' })).status).toBe(404);
    expect((await fetch(`${base}/dev/token`)).status).toBe(404);
    expect(await (await fetch(`${base}/chat-config.json`)).json()).toMatchObject({ devSignIn: false });
  });

  it('does not exist under NODE_ENV=production, and the chat learns the host app’s token URL instead', async () => {
    const base = await serve({
      NODE_ENV: 'production',
      JWT_SECRET: randomBytes(32).toString('base64url'),
      CHAT_TOKEN_URL: 'https://app.example.com/chat-token',
    });
    expect((await mint(base, { userId: 'mallory' })).status).toBe(404);
    expect(await (await fetch(`${base}/chat-config.json`)).json()).toEqual({
      devSignIn: false,
      tokenUrl: 'https://app.example.com/chat-token',
      graphqlPath: '/graphql',
    });
    // The page may fetch its token from the host app's origin, and nowhere else.
    expect((await fetch(`${base}/`)).headers.get('content-security-policy')).toContain("connect-src 'self' https://app.example.com");
  });

  describe('input bounds of POST /dev/token', () => {
    let base: string;
    beforeAll(async () => {
      base = await serve({ LIMIT_MAX_USER_ID_LENGTH: '8' });
    });

    it('accepts a user id and a name of exactly LIMIT_MAX_USER_ID_LENGTH characters and refuses one more', async () => {
      expect((await mint(base, { userId: '12345678', name: 'ÅÅÅÅÅÅÅÅ' })).status).toBe(200);
      // Code points, not UTF-16 units: eight emoji are eight characters.
      expect((await mint(base, { userId: '😀'.repeat(8) })).status).toBe(200);
      const longId = await mint(base, { userId: '123456789' });
      expect(longId.status).toBe(400);
      expect(await longId.json()).toEqual({
        error: { code: 'BAD_USER_INPUT', field: 'userId', limit: 8, message: 'userId must be 1 to 8 characters and not only spaces.' },
      });
      expect((await (await mint(base, { userId: 'ok', name: '123456789' })).json()) as unknown).toMatchObject({ error: { field: 'name' } });
      expect((await mint(base, { userId: '   ' })).status).toBe(400);
      expect((await mint(base, { name: 'no id' })).status).toBe(400);
    });

    it('reads a body of exactly the byte bound and refuses one byte more with 413, unparsed', async () => {
      const max = devTokenMaxBodyBytes(8);
      const json = JSON.stringify({ userId: 'padded' });
      const exact = json + ' '.repeat(max - Buffer.byteLength(json));
      expect(Buffer.byteLength(exact)).toBe(max);
      expect((await mint(base, exact)).status).toBe(200);
      const over = await mint(base, `${exact} `);
      expect(over.status).toBe(413);
      expect(await over.json()).toMatchObject({ error: { limit: max } });
    });

    it('takes JSON only, by POST only', async () => {
      const form = await mint(base, 'userId=mallory', { 'content-type': 'application/x-www-form-urlencoded' });
      expect(form.status).toBe(415);
      expect((await mint(base, '{"userId":', { 'content-type': 'application/json' })).status).toBe(400);
      expect((await fetch(`${base}/dev/token`)).status).toBe(405);
    });
  });
});
