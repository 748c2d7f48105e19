/**
 * Configuration: every limit the platform enforces is named here, with its default, and can
 * be set from the environment. `loadConfig` is the only place that reads `process.env`-like
 * input; the rest of the code receives a `Config`. It passes 400 lines because every limit is
 * documented here, next to its default, and nowhere else.
 */
import { randomUUID } from 'node:crypto';
import { chooseMongoDbName } from './storage/mongo/db-name.ts';

export const Roles = { all: 'all', gateway: 'gateway', relay: 'relay' } as const;
export type Role = (typeof Roles)[keyof typeof Roles];

export interface Limits {
  /** Longest message body, in characters (Unicode code points, so an emoji counts once). @default 4000 */
  readonly maxBodyLength: number;
  /** Longest clientMessageId. @default 64 */
  readonly maxClientMessageIdLength: number;
  /** Longest group name. @default 100 */
  readonly maxGroupNameLength: number;
  /** Longest user id, in characters: member ids in createGroup / addGroupMembers and token `sub` claims alike. @default 256 */
  readonly maxUserIdLength: number;
  /** Most members a group may have. @default 10000 */
  readonly maxGroupMembers: number;
  /** Most user ids one createGroup/addGroupMembers call may name. @default 1000 */
  readonly maxMembersPerCall: number;
  /** Largest `first`/`last` of any connection. @default 100 */
  readonly maxPageSize: number;
  /** Page size when neither `first` nor `last` is given. @default 20 */
  readonly defaultPageSize: number;
  /** Messages one user may send per second, sustained (token bucket refill). @default 20 */
  readonly sendRatePerSecond: number;
  /** Messages one user may send in a burst (token bucket size). @default 40 */
  readonly sendBurst: number;
  /** Most entries in `messageAdded(since:)`. @default 1000 */
  readonly maxSinceGroups: number;
  /**
   * Most undelivered messages one subscription may hold before it is ended with
   * RATE_LIMITED (the client resubscribes with `since`, losing nothing). @default 1000
   */
  readonly subscriptionQueueLength: number;
  /** Messages read from the store per page while replaying `since` or repairing a gap. @default 500 */
  readonly replayPageSize: number;
  /** Most subscriptions one WebSocket connection may hold at once. @default 50 */
  readonly maxSubscriptionsPerConnection: number;
  /**
   * Largest incoming WebSocket message, in bytes; a larger one closes the socket with 1009.
   * The default fits a subscribe message with the most `since` entries. @default 262144
   */
  readonly maxWebSocketPayloadBytes: number;
  /**
   * Largest HTTP request body, in bytes; a larger one is refused with 413 before it is parsed.
   * The same as the WebSocket message limit: it fits a createGroup naming `maxMembersPerCall`
   * ASCII ids of `maxUserIdLength` characters (about 259 kB) sent as variables. @default 262144
   */
  readonly maxRequestBodyBytes: number;
  /** Most lexical tokens in one GraphQL document (HTTP and WebSocket alike); 5× the largest operation the tests and README use. @default 1000 */
  readonly maxQueryTokens: number;
  /** Deepest nesting of field selections (through fragments) and of input values in one document. @default 12 */
  readonly maxQueryDepth: number;
  /** Most aliases in one document. @default 30 */
  readonly maxQueryAliases: number;
  /** Most directives (`@include`, `@skip`, …) in one document. @default 20 */
  readonly maxQueryDirectives: number;
  /**
   * Highest cost of one operation: every field costs 1, a connection multiplies the cost of its
   * selection by `first`/`last` (`defaultPageSize` when absent), any other list by 10.
   * @default 10000
   */
  readonly maxQueryCost: number;
  /** Estimated bytes of parsed documents kept in the parse/validate cache. @default 16777216 */
  readonly parseCacheBytes: number;
  /** Open WebSocket connections one user may hold, across every gateway. @default 20 */
  readonly maxConnectionsPerUser: number;
  /** Live subscriptions (WebSocket and server-sent events) one user may hold, across every gateway. @default 100 */
  readonly maxSubscriptionsPerUser: number;
  /** createGroup and addGroupMembers calls one user may make per minute, sustained, across every gateway. @default 30 */
  readonly groupWritesPerMinute: number;
  /** createGroup and addGroupMembers calls one user may make in a burst. @default 10 */
  readonly groupWriteBurst: number;
  /** Most ids one `nodes(ids:)` query may name. @default 100 */
  readonly maxNodeIds: number;
  /**
   * Milliseconds a WebSocket may stay open without sending `connection_init`; then it is closed
   * with 4408 (graphql-ws's `connectionInitWaitTimeout`, whose default this is). Until then an
   * unauthenticated socket costs the server its buffers, so this bounds how long a client that
   * never speaks holds them. @default 3000
   */
  readonly connectionInitTimeoutMs: number;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Which Redis the multi-node adapters use (pub/sub, presence, relay lease). */
export type RedisTarget =
  /** One server, or a primary with replicas addressed directly: `REDIS_URL`. */
  | { readonly mode: 'single'; readonly url: string }
  /** A primary found through Redis Sentinel: `REDIS_SENTINELS` + `REDIS_SENTINEL_NAME`. */
  | {
      readonly mode: 'sentinel';
      readonly sentinels: readonly HostPort[];
      readonly name: string;
      readonly password: string | null;
      readonly sentinelPassword: string | null;
    }
  /** Redis Cluster (sharded pub/sub): `REDIS_CLUSTER_NODES`. */
  | {
      readonly mode: 'cluster';
      readonly nodes: readonly HostPort[];
      readonly password: string | null;
      /**
       * How often the clients re-read the slot map (`REDIS_CLUSTER_REFRESH_MS`). A slot moved by
       * resharding drops the shard subscriptions in it without an error anyone sees: the
       * subscriber learns the move, subscribes on the new owner and reports the possible loss at
       * its next refresh. @default 5000
       */
      readonly refreshMs: number;
    };

export interface Config {
  readonly role: Role;
  readonly port: number;
  readonly host: string;
  readonly nodeId: string;
  readonly dataDir: string;
  readonly production: boolean;
  /** HS256 secret; when null outside production a dev secret is kept in `dataDir`. */
  readonly jwtSecret: string | null;
  /** Null: in-process pub/sub, presence and lease (one process). */
  readonly redis: RedisTarget | null;
  /** Prefix of every Redis key (presence, relay lease), so deployments can share a Redis. */
  readonly redisKeyPrefix: string;
  readonly mongodbUri: string | null;
  /** The MongoDB database: the one named in MONGODB_URI's path, else MONGODB_DB, else `chat`. */
  readonly mongodbDb: string;
  /** MongoDB: how long outbox documents are kept (TTL); the longest relay outage survived. */
  readonly outboxRetentionSeconds: number;
  /** MongoDB: how far before a lost resume point the outbox is read again (see mongo/store.ts). */
  readonly outboxRescanOverlapSeconds: number;
  /** Longest time `/ready` waits for the store and Redis before answering 503. */
  readonly readyTimeoutMs: number;
  /** `FULL` fsyncs every commit (survives power loss); `NORMAL` survives process crashes. */
  readonly sqliteSynchronous: 'FULL' | 'NORMAL';
  /**
   * `SQLITE_MAX_BYTES`: the embedded store's database may grow to this many bytes; then writes
   * fail with SERVICE_UNAVAILABLE (reason STORE_FULL), as on a full disk, and succeed again once
   * it is raised (applied at start) or the disk has room. Null: no cap but the disk. @default null
   */
  readonly sqliteMaxBytes: number | null;
  /**
   * Fallback poll of a relay following the embedded outbox. Commits wake it at once (in one
   * process directly, across processes through Redis); the poll only covers a lost signal.
   */
  readonly outboxPollMs: number;
  /** With Redis: a dead node's registrations expire after `ttlSeconds`; refreshed every `heartbeatMs`. */
  readonly presence: { readonly ttlSeconds: number; readonly heartbeatMs: number };
  /** With Redis: the relay lease outlives a dead holder by `ttlMs`; renewed every `renewMs`. */
  readonly lease: { readonly ttlMs: number; readonly renewMs: number };
  readonly limits: Limits;
  readonly http: HttpConfig;
  /** The browser chat served at `/`. */
  readonly web: WebConfig;
}

/**
 * What the HTTP side exposes. Production (NODE_ENV=production) defaults to the closed choice
 * for each, and each can be opened by its variable.
 */
export interface HttpConfig {
  /** GraphiQL at GET /graphql. `GRAPHIQL=1|0`. @default true, false in production */
  readonly graphiql: boolean;
  /** Schema introspection (`__schema`, `__type`). `INTROSPECTION=1|0`. @default true, false in production */
  readonly introspection: boolean;
  /**
   * Origins allowed to call the API from a browser (`CORS_ORIGINS`, comma-separated; `*` for
   * any). Empty: no CORS headers, so only same-origin pages can read responses. @default []
   */
  readonly corsOrigins: readonly string[];
  /**
   * `METRICS_TOKEN`: /metrics then answers only `authorization: Bearer <token>`. Without it
   * /metrics is open outside production and disabled (404) in production. @default null
   */
  readonly metricsToken: string | null;
  /** `HTTP_REQUEST_TIMEOUT_MS`: a request whose headers and body take longer is cut. @default 30000 */
  readonly requestTimeoutMs: number;
  /**
   * `HTTP_IDLE_TIMEOUT_MS`: a connection on which nothing moves for this long is closed, so a
   * client that stops reading a response cannot pin it in memory. Server-sent event streams
   * ping every 12 s and WebSockets are exempt. @default 30000
   */
  readonly idleTimeoutMs: number;
}

export interface WebConfig {
  /** The built app (`npm run build:web`). @default ./web/dist */
  readonly dir: string;
  /** The host app's token endpoint the chat signs in with in production (CHAT_TOKEN_URL). @default null */
  readonly tokenUrl: string | null;
  /** Lifetime of tokens minted by the dev-only `POST /dev/token`, in seconds. @default 3600 */
  readonly devTokenTtlSeconds: number;
}

export const defaultLimits: Limits = {
  maxBodyLength: 4000,
  maxClientMessageIdLength: 64,
  maxGroupNameLength: 100,
  maxUserIdLength: 256,
  maxGroupMembers: 10_000,
  maxMembersPerCall: 1000,
  maxPageSize: 100,
  defaultPageSize: 20,
  sendRatePerSecond: 20,
  sendBurst: 40,
  maxSinceGroups: 1000,
  subscriptionQueueLength: 1000,
  replayPageSize: 500,
  maxSubscriptionsPerConnection: 50,
  maxWebSocketPayloadBytes: 256 * 1024,
  maxRequestBodyBytes: 256 * 1024,
  maxQueryTokens: 1000,
  maxQueryDepth: 12,
  maxQueryAliases: 30,
  maxQueryDirectives: 20,
  maxQueryCost: 10_000,
  parseCacheBytes: 16 * 1024 * 1024,
  maxConnectionsPerUser: 20,
  maxSubscriptionsPerUser: 100,
  groupWritesPerMinute: 30,
  groupWriteBurst: 10,
  maxNodeIds: 100,
  connectionInitTimeoutMs: 3000,
};

/** Environment variable for each limit: `maxBodyLength` ← `LIMIT_MAX_BODY_LENGTH`. */
export const limitEnvName = (key: keyof Limits): string =>
  `LIMIT_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Readonly<Record<string, string | undefined>>;

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** How often yoga pings a server-sent event stream (graphql-yoga `plugins/result-processor/sse.ts`). */
const SSE_PING_MS = 12_000;

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be 1 or 0 (true or false), got ${JSON.stringify(raw)}`);
}

