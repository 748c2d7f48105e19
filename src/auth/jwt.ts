/**
 * HS256 tokens. `sub` is the user id, exactly as issued; the optional `name` claim is the
 * display name. No secret is ever written in code: it comes from JWT_SECRET, or outside
 * production from a random dev secret generated once and kept in DATA_DIR.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';

export interface Viewer {
  readonly id: string;
  readonly name: string | null;
}

export interface TokenVerifier {
  /** Resolves the viewer, or rejects with `InvalidTokenError`. */
  verify(token: string): Promise<Viewer>;
  sign(viewer: { readonly id: string; readonly name?: string | null }, options?: { readonly expiresIn?: string }): Promise<string>;
}

export class InvalidTokenError extends Error {
  override readonly name = 'InvalidTokenError';
}

const DEV_SECRET_FILE = 'dev-jwt-secret';

/**
 * The secret to use: JWT_SECRET when given, else the dev secret in `dataDir`, created on
 * first use with owner-only permissions.
 */
export function resolveSecret(options: { readonly jwtSecret: string | null; readonly dataDir: string }): string {
  if (options.jwtSecret !== null) return options.jwtSecret;
  const path = join(options.dataDir, DEV_SECRET_FILE);
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(options.dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  try {
    // 'wx' so that two processes starting together on one DATA_DIR agree on one secret.
    writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return readFileSync(path, 'utf8').trim();
  }
}

export interface TokenVerifierOptions {
  /**
   * Verified tokens remembered (until they expire) so that a client sending the same token on
   * every request pays for one HMAC, not one per request. @default 10000
   */
  readonly cacheSize?: number;
  /** Clock in epoch milliseconds, compared with the tokens' `exp`. @default Date.now */
  readonly now?: () => number;
}

export function createTokenVerifier(secret: string, { cacheSize = 10_000, now = Date.now }: TokenVerifierOptions = {}): TokenVerifier {
  const key = new TextEncoder().encode(secret);
  const verified = new Map<string, { readonly viewer: Viewer; readonly expiresAt: number }>();
  return {
    async verify(token) {
      const cached = verified.get(token);
      if (cached !== undefined) {
        if (cached.expiresAt > now()) return cached.viewer;
        verified.delete(token);
      }
      try {
        const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'] });
        if (typeof payload.sub !== 'string' || payload.sub === '') {
          throw new InvalidTokenError('The token has no subject (sub claim).');
        }
        const name = typeof payload['name'] === 'string' && payload['name'] !== '' ? payload['name'] : null;
        const viewer = { id: payload.sub, name };
        // Only tokens that expire are cached, and only until they do (nbf passed already).
        if (typeof payload.exp === 'number' && cacheSize > 0) {
          if (verified.size >= cacheSize) verified.delete(verified.keys().next().value as string);
          verified.set(token, { viewer, expiresAt: payload.exp * 1000 });
        }
        return viewer;
      } catch (error) {
        if (error instanceof InvalidTokenError) throw error;
        if (error instanceof joseErrors.JWTExpired) throw new InvalidTokenError('The token has expired.');
        if (error instanceof joseErrors.JOSEError) throw new InvalidTokenError('The token is not valid.');
        throw error;
      }
    },
    async sign(viewer, { expiresIn = '30d' } = {}) {
      const claims = viewer.name ? { name: viewer.name } : {};
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(viewer.id)
        .setIssuedAt()
        .setExpirationTime(expiresIn)
        .sign(key);
    },
  };
}

/** The token of an `authorization: Bearer …` value, or null when there is none. */
export function bearerToken(header: unknown): string | null {
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1] ?? null;
}
