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
import { createTokenVerifier, resolveSecret, bearerToken, InvalidTokenError, type TokenVerifier } from './auth/jwt.ts';
import { Roles, type Config } from './config.ts';
import { createGateway, type Gateway } from './delivery/gateway.ts';
import { createLocalLease } from './delivery/lease/memory.ts';
import { createRedisLease } from './delivery/lease/redis.ts';
import type { NodePresence, PresenceDirectory, PubSub, RelayLease } from './delivery/ports.ts';
import { createMemoryPresence } from './delivery/presence/memory.ts';
import { createRedisPresence, createRedisPresenceDirectory } from './delivery/presence/redis.ts';
import { createMemoryPubSub } from './delivery/pubsub/memory.ts';
import { createRedisPubSub } from './delivery/pubsub/redis.ts';
import { openRedisClients } from './delivery/redis/clients.ts';
import type { RedisClient } from './delivery/redis/support.ts';
import { withTimeout } from './util/timeout.ts';
import { createRelay, type Relay } from './delivery/relay.ts';
import { createWebSocketTransport, type SocketServerContext, type WebSocketTransport } from './delivery/transport.ts';
import type { UseCaseDeps } from './resolvers/deps.ts';
import { createLoaders, createSharedLoaders } from './resolvers/loaders.ts';
import { createRateLimiter } from './resolvers/rate-limit.ts';
import { createViewerRegistry } from './resolvers/users.ts';
import type { Auth, Context } from './schema/builder.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { maskError } from './schema/errors.ts';
import { schema } from './schema/index.ts';
import { createSqliteStore } from './storage/sqlite/store.ts';
import type { Store } from './storage/port.ts';

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
  readonly openStore?: ((config: Config) => Promise<OpenedStore>) | undefined;
}

/** The relay serves no GraphQL, only these operational endpoints on PORT. */
function createOpsServer(metrics: Metrics, ready: () => Promise<void>): Server {
  return createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/health') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    } else if (path === '/ready') {
      ready().then(
        () => response.writeHead(200, { 'content-type': 'text/plain' }).end('ready'),
        () => response.writeHead(503, { 'content-type': 'text/plain' }).end('not ready'),
      );
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
  readonly redis: { readonly command: RedisClient; readonly subscriber: RedisClient } | null;
  close(): Promise<void>;
}

async function openConfiguredStore(config: Config): Promise<OpenedStore> {
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
  });
  return { store, close: () => store.close() };
}

async function connect(
  config: Config,
  logger: Logger,
  metrics: Metrics,
  openStore: (config: Config) => Promise<OpenedStore>,
): Promise<Connections> {
  const { store, close: closeStore } = await openStore(config);
  if (config.redis === null) {
    const presence = createMemoryPresence();
    const pubsub = createMemoryPubSub();
    return {
      store,
      pubsub,
      directory: presence.directory,
      presence: presence.forNode(config.nodeId),
      lease: createLocalLease(),
      redis: null,
      async close() {
        await pubsub.close();
        await closeStore();
      },
    };
  }
  let clients;
  try {
    clients = await openRedisClients(config.redis, {
      onError: (error, connection) => logger.warn({ err: error, connection }, 'redis connection error'),
      onReconnecting: (connection) => metrics.redisReconnects.inc({ connection }),
    });
  } catch (error) {
    // start() failed, so stop() has nothing to close: without this the store would stay open.
    await closeStore();
    throw error;
  }
  const { command, subscriber } = clients;
  const pubsub = createRedisPubSub({
    publishClient: command,
    subscribeClient: subscriber,
    onStale: (fence, highest) => logger.warn({ fence, highest }, 'dropped an event from a deposed relay'),
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
    redis: { command, subscriber },
    async close() {
      await pubsub.close();
      clients.disconnect();
      await closeStore();
    },
  };
}

async function authenticate(tokens: TokenVerifier, header: string | null): Promise<Auth> {
  const token = bearerToken(header);
  if (token === null) {
    return { viewer: null, reason: 'Authentication required: send authorization: Bearer <token>.' };
  }
  try {
    return { viewer: await tokens.verify(token) };
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
  const servesClients = config.role !== Roles.relay;
  const relays = config.role !== Roles.gateway;
  const metrics = createMetrics({
    subscriptions: () => gateway?.size ?? null,
    gateway: () => gateway?.stats ?? null,
    relay: () => relay?.stats ?? null,
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

  function yogaFor(conn: Connections, tokens: TokenVerifier, live: Gateway) {
    const deps: UseCaseDeps = {
      store: conn.store,
      limits: config.limits,
      sendLimiter: createRateLimiter({ ratePerSecond: config.limits.sendRatePerSecond, burst: config.limits.sendBurst }),
      now: () => new Date(),
      newId: (prefix) => `${prefix}${randomUUID().replaceAll('-', '')}`,
      onMessageStored: () => metrics.messagesSent.inc(),
    };
    const viewers = createViewerRegistry({ store: conn.store });
    const sharedLoaders = createSharedLoaders(conn.store);
    return createYoga<SocketServerContext, Context>({
      schema,
      graphqlEndpoint: GRAPHQL_PATH,
      landingPage: false,
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
      // Served from the package, not a CDN, so GraphiQL works with no internet.
      renderGraphiQL,
      graphiql: {
        title: 'Group chat',
        defaultQuery: '# Get a token: npm run token -- alice\n# Put it in Headers: {"authorization": "Bearer <token>"}\n\nquery Me {\n  viewer { id name }\n  groups(first: 10) { edges { node { id name unreadCount lastMessage { seq body } } } }\n}\n',
        headers: JSON.stringify({ authorization: 'Bearer <token from npm run token -- alice>' }, null, 2),
      },
      plugins: [
        useReadinessCheck({ endpoint: '/ready', check: ready }),
        // No url label: one series per distinct URL (query strings included) would be unbounded.
        usePrometheus({ registry: metrics.registry, endpoint: '/metrics', labels: { url: false } }),
      ],
      context: async (initial): Promise<Context> => {
        const auth: Auth =
          initial.viewer !== undefined
            ? { viewer: initial.viewer }
            : await authenticate(tokens, initial.request.headers.get('authorization'));
        if (auth.viewer !== null) await viewers.remember(auth.viewer);
        return { auth, deps, gateway: live, loaders: createLoaders(conn.store, auth.viewer?.id ?? null, sharedLoaders) };
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
        const ops = createOpsServer(metrics, ready);
        server = ops;
        await new Promise<void>((resolve, reject) => {
          ops.once('error', reject);
          ops.listen(config.port, config.host, () => resolve());
        });
        const { port } = ops.address() as AddressInfo;
        logger.info({ port, role: config.role }, 'started');
        return { port };
      }

      const tokens = createTokenVerifier(resolveSecret({ jwtSecret: config.jwtSecret, dataDir: config.dataDir }));
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
      const yoga = yogaFor(conn, tokens, gateway);
      server = createServer(yoga);
      transport = createWebSocketTransport({
        server,
        path: GRAPHQL_PATH,
        yoga,
        tokens,
        maxPayloadBytes: config.limits.maxWebSocketPayloadBytes,
        maxSubscriptionsPerConnection: config.limits.maxSubscriptionsPerConnection,
        onConnection: (delta) => metrics.connections.inc(delta),
      });
      const listening = server;
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject);
        listening.listen(config.port, config.host, () => resolve());
      });
      const { port } = listening.address() as AddressInfo;
      logger.info({ port, role: config.role }, 'started');
      logger.info(`GraphQL and GraphiQL on http://localhost:${port}${GRAPHQL_PATH}`);
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
