/**
 * The composition root: creates and closes every client, wires adapters into the relay, the
 * gateway and the HTTP/WebSocket server, by role. Nothing else creates connections.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { GraphQLError } from 'graphql';
import { usePrometheus } from '@graphql-yoga/plugin-prometheus';
import { createYoga, useReadinessCheck } from 'graphql-yoga';
import type { Logger } from 'pino';
import { createTokenVerifier, resolveSecret, bearerToken, InvalidTokenError, type TokenVerifier, type Viewer } from './auth/jwt.ts';
import { Roles, type Config } from './config.ts';
import { createGateway, type Gateway } from './delivery/gateway.ts';
import { createLocalLease } from './delivery/lease/memory.ts';
import { createRedisLease } from './delivery/lease/redis.ts';
import type { NodePresence, PresenceDirectory, PubSub, RelayLease } from './delivery/ports.ts';
import { createRedisCommitSignal } from './delivery/commit-signal.ts';
import { createGraphQLHttpHandler } from './delivery/http.ts';
import { createMemoryPresence } from './delivery/presence/memory.ts';
import { createRedisPresence, createRedisPresenceDirectory } from './delivery/presence/redis.ts';
import { createMemoryPubSub } from './delivery/pubsub/memory.ts';
import { createRedisPubSub } from './delivery/pubsub/redis.ts';
import { openRedisClients } from './delivery/redis/clients.ts';
import type { RedisClient } from './delivery/redis/support.ts';
import { withTimeout } from './util/timeout.ts';
import { createRelay, type Relay } from './delivery/relay.ts';
import { createSharedExecutor, type SharedExecutor } from './delivery/shared-execution.ts';
import { createSocketGuard } from './delivery/socket-guard.ts';
import { createMemoryQuota } from './quota/memory.ts';
import type { Quota } from './quota/port.ts';
import { createRedisQuota } from './quota/redis.ts';
import { createWebSocketTransport, type SocketServerContext, type WebSocketTransport } from './delivery/transport.ts';
import { createWebHandler } from './http/web.ts';
import type { UseCaseDeps } from './resolvers/deps.ts';
import { createLoaders, createSharedLoaders } from './resolvers/loaders.ts';
import { createRateLimiter } from './resolvers/rate-limit.ts';
import { createViewerRegistry } from './resolvers/users.ts';
import type { Auth, Context } from './schema/builder.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { maskError } from './schema/errors.ts';
import { schema } from './schema/index.ts';
import { createSqliteStore } from './storage/sqlite/store.ts';
import type { CommitSignal, Store } from './storage/port.ts';
import { useStaticGraphiQL } from './security/graphiql.ts';
import { applyHttpTimeouts } from './security/http-server.ts';
import { codeRefusedVariables, useInputRules } from './security/input-errors.ts';
import { metricsAccess, metricsRefusal, useMetricsAccess, type MetricsAccess } from './security/metrics-access.ts';
import { costErrors, useOperationLimits } from './security/operation-limits.ts';
import { createParseCache } from './security/parse-cache.ts';
import { acquireSubscriptionSlot, useSessionLimits } from './security/session-limits.ts';

export const GRAPHQL_PATH = '/graphql';

export interface App {
  /** Connects, starts the roles, listens; resolves with the bound port (a relay's serves /health, /ready, /metrics). */
  start(): Promise<{ readonly port: number | null }>;
  /** Drains: stops accepting, closes sockets with 1001, deregisters presence, closes clients. */
  stop(): Promise<void>;
  /** For tests: the store, to make it fail on purpose. */
  readonly internals: { readonly store: () => Store };
}

/** An opened store and how to close it (with whatever client it owns). */
export interface OpenedStore {
  readonly store: Store;
  close(): Promise<void>;
}

