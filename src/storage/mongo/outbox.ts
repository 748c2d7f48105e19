/**
 * The MongoDB outbox feed (`Store.outbox`): how the relay follows the outbox written by
 * `store.ts`. Numbers in parentheses refer to the MongoDB behaviours listed in `store.ts`'s
 * header; the decisions are the pure functions of `follow.ts`, unit-tested without a server.
 *
 * Commit order without a global key
 * ---------------------------------
 * The relay needs every record at least once, each group's in commit order. Outbox `_id`s are
 * `{ g, n }` (n: the group's `outboxSeq`, consecutive in the group's commit order since the group
 * write serialises them), and `createdAt` is this process's clock when the record was appended,
 * inside its transaction.
 *
 * - Live: a change stream on the outbox (16) gives every insert in commit order. A record taken
 *   from it has the position { watermark: its createdAt, token: its resume token }; following
 *   from that position resumes the stream right after the token (18).
 * - From nothing, or when the stream cannot continue (its resume point left the oplog, 286, and
 *   the other non-resumable cases of `errors.ts`, 20; an invalidate, 18): read the collection,
 *   then stream. A probe read in a causally consistent session fixes T0, an operation time
 *   every later read of the session is after (8), so the collection reads see every commit up
 *   to T0, and a change stream from `startAtOperationTime: T0` (inclusive, 19) sees every commit
 *   from T0 on: nothing falls between them. The collection read takes every group that has a
 *   record created at or after `watermark - overlap`, in group id order, and each group's
 *   records from its first in that window, in n order (the `_id` index range of the group, 24).
 *   Records from it carry { the same watermark, rescan: T0 and the last (g, n) yielded }, so a
 *   follower resumed there skips what was yielded and streams from the same T0; should that T0
 *   have left the oplog too, it reads the whole window again.
 * - Why the window holds every record committed after the last one streamed, E: a record r
 *   committed after E has createdAt_r >= commit_r - L - S >= commit_E - L - S >=
 *   createdAt_E - L - 2S (true times; S: the largest error of an app server's clock, L: the
 *   longest time from reading createdAt to the commit). createdAt is read inside the
 *   transaction, after its first statement, and the server aborts a transaction older than
 *   transactionLifetimeLimitSeconds (60 s by default, checked every 30 s: at most about 90 s,
 *   23), so L <= 90 s. `rescanOverlapSeconds` (default 300 s, OUTBOX_RESCAN_OVERLAP_SECONDS) is
 *   L + 2S with S up to 105 s; raise it with transactionLifetimeLimitSeconds or for worse clocks.
 *   Cluster time plays no part in the window: it orders commits, but a document cannot carry the
 *   cluster time of its own commit.
 * - Repeats, and why they are harmless: the window re-reads records from before E (the overlap),
 *   and the stream from T0 re-delivers records the collection read yielded. Either way what
 *   repeats is, per group, one contiguous run in commit order (a group's records from its first
 *   in the window, all of them). Gateways drop repeated messages by seq, and a repeated
 *   membership change comes with the later changes of its group behind it (see `relay.ts`).
 *   Within the window the order across groups is by group, not by commit: nothing downstream
 *   orders across groups (gateways order by each group's seq and repair gaps from the store).
 * - Expiry: records older than `outboxRetentionSeconds` are deleted by the TTL index (15). A
 *   window that starts before that may have lost records: the follower warns
 *   (OUTBOX_RECORDS_EXPIRED) and continues; clients still get those messages from history.
 */
