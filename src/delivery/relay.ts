/**
 * The relay: follows the outbox (each group's records in commit order), publishes each event
 * once to every gateway node that has an interest in it, then checkpoints. After a crash it
 * resumes from the checkpoint, so a record is published at least once and never skipped;
 * gateways drop the duplicates by seq.
 *
 * Only the holder of the lease relays, and fencing keeps a deposed holder harmless: each grant
 * carries a fence (a token larger than every earlier one); the relay claims the checkpoint with
 * it before publishing anything, writes every checkpoint with it, and publishes with it. A
 * relay that lost the lease without noticing yet (a long pause) is refused by the store at its
 * next checkpoint, which ends its leadership, and its late publishes are dropped by the
 * gateways, which have seen the higher fence of its successor (`PublishOptions.fence`).
 *
 * Why replays are harmless: what reaches a gateway twice is always a contiguous run of one
 * group's events in commit order (a restart from the checkpoint, a store's overlap after a lost
 * resume point), never one stale event on its own (that is what fencing rules out). Messages
 * are dropped by seq; a replayed `membersAdded` is followed, before any later event of the
 * group, by the replayed `memberRemoved` that undid it, so a removed member is never left
 * following the group.
 */
import type { OutboxEvent, OutboxRecord, PoisonRecord, Store } from '../storage/port.ts';
import { nodeChannel, type LeaseGrant, type PresenceDirectory, type PubSub, type RelayLease } from './ports.ts';
import { failpoint } from '../util/failpoints.ts';
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
  /**
   * Told about each outbox record that could not be decoded, after it was moved to the store's
   * dead-letter place (`OutboxFeed.quarantine`); the relay goes on with the records after it.
   * @default does nothing
   */
  readonly onPoison?: (poison: PoisonRecord) => void;
  /** Told when this relay becomes the active one (true) or stops being it (false). @default does nothing */
  readonly onLeadership?: (leader: boolean) => void;
}

export interface RelayStats {
  /** Outbox records relayed. */
  records: number;
  /** Publishes made (one per record per interested node). */
  publishes: number;
  /** Outbox records that could not be decoded and were moved aside instead of relayed. */
  poison: number;
  /** Milliseconds from the last relayed message's commit to its publish. */
  lagMs: number;
  leader: boolean;
  /** The fence of the current leadership (null while standing by). */
  fence: number | null;
  /** Outbox position of the last record published (null before the first). */
  position: string | null;
}

/** The store refused this relay's fence: a newer relay holds the checkpoint. */
export class RelayFencedError extends Error {
  override readonly name = 'RelayFencedError';
  constructor(readonly fence: number) {
    super(`Relay with fence ${fence} was deposed: the checkpoint belongs to a newer relay`);
  }
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
  onPoison = () => {},
  onLeadership = () => {},
}: RelayOptions): Relay {
  const stats: RelayStats = { records: 0, publishes: 0, poison: 0, lagMs: 0, leader: false, fence: null, position: null };
  /**
   * A record nobody can decode would stop the relay for good if it failed the follower (every
   * retry meets it again), holding back every record after it: it is moved aside, durably,
   * before the follower reads on, so a crash in between meets it again and moves it then.
   */
  const setAside = async (poison: PoisonRecord): Promise<void> => {
    await store.outbox.quarantine(poison);
    stats.poison += 1;
    onPoison(poison);
  };
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

  async function relayBatch(batch: readonly OutboxRecord[], fence: number): Promise<void> {
    const groupNodes = new Map<string, Promise<string[]>>();
    // Lookups for the whole batch run together; publishes stay in commit order per node.
    const routes = await Promise.all(batch.map((record) => targets(record.event, groupNodes)));
    // Each node gets its events of the batch in one message, in commit order.
    const perNode = new Map<string, OutboxEvent[]>();
    batch.forEach((record, index) => {
      for (const node of routes[index] ?? []) {
        let events = perNode.get(node);
        if (events === undefined) {
          events = [];
          perNode.set(node, events);
        }
        events.push(record.event);
      }
    });
    await Promise.all([...perNode].map(([node, events]) => pubsub.publishBatch(nodeChannel(node), events, { fence })));
    for (const events of perNode.values()) stats.publishes += events.length;
    stats.records += batch.length;
    const lastEvent = batch.at(-1)?.event;
    if (lastEvent?.type === 'message') stats.lagMs = Math.max(0, Date.now() - lastEvent.message.createdAt.getTime());
  }

  async function lead({ fence, lost }: LeaseGrant): Promise<void> {
    // Claimed before anything is published: from now on every relay with a lower fence is
    // refused by the store, and this one is refused if a higher fence has claimed it.
    const claimed = await store.claimCheckpoint(checkpointName, fence);
    if (claimed === null) throw new RelayFencedError(fence);
    const deposed = new AbortController();
    const signal = AbortSignal.any([stopping.signal, lost, deposed.signal]);
    const after = claimed.position;
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
        if (!(await store.setCheckpoint(checkpointName, position, fence))) {
          const error = new RelayFencedError(fence);
          deposed.abort(error);
          throw error;
        }
        saved = position;
        failpoint('relay.afterCheckpoint');
        await store.outbox.acknowledge(position);
      };
      // Chained so writes stay in order; a failed one was reported to its own caller and must
      // not make every later save reject without trying.
      saving = saving.then(write, write);
      return saving;
    };
    try {
      for await (const batch of store.outbox.follow(after, signal, { onPoison: setAside })) {
        if (batch.length === 0) continue;
        await relayBatch(batch, fence);
        failpoint('relay.afterPublish');
        published = (batch.at(-1) as OutboxRecord).position;
        stats.position = published;
        sinceSaved += batch.length;
        if (sinceSaved >= checkpointEveryRecords) await save();
        // A refusal ends the leadership and is reported once, by the caller of lead().
        else timer ??= setTimeout(() => void save().catch((error: unknown) => error instanceof RelayFencedError || onError(error)), checkpointIntervalMs);
      }
    } finally {
      // Whatever was published is checkpointed before leaving, unless the store itself failed
      // or refused (a deposed relay has nothing left to save).
      if (!deposed.signal.aborted) await save().catch(onError);
    }
    // Ended by the store's refusal: report it and give the lease up (the caller's catch).
    if (deposed.signal.aborted) throw deposed.signal.reason;
  }

  async function run(): Promise<void> {
    while (!stopping.signal.aborted) {
      try {
        // The checkpoint's fence is the floor of the next one, so tokens keep growing even when
        // the lease lost its counter (a Redis restarted without persistence).
        const fenceFloor = (await store.getCheckpoint(checkpointName))?.fence ?? 0;
        const grant = await lease.acquire(stopping.signal, { fenceFloor });
        if (stopping.signal.aborted) break;
        stats.leader = true;
        stats.fence = grant.fence;
        onLeadership(true);
        try {
          await lead(grant);
        } finally {
          stats.leader = false;
          stats.fence = null;
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
