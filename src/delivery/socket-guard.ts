/**
 * What a WebSocket connection may do, kept apart from the transport so any transport can call it
 * with a few lines (at connection_init, before each operation, on close):
 *
 * - A connection lives only as long as its token: at the token's `exp` the socket is closed with
 *   4403 and a reason naming the expiry. graphql-ws clients retry a 4403 and call
 *   `connectionParams` again, so a client that returns a fresh token from it reconnects at once.
 * - A user holds at most `maxConnectionsPerUser` connections across every gateway (through the
 *   Quota port). Over it, the connection is closed at connection_init with 4429 and a reason
 *   naming the limit; graphql-ws clients do not retry a 4429.
 * - Documents are measured against the document limits before parsing, all limits at once.
 */
import type { GraphQLError } from 'graphql';
import type { Session } from '../auth/jwt.ts';
import type { Quota } from '../quota/port.ts';
import { checkDocument, measureDocument, type DocumentLimits } from '../security/document-limits.ts';

/** graphql-ws's Forbidden: the client may retry, with new connectionParams. */
export const TOKEN_EXPIRED = { code: 4403, reason: 'Token expired: connect again with a fresh token' } as const;
/** graphql-ws's TooManyInitialisationRequests, which its clients do not retry. */
export const TOO_MANY_CONNECTIONS_CODE = 4429;
/** The Quota pool of open connections. */
export const CONNECTIONS_POOL = 'connections';

/** setTimeout's longest delay (2^31 − 1 ms, about 24.8 days); longer ones fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

/** Calls `fire` at epoch `at` (ms), also when that is further away than one timer can wait. */
export function callAt(at: number, fire: () => void, now: () => number = Date.now): () => void {
  let timer: NodeJS.Timeout;
  const arm = (): void => {
    const wait = at - now();
    if (wait <= 0) {
      fire();
      return;
    }
    timer = setTimeout(arm, Math.min(wait, MAX_TIMER_MS));
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}

export interface GuardedConnection {
  /** True while the token is valid; once it has expired the socket is closed with 4403. */
  check(): boolean;
  /** Frees the connection's slot and its expiry timer. Call when the socket closes; idempotent. */
  end(): void;
}

export interface SocketGuard {
  /**
   * For a verified session at connection_init: holds a connection slot and arms the close at
   * expiry. Null when refused: `close` has been called (4429 over the cap, 4403 if expired).
   */
  admit(session: Session, close: (code: number, reason: string) => void): Promise<GuardedConnection | null>;
  /** Every document limit the query breaks, to answer its operation with (empty: parse it). */
  documentErrors(query: string): GraphQLError[];
}

export interface SocketGuardOptions {
  readonly quota: Quota;
  readonly maxConnectionsPerUser: number;
  readonly documentLimits: DocumentLimits;
  /** Epoch ms, compared with tokens' `exp`. @default Date.now */
  readonly now?: () => number;
  /** Told when releasing a slot fails. @default does nothing */
  readonly onError?: (error: unknown) => void;
}

export function createSocketGuard({
  quota,
  maxConnectionsPerUser,
  documentLimits,
  now = Date.now,
  onError = () => {},
}: SocketGuardOptions): SocketGuard {
  return {
    async admit({ viewer, expiresAt }, close) {
      const expire = (): void => close(TOKEN_EXPIRED.code, TOKEN_EXPIRED.reason);
      if (expiresAt <= now()) {
        expire();
        return null;
      }
      const slot = await quota.acquire(CONNECTIONS_POOL, viewer.id, maxConnectionsPerUser);
      if (slot === null) {
        close(
          TOO_MANY_CONNECTIONS_CODE,
          `Too many connections: a user may hold ${maxConnectionsPerUser} (MAX_CONNECTIONS_PER_USER); close one first`,
        );
        return null;
      }
      const cancel = callAt(expiresAt, expire, now);
      let ended = false;
      return {
        check() {
          if (expiresAt > now()) return true;
          expire();
          return false;
        },
        end() {
          if (ended) return;
          ended = true;
          cancel();
          slot.release().catch(onError);
        },
      };
    },
    documentErrors(query) {
      try {
        return checkDocument(measureDocument(query), documentLimits);
      } catch {
        // A lexical syntax error: parsing reports it with its location.
        return [];
      }
    },
  };
}
