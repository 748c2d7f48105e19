/**
 * HS256 tokens. `sub` is the user id, exactly as issued; the optional `name` claim is the
 * display name. No secret is ever written in code: it comes from JWT_SECRET, or outside
 * production from a random dev secret generated once and kept in DATA_DIR.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { hasLoneSurrogate } from '../util/unicode.ts';

export interface Viewer {
  readonly id: string;
  readonly name: string | null;
}

/** A verified token: who it names and until when (epoch milliseconds of its `exp`). */
export interface Session {
  readonly viewer: Viewer;
  readonly expiresAt: number;
}

export interface TokenVerifier {
  /** Resolves the viewer, or rejects with `InvalidTokenError`. */
  verify(token: string): Promise<Viewer>;
  /** Resolves the viewer and the token's expiry, or rejects with `InvalidTokenError`. */
  verifySession(token: string): Promise<Session>;
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
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
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
  /**
   * Longest `sub`, in characters (code points), the same bound as member ids
   * (`Limits.maxUserIdLength`): a user id is stored, indexed and sent with every message.
   * @default 256
   */
  readonly maxSubjectLength?: number;
}

export function createTokenVerifier(
  secret: string,
  { cacheSize = 10_000, now = Date.now, maxSubjectLength = 256 }: TokenVerifierOptions = {},
): TokenVerifier {
  const key = new TextEncoder().encode(secret);
  const verified = new Map<string, Session>();
  const verifySession = async (token: string): Promise<Session> => {
    const cached = verified.get(token);
    if (cached !== undefined) {
      if (cached.expiresAt > now()) return cached;
      verified.delete(token);
    }
    try {
      // A token without exp would be valid forever, and a live socket would have no moment to
      // close at: refuse it.
      const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], requiredClaims: ['exp'] });
      if (typeof payload.sub !== 'string' || payload.sub === '') {
        throw new InvalidTokenError('The token has no subject (sub claim).');
      }
      if ([...payload.sub].length > maxSubjectLength || hasLoneSurrogate(payload.sub)) {
        throw new InvalidTokenError(`The token's subject (sub claim) must be at most ${maxSubjectLength} characters of valid Unicode.`);
      }
      const name = typeof payload['name'] === 'string' && payload['name'] !== '' ? payload['name'] : null;
      const session = { viewer: { id: payload.sub, name }, expiresAt: (payload.exp as number) * 1000 };
      if (cacheSize > 0) {
        if (verified.size >= cacheSize) verified.delete(verified.keys().next().value as string);
        verified.set(token, session);
      }
      return session;
    } catch (error) {
      if (error instanceof InvalidTokenError) throw error;
      if (error instanceof joseErrors.JWTExpired) throw new InvalidTokenError('The token has expired.');
      if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'exp') {
        throw new InvalidTokenError('The token has no expiry (exp claim); tokens must expire.');
      }
      if (error instanceof joseErrors.JOSEError) throw new InvalidTokenError('The token is not valid.');
      throw error;
    }
  };
  return {
    verifySession,
    async verify(token) {
      return (await verifySession(token)).viewer;
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