import { MaxKey } from 'mongodb';
import type {
  ChangeStream,
  ChangeStreamDropDatabaseDocument,
  ChangeStreamDropDocument,
  ChangeStreamInsertDocument,
  ChangeStreamInvalidateDocument,
  ChangeStreamOptions,
  ChangeStreamRenameDocument,
  ClientSession,
  Collection,
  Filter,
  MongoClient,
} from 'mongodb';
import { outboxEventFromJson, poisonRecord } from '../outbox-codec.ts';
import type { FollowOptions, OutboxEvent, OutboxFeed, OutboxRecord } from '../port.ts';
import { pause } from '../../util/pause.ts';
import { followErrorAction } from './errors.ts';
import {
  afterLostHistory,
  afterRescanRecord,
  afterStreamRecord,
  firstToRead,
  insertsUntilEnd,
  mayHaveExpired,
  planRead,
  retryDelayMs,
} from './follow.ts';
import type { OutboxDoc, OutboxKey, PoisonDoc } from './mapping.ts';
import { decodePosition, encodePosition, START, type OutboxPosition, type RescanProgress } from './position.ts';

/** What the outbox change stream passes on: inserts, and the events that end the stream (18). */
type OutboxChange =
  | ChangeStreamInsertDocument<OutboxDoc>
  | ChangeStreamDropDocument
  | ChangeStreamRenameDocument
  | ChangeStreamDropDatabaseDocument
  | ChangeStreamInvalidateDocument;

const OUTBOX_PIPELINE = [
  { $match: { operationType: { $in: ['insert', 'drop', 'rename', 'dropDatabase', 'invalidate'] } } },
];

const ABORTED = Symbol('aborted');