function origins(env: Env): string[] {
  const list = (env['CORS_ORIGINS'] ?? '').split(',').map((origin) => origin.trim()).filter((origin) => origin !== '');
  for (const origin of list) {
    if (origin === '*') continue;
    let parsed: URL | null = null;
    try {
      parsed = new URL(origin);
    } catch {
      // reported below
    }
    // Browsers send the origin as scheme://host[:port] exactly; anything else would never match.
    if (parsed === null || parsed.origin !== origin) {
      throw new ConfigError(`CORS_ORIGINS entries must be origins like https://chat.example.com (no path, no trailing slash), got ${JSON.stringify(origin)}`);
    }
  }
  return list;
}

/** `host:port,host:port` (IPv6 hosts in brackets: `[::1]:6379`). */
function hostPorts(env: Env, name: string): HostPort[] {
  const raw = env[name] ?? '';
  const entries = raw.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  if (entries.length === 0) throw new ConfigError(`${name} must list host:port entries, got ${JSON.stringify(raw)}`);
  return entries.map((entry) => {
    const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(entry);
    const port = Number(match?.[3]);
    const host = match?.[1] ?? match?.[2];
    if (host === undefined || !(port >= 1 && port <= 65535)) {
      throw new ConfigError(`${name}: ${JSON.stringify(entry)} is not host:port`);
    }
    return { host, port };
  });
}