export interface BuildAppOptions {
  readonly logger: Logger;
  /**
   * Opens the store instead of the configured one (MONGODB_URI or the embedded store in
   * DATA_DIR): for tests that need a store that fails or hangs on purpose.
   * @default opens the store the config names
   */
  readonly openStore?: ((config: Config, extras: StoreExtras) => Promise<OpenedStore>) | undefined;
}

/** The relay serves no GraphQL, only these operational endpoints on PORT. */
function createOpsServer(metrics: Metrics, ready: () => Promise<void>, access: MetricsAccess): Server {
  return createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/health') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    } else if (path === '/ready') {
      ready().then(
        () => response.writeHead(200, { 'content-type': 'text/plain' }).end('ready'),
        () => response.writeHead(503, { 'content-type': 'text/plain' }).end('not ready'),
      );
    } else if (path === '/metrics' && metricsRefusal(access, request.headers.authorization) !== null) {
      const refusal = metricsRefusal(access, request.headers.authorization) as number;
      response.writeHead(refusal, refusal === 401 ? { 'www-authenticate': 'Bearer' } : {}).end();
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => response.writeHead(500).end(),
      );
    } else {
      response.writeHead(404).end();
    }
  });
}

interface Connections {
  readonly store: Store;
  readonly pubsub: PubSub;
  readonly directory: PresenceDirectory;
  /** Null for a relay: it serves no subscribers, so it has no presence of its own. */
  readonly presence: NodePresence | null;
  readonly lease: RelayLease;
  /** Per-user connection, subscription and group-write quotas, shared by gateways through Redis. */
  readonly quota: Quota;
  readonly redis: { readonly command: RedisClient; readonly subscriber: RedisClient } | null;
  close(): Promise<void>;
}

/** What the composition root hands a store it opens besides the config. */
export interface StoreExtras {
  /** Wakes relays in other processes on the embedded store's commits (null without Redis). */
  readonly commits: CommitSignal | null;
}

async function openConfiguredStore(config: Config, { commits }: StoreExtras): Promise<OpenedStore> {
  if (config.mongodbUri !== null) {
    const { MongoClient } = await import('mongodb');
    const { createMongoStore } = await import('./storage/mongo/store.ts');
    const client = await new MongoClient(config.mongodbUri).connect();
    let store: Store;
    try {
      store = await createMongoStore({
        client,
        dbName: config.mongodbDb,
        outboxRetentionSeconds: config.outboxRetentionSeconds,
        rescanOverlapSeconds: config.outboxRescanOverlapSeconds,
      });
    } catch (error) {
      await client.close();
      throw error;
    }
    return {
      store,
      close: async () => {
        await store.close();
        await client.close();
      },
    };
  }
  const store = createSqliteStore({
    dataDir: config.dataDir,
    synchronous: config.sqliteSynchronous,
    pollIntervalMs: config.outboxPollMs,
    commits: commits ?? undefined,
  });
  return { store, close: () => store.close() };
}

