/**
 * The operational endpoints every role serves on PORT, from this one handler: `/health` (the
 * process answers), `/ready` (its store and Redis answer, each within READY_TIMEOUT_MS) and
 * `/metrics` (guarded as security/metrics-access.ts says).
 *
 * Why one yoga-less handler rather than yoga plugins (useReadinessCheck, usePrometheus's
 * endpoint) on the gateway and routing by hand on the relay: the relay serves no GraphQL and
 * has no yoga to plug into, so the two roles used to answer the same paths two ways (different
 * bodies, different refusals). Here both roles answer them identically, and on a gateway a probe
 * is answered before the request reaches the chat's files or yoga's plugin chain.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Config } from '../config.ts';
import { applyHttpTimeouts } from '../security/http-server.ts';
import { metricsRefusal, type MetricsAccess } from '../security/metrics-access.ts';
import { startAll, type Disposable } from '../util/disposables.ts';
import { withTimeout } from '../util/timeout.ts';
import type { Connections } from './connections.ts';
import { listen } from './listen.ts';

/** The paths `createOpsHandler` answers: another handler on the same port must leave them alone. */
export const OPS_PATHS: readonly string[] = ['/health', '/ready', '/metrics'];

export interface OpsHandlerOptions {
  /** Resolves when the node can serve; its rejection makes /ready answer 503. */
  readonly ready: () => Promise<void>;
  readonly registry: Registry;
  readonly access: MetricsAccess;
}

/** Answers the request and returns true when it is for an operational path; false otherwise. */
export type OpsHandler = (request: IncomingMessage, response: ServerResponse) => boolean;

export function createOpsHandler({ ready, registry, access }: OpsHandlerOptions): OpsHandler {
  return (request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/health') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    } else if (path === '/ready') {
      ready().then(
        () => response.writeHead(200, { 'content-type': 'text/plain' }).end('ready'),
        () => response.writeHead(503, { 'content-type': 'text/plain' }).end('not ready'),
      );
    } else if (path === '/metrics') {
      const refusal = metricsRefusal(access, request.headers.authorization);
      if (refusal !== null) {
        response.writeHead(refusal, refusal === 401 ? { 'www-authenticate': 'Bearer' } : {}).end();
      } else {
        registry.metrics().then(
          (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
          () => response.writeHead(500).end(),
        );
      }
    } else {
      return false;
    }
    return true;
  };
}

/** Whether the node's connections answer: the store and, when configured, Redis. */
export function readinessCheck({ store, redis }: Pick<Connections, 'store' | 'redis'>, timeoutMs: number): () => Promise<void> {
  return async () => {
    // Each probe is bounded: a store with no primary (MongoDB waits serverSelectionTimeoutMS,
    // 30 s by default) or a socket that died a moment ago must not hold the probe.
    const checks: Promise<unknown>[] = [withTimeout(store.ping(), timeoutMs, `The store did not answer within ${timeoutMs} ms`)];
    if (redis !== null) {
      const { command } = redis;
      // With maxRetriesPerRequest: null ioredis queues a PING while it reconnects, so /ready
      // would wait until Redis is back instead of answering 503 while it is down.
      if (command.status !== 'ready') throw new Error(`Redis is not connected (${command.status})`);
      checks.push(withTimeout(command.ping(), timeoutMs, `Redis did not answer PING within ${timeoutMs} ms`));
    }
    await Promise.all(checks);
  };
}

export interface OpsServerOptions {
  readonly config: Pick<Config, 'port' | 'host' | 'http'>;
  readonly ops: OpsHandler;
}

export interface RunningOpsServer extends Disposable {
  readonly port: number;
}

/** A relay's HTTP server: the operational endpoints on PORT, 404 for anything else. */
export function startOpsServer({ config, ops }: OpsServerOptions): Promise<RunningOpsServer> {
  return startAll(async (parts) => {
    const server = createServer((request, response) => {
      if (!ops(request, response)) response.writeHead(404).end();
    });
    applyHttpTimeouts(server, config.http);
    parts.defer(async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A probe's keep-alive socket would hold close() open until it idles out.
      server.closeAllConnections();
      await closed;
    });
    return { port: await listen(server, config) };
  });
}
