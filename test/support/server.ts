/**
 * Real servers for end-to-end tests: the whole app on port 0 with a fresh data directory,
 * real HTTP requests, real graphql-ws clients. Everything started is registered with
 * `onDispose` (dispose.ts), so the file's `disposeAll` stops it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type ExecutionResult, type GraphQLFormattedError } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { pino } from 'pino';
import WebSocket from 'ws';
import { buildApp, GRAPHQL_PATH, type App, type BuildAppOptions } from '../../src/app.ts';
import { openConfiguredStore } from '../../src/app/connections.ts';
import { createTokenVerifier } from '../../src/auth/jwt.ts';
import { defaultLimits, type Config, type HttpConfig, type Limits } from '../../src/config.ts';
import { chooseMongoDbName } from '../../src/storage/mongo/db-name.ts';
import type { Store } from '../../src/storage/port.ts';
import { onDispose } from './dispose.ts';

// Transitional, for branches written before dispose.ts and wait.ts existed: import these from
// the files that define them. Remove once no test imports them from here.
export { disposeAll, onDispose } from './dispose.ts';
export { sleep } from './wait.ts';

/** Where a test server keeps its data: the embedded store always, MongoDB when configured. */
export interface Backend {
  readonly name: string;
  readonly skipReason: string | null;
  /** The MONGODB_URI for one fresh database, or null for the embedded store. */
  mongodbUri(): string | null;
}

const mongoUri = process.env['MONGODB_URI'];

export const backends: readonly Backend[] = [
  { name: 'embedded', skipReason: null, mongodbUri: () => null },
  {
    name: 'mongodb',
    skipReason: mongoUri ? null : 'MONGODB_URI is not set: no MongoDB server on this machine',
    mongodbUri: () => {
      const url = new URL(mongoUri as string);
      url.pathname = `/chat_e2e_${randomUUID().replaceAll('-', '')}`;
      return url.toString();
    },
  },
];

/**
 * A describe title that says why a backend is skipped, so a skip is never read as a pass; the
 * reason is also printed, since a compact reporter may not show skipped suites by title.
 */
export function backendTitle(backend: Backend): string {
  if (backend.skipReason === null) return backend.name;
  console.warn(`Skipping the ${backend.name} backend: ${backend.skipReason}`);
  return `${backend.name} (skipped: ${backend.skipReason})`;
}

export interface TestServer {
  readonly app: App;
  readonly port: number;
  readonly url: string;
  readonly wsUrl: string;
  readonly config: Config;
  /** The store the app opened, to make it fail on purpose. */
  store(): Store;
  token(userId: string, name?: string | null, expiresIn?: string): Promise<string>;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly backend?: Backend;
  readonly limits?: Partial<Limits>;
  readonly dataDir?: string;
  /** Run as NODE_ENV=production would (the http defaults below stay the test's own). @default false */
  readonly production?: boolean;
  /** Overrides of the HTTP settings (defaults: everything open, as in development). */
  readonly http?: Partial<HttpConfig>;
  /** Redis for pub/sub, presence and per-user quotas, under `redisKeyPrefix`. @default null */
  readonly redisUrl?: string | null;
  readonly redisKeyPrefix?: string;
  /** Share a secret with another test server (two gateways). @default a random one */
  readonly jwtSecret?: string;
  /** Settings that are not limits (e.g. readyTimeoutMs). */
  readonly settings?: Partial<Omit<Config, 'limits'>>;
  /** The app's `openStore` option: a store that fails or hangs on purpose. */
  readonly openStore?: BuildAppOptions['openStore'];
}