function redisTarget(env: Env): RedisTarget | null {
  const chosen = ['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'].filter((name) => env[name]);
  if (chosen.length > 1) throw new ConfigError(`Set only one of ${chosen.join(', ')}: they name different Redis deployments.`);
  const password = env['REDIS_PASSWORD'] || null;
  if (env['REDIS_URL']) return { mode: 'single', url: env['REDIS_URL'] };
  if (env['REDIS_CLUSTER_NODES']) {
    return {
      mode: 'cluster',
      nodes: hostPorts(env, 'REDIS_CLUSTER_NODES'),
      password,
      refreshMs: positiveInt(env, 'REDIS_CLUSTER_REFRESH_MS', 5000),
    };
  }
  if (env['REDIS_SENTINELS']) {
    const name = env['REDIS_SENTINEL_NAME'];
    if (!name) throw new ConfigError('REDIS_SENTINELS needs REDIS_SENTINEL_NAME, the name of the monitored primary (e.g. mymaster).');
    return {
      mode: 'sentinel',
      sentinels: hostPorts(env, 'REDIS_SENTINELS'),
      name,
      password,
      sentinelPassword: env['REDIS_SENTINEL_PASSWORD'] || null,
    };
  }
  return null;
}

export function loadConfig(env: Env): Config {
  const role = env['ROLE'] ?? Roles.all;
  if (!Object.values<string>(Roles).includes(role)) {
    throw new ConfigError(`ROLE must be one of all, gateway, relay; got ${JSON.stringify(role)}`);
  }
  const redis = redisTarget(env);
  if (role !== Roles.all && redis === null) {
    throw new ConfigError(
      `ROLE=${role} needs REDIS_URL (or REDIS_CLUSTER_NODES, or REDIS_SENTINELS): without Redis, pub/sub is in-process and cannot reach the other roles. ` +
        'Use ROLE=all (the default) for a single process.',
    );
  }
  const redisKeyPrefix = env['REDIS_KEY_PREFIX'] || 'chat:';
  if (/[{}]/.test(redisKeyPrefix)) {
    throw new ConfigError(`REDIS_KEY_PREFIX must not contain { or } (Redis Cluster would read them as a hash tag), got ${JSON.stringify(redisKeyPrefix)}`);
  }
  const mongodbUri = env['MONGODB_URI'] || null;
  let mongodbDb: string;
  try {
    mongodbDb = chooseMongoDbName(mongodbUri, env['MONGODB_DB'] || null);
  } catch (error) {
    throw new ConfigError(error instanceof Error ? error.message : String(error));
  }
  const production = env['NODE_ENV'] === 'production';
  const jwtSecret = env['JWT_SECRET'] || null;
  if (production && jwtSecret === null && role !== Roles.relay) {
    throw new ConfigError(
      'JWT_SECRET is not set. In production (NODE_ENV=production) the server refuses to start ' +
        'without it: set JWT_SECRET to a long random string shared by every gateway.',
    );
  }
  const synchronous = (env['SQLITE_SYNCHRONOUS'] ?? 'FULL').toUpperCase();
  if (synchronous !== 'FULL' && synchronous !== 'NORMAL') {
    throw new ConfigError(`SQLITE_SYNCHRONOUS must be FULL or NORMAL, got ${JSON.stringify(synchronous)}`);
  }
  const limits = Object.fromEntries(
    (Object.keys(defaultLimits) as (keyof Limits)[]).map((key) => [
      key,
      positiveInt(env, limitEnvName(key), defaultLimits[key]),
    ]),
  ) as unknown as Limits;
  const portRaw = env['PORT'];
  const port = portRaw === undefined || portRaw === '' ? 4000 : Number(portRaw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`PORT must be a port number, got ${JSON.stringify(portRaw)}`);
  }
  const presence = {
    ttlSeconds: positiveInt(env, 'PRESENCE_TTL_SECONDS', 30),
    heartbeatMs: positiveInt(env, 'PRESENCE_HEARTBEAT_MS', 10_000),
  };
  if (presence.heartbeatMs >= presence.ttlSeconds * 1000) {
    throw new ConfigError('PRESENCE_HEARTBEAT_MS must be shorter than PRESENCE_TTL_SECONDS, or presence would lapse between heartbeats.');
  }
  const lease = {
    ttlMs: positiveInt(env, 'RELAY_LEASE_TTL_MS', 5000),
    renewMs: positiveInt(env, 'RELAY_LEASE_RENEW_MS', 1500),
  };
  if (lease.renewMs >= lease.ttlMs) {
    throw new ConfigError('RELAY_LEASE_RENEW_MS must be shorter than RELAY_LEASE_TTL_MS, or the lease would lapse between renewals.');
  }
  const idleTimeoutMs = positiveInt(env, 'HTTP_IDLE_TIMEOUT_MS', 30_000);
  if (idleTimeoutMs < SSE_PING_MS + 3000) {
    throw new ConfigError(
      `HTTP_IDLE_TIMEOUT_MS must be at least ${SSE_PING_MS + 3000}: server-sent event streams ping every ${SSE_PING_MS / 1000} s and would be cut between pings.`,
    );
  }
  return {
    role: role as Role,
    port,
    host: env['HOST'] || '0.0.0.0',
    nodeId: env['NODE_ID'] || `node-${randomUUID().slice(0, 8)}`,
    dataDir: env['DATA_DIR'] || './data',
    production,
    jwtSecret,
    redis,
    redisKeyPrefix,
    mongodbUri,
    mongodbDb,
    outboxRetentionSeconds: positiveInt(env, 'OUTBOX_RETENTION_SECONDS', 7 * 24 * 60 * 60),
    outboxRescanOverlapSeconds: positiveInt(env, 'OUTBOX_RESCAN_OVERLAP_SECONDS', 300),
    readyTimeoutMs: positiveInt(env, 'READY_TIMEOUT_MS', 2000),
    sqliteSynchronous: synchronous,
    sqliteMaxBytes: env['SQLITE_MAX_BYTES'] ? positiveInt(env, 'SQLITE_MAX_BYTES', 1) : null,
    outboxPollMs: positiveInt(env, 'OUTBOX_POLL_MS', 250),
    presence,
    lease,
    limits,
    http: {
      graphiql: flag(env, 'GRAPHIQL', !production),
      introspection: flag(env, 'INTROSPECTION', !production),
      corsOrigins: origins(env),
      metricsToken: env['METRICS_TOKEN'] || null,
      requestTimeoutMs: positiveInt(env, 'HTTP_REQUEST_TIMEOUT_MS', 30_000),
      idleTimeoutMs,
    },
    web: {
      dir: env['WEB_DIR'] || './web/dist',
      tokenUrl: env['CHAT_TOKEN_URL'] || null,
      devTokenTtlSeconds: positiveInt(env, 'DEV_TOKEN_TTL_SECONDS', 3600),
    },
  };
}