/** The stream's next change, or ABORTED as soon as `signal` aborts (the stream is closed after). */
async function nextChange(
  stream: ChangeStream<OutboxDoc, OutboxChange>,
  signal: AbortSignal,
): Promise<OutboxChange | typeof ABORTED> {
  if (signal.aborted) return ABORTED;
  const next = stream.next();
  // After an abort the stream is closed under this call and it rejects with nobody waiting.
  next.catch(() => undefined);
  let onAbort = (): void => undefined;
  const aborted = new Promise<typeof ABORTED>((resolve) => {
    onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([next, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** An outbox `_id`, with its fields in the order the index sorts by (24). */
export const outboxKey = (g: string, n: number): OutboxKey => ({ g, n });

/**
 * The events of `docs`, in order, with null for each poison record, once `onPoison` has taken
 * every poison record (without `onPoison` the first one throws its decode error). Decoded before
 * the caller moves its position: a failing `onPoison` leaves the position where it was, so the
 * retry reads the batch again and no record is skipped.
 */
async function decodeAll(docs: readonly OutboxDoc[], onPoison: FollowOptions['onPoison']): Promise<(OutboxEvent | null)[]> {
  const events: (OutboxEvent | null)[] = [];
  for (const doc of docs) {
    try {
      events.push(outboxEventFromJson(doc.event));
    } catch (error) {
      if (onPoison === undefined) throw error;
      // The `_id` as JSON: `quarantine` parses it back ({ g, n } survives the round trip).
      await onPoison(poisonRecord(JSON.stringify(doc._id), error, doc.event));
      events.push(null);
    }
  }
  return events;
}

export interface OutboxFeedOptions {
  readonly client: MongoClient;
  readonly outbox: Collection<OutboxDoc>;
  /** Where `quarantine` moves poison records (the dead-letter place). */
  readonly poison: Collection<PoisonDoc>;
  /** How far before the watermark a collection read starts (`rescanOverlapSeconds`). */
  readonly overlapMs: number;
  /** How long outbox documents are kept (`outboxRetentionSeconds`): older ones may be gone. */
  readonly retentionMs: number;
  readonly batchSize: number;
}

export function createOutboxFeed({ client, outbox, poison, overlapMs, retentionMs, batchSize: outboxBatchSize }: OutboxFeedOptions): {
  readonly feed: OutboxFeed;
  /** Ends every follower and closes its change stream. */
  close(): Promise<void>;
} {
  const closing = new AbortController();
  const openStreams = new Set<ChangeStream<OutboxDoc, OutboxChange>>();

  /** Warns once per collection read whose window may reach past what the TTL kept (15). */
  const warnIfExpired = (from: Date | null): void => {
    if (!mayHaveExpired(from, Date.now(), retentionMs)) return;
    process.emitWarning(
      `the relay reads the outbox from ${from?.toISOString()}, but records older than ` +
        `${retentionMs / 1000} s may have expired before it read them; ` +
        'raise outboxRetentionSeconds above the longest relay outage',
      { code: 'OUTBOX_RECORDS_EXPIRED' },
    );
  };

  /**
   * Follows the outbox: the change stream while it can resume, a collection read followed by a
   * stream from its T0 when it cannot. The argument is in the header above;
   * the decisions are the pure functions of `follow.ts`.
   */
  async function* follow(after: string | null, outer: AbortSignal, { onPoison }: FollowOptions = {}): AsyncGenerator<readonly OutboxRecord[]> {
    const signal = AbortSignal.any([outer, closing.signal]);
    let position: OutboxPosition = after === null ? START : decodePosition(after);
    let attempt = 0;

    while (!signal.aborted) {
      let stream: ChangeStream<OutboxDoc, OutboxChange> | undefined;
      let failed = false;
      try {
        const plan = planRead(position, overlapMs);
        const options: ChangeStreamOptions = { batchSize: outboxBatchSize };
        if (plan.mode === 'stream') {
          options.startAfter = plan.startAfter;
        } else {
          const session = client.startSession({ causalConsistency: true });
          try {
            // T0: every read below sees at least every commit up to it (8).
            await outbox.findOne({}, { session, signal, projection: { _id: 1 } });
            const fresh = session.operationTime;
            // A resumed read streams from its original T0: what it skips was yielded before it.
            const t0 = plan.resume?.at ?? fresh;
            warnIfExpired(plan.from);
            for await (const batch of rescan(session, plan.from, plan.resume, signal)) {
              if (signal.aborted) return;
              const events = await decodeAll(batch, onPoison);
              const records: OutboxRecord[] = [];
              batch.forEach((doc, index) => {
                if (t0 !== undefined) position = afterRescanRecord(position, t0, doc._id);
                const event = events[index];
                if (event != null) records.push({ position: encodePosition(position), event });
              });
              if (records.length > 0) yield records;
            }
            // Without a T0 (a server that sends no operationTime) the stream starts "now"; that
            // can only happen on deployments without change streams, where watch fails anyway.
            if (t0 !== undefined) options.startAtOperationTime = t0;
          } finally {
            await session.endSession();
          }
          if (signal.aborted) return;
        }

        stream = outbox.watch<OutboxDoc, OutboxChange>(OUTBOX_PIPELINE, options);
        openStreams.add(stream);
        for (;;) {
          const first = await nextChange(stream, signal);
          if (first === ABORTED) return;
          // Take what the last getMore already buffered as well (no round trip), for one batch.
          const changes: OutboxChange[] = [first];
          while (changes.length < outboxBatchSize && stream.bufferedCount() > 0) {
            const more = await stream.tryNext();
            if (more === null) break;
            changes.push(more);
          }
          const { inserts, ended } = insertsUntilEnd(changes);
          const events = await decodeAll(
            inserts.map((change) => change.fullDocument),
            onPoison,
          );
          const batch: OutboxRecord[] = [];
          inserts.forEach((change, index) => {
            position = afterStreamRecord(change.fullDocument.createdAt, change._id);
            const event = events[index];
            if (event != null) batch.push({ position: encodePosition(position), event });
          });
          attempt = 0;
          if (batch.length > 0) yield batch;
          if (ended) {
            // The collection was dropped or renamed (18): read it again from the watermark.
            position = afterLostHistory(position);
            break;
          }
        }
      } catch (error) {
        if (signal.aborted) return;
        const action = followErrorAction(error);
        if (action === 'fail') throw error;
        if (action === 'fallback') position = afterLostHistory(position);
        failed = true;
      } finally {
        if (stream !== undefined) {
          const open = stream;
          // close() kills the server cursor, a round trip that waits for server selection while
          // the server is unreachable: once aborted the iterator ends at once and lets it finish.
          const closed = open
            .close()
            .catch(() => undefined)
            .finally(() => openStreams.delete(open));
          if (!signal.aborted) await closed;
        }
      }
      // After the failed stream is closed, not while it is still open.
      if (failed) {
        await pause(retryDelayMs(attempt), signal);
        attempt += 1;
      }
    }
  }

  /**
   * The collection read: the groups with a record created at or after `from` (every group when
   * null), in id order, each from its first record in the window (or after where a resumed read
   * stopped), in n order, in batches of up to outboxBatchSize across groups.
   */
  async function* rescan(
    session: ClientSession,
    from: Date | null,
    resume: RescanProgress | null,
    signal: AbortSignal,
  ): AsyncGenerator<OutboxDoc[]> {
    // Only documents with a `{ g, n }` key: ones left by the counter-keyed outbox of earlier
    // versions are not this reader's to relay (see README, "Upgrading").
    const window: Filter<OutboxDoc> = from === null ? { '_id.g': { $type: 'string' } } : { createdAt: { $gte: from }, '_id.g': { $type: 'string' } };
    const firsts = outbox.aggregate<{ _id: string; first: number }>(
      [
        { $match: window },
        { $group: { _id: '$_id.g', first: { $min: '$_id.n' } } },
        ...(resume === null ? [] : [{ $match: { _id: { $gte: resume.g } } }]),
        { $sort: { _id: 1 } },
      ],
      // A long outage can put many groups in the window: the $group may spill to disk.
      { session, signal, allowDiskUse: true, batchSize: outboxBatchSize },
    );
    let batch: OutboxDoc[] = [];
    for await (const { _id: g, first } of firsts) {
      let next = firstToRead(g, first, resume);
      for (;;) {
        // The group's range of the _id index (24). The typed Filter cannot express MaxKey for n.
        const range = { _id: { $gte: outboxKey(g, next), $lte: { g, n: new MaxKey() } } } as unknown as Filter<OutboxDoc>;
        const docs = await outbox
          .find(range, { session, signal })
          .sort({ _id: 1 })
          .limit(outboxBatchSize)
          .toArray();
        batch.push(...docs);
        if (batch.length >= outboxBatchSize) {
          yield batch;
          batch = [];
        }
        const last = docs.at(-1);
        if (last === undefined || docs.length < outboxBatchSize) break;
        next = last._id.n + 1;
      }
    }
    if (batch.length > 0) yield batch;
  }

  const outboxFeed: OutboxFeed = {
    follow,
    async acknowledge(position) {
      // Nothing to delete: the TTL index removes outbox documents once they are older than
      // outboxRetentionSeconds, acknowledged or not. Deleting here would save space but would
      // also take away what a second follower, or a relay restarted from an older checkpoint,
      // still needs to read. The position is still checked, as the embedded adapter does.
      decodePosition(position);
    },
    async quarantine({ id, reason }) {
      const _id = JSON.parse(id) as OutboxKey;
      const doc = await outbox.findOne({ _id });
      // Already moved (a relay restarted from an older checkpoint meets it again in the stream).
      if (doc === null) return;
      // Copied first, then deleted: a crash in between leaves it in both, and the next
      // quarantine finds the copy there and deletes the original.
      await poison.updateOne(
        { _id },
        { $setOnInsert: { event: doc.event, createdAt: doc.createdAt, reason, quarantinedAt: new Date() } },
        { upsert: true },
      );
      await outbox.deleteOne({ _id });
    },
    async backlog(after) {
      // An estimate: records created after the last streamed one. Commit order and createdAt
      // order differ by up to the overlap (see the header), so it can be off by what was sent
      // in that time; it is a lag gauge, not a count the relay relies on.
      const { watermark } = after === null ? START : decodePosition(after);
      if (watermark === null) return outbox.estimatedDocumentCount();
      return outbox.countDocuments({ createdAt: { $gt: new Date(watermark) } });
    },
  };

  return {
    feed: outboxFeed,
    async close() {
      closing.abort();
      await Promise.all([...openStreams].map((stream) => stream.close().catch(() => undefined)));
    },
  };
}