export async function startServer({
  backend = backends[0] as Backend,
  limits = {},
  dataDir,
  production = false,
  http = {},
  redisUrl = null,
  redisKeyPrefix = 'chat:',
  jwtSecret = randomBytes(32).toString('base64url'),
  settings = {},
  openStore,
}: StartOptions = {}): Promise<TestServer> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'chat-e2e-')));
  const mongodbUri = backend.mongodbUri();
  const config: Config = {
    role: 'all',
    port: 0,
    host: '127.0.0.1',
    nodeId: `test-${randomUUID().slice(0, 8)}`,
    dataDir: dir,
    production,
    jwtSecret,
    redis: redisUrl === null ? null : { mode: 'single', url: redisUrl },
    redisKeyPrefix,
    mongodbUri,
    mongodbDb: chooseMongoDbName(mongodbUri, null),
    outboxRetentionSeconds: 7 * 24 * 60 * 60,
    outboxRescanOverlapSeconds: 300,
    readyTimeoutMs: 2000,
    // Tests do not need power-loss durability; crash tests run the real default in a child.
    sqliteSynchronous: 'NORMAL',
    sqliteMaxBytes: null,
    outboxPollMs: 25,
    presence: { ttlSeconds: 30, heartbeatMs: 10_000 },
    lease: { ttlMs: 5000, renewMs: 1500 },
    // Tests create groups and connections faster than any person: the throttles and per-user caps
    // are tested on their own, with their defaults set back explicitly.
    limits: {
      ...defaultLimits,
      sendRatePerSecond: 10_000,
      sendBurst: 10_000,
      groupWritesPerMinute: 600_000,
      groupWriteBurst: 10_000,
      maxConnectionsPerUser: 10_000,
      maxSubscriptionsPerUser: 10_000,
      ...limits,
    },
    http: {
      graphiql: true,
      introspection: true,
      corsOrigins: [],
      metricsToken: null,
      requestTimeoutMs: 30_000,
      idleTimeoutMs: 30_000,
      ...http,
    },
    web: { dir: './web/dist', tokenUrl: null, devTokenTtlSeconds: 3600 },
    ...settings,
  };
  let opened: Store | null = null;
  const app = buildApp(config, {
    logger: pino({ level: 'silent' }),
    openStore: async (...args) => {
      const result = await (openStore ?? openConfiguredStore)(...args);
      opened = result.store;
      return result;
    },
  });
  const { port } = await app.start();
  const tokens = createTokenVerifier(jwtSecret);
  let stopped = false;
  const server: TestServer = {
    app,
    port: port as number,
    url: `http://127.0.0.1:${port}${GRAPHQL_PATH}`,
    wsUrl: `ws://127.0.0.1:${port}${GRAPHQL_PATH}`,
    config,
    store: () => opened as Store,
    token: (userId, name = null, expiresIn) => tokens.sign({ id: userId, name }, expiresIn === undefined ? {} : { expiresIn }),
    async stop() {
      if (stopped) return;
      stopped = true;
      await app.stop();
      if (dataDir === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
  onDispose(() => server.stop());
  return server;
}

export interface Result<T> {
  readonly data?: T | null;
  readonly errors?: readonly GraphQLFormattedError[];
}

type Doc<T, V> = TypedDocumentNode<T, V> | string;

/** One GraphQL request over HTTP. */
export async function request<T, V>(
  url: string,
  token: string | null,
  document: Doc<T, V>,
  variables?: V,
): Promise<Result<T>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({ query: typeof document === 'string' ? document : print(document), variables }),
  });
  return (await response.json()) as Result<T>;
}

/** The data of a request that must succeed; throws with the errors otherwise. */
export async function ok<T, V>(url: string, token: string | null, document: Doc<T, V>, variables?: V): Promise<T> {
  const result = await request(url, token, document, variables);
  if (result.errors !== undefined || result.data == null) {
    throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
  }
  return result.data;
}

/** The `extensions.code` of each error, for asserting on error tiers. */
export const codes = (result: Result<unknown>): string[] =>
  (result.errors ?? []).map((error) => String(error.extensions?.['code'] ?? 'NO_CODE'));

/** A real graphql-ws client that never retries (a test wants to see every close). */
export function wsClient(
  server: Pick<TestServer, 'wsUrl'>,
  token: string | null,
  options: { readonly onClosed?: (event: { code: number; reason: string }) => void } = {},
): Client {
  const client = createClient({
    url: server.wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: false,
    connectionParams: token === null ? {} : { authorization: `Bearer ${token}` },
    onNonLazyError: () => {},
    on: {
      closed: (event) => {
        const { code, reason } = event as { code: number; reason: string };
        options.onClosed?.({ code, reason });
      },
    },
  });
  onDispose(() => client.dispose());
  return client;
}

/** A subscription whose results are collected; `until` waits for a condition on them. */
export interface Collected<T> {
  readonly results: ExecutionResult<T>[];
  /** Resolves once the stream completed, rejects on a transport error. */
  readonly done: Promise<void>;
  readonly completed: () => boolean;
  /** Waits until `predicate(results)` holds, failing after `timeoutMs` with what arrived. */
  until(predicate: (results: ExecutionResult<T>[]) => boolean, timeoutMs?: number): Promise<void>;
  unsubscribe(): void;
}

export function collect<T, V extends Record<string, unknown>>(
  client: Client,
  document: Doc<T, V>,
  variables?: V,
): Collected<T> {
  const results: ExecutionResult<T>[] = [];
  const waiters = new Set<() => void>();
  let completed = false;
  let resolveDone: () => void = () => {};
  let rejectDone: (error: unknown) => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    resolveDone = resolve;
    rejectDone = reject;
  });
  done.catch(() => {});
  const wake = (): void => {
    for (const waiter of waiters) waiter();
  };
  const unsubscribe = client.subscribe<T>(
    { query: typeof document === 'string' ? document : print(document), variables: variables ?? {} },
    {
      next: (result) => {
        results.push(result as ExecutionResult<T>);
        wake();
      },
      error: (error) => {
        completed = true;
        rejectDone(error);
        wake();
      },
      complete: () => {
        completed = true;
        resolveDone();
        wake();
      },
    },
  );
  return {
    results,
    done,
    completed: () => completed,
    unsubscribe,
    until(predicate, timeoutMs = 10_000) {
      if (predicate(results)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (predicate(results)) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`Timed out after ${timeoutMs} ms; received ${JSON.stringify(results)}`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
  };
}
