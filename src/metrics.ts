/**
 * Prometheus metrics (prom-client) for gateways and relays. Counters the delivery code keeps
 * as plain numbers (gateway and relay stats) are read at scrape time, so the hot path pays no
 * metric calls. A part that keeps such numbers attaches them with `observe` when it starts and
 * detaches them when it stops; what no running part provides reads as absent.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { GatewayStats } from './delivery/gateway.ts';
import type { RelayStats } from './delivery/relay.ts';
import type { SharedExecutorStats } from './delivery/shared-execution.ts';
import type { Disposable } from './util/disposables.ts';

/** What the metrics read from the running parts at scrape time. */
export interface MetricsSources {
  /** Live subscriptions on this node, or null when the node serves no clients. */
  readonly subscriptions: () => number | null;
  readonly gateway: () => Readonly<GatewayStats> | null;
  readonly relay: () => Readonly<RelayStats> | null;
  /** Shared subscription execution on this node, or null when it serves no clients. */
  readonly sharedExecution: () => Readonly<SharedExecutorStats> | null;
  /** Outbox records not yet relayed, or null when unknown (not the active relay). */
  readonly relayBacklog: () => Promise<number | null>;
}

export interface Metrics {
  readonly registry: Registry;
  readonly connections: Gauge;
  readonly messagesSent: Counter;
  readonly httpShortPath: Counter;
  readonly redisReconnects: Counter<'connection'>;
  /** Reads `sources` at scrape time until the returned part is disposed (its owner stopped). */
  observe(sources: Partial<MetricsSources>): Disposable;
}

/** What the sources read while no running part provides them. */
const absent: MetricsSources = {
  subscriptions: () => null,
  gateway: () => null,
  relay: () => null,
  sharedExecution: () => null,
  relayBacklog: async () => null,
};

/** A counter whose value is read from a monotonic source at scrape time. */
function mirroredCounter(registry: Registry, name: string, help: string, read: () => number | null): Counter {
  let reported = 0;
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const value = read();
      // Sources restart from 0 when a role restarts inside the process; never go backwards.
      if (value !== null && value > reported) {
        this.inc(value - reported);
        reported = value;
      }
    },
  });
}

export function createMetrics(): Metrics {
  const sources: { -readonly [K in keyof MetricsSources]: MetricsSources[K] } = { ...absent };
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const connections = new Gauge({ name: 'chat_connections', help: 'Open authenticated WebSocket connections', registers: [registry] });
  new Gauge({
    name: 'chat_active_subscriptions',
    help: 'Live messageAdded subscriptions on this node',
    registers: [registry],
    collect() {
      this.set(sources.subscriptions() ?? 0);
    },
  });
  const httpShortPath = new Counter({
    name: 'chat_http_short_path_total',
    help: 'GraphQL HTTP requests answered on the short path (JSON POST without Origin), not through yoga\'s HTTP layer',
    registers: [registry],
  });
  const messagesSent = new Counter({ name: 'chat_messages_sent_total', help: 'Messages stored through sendGroupMessage on this node', registers: [registry] });
  mirroredCounter(registry, 'chat_deliveries_total', 'Messages handed to subscriptions (live and replayed)', () => sources.gateway()?.delivered ?? null);
  mirroredCounter(registry, 'chat_backfills_total', 'Catch-ups from the store after a seq jump, reconnect or presence lapse', () => sources.gateway()?.backfills ?? null);
  mirroredCounter(
    registry,
    'chat_catchup_pages_total',
    'Pages of history asked for by catch-ups (subscribing with since, joining a group, repairing a gap)',
    () => sources.gateway()?.catchUpPages ?? null,
  );
  mirroredCounter(
    registry,
    'chat_catchup_reads_total',
    'Store reads made for catch-up pages; one read serves the pages of a group asked for meanwhile',
    () => sources.gateway()?.catchUpReads ?? null,
  );
  mirroredCounter(registry, 'chat_duplicates_dropped_total', 'Events dropped as already delivered', () => sources.gateway()?.duplicates ?? null);
  mirroredCounter(
    registry,
    'chat_subscription_executions_total',
    'Subscription selection executions: one per event per distinct operation (shape), not per subscriber',
    () => sources.sharedExecution()?.executions ?? null,
  );
  mirroredCounter(
    registry,
    'chat_subscription_results_reused_total',
    'Subscription results sent to a subscriber without executing again (another subscriber of the shape ran it)',
    () => sources.sharedExecution()?.reused ?? null,
  );
  new Gauge({
    name: 'chat_subscription_shapes',
    help: 'Distinct subscription operations (document, result variables, viewer when it matters) on this node',
    registers: [registry],
    collect() {
      this.set(sources.sharedExecution()?.shapes ?? 0);
    },
  });
  mirroredCounter(registry, 'chat_relay_records_total', 'Outbox records relayed', () => sources.relay()?.records ?? null);
  mirroredCounter(registry, 'chat_relay_publishes_total', 'Per-node publishes made by the relay', () => sources.relay()?.publishes ?? null);
  mirroredCounter(
    registry,
    'chat_outbox_poison_total',
    'Outbox records that could not be decoded, moved to the dead-letter place (outbox_poison) instead of relayed',
    () => sources.relay()?.poison ?? null,
  );
  new Gauge({
    name: 'chat_relay_lag_ms',
    help: 'Milliseconds from the last relayed message commit to its publish',
    registers: [registry],
    collect() {
      this.set(sources.relay()?.lagMs ?? 0);
    },
  });
  new Gauge({
    name: 'chat_relay_lag_records',
    help: 'Outbox records committed but not yet relayed (reported by the active relay)',
    registers: [registry],
    async collect() {
      this.set((await sources.relayBacklog()) ?? 0);
    },
  });
  new Gauge({
    name: 'chat_relay_active',
    help: '1 when this process holds the relay lease',
    registers: [registry],
    collect() {
      this.set(sources.relay()?.leader === true ? 1 : 0);
    },
  });
  const redisReconnects = new Counter({
    name: 'chat_redis_reconnects_total',
    help: 'Reconnections of Redis connections',
    labelNames: ['connection'] as const,
    registers: [registry],
  });
  return {
    registry,
    connections,
    messagesSent,
    httpShortPath,
    redisReconnects,
    observe(observed) {
      Object.assign(sources, observed);
      return {
        dispose: async () => {
          for (const key of Object.keys(observed) as (keyof MetricsSources)[]) {
            if (sources[key] === observed[key]) Object.assign(sources, { [key]: absent[key] });
          }
        },
      };
    },
  };
}
