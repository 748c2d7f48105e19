/**
 * The composition root: opens the node's connections (app/connections.ts), then starts the
 * roles the config names, the relay (app/relay.ts) and either the gateway (app/gateway.ts) or,
 * for a relay alone, its operational endpoints (app/ops.ts). Each started part is a disposable
 * kept on one stack, so stopping, or a start that fails part way, disposes them in reverse.
 */
import type { Logger } from 'pino';
import { Roles, type Config } from './config.ts';
import { createMetrics } from './metrics.ts';
import { metricsAccess } from './security/metrics-access.ts';
import { Disposables } from './util/disposables.ts';
import { openConfiguredStore, openConnections, type OpenStore } from './app/connections.ts';
import { startGateway } from './app/gateway.ts';
import { createOpsHandler, readinessCheck, startOpsServer } from './app/ops.ts';
import { startRelay } from './app/relay.ts';

export const GRAPHQL_PATH = '/graphql';

export interface App {
  /** Connects, starts the roles, listens; resolves with the bound port (a relay's serves /health, /ready, /metrics). */
  start(): Promise<{ readonly port: number | null }>;
  /** Drains: stops accepting, closes sockets with 1001, deregisters presence, closes clients. */
  stop(): Promise<void>;
}

export interface BuildAppOptions {
  readonly logger: Logger;
  /**
   * Opens the store instead of the configured one (MONGODB_URI or the embedded store in
   * DATA_DIR): for tests that need a store that fails or hangs on purpose.
   * @default opens the store the config names
   */
  readonly openStore?: OpenStore | undefined;
}

export function buildApp(config: Config, { logger, openStore = openConfiguredStore }: BuildAppOptions): App {
  const metrics = createMetrics();
  const metricsGuard = metricsAccess({ metricsToken: config.http.metricsToken, production: config.production });
  // Disposed most recent first: the HTTP server and sockets, then the relay, then connections.
  const running = new Disposables();

  async function startRoles(): Promise<number> {
    const connections = running.use(await openConnections(config, { logger, metrics, openStore }));
    if (config.role !== Roles.gateway) running.use(await startRelay({ connections, logger, metrics }));
    const ops = createOpsHandler({
      ready: readinessCheck(connections, config.readyTimeoutMs),
      registry: metrics.registry,
      access: metricsGuard,
    });
    if (metricsGuard.kind === 'off') logger.info('/metrics is off: set METRICS_TOKEN to scrape it in production');
    const served =
      config.role === Roles.relay
        ? await startOpsServer({ config, ops })
        : await startGateway({ config, graphqlPath: GRAPHQL_PATH, connections, logger, metrics, ops });
    return running.use(served).port;
  }

  return {
    async start() {
      let port: number;
      try {
        port = await startRoles();
      } catch (error) {
        // Whatever started before the failure is closed again; the start's error is the one to report.
        await running.dispose().catch(() => {});
        throw error;
      }
      logger.info({ port, role: config.role }, 'started');
      if (config.role !== Roles.relay) {
        logger.info(`GraphQL and GraphiQL on http://localhost:${port}${GRAPHQL_PATH}`);
        logger.info(`Browser chat on http://localhost:${port}/`);
      }
      return { port };
    },
    stop: () => running.dispose(),
  };
}
