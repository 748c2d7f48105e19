/**
 * The relay: follows the outbox in commit order, publishes each event once to every gateway
 * node that has an interest in it, then checkpoints. After a crash it resumes from the
 * checkpoint, so a record is published at least once and never skipped; gateways drop the
 * duplicates by seq. Only the holder of the lease relays.
 */
import type { OutboxEvent, OutboxRecord, Store } from '../storage/port.ts';
import { nodeChannel, type PresenceDirectory, type PubSub, type RelayLease } from './ports.ts';
import { pause } from '../util/pause.ts';

export interface RelayOptions {
  readonly store: Store;
  readonly pubsub: PubSub;
  readonly directory: PresenceDirectory;
  readonly lease: RelayLease;
  /** Name of the checkpoint in the store. @default 'relay' */
  readonly checkpointName?: string;
  /** Pause before retrying after a failure. @default 500 */
  readonly retryDelayMs?: number;
  /**
   * Longest time published records may stay un-checkpointed. A checkpoint is a durable write,
   * so it is taken at most this often (and at once after `checkpointEveryRecords`); a crash
   * in between republishes those records, which gateways drop by seq. @default 200
   */
  readonly checkpointIntervalMs?: number;
  /** Records after which a checkpoint is taken without waiting for the interval. @default 1000 */
  readonly checkpointEveryRecords?: number;
  /** Reports failures; the relay retries after `retryDelayMs`. @default ignores them */
  readonly onError?: (error: unknown) => void;
  /** Told when this relay becomes the active one (true) or stops being it (false). @default does nothing */
  readonly onLeadership?: (leader: boolean) => void;
}

export interface RelayStats {
  /** Outbox records relayed. */
  records: number;
  /** Publishes made (one per record per interested node). */
  publishes: number;
  /** Milliseconds from the last relayed message's commit to its publish. */
  lagMs: number;
  leader: boolean;
  /** Outbox position of the last record published (null before the first). */
  position: string | null;
}

export interface Relay {
  start(): void;
  readonly stats: Readonly<RelayStats>;
  /** Stops relaying and gives the lease up. */
  stop(): Promise<void>;
}

export function createRelay({
  store,
  pubsub,
  directory,
  lease,
  checkpointName = 'relay',
  retryDelayMs = 500,
  checkpointIntervalMs = 200,
  checkpointEveryRecords = 1000,
  onError = () => {},
  onLeadership = () => {},
}: RelayOptions): Relay {
  const stats: RelayStats = { records: 0, publishes: 0, lagMs: 0, leader: false, position: null };
  const stopping = new AbortController();
  let running: Promise<void> | null = null;

  async function targets(event: OutboxEvent, groupNodes: Map<string, Promise<string[]>>): Promise<string[]> {
    switch (event.type) {
      case 'message': {
        // One lookup per group per batch: the batch was read after its records committed, so
        // any interest registered before a commit is already visible here.
        let nodes = groupNodes.get(event.message.groupId);
        if (nodes === undefined) {
          nodes = directory.nodesForGroup(event.message.groupId);
          groupNodes.set(event.message.groupId, nodes);
        }
        return nodes;
      }
      case 'membersAdded':
        return directory.nodesForUsers(event.userIds);
      case 'memberRemoved':
        return directory.nodesForUsers([event.userId]);
    }
  }

  async function relayBatch(batch: readonly OutboxRecord[]): Promise<void> {
    const groupNodes = new Map<string, Promise<string[]>>();
    // Lookups for the whole batch run together; publishes stay in commit order per node.
    const routes = await Promise.all(batch.map((record) => targets(record.event, groupNodes)));
    const publishes: Promise<void>[] = [];
    batch.forEach((record, index) => {
      for (const node of routes[index] ?? []) publishes.push(pubsub.publish(nodeChannel(node), record.event));
    });
    await Promise.all(publishes);
    stats.publishes += publishes.length;
    stats.records += batch.length;
    const lastEvent = batch.at(-1)?.event;
    if (lastEvent?.type === 'message') stats.lagMs = Math.max(0, Date.now() - lastEvent.message.createdAt.getTime());
  }

  async function lead(signal: AbortSignal): Promise<void> {
    const after = await store.getCheckpoint(checkpointName);
    stats.position = after;
    let published: string | null = null;
    let saved = after;
    let sinceSaved = 0;
    let saving: Promise<void> = Promise.resolve();
    let timer: NodeJS.Timeout | null = null;
    const save = (): Promise<void> => {
      if (timer !== null) clearTimeout(timer);
      timer = null;
      const position = published;
      if (position === null || position === saved) return saving;
      sinceSaved = 0;
      const write = async (): Promise<void> => {
        await store.setCheckpoint(checkpointName, position);
        saved = position;
        await store.outbox.acknowledge(position);
      };
      // Chained so writes stay in order; a failed one was reported to its own caller and must
      // not make every later save reject without trying.
      saving = saving.then(write, write);
      return saving;
    };
    try {
      for await (const batch of store.outbox.follow(after, signal)) {
        if (batch.length === 0) continue;
        await relayBatch(batch);
        published = (batch.at(-1) as OutboxRecord).position;
        stats.position = published;
        sinceSaved += batch.length;
        if (sinceSaved >= checkpointEveryRecords) await save();
        else timer ??= setTimeout(() => void save().catch(onError), checkpointIntervalMs);
      }
    } finally {
      // Whatever was published is checkpointed before leaving, unless the store itself failed.
      await save().catch(onError);
    }
  }

  async function run(): Promise<void> {
    while (!stopping.signal.aborted) {
      try {
        const { lost } = await lease.acquire(stopping.signal);
        if (stopping.signal.aborted) break;
        stats.leader = true;
        onLeadership(true);
        try {
          await lead(AbortSignal.any([stopping.signal, lost]));
        } finally {
          stats.leader = false;
          onLeadership(false);
        }
      } catch (error) {
        if (stopping.signal.aborted) break;
        onError(error);
        // Give the lease up so a healthy standby can take over while this one backs off.
        await lease.release().catch(onError);
        await pause(retryDelayMs, stopping.signal);
      }
    }
  }

  return {
    stats,
    start() {
      running ??= run();
    },
    async stop() {
      stopping.abort();
      await running;
      await lease.release();
    },
  };
}
