/**
 * The gateway role: serves clients on PORT. One HTTP server answers the operational endpoints
 * (app/ops.ts), the browser chat (http/web.ts) and GraphQL over HTTP (delivery/http.ts, yoga),
 * and carries graphql-ws on the GraphQL path; subscriptions are fed by this node's gateway
 * and rendered once per shape by the shared executor.
 *
 * Disposing drains in this order: stop accepting, close every socket with 1001 so clients
 * reconnect elsewhere, end the live subscriptions and leave this node's channel.
 */
import { createServer, type Server } from 'node:http';
import { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import { createTokenVerifier, resolveSecret, type Viewer } from '../auth/jwt.ts';
import type { Config } from '../config.ts';
import { createGateway } from '../delivery/gateway.ts';
import { createGraphQLHttpHandler } from '../delivery/http.ts';
import { createSharedExecutor } from '../delivery/shared-execution.ts';
import { createSocketGuard } from '../delivery/socket-guard.ts';
import { createWebSocketTransport, type WebSocketTransport } from '../delivery/transport.ts';
import { createWebHandler } from '../http/web.ts';
import type { Metrics } from '../metrics.ts';
import { maskError } from '../schema/errors.ts';
import { schema } from '../schema/index.ts';
import { applyHttpTimeouts } from '../security/http-server.ts';
import { codeRefusedVariables } from '../security/input-errors.ts';
import { costErrors } from '../security/operation-limits.ts';
import { createCostMeter } from '../security/query-cost.ts';
import { acquireSubscriptionSlot } from '../security/session-limits.ts';
import { startAll, type Disposable } from '../util/disposables.ts';
import type { Connections } from './connections.ts';
import { createContextFactory } from './context.ts';
import { listen } from './listen.ts';
import { OPS_PATHS, type OpsHandler } from './ops.ts';
import { createHttpYoga } from './yoga.ts';

export interface GatewayRoleOptions {
  readonly config: Config;
  /** Where GraphQL, GraphiQL and graphql-ws are served. */
  readonly graphqlPath: string;
  readonly connections: Connections;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** /health, /ready and /metrics, answered before anything else on the port. */
  readonly ops: OpsHandler;
}

export interface RunningGateway extends Disposable {
  readonly port: number;
}

/** Stop accepting first; then tell connected clients to go elsewhere. */
async function drain(server: Server, transport: WebSocketTransport): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  await transport.close();
  server.closeAllConnections();
  await closed;
}

/** Starts serving clients and listens; a failure part way closes what was started. */
export function startGateway({ config, graphqlPath, connections, logger, metrics, ops }: GatewayRoleOptions): Promise<RunningGateway> {
  return startAll(async (parts) => {
    const { store, pubsub, presence, quota } = connections;
    const { limits } = config;
    const tokens = createTokenVerifier(resolveSecret({ jwtSecret: config.jwtSecret, dataDir: config.dataDir }), {
      maxSubjectLength: limits.maxUserIdLength,
    });
    if (presence === null) throw new Error('A node that serves clients needs presence.');
    const gateway = createGateway({
      nodeId: config.nodeId,
      store,
      pubsub,
      presence,
      queueLength: limits.subscriptionQueueLength,
      replayPageSize: limits.replayPageSize,
      onError: (error, during) => logger.error({ err: error, during }, 'delivery failed'),
      onResync: (cause, subscriptions) =>
        logger.warn(
          { cause, subscriptions },
          cause === 'pubsub'
            ? 'pub/sub connection re-established: events may have been lost, resyncing every subscription from the store'
            : 'presence had lapsed or lost registrations: registered again, resyncing every subscription from the store',
        ),
    });
    await gateway.start();
    parts.defer(() => gateway.stop());
    const contextFor = createContextFactory({
      store,
      quota,
      limits,
      gateway,
      onMessageStored: () => metrics.messagesSent.inc(),
    });
    const yoga = createHttpYoga({ config, graphqlPath, logger, store, quota, tokens, contextFor, metrics });
    const executor = createSharedExecutor<Viewer>({
      schema,
      // Shapes shared by every viewer run with no viewer: a field that needs one is marked
      // viewer-dependent and gets a shape per viewer instead.
      contextFor: (viewer) =>
        contextFor(viewer === null ? { viewer: null, reason: 'A shared subscription result has no viewer.' } : { viewer }),
      maskError: (error) => maskError(error, 'Unexpected error.', false) as GraphQLError,
    });
    parts.use(
      metrics.observe({
        subscriptions: () => gateway.size,
        gateway: () => gateway.stats,
        sharedExecution: () => executor.stats,
      }),
    );
    // The browser chat at `/`; sign-in by user id only while the throwaway dev secret is in use.
    const devSignIn = !config.production && config.jwtSecret === null;
    const web = createWebHandler({
      dir: config.web.dir,
      graphqlPath,
      reservedPaths: OPS_PATHS,
      devTokens: devSignIn
        ? {
            sign: (viewer) => tokens.sign(viewer, { expiresIn: `${config.web.devTokenTtlSeconds}s` }),
            maxUserIdLength: limits.maxUserIdLength,
            ttlSeconds: config.web.devTokenTtlSeconds,
          }
        : null,
      tokenUrl: config.web.tokenUrl,
      onError: (error) => logger.warn({ err: error }, 'serving the browser chat failed'),
    });
    if (devSignIn) {
      logger.warn('Dev sign-in is on: POST /dev/token mints a token for any user id. Set JWT_SECRET to turn it off.');
    }
    const graphql = createGraphQLHttpHandler({
      yoga,
      path: graphqlPath,
      maxBodyBytes: limits.maxRequestBodyBytes,
      maskError: (error) => maskError(error, 'Unexpected error.', false),
      onShortPath: () => metrics.httpShortPath.inc(),
    });
    const server = createServer((request, response) => {
      if (!ops(request, response) && !web.handle(request, response)) graphql(request, response);
    });
    applyHttpTimeouts(server, config.http);
    const costMeter = createCostMeter();
    const transport = createWebSocketTransport({
      server,
      path: graphqlPath,
      yoga,
      tokens,
      maxPayloadBytes: limits.maxWebSocketPayloadBytes,
      maxSubscriptionsPerConnection: limits.maxSubscriptionsPerConnection,
      connectionInitTimeoutMs: limits.connectionInitTimeoutMs,
      executor,
      // What useOperationLimits and useSessionLimits check in envelop, for the subscriptions
      // the transport frames itself.
      admitSubscription: async (args, viewer) => {
        const errors = costErrors(args, limits, costMeter);
        if (errors.length > 0) return errors;
        const slot = await acquireSubscriptionSlot(quota, viewer.id, limits.maxSubscriptionsPerUser);
        if (slot instanceof GraphQLError) return [slot];
        return () => void slot.release().catch((error: unknown) => logger.warn({ err: error }, 'releasing a subscription slot failed'));
      },
      formatSubscriptionErrors: (result) => {
        const { errors = [] } = codeRefusedVariables(result);
        return { errors: errors.map((error) => maskError(error, 'Unexpected error.', false) as GraphQLError) };
      },
      guard: createSocketGuard({
        quota,
        maxConnectionsPerUser: limits.maxConnectionsPerUser,
        documentLimits: limits,
        onError: (error) => logger.warn({ err: error }, 'releasing a connection slot failed'),
      }),
      onConnection: (delta) => metrics.connections.inc(delta),
      onSocketError: (error) => logger.error({ err: error }, 'WebSocket connection failed; closed with 4500'),
    });
    parts.defer(() => drain(server, transport));
    return { port: await listen(server, config) };
  });
}
