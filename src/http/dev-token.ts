/**
 * `POST /dev/token`: mints a token for any user id, so the browser chat can sign in by typing
 * a name. It exists only while the generated dev secret is in use (no JWT_SECRET, not
 * production): anyone who can reach it can be anyone, which is only acceptable when the
 * secret itself is a throwaway on a developer's machine. The composition root decides that.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export const DEV_TOKEN_PATH = '/dev/token';

export interface DevTokenOptions {
  /** Signs a token for the user (the server's own verifier). */
  readonly sign: (viewer: { readonly id: string; readonly name: string | null }) => Promise<string>;
  /** Longest user id and display name, in characters (the server's LIMIT_MAX_USER_ID_LENGTH). */
  readonly maxUserIdLength: number;
  /** How long minted tokens live, in seconds. */
  readonly ttlSeconds: number;
}

/**
 * The largest body read: both fields at their limit with every character JSON-escaped as a
 * surrogate pair (`\uXXXX\uXXXX`, 12 bytes), plus the JSON around them. A longer body is
 * refused with 413 before it is read further.
 */
export const devTokenMaxBodyBytes = (maxUserIdLength: number): number => 2 * 12 * maxUserIdLength + 64;

const codePoints = (text: string): number => [...text].length;

function reply(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  response.end(JSON.stringify(body));
}

const badInput = (response: ServerResponse, field: string, message: string, limit?: number): void =>
  reply(response, 400, { error: { code: 'BAD_USER_INPUT', field, message, ...(limit === undefined ? {} : { limit }) } });

/** Reads at most `maxBytes` of the body; null when it is longer (the rest is not read). */
function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      resolve(null);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        request.removeAllListeners('data');
        request.pause();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** Handles `POST /dev/token` (405 for other methods). */
export async function handleDevToken(request: IncomingMessage, response: ServerResponse, options: DevTokenOptions): Promise<void> {
  if (request.method !== 'POST') {
    response.writeHead(405, { allow: 'POST' }).end();
    return;
  }
  // JSON only: a cross-site HTML form cannot send it, and a cross-site fetch that sets it needs
  // a CORS preflight this server never answers, so another site cannot mint tokens through a
  // developer's browser.
  if (!/^application\/json\b/i.test(request.headers['content-type'] ?? '')) {
    reply(response, 415, { error: { code: 'BAD_REQUEST', message: 'Send the body as application/json: {"userId": "…", "name": "…"}.' } });
    return;
  }
  const maxBytes = devTokenMaxBodyBytes(options.maxUserIdLength);
  const body = await readBody(request, maxBytes);
  if (body === null) {
    response.setHeader('connection', 'close');
    reply(response, 413, { error: { code: 'BAD_REQUEST', message: `The body may not exceed ${maxBytes} bytes.`, limit: maxBytes } });
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    reply(response, 400, { error: { code: 'BAD_REQUEST', message: 'The body is not JSON.' } });
    return;
  }
  const fields = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  const { userId, name } = fields;
  const max = options.maxUserIdLength;
  if (typeof userId !== 'string' || userId.trim() === '' || codePoints(userId) > max) {
    badInput(response, 'userId', `userId must be 1 to ${max} characters and not only spaces.`, max);
    return;
  }
  if (name !== undefined && name !== null && (typeof name !== 'string' || codePoints(name) > max)) {
    badInput(response, 'name', `name must be a string of at most ${max} characters.`, max);
    return;
  }
  const displayName = typeof name === 'string' && name.trim() !== '' ? name.trim() : null;
  const token = await options.sign({ id: userId, name: displayName });
  reply(response, 200, { token, expiresAt: new Date(Date.now() + options.ttlSeconds * 1000).toISOString() });
}
