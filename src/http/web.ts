/**
 * The browser chat on the gateway's HTTP port: the built app (`npm run build:web`, into
 * WEB_DIR) at `/`, its runtime settings at `/chat-config.json`, and in development the
 * sign-in endpoint. Everything else is left to other handlers: /health, /ready and /metrics
 * to app/ops.ts, GraphQL and GraphiQL at /graphql to yoga.
 *
 * Files are served as built: content type by extension, hashed assets cached for a year
 * (their name changes with their content), everything else revalidated with an ETag, and any
 * path that is not a file falls back to index.html so the app's own routes survive a reload.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { DEV_TOKEN_PATH, handleDevToken, type DevTokenOptions } from './dev-token.ts';

export const CHAT_CONFIG_PATH = '/chat-config.json';

/** What the browser chat reads at start-up to know how to sign in. */
export interface ChatWebConfig {
  /** Whether `POST /dev/token` exists (the generated dev secret is in use). */
  readonly devSignIn: boolean;
  /** Where the host app hands out tokens for its signed-in user (CHAT_TOKEN_URL), if anywhere. */
  readonly tokenUrl: string | null;
  readonly graphqlPath: string;
}

export interface WebHandlerOptions {
  /** The built app (index.html and assets/). */
  readonly dir: string;
  readonly graphqlPath: string;
  /** Paths another handler answers; never served from `dir` nor given the index.html fallback. */
  readonly reservedPaths: readonly string[];
  /** Set only when dev sign-in is allowed; `POST /dev/token` does not exist otherwise. */
  readonly devTokens: DevTokenOptions | null;
  /** CHAT_TOKEN_URL: the host app's token endpoint, told to the app. @default null */
  readonly tokenUrl?: string | null;
  /** Told about failures while serving (a file vanishing mid-read). */
  readonly onError: (error: unknown) => void;
}

export interface WebHandler {
  /** Answers the request and returns true, or returns false to leave it to the next handler. */
  handle(request: IncomingMessage, response: ServerResponse): boolean;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/** Vite writes content-hashed files under assets/: their URL changes whenever they do. */
const IMMUTABLE_PREFIX = '/assets/';

function contentSecurityPolicy(tokenUrl: string | null): string {
  const connect = ["'self'"];
  if (tokenUrl !== null) {
    try {
      connect.push(new URL(tokenUrl).origin);
    } catch {
      // A relative token URL is same-origin: 'self' covers it.
    }
  }
  // 'self' in connect-src covers the same-origin WebSocket (CSP level 3).
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${connect.join(' ')}`,
    "base-uri 'none'",
    "form-action 'none'",
    "object-src 'none'",
  ].join('; ');
}

export function createWebHandler({ dir, graphqlPath, reservedPaths, devTokens, tokenUrl = null, onError }: WebHandlerOptions): WebHandler {
  const root = resolve(dir);
  const config: ChatWebConfig = { devSignIn: devTokens !== null, tokenUrl, graphqlPath };
  const csp = contentSecurityPolicy(tokenUrl);
  const reserved = (path: string): boolean =>
    path === graphqlPath || path.startsWith(`${graphqlPath}/`) || reservedPaths.includes(path);

  async function serveFile(request: IncomingMessage, response: ServerResponse, urlPath: string): Promise<void> {
    let decoded: string;
    try {
      decoded = decodeURIComponent(urlPath);
    } catch {
      response.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' }).end('Malformed URL.');
      return;
    }
    // normalize() resolves ../ segments; the prefix check refuses anything outside the root.
    const candidate = decoded.includes('\0') ? null : join(root, normalize(decoded));
    let file = candidate !== null && (candidate === root || candidate.startsWith(root + sep)) ? candidate : null;
    let info = file === null ? null : await stat(file).catch(() => null);
    if (info?.isDirectory() === true) {
      file = join(file as string, 'index.html');
      info = await stat(file).catch(() => null);
    }
    let fallback = false;
    if (info === null || !info.isFile()) {
      // A path with an extension names a file that is missing; any other is one of the app's
      // own routes, which index.html renders.
      if (extname(decoded) !== '' || candidate === null) {
        response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' }).end('Not found.');
        return;
      }
      fallback = true;
      file = join(root, 'index.html');
      info = await stat(file).catch(() => null);
      if (info === null || !info.isFile()) {
        response
          .writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
          .end(`The browser chat is not built: run \`npm run build:web\` (it builds into ${root}). GraphQL is at ${graphqlPath}.\n`);
        return;
      }
    }
    const path = file as string;
    const type = CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
    const immutable = !fallback && decoded.startsWith(IMMUTABLE_PREFIX);
    const etag = `W/"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
    const headers: Record<string, string> = {
      'content-type': type,
      'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      etag,
      'x-content-type-options': 'nosniff',
    };
    if (type.startsWith('text/html')) {
      headers['content-security-policy'] = csp;
      headers['referrer-policy'] = 'no-referrer';
    }
    if (request.headers['if-none-match'] === etag) {
      response.writeHead(304, headers).end();
      return;
    }
    headers['content-length'] = String(info.size);
    response.writeHead(200, headers);
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    createReadStream(path)
      .on('error', (error) => {
        onError(error);
        response.destroy(error);
      })
      .pipe(response);
  }

  return {
    handle(request, response) {
      const path = (request.url ?? '/').split('?')[0] as string;
      if (path === DEV_TOKEN_PATH) {
        // Without dev sign-in the path does not exist at all: yoga answers 404.
        if (devTokens === null) return false;
        handleDevToken(request, response, devTokens).catch((error: unknown) => {
          onError(error);
          if (!response.headersSent) response.writeHead(500).end();
        });
        return true;
      }
      if ((request.method !== 'GET' && request.method !== 'HEAD') || reserved(path)) return false;
      if (path === CHAT_CONFIG_PATH) {
        response
          .writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
          .end(request.method === 'HEAD' ? undefined : JSON.stringify(config));
        return true;
      }
      serveFile(request, response, path).catch((error: unknown) => {
        onError(error);
        if (!response.headersSent) response.writeHead(500).end();
      });
      return true;
    },
  };
}