async function connect(
  config: Config,
  logger: Logger,
  metrics: Metrics,
  openStore: (config: Config, extras: StoreExtras) => Promise<OpenedStore>,
): Promise<Connections> {
  if (config.redis === null) {
    const { store, close: closeStore } = await openStore(config, { commits: null });
    const presence = createMemoryPresence();
    const pubsub = createMemoryPubSub();
    return {
      store,
      pubsub,
      directory: presence.directory,
      presence: presence.forNode(config.nodeId),
      lease: createLocalLease(),
      quota: createMemoryQuota(),
      redis: null,
      async close() {
        await pubsub.close();
        await closeStore();
      },
    };
  }
  const clients = await openRedisClients(config.redis, {
    onError: (error, connection) => logger.warn({ err: error, connection }, 'redis connection error'),
    onReconnecting: (connection) => metrics.redisReconnects.inc({ connection }),
  });
  const { command, subscriber } = clients;
  // Processes sharing the embedded store wake each other's relay through Redis.
  const commits =
    config.mongodbUri === null
      ? createRedisCommitSignal({
          publishClient: command,
          subscribeClient: subscriber,
          channel: `${config.redisKeyPrefix}outbox:commits`,
          onError: (error) => logger.warn({ err: error }, 'outbox commit signal failed; the relay polls meanwhile'),
        })
      : null;
  let opened: OpenedStore;
  try {
    opened = await openStore(config, { commits });
  } catch (error) {
    // start() failed, so stop() has nothing to close: without this the clients would keep
    // reconnecting.
    commits?.close();
    clients.disconnect();
    throw error;
  }
  const { store, close: closeStore } = opened;
  const pubsub = createRedisPubSub({
    publishClient: command,
    subscribeClient: subscriber,
    onStale: (fence, highest) => logger.warn({ fence, highest }, 'dropped an event from a deposed relay'),
  });
  const quota = createRedisQuota({
    client: command,
    keyPrefix: config.redisKeyPrefix,
    nodeId: config.nodeId,
    // Slots of a dead gateway lapse like its presence does.
    ttlMs: config.presence.ttlSeconds * 1000,
    renewMs: config.presence.heartbeatMs,
    onError: (error) => logger.warn({ err: error }, 'quota check failed; allowed'),
  });
  const presence =
    config.role === Roles.relay
      ? null
      : createRedisPresence({
          client: command,
          nodeId: config.nodeId,
          ttlSeconds: config.presence.ttlSeconds,
          heartbeatMs: config.presence.heartbeatMs,
          keyPrefix: config.redisKeyPrefix,
          onError: (error) => logger.warn({ err: error }, 'presence heartbeat failed'),
        });
  return {
    store,
    pubsub,
    directory: createRedisPresenceDirectory({ client: command, keyPrefix: config.redisKeyPrefix }),
    presence,
    lease: createRedisLease({
      client: command,
      keyPrefix: config.redisKeyPrefix,
      holderId: `${config.nodeId}:${randomUUID()}`,
      ttlMs: config.lease.ttlMs,
      renewMs: config.lease.renewMs,
    }),
    quota,
    redis: { command, subscriber },
    async close() {
      await quota.close();
      await pubsub.close();
      // The store commits what it accepted (and signals it) while Redis is still connected.
      await closeStore();
      commits?.close();
      clients.disconnect();
    },
  };
}

async function authenticate(tokens: TokenVerifier, header: string | null): Promise<Auth> {
  const token = bearerToken(header);
  if (token === null) {
    return { viewer: null, reason: 'Authentication required: send authorization: Bearer <token>.' };
  }
  try {
    return await tokens.verifySession(token);
  } catch (error) {
    if (error instanceof InvalidTokenError) return { viewer: null, reason: error.message };
    throw error;
  }
}

