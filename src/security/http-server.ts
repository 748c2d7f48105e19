/**
 * Timeouts of a Node HTTP server. Node cuts a request that is slow to arrive (`requestTimeout`,
 * 300 s by default) but never a response that is slow to leave: without an idle timeout a client
 * that stops reading holds its socket and the unsent response for as long as it likes.
 */
import type { Server } from 'node:http';
import type { HttpConfig } from '../config.ts';

/** Headers arrive in one small burst; a client dribbling them (slowloris) is cut after this. */
const HEADERS_TIMEOUT_MS = 10_000;

export function applyHttpTimeouts(server: Server, { requestTimeoutMs, idleTimeoutMs }: Pick<HttpConfig, 'requestTimeoutMs' | 'idleTimeoutMs'>): void {
  server.requestTimeout = requestTimeoutMs;
  // Node requires headersTimeout <= requestTimeout.
  server.headersTimeout = Math.min(HEADERS_TIMEOUT_MS, requestTimeoutMs);
  // With no 'timeout' listener on the server, Node destroys a socket idle this long (reading or
  // writing). Upgraded WebSockets are exempt: ws clears the socket's timeout on upgrade.
  server.timeout = idleTimeoutMs;
}
