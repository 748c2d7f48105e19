/**
 * The relay role: follows the outbox and publishes each committed change to the gateways with
 * members online, while it holds the relay lease (a standby waits for it).
 */
import type { Logger } from 'pino';
import { createRelay, type Relay } from '../delivery/relay.ts';
import type { Metrics } from '../metrics.ts';
import { startAll, type Disposable } from '../util/disposables.ts';
import type { Connections } from './connections.ts';

export interface RelayRoleOptions {
  readonly connections: Pick<Connections, 'store' | 'pubsub' | 'directory' | 'lease'>;
  readonly logger: Logger;
  readonly metrics: Pick<Metrics, 'observe'>;
}

export interface RunningRelay extends Disposable {
  readonly relay: Relay;
}

/** Starts relaying; disposing stops it and gives the lease up. */
export function startRelay({ connections, logger, metrics }: RelayRoleOptions): Promise<RunningRelay> {
  return startAll(async (parts) => {
    const { store, pubsub, directory, lease } = connections;
    const relay = createRelay({
      store,
      pubsub,
      directory,
      lease,
      onError: (error) => logger.error({ err: error }, 'relay failed; retrying'),
      onPoison: (poison) =>
        logger.error({ poison }, 'an outbox record cannot be decoded: moved to the dead-letter place (outbox_poison), not relayed'),
      onLeadership: (leader) => logger.info({ leader }, leader ? 'relay is active' : 'relay is standing by'),
    });
    relay.start();
    parts.defer(() => relay.stop());
    parts.use(
      metrics.observe({
        relay: () => relay.stats,
        relayBacklog: async () => (relay.stats.leader ? store.outbox.backlog(relay.stats.position) : null),
      }),
    );
    return { relay };
  });
}