export function buildApp(config: Config, { logger, openStore = openConfiguredStore }: BuildAppOptions): App {
  let connections: Connections | null = null;
  let gateway: Gateway | null = null;
  let relay: Relay | null = null;
  let server: Server | null = null;
  let transport: WebSocketTransport | null = null;
  let executor: SharedExecutor<Viewer> | null = null;
  const servesClients = config.role !== Roles.relay;
  const relays = config.role !== Roles.gateway;
  const metricsGuard = metricsAccess({ metricsToken: config.http.metricsToken, production: config.production });
  const metrics = createMetrics({
    subscriptions: () => gateway?.size ?? null,
    gateway: () => gateway?.stats ?? null,
    relay: () => relay?.stats ?? null,
    sharedExecution: () => executor?.stats ?? null,
    relayBacklog: async () =>
      relay?.stats.leader === true && connections !== null ? connections.store.outbox.backlog(relay.stats.position) : null,
  });
  const ready = async (): Promise<void> => {
    if (connections === null) throw new Error('not started');
    const { store, redis } = connections;
    // Each probe is bounded: a store with no primary (MongoDB waits serverSelectionTimeoutMS,
    // 30 s by default) or a socket that died a moment ago must not hold the probe.
    const bound = config.readyTimeoutMs;
    const checks: Promise<unknown>[] = [withTimeout(store.ping(), bound, `The store did not answer within ${bound} ms`)];
    if (redis !== null) {
      const { command } = redis;
      // With maxRetriesPerRequest: null ioredis queues a PING while it reconnects, so /ready
      // would wait until Redis is back instead of answering 503 while it is down.
      if (command.status !== 'ready') throw new Error(`Redis is not connected (${command.status})`);
      checks.push(withTimeout(command.ping(), bound, `Redis did not answer PING within ${bound} ms`));
    }
    await Promise.all(checks);
  };

  /** What GraphQL runs with on this node: the use cases' dependencies and the context factory. */
  function graphqlDeps(conn: Connections, live: Gateway) {
    const deps: UseCaseDeps = {
      store: conn.store,
      limits: config.limits,
      sendLimiter: createRateLimiter({ ratePerSecond: config.limits.sendRatePerSecond, burst: config.limits.sendBurst }),
      quota: conn.quota,
      now: () => new Date(),
      newId: (prefix) => `${prefix}${randomUUID().replaceAll('-', '')}`,
      onMessageStored: () => metrics.messagesSent.inc(),
    };
    const sharedLoaders = createSharedLoaders(conn.store);
    const contextFor = (auth: Auth): Context => ({
      auth,
      deps,
      gateway: live,
      loaders: createLoaders(conn.store, auth.viewer?.id ?? null, sharedLoaders),
    });
    return { deps, contextFor };
  }

  function yogaFor(conn: Connections, tokens: TokenVerifier, contextFor: (auth: Auth) => Context) {
    const viewers = createViewerRegistry({ store: conn.store });
    return createYoga<SocketServerContext, Context>({
      schema,
      graphqlEndpoint: GRAPHQL_PATH,
      landingPage: false,
      // Yoga's own body limit (413) answers what reaches it: browsers' requests and bodies
      // without a Content-Length. API clients' requests are held to the same limit before yoga,
      // from Content-Length (delivery/http.ts).
      maxRequestBodySize: config.limits.maxRequestBodyBytes,
      parserAndValidationCache: createParseCache({ maxBytes: config.limits.parseCacheBytes }),
      // Yoga's default reflects any Origin and allows credentials; tokens travel in a header, so
      // credentials are never needed, and only listed origins are answered.
      cors: config.http.corsOrigins.length === 0 ? false : { origin: [...config.http.corsOrigins], credentials: false },
      logging: {
        debug: () => {},
        info: (...args) => logger.info(args.map(String).join(' ')),
        warn: (...args) => logger.warn(args.map(String).join(' ')),
        // Yoga reports errors it masked here; errors meant for the user are not the server's.
        error: (...args) => {
          if (!args.some((arg) => arg instanceof Error && !(arg instanceof GraphQLError))) return;
          logger.error({ err: args.find((arg) => arg instanceof Error) }, 'unexpected error');
        },
      },
      // Masked in every mode: internal details go to the log, never to clients.
      maskedErrors: { maskError, isDev: false },
      // Served by useStaticGraphiQL below: one shared buffer, not a 9 MB string per request.
      graphiql: false,
      plugins: [
        config.http.graphiql &&
          useStaticGraphiQL({
            endpoint: GRAPHQL_PATH,
            // Served from the package, not a CDN, so GraphiQL works with no internet.
            render: renderGraphiQL,
            options: {
              title: 'Group chat',
              defaultQuery: '# Get a token: npm run token -- alice\n# Put it in Headers: {"authorization": "Bearer <token>"}\n\nquery Me {\n  viewer { id name }\n  groups(first: 10) { edges { node { id name unreadCount lastMessage { seq body } } } }\n}\n',
              headers: JSON.stringify({ authorization: 'Bearer <token from npm run token -- alice>' }, null, 2),
            },
          }),
        useOperationLimits(config.limits),
        useInputRules({ introspection: config.http.introspection }),
        useSessionLimits({
          quota: conn.quota,
          maxSubscriptionsPerUser: config.limits.maxSubscriptionsPerUser,
          onError: (error) => logger.warn({ err: error }, 'releasing a subscription slot failed'),
        }),
        useReadinessCheck({ endpoint: '/ready', check: ready }),
        useMetricsAccess(metricsGuard, '/metrics'),
        // No url label: one series per distinct URL (query strings included) would be unbounded.
        usePrometheus({
          registry: metrics.registry,
          endpoint: metricsGuard.kind === 'off' ? false : '/metrics',
          labels: { url: false },
          // Request counts, errors and HTTP durations. The per-phase histograms and the
          // deprecated-field counter were most of a send's CPU in a profile: the latter walks
          // every document with TypeInfo on every request, and this schema deprecates nothing.
          metrics: {
            graphql_envelop_request: true,
            graphql_envelop_error_result: true,
            graphql_yoga_http_duration: true,
            graphql_envelop_deprecated_field: false,
            graphql_envelop_request_duration: false,
            graphql_envelop_request_time_summary: false,
            graphql_envelop_phase_parse: false,
            graphql_envelop_phase_validate: false,
            graphql_envelop_phase_context: false,
            graphql_envelop_phase_execute: false,
            graphql_envelop_phase_subscribe: false,
            graphql_envelop_schema_change: false,
          },
        }),
      ],
      context: async (initial): Promise<Context> => {
        const auth: Auth =
          initial.viewer !== undefined
            ? { viewer: initial.viewer, ...(initial.expiresAt === undefined ? {} : { expiresAt: initial.expiresAt }) }
            : await authenticate(tokens, initial.request.headers.get('authorization'));
        if (auth.viewer !== null) await viewers.remember(auth.viewer);
        return contextFor(auth);
      },
    });
  }

  return {
    internals: {
      store: () => {
        if (connections === null) throw new Error('The app has not started.');
        return connections.store;
      },
    },
    async start() {
      connections = await connect(config, logger, metrics, openStore);
      const conn = connections;
      if (relays) {
        relay = createRelay({
          store: conn.store,
          pubsub: conn.pubsub,
          directory: conn.directory,
          lease: conn.lease,
          onError: (error) => logger.error({ err: error }, 'relay failed; retrying'),
          onLeadership: (leader) => logger.info({ leader }, leader ? 'relay is active' : 'relay is standing by'),
        });
        relay.start();
      }
      if (!servesClients) {
        const ops = createOpsServer(metrics, ready, metricsGuard);
        applyHttpTimeouts(ops, config.http);
        server = ops;
        await new Promise<void>((resolve, reject) => {
          ops.once('error', reject);
          ops.listen(config.port, config.host, () => resolve());
        });
        const { port } = ops.address() as AddressInfo;
        logger.info({ port, role: config.role }, 'started');
        return { port };
      }

      const tokens = createTokenVerifier(resolveSecret({ jwtSecret: config.jwtSecret, dataDir: config.dataDir }), {
        maxSubjectLength: config.limits.maxUserIdLength,
      });
      if (conn.presence === null) throw new Error('A node that serves clients needs presence.');
      gateway = createGateway({
        nodeId: config.nodeId,
        store: conn.store,
        pubsub: conn.pubsub,
        presence: conn.presence,
        queueLength: config.limits.subscriptionQueueLength,
        replayPageSize: config.limits.replayPageSize,
        onError: (error, during) => logger.error({ err: error, during }, 'delivery failed'),
      });
      await gateway.start();
      const { contextFor } = graphqlDeps(conn, gateway);
      const yoga = yogaFor(conn, tokens, contextFor);
      executor = createSharedExecutor<Viewer>({
        schema,
        // Shapes shared by every viewer run with no viewer: a field that needs one is marked
        // viewer-dependent and gets a shape per viewer instead.
        contextFor: (viewer) =>
          contextFor(viewer === null ? { viewer: null, reason: 'A shared subscription result has no viewer.' } : { viewer }),
        maskError: (error) => maskError(error, 'Unexpected error.', false) as GraphQLError,
      });
      // The browser chat at `/`; sign-in by user id only while the throwaway dev secret is in use.
      const devSignIn = !config.production && config.jwtSecret === null;
      const web = createWebHandler({
        dir: config.web.dir,
        graphqlPath: GRAPHQL_PATH,
        reservedPaths: ['/health', '/ready', '/metrics'],
        devTokens: devSignIn
          ? {
              sign: (viewer) => tokens.sign(viewer, { expiresIn: `${config.web.devTokenTtlSeconds}s` }),
              maxUserIdLength: config.limits.maxUserIdLength,
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
        path: GRAPHQL_PATH,
        maxBodyBytes: config.limits.maxRequestBodyBytes,
        maskError: (error) => maskError(error, 'Unexpected error.', false),
        onShortPath: () => metrics.httpShortPath.inc(),
      });
      server = createServer((request, response) => {
        if (!web.handle(request, response)) graphql(request, response);
      });
      applyHttpTimeouts(server, config.http);
      if (metricsGuard.kind === 'off') logger.info('/metrics is off: set METRICS_TOKEN to scrape it in production');
      transport = createWebSocketTransport({
        server,
        path: GRAPHQL_PATH,
        yoga,
        tokens,
        maxPayloadBytes: config.limits.maxWebSocketPayloadBytes,
        maxSubscriptionsPerConnection: config.limits.maxSubscriptionsPerConnection,
        executor,
        // What useOperationLimits and useSessionLimits check in envelop, for the subscriptions
        // the transport frames itself.
        admitSubscription: async (args, viewer) => {
          const errors = costErrors(args, config.limits);
          if (errors.length > 0) return errors;
          const slot = await acquireSubscriptionSlot(conn.quota, viewer.id, config.limits.maxSubscriptionsPerUser);
          if (slot instanceof GraphQLError) return [slot];
          return () => void slot.release().catch((error: unknown) => logger.warn({ err: error }, 'releasing a subscription slot failed'));
        },
        formatSubscriptionErrors: (result) => {
          const { errors = [] } = codeRefusedVariables(result);
          return { errors: errors.map((error) => maskError(error, 'Unexpected error.', false) as GraphQLError) };
        },
        guard: createSocketGuard({
          quota: conn.quota,
          maxConnectionsPerUser: config.limits.maxConnectionsPerUser,
          documentLimits: config.limits,
          onError: (error) => logger.warn({ err: error }, 'releasing a connection slot failed'),
        }),
        onConnection: (delta) => metrics.connections.inc(delta),
        onSocketError: (error) => logger.error({ err: error }, 'WebSocket connection failed; closed with 4500'),
      });
      const listening = server;
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject);
        listening.listen(config.port, config.host, () => resolve());
      });
      const { port } = listening.address() as AddressInfo;
      logger.info({ port, role: config.role }, 'started');
      logger.info(`GraphQL and GraphiQL on http://localhost:${port}${GRAPHQL_PATH}`);
      logger.info(`Browser chat on http://localhost:${port}/`);
      return { port };
    },
    async stop() {
      const listening = server;
      if (listening !== null) {
        // Stop accepting first; then tell connected clients to go elsewhere.
        const closed = new Promise<void>((resolve) => listening.close(() => resolve()));
        await transport?.close();
        listening.closeAllConnections();
        await closed;
      }
      await gateway?.stop();
      await relay?.stop();
      await connections?.presence?.close();
      await connections?.close();
      server = null;
      transport = null;
      gateway = null;
      relay = null;
      connections = null;
    },
  };
}
