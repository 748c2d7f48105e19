/**
 * The MongoDB storage adapter (production): implements the port in `../port.ts` on the official
 * driver. The composition root passes a connected `MongoClient` and closes it; `close()` here
 * only stops this store's outbox followers.
 *
 * MongoDB behaviour this file relies on, with the manual page that documents it (and, for driver
 * behaviour, the file of node_modules/mongodb/lib it was read from):
 *
 * 1. A replica set (or sharded cluster): transactions and change streams do not exist on a
 *    standalone server. "Transactions" (Transactions and Replica Sets), "Change Streams"
 *    (Availability).
 * 2. `ClientSession.withTransaction` runs the callback again while an error carries the
 *    TransientTransactionError label, and re-sends commitTransaction while the commit error
 *    carries UnknownTransactionCommitResult, for up to 120 s in total; any other error aborts the
 *    transaction and is thrown as is. "Transactions > Drivers API" (Callback API),
 *    lib/sessions.js `withTransaction`.
 * 3. Write conflicts: a transaction writing a document that another transaction wrote after this
 *    one's snapshot (or has written and not committed yet) fails with WriteConflict (112), labelled
 *    TransientTransactionError, and is retried by (2). This serialises appends per group (the
 *    group's `lastSeq` `$inc`) and all outbox appends (the counter `$inc`).
 *    "Transactions > Production Considerations" (In-progress Transactions and Write Conflicts).
 * 4. Read concern "snapshot" in transactions: all reads of one attempt see one snapshot.
 *    "Read Concern "snapshot"".
 * 5. Write concern "majority": a commit that is acknowledged is on a majority and journaled
 *    (writeConcernMajorityJournalDefault), so it survives failover: "durable" in the port.
 *    "Write Concern" (w: "majority", j).
 * 6. Read preference primary: required for reads inside transactions; also used for all other
 *    reads so a caller reads its own writes. "Read Preference", "Transactions" (Read Preference).
 * 7. Read concern "majority" outside transactions: reads never return writes that may roll back.
 *    "Read Concern "majority"".
 * 8. Causally consistent sessions: a read with `afterClusterTime: T` waits until the majority
 *    snapshot includes T, and a response's `operationTime` is a cluster time the following reads
 *    of the session are after. "Causal Consistency and Read and Write Concerns",
 *    "Client Sessions and Causal Consistency Guarantees"; lib/sessions.js `applySession`.
 * 9. Unique indexes reject a second document with the same key with E11000 (code 11000).
 *    "Unique Indexes", "Error Codes".
 * 10. A failed statement aborts the whole transaction on the server: later statements fail with
 *    NoSuchTransaction (251), so on 11000 the adapter rethrows and reads the original outside the
 *    transaction. "Transactions" (Transactions and Operations), "Error Codes".
 * 11. Upserts racing on the same `_id` can fail with 11000; the server retries upserts whose
 *    filter is an equality on a unique index itself, and repeating the upsert always succeeds.
 *    "db.collection.updateOne()" (Upsert with Duplicate Values).
 * 12. `$max` only raises a field, so `lastReadSeq` never moves back. "$max (update operator)".
 * 13. Creating collections inside a transaction has restrictions (read concern "local", no
 *    cross-shard writes), so every collection is created at start-up, where `create` of an
 *    existing collection fails with NamespaceExists (48). "Create Collections and Indexes in a
 *    Transaction", "create".
 * 14. createIndexes is idempotent for identical specifications; the same name with other options
 *    fails with IndexOptionsConflict (85), and a TTL index's `expireAfterSeconds` is changed with
 *    collMod. "createIndexes", "TTL Indexes" (Change the expireAfterSeconds Value), "collMod".
 * 15. TTL indexes: a background task (every 60 s by default) deletes documents whose date field is
 *    older than `expireAfterSeconds`; deletion is not immediate. "TTL Indexes",
 *    "Expire Data from Collections by Setting TTL".
 * 16. Change streams return only majority-committed changes, in oplog order, which for one
 *    replica set is commit order. "Change Streams", "Change Streams Production Recommendations".
 * 17. Insert events always carry the inserted document in `fullDocument` (no `updateLookup`
 *    needed). "Change Events > insert".
 * 18. Drop, rename and dropDatabase of the watched collection emit their event and then an
 *    `invalidate` event, which closes the stream; `startAfter` (unlike `resumeAfter`) may start
 *    after an invalidate token. "Change Events > invalidate", "Change Streams > Resume a Change
 *    Stream" (startAfter, resumeAfter, startAtOperationTime).
 * 19. `startAtOperationTime` includes changes at exactly that time. "$changeStream"
 *    (startAtOperationTime).
 * 20. A resume point older than the oplog fails with ChangeStreamHistoryLost (286); a token that
 *    is not valid for the stream with InvalidResumeToken (260); a token whose event is not in the
 *    oplog with ChangeStreamFatalError (280); an open stream that falls behind the oplog's
 *    truncation point with CappedPositionLost (136). None is resumable. "Error Codes", "Replica Set
 *    Oplog" (oplog window), "Change Streams Production Recommendations".
 * 21. The driver resumes a change stream by itself after a resumable error (network, election,
 *    CursorNotFound, the ResumableChangeStreamError label) with its cached resume token, again after
 *    each resume that succeeds; it throws when reopening fails. Driver specification "Change
 *    Streams" (Resume Process); lib/change_stream.js `next`, `_processErrorIteratorMode`.
 * 22. `hint` forces an index for a query. "cursor.hint()".
 */
import { ReadConcern, ReadPreference, WriteConcern } from 'mongodb';
import type {
  AnyBulkWriteOperation,
  ChangeStream,
  ChangeStreamDropDatabaseDocument,
  ChangeStreamDropDocument,
  ChangeStreamInsertDocument,
  ChangeStreamInvalidateDocument,
  ChangeStreamOptions,
  ChangeStreamRenameDocument,
  ClientSession,
  Filter,
  MongoClient,
  Timestamp,
  TransactionOptions,
} from 'mongodb';
import type {
  AppendOutcome,
  GroupRecord,
  MembershipChangeOutcome,
  MessageRecord,
  OutboxEvent,
  OutboxFeed,
  OutboxRecord,
  Page,
  PageRequest,
  Store,
  UserGroupRecord,
  UserRecord,
} from '../port.ts';
import { checkLimit, toPage } from '../paging.ts';
import { pause } from '../../util/pause.ts';
import { followErrorAction, isDuplicateKey, isIndexOptionsConflict, isNamespaceExists } from './errors.ts';
import { insertsUntilEnd, placeKey, retryDelayMs } from './follow.ts';
import {
  toGroup,
  toMembership,
  toMessage,
  toMessageDoc,
  toOutboxEventDoc,
  toOutboxRecord,
  toUser,
  type CheckpointDoc,
  type CounterDoc,
  type GroupDoc,
  type MembershipDoc,
  type MessageDoc,
  type OutboxDoc,
  type UserDoc,
} from './mapping.ts';
import { decodeGroupKey, decodePosition, encodeGroupKey, encodePosition, START } from './position.ts';

export interface MongoStoreOptions {
  /**
   * A connected client to a replica set or sharded cluster (transactions and change streams need
   * one). The composition root owns it: the store never connects or closes it.
   */
  readonly client: MongoClient;
  /** Database holding the collections (users, groups, memberships, messages, outbox, checkpoints, counters). */
  readonly dbName: string;
  /**
   * How long outbox documents are kept (TTL index on `createdAt`). A relay that is down longer
   * than this misses the events that expired meanwhile: keep it above the longest relay outage
   * to survive. Changing it on a running deployment updates the index (collMod) at start-up.
   * @default 604800 (7 days)
   */
  readonly outboxRetentionSeconds?: number | undefined;
  /**
   * Most records in one batch yielded by `outbox.follow`.
   * @default 256
   */
  readonly outboxBatchSize?: number | undefined;
}

const COLLECTIONS = ['users', 'groups', 'memberships', 'messages', 'outbox', 'checkpoints', 'counters'] as const;
const OUTBOX_COUNTER = 'outbox';
const OUTBOX_TTL_INDEX = 'createdAt_ttl';

/** Behaviours (2)–(6) of the header: one snapshot, durable on commit, on the primary. */
const TRANSACTION_OPTIONS: TransactionOptions = {
  readConcern: new ReadConcern('snapshot'),
  writeConcern: new WriteConcern('majority'),
  readPreference: ReadPreference.primary,
};

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

/** Concurrent upserts of one `_id` may fail with 11000 once; repeating then matches (11). */
async function upsertRetrying<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
    return write();
  }
}

export async function createMongoStore({
  client,
  dbName,
  outboxRetentionSeconds = 7 * 24 * 60 * 60,
  outboxBatchSize = 256,
}: MongoStoreOptions): Promise<Store> {
  if (!Number.isSafeInteger(outboxRetentionSeconds) || outboxRetentionSeconds < 1) {
    throw new RangeError(`outboxRetentionSeconds must be a positive integer, got ${outboxRetentionSeconds}`);
  }
  if (!Number.isSafeInteger(outboxBatchSize) || outboxBatchSize < 1) {
    throw new RangeError(`outboxBatchSize must be a positive integer, got ${outboxBatchSize}`);
  }

  // Set here rather than trusted from the connection string: correctness depends on them (5)–(7).
  const db = client.db(dbName, {
    readConcern: new ReadConcern('majority'),
    writeConcern: new WriteConcern('majority'),
    readPreference: ReadPreference.primary,
  });
  const users = db.collection<UserDoc>('users');
  const groups = db.collection<GroupDoc>('groups');
  const memberships = db.collection<MembershipDoc>('memberships');
  const messages = db.collection<MessageDoc>('messages');
  const outbox = db.collection<OutboxDoc>('outbox');
  const checkpoints = db.collection<CheckpointDoc>('checkpoints');
  const counters = db.collection<CounterDoc>('counters');

  // --- start-up: collections, indexes, outbox counter -----------------------------------------
  // Every step is idempotent: the relay and each gateway run it at the same time (13), (14).
  for (const name of COLLECTIONS) {
    try {
      await db.createCollection(name);
    } catch (error) {
      if (!isNamespaceExists(error)) throw error;
    }
  }
  await messages.createIndexes([
    // Seq numbers are unique per group (the $inc on the group hands them out; this is the guard).
    { key: { groupId: 1, seq: 1 }, name: 'groupId_seq', unique: true },
    // Idempotent sends: the second insert of one clientMessageId fails with 11000.
    { key: { groupId: 1, senderId: 1, clientMessageId: 1 }, name: 'groupId_senderId_clientMessageId', unique: true },
  ]);
  await memberships.createIndexes([
    // One membership per pair; ordered by userId within a group, which is listMembers' order.
    { key: { groupId: 1, userId: 1 }, name: 'groupId_userId', unique: true },
    // A user's groups (listUserGroups, listAllUserGroups).
    { key: { userId: 1, groupId: 1 }, name: 'userId_groupId' },
  ]);
  // No (lastActivityAt, _id) index on groups: listUserGroups starts from the user's memberships
  // and sorts only that user's groups; an index over all groups could serve the order only by
  // walking every group in the database, and it would cost an index update on every message.
  try {
    // The outbox's ordered key is `_id` (its index always exists); this one only expires (15).
    await outbox.createIndexes([{ key: { createdAt: 1 }, name: OUTBOX_TTL_INDEX, expireAfterSeconds: outboxRetentionSeconds }]);
  } catch (error) {
    if (!isIndexOptionsConflict(error)) throw error;
    await db.command({ collMod: 'outbox', index: { name: OUTBOX_TTL_INDEX, expireAfterSeconds: outboxRetentionSeconds } });
  }
  // The counter must stay above every key in use, or appends would collide on `_id`; $max
  // creates it at 0 on a new database and never lowers it.
  const [newest] = await outbox.find({}, { projection: { _id: 1 } }).sort({ _id: -1 }).limit(1).toArray();
  await upsertRetrying(() =>
    counters.updateOne({ _id: OUTBOX_COUNTER }, { $max: { seq: newest?._id ?? 0 } }, { upsert: true }),
  );

  // --- helpers ----------------------------------------------------------------------------------
  async function transaction<T>(fn: (session: ClientSession) => Promise<T>): Promise<T> {
    const session = client.startSession();
    try {
      // The callback may run several times (2): it keeps no state between attempts.
      return await session.withTransaction(fn, TRANSACTION_OPTIONS);
    } finally {
      await session.endSession();
    }
  }

  /**
   * Appends an event inside the caller's transaction. Its `_id` comes from the `counters`
   * document, incremented in the same transaction: two appending transactions both write that
   * document, so the second fails with WriteConflict and is retried from a snapshot that includes
   * the first one's commit (3). Hence a larger key always commits later, keys are consecutive
   * (a rolled-back attempt takes no number), and a reader that sees key n has seen every key
   * below. An ObjectId or a clock would give insertion order instead, and a transaction that
   * took a smaller one could commit after a reader had moved past it.
   * The price is that all outbox appends serialise; callers run this as their last write so the
   * counter is held for as short as possible before the commit.
   */
  async function appendOutbox(session: ClientSession, event: OutboxEvent): Promise<void> {
    const counter = await counters.findOneAndUpdate(
      { _id: OUTBOX_COUNTER },
      { $inc: { seq: 1 } },
      { session, upsert: true, returnDocument: 'after' },
    );
    if (counter === null) throw new Error('The outbox counter upsert returned no document');
    // createdAt is this process's clock, not the domain's `now`: it only drives the TTL.
    await outbox.insertOne({ _id: counter.seq, event: toOutboxEventDoc(event), createdAt: new Date() }, { session });
  }

  /** Creates the users that do not exist yet, with a null name, inside the transaction. */
  async function ensureUsers(session: ClientSession, userIds: readonly string[]): Promise<void> {
    if (userIds.length === 0) return;
    const operations: AnyBulkWriteOperation<UserDoc>[] = userIds.map((id) => ({
      updateOne: { filter: { _id: id }, update: { $setOnInsert: { name: null } }, upsert: true },
    }));
    await users.bulkWrite(operations, { session, ordered: true });
  }

  async function findByClientMessageId(
    groupId: string,
    senderId: string,
    clientMessageId: string,
    session?: ClientSession,
  ): Promise<MessageDoc | null> {
    return messages.findOne({ groupId, senderId, clientMessageId }, session === undefined ? {} : { session });
  }

  // --- outbox feed ------------------------------------------------------------------------------
  const closing = new AbortController();
  const openStreams = new Set<ChangeStream<OutboxDoc, OutboxChange>>();

  /**
   * Follows the outbox in two phases, repeated as needed:
   *
   * - catch-up: read documents with key > last key from the collection, in key order, in batches.
   *   A probe read first fixes a cluster time T0 in a causally consistent session; the batch reads
   *   after it see at least everything committed up to T0 (8).
   * - stream: a change stream from `startAtOperationTime: T0` (inclusive, 19) brings every insert
   *   committed from T0 on, so nothing falls between the two phases; keys already yielded
   *   (committed before T0 and read by catch-up) are skipped.
   *
   * When the position carries a resume token the catch-up is skipped and the stream starts after
   * the token. When the token (or T0) is gone from the oplog (20), or the stream is invalidated
   * (18), the follower returns to catch-up from its last key, which loses nothing as long as the
   * TTL has not removed those documents (see `outboxRetentionSeconds`).
   */
  async function* follow(after: string | null, outer: AbortSignal): AsyncGenerator<readonly OutboxRecord[]> {
    const signal = AbortSignal.any([outer, closing.signal]);
    const start = after === null ? START : decodePosition(after);
    let lastKey = start.key;
    // The resume token of the last yielded record, when that record came from the stream.
    let token: unknown = start.token;
    // Keys are consecutive (see appendOutbox); from a known position a jump means expired records.
    let expectNext = after !== null;
    let attempt = 0;

    const take = (doc: OutboxDoc, eventToken?: unknown): OutboxRecord | null => {
      const place = placeKey(doc._id, lastKey, expectNext);
      if (place === 'seen') return null;
      if (place === 'gap') {
        process.emitWarning(
          `outbox records ${lastKey + 1}..${doc._id - 1} expired before the relay read them; ` +
            'raise outboxRetentionSeconds above the longest relay outage',
          { code: 'OUTBOX_RECORDS_EXPIRED' },
        );
      }
      expectNext = true;
      lastKey = doc._id;
      token = eventToken;
      return toOutboxRecord(doc, encodePosition(eventToken === undefined ? { key: doc._id } : { key: doc._id, token: eventToken }));
    };

    while (!signal.aborted) {
      let stream: ChangeStream<OutboxDoc, OutboxChange> | undefined;
      let failed = false;
      try {
        let startAtOperationTime: Timestamp | undefined;
        if (token === undefined) {
          const session = client.startSession({ causalConsistency: true });
          try {
            await outbox.findOne({}, { session, signal, projection: { _id: 1 } });
            startAtOperationTime = session.operationTime;
            for (;;) {
              const docs = await outbox
                .find({ _id: { $gt: lastKey } }, { session, signal })
                .sort({ _id: 1 })
                .limit(outboxBatchSize)
                .toArray();
              const batch = docs.map((doc) => take(doc)).filter((record) => record !== null);
              if (batch.length > 0) yield batch;
              if (docs.length < outboxBatchSize || signal.aborted) break;
            }
          } finally {
            await session.endSession();
          }
          if (signal.aborted) return;
        }

        // Without a T0 (a server that sends no operationTime) the stream starts "now"; that can
        // only happen on deployments without change streams, where watch fails anyway.
        const options: ChangeStreamOptions = { batchSize: outboxBatchSize };
        if (token !== undefined) options.startAfter = token;
        else if (startAtOperationTime !== undefined) options.startAtOperationTime = startAtOperationTime;
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
          const batch = inserts.map((change) => take(change.fullDocument, change._id)).filter((record) => record !== null);
          attempt = 0;
          if (batch.length > 0) yield batch;
          if (ended) {
            // The collection was dropped or renamed (18): read it again from the last key.
            token = undefined;
            break;
          }
        }
      } catch (error) {
        if (signal.aborted) return;
        const action = followErrorAction(error);
        if (action === 'fail') throw error;
        if (action === 'fallback') token = undefined;
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

  const outboxFeed: OutboxFeed = {
    follow,
    async acknowledge(position) {
      // Nothing to delete: the TTL index removes outbox documents once they are older than
      // outboxRetentionSeconds, acknowledged or not. Deleting here would save space but would
      // also take away what a second follower, or a relay restarted from an older checkpoint,
      // still needs to read. The position is still checked, as the embedded adapter does.
      decodePosition(position);
    },
    async backlog(after) {
      // Keys are gapless and in commit order, so the count after the key is the lag in records.
      // Always a range on _id (keys start at 1), also for null: the count then walks the _id index
      // alone, where an empty filter would scan every outbox document.
      const { key } = after === null ? START : decodePosition(after);
      return outbox.countDocuments({ _id: { $gt: key } });
    },
  };

  // --- the store --------------------------------------------------------------------------------
  return {
    async upsertUser(user) {
      const update = user.name === null ? { $setOnInsert: { name: null } } : { $set: { name: user.name } };
      await upsertRetrying(() => users.updateOne({ _id: user.id }, update, { upsert: true }));
    },
    async getUsers(ids) {
      if (ids.length === 0) return [];
      const docs = await users.find({ _id: { $in: [...new Set(ids)] } }).toArray();
      const byId = new Map(docs.map((doc) => [doc._id, toUser(doc)]));
      return [...new Set(ids)].flatMap((id) => byId.get(id) ?? []);
    },

    async createGroup(group) {
      return transaction(async (session): Promise<GroupRecord> => {
        const members = [...new Set([group.ownerId, ...group.memberIds])];
        const doc: GroupDoc = {
          _id: group.id,
          name: group.name,
          ownerId: group.ownerId,
          memberCount: members.length,
          lastSeq: 0,
          createdAt: group.now,
          lastActivityAt: group.now,
        };
        await ensureUsers(session, members);
        await groups.insertOne(doc, { session });
        await memberships.insertMany(
          members.map((userId) => ({ groupId: group.id, userId, lastReadSeq: 0, joinedSeq: 0, joinedAt: group.now })),
          { session },
        );
        await appendOutbox(session, { type: 'membersAdded', groupId: group.id, userIds: members, seq: 0 });
        return toGroup(doc);
      });
    },
    async getGroup(id) {
      const doc = await groups.findOne({ _id: id });
      return doc === null ? null : toGroup(doc);
    },
    async getGroups(ids) {
      if (ids.length === 0) return [];
      return (await groups.find({ _id: { $in: [...new Set(ids)] } }).toArray()).map(toGroup);
    },
    async getMembership(groupId, userId) {
      const doc = await memberships.findOne({ groupId, userId });
      return doc === null ? null : toMembership(doc);
    },
    async addMembers(groupId, userIds, { now, maxMembers }) {
      return transaction(async (session): Promise<MembershipChangeOutcome> => {
        const group = await groups.findOne({ _id: groupId }, { session });
        if (group === null) return { ok: false, reason: 'GROUP_NOT_FOUND' };
        const wanted = [...new Set(userIds)];
        const existing = await memberships
          .find({ groupId, userId: { $in: wanted } }, { session, projection: { _id: 0, userId: 1 } })
          .toArray();
        const members = new Set(existing.map((doc) => doc.userId));
        const added = wanted.filter((userId) => !members.has(userId));
        if (added.length === 0) return { ok: true, group: toGroup(group), changed: [] };
        if (group.memberCount + added.length > maxMembers) return { ok: false, reason: 'TOO_MANY_MEMBERS' };
        await ensureUsers(session, added);
        await memberships.insertMany(
          added.map((userId) => ({
            groupId,
            userId,
            lastReadSeq: group.lastSeq,
            joinedSeq: group.lastSeq,
            joinedAt: now,
          })),
          { session },
        );
        // Writing the group makes a concurrent append or membership change conflict (3), so
        // joinedSeq and memberCount are those of the snapshot this commit applies to.
        const updated = await groups.findOneAndUpdate(
          { _id: groupId },
          { $inc: { memberCount: added.length } },
          { session, returnDocument: 'after' },
        );
        if (updated === null) return { ok: false, reason: 'GROUP_NOT_FOUND' };
        await appendOutbox(session, { type: 'membersAdded', groupId, userIds: added, seq: updated.lastSeq });
        return { ok: true, group: toGroup(updated), changed: added };
      });
    },
    async removeMember(groupId, userId) {
      return transaction(async (session): Promise<MembershipChangeOutcome> => {
        const group = await groups.findOne({ _id: groupId }, { session });
        if (group === null) return { ok: false, reason: 'GROUP_NOT_FOUND' };
        const { deletedCount } = await memberships.deleteOne({ groupId, userId }, { session });
        if (deletedCount === 0) return { ok: true, group: toGroup(group), changed: [] };
        const updated = await groups.findOneAndUpdate(
          { _id: groupId },
          { $inc: { memberCount: -1 } },
          { session, returnDocument: 'after' },
        );
        if (updated === null) return { ok: false, reason: 'GROUP_NOT_FOUND' };
        await appendOutbox(session, { type: 'memberRemoved', groupId, userId, seq: updated.lastSeq });
        return { ok: true, group: toGroup(updated), changed: [userId] };
      });
    },
    async listMembers(groupId, { limit, after }: PageRequest): Promise<Page<UserRecord>> {
      checkLimit(limit);
      const filter: Filter<MembershipDoc> = after === undefined ? { groupId } : { groupId, userId: { $gt: after } };
      const rows = await memberships
        .find(filter, { projection: { _id: 0, userId: 1 } })
        .sort({ userId: 1 })
        .limit(limit + 1)
        .toArray();
      const ids = rows.slice(0, limit).map((row) => row.userId);
      const docs = ids.length === 0 ? [] : await users.find({ _id: { $in: ids } }).toArray();
      const byId = new Map(docs.map((doc) => [doc._id, toUser(doc)]));
      // Members' users are created with the membership; a missing one shows as unnamed.
      return toPage(rows, limit, (row) => row.userId, (row) => byId.get(row.userId) ?? { id: row.userId, name: null });
    },
    async listUserGroups(userId, { limit, after }: PageRequest): Promise<Page<UserGroupRecord>> {
      checkLimit(limit);
      // Decoded before any read: a key this store did not produce is a RangeError even for a
      // user without groups, as in the embedded adapter.
      const key = after === undefined ? undefined : decodeGroupKey(after);
      const mine = await memberships.find({ userId }).toArray();
      if (mine.length === 0) return { items: [], hasMore: false };
      const byGroup = new Map(mine.map((doc) => [doc.groupId, toMembership(doc)]));
      const filter: Filter<GroupDoc> = { _id: { $in: [...byGroup.keys()] } };
      if (key !== undefined) {
        filter.$or = [
          { lastActivityAt: { $lt: key.lastActivityAt } },
          { lastActivityAt: key.lastActivityAt, _id: { $lt: key.id } },
        ];
      }
      // The _id index bounds the work to this user's groups (sorted in memory, top limit + 1);
      // the planner must not pick a walk over all groups in activity order (22).
      const docs = await groups
        .find(filter, { hint: { _id: 1 } })
        .sort({ lastActivityAt: -1, _id: -1 })
        .limit(limit + 1)
        .toArray();
      // Every group found is one of `mine` (the $in); its membership is the one read first.
      const rows = docs.flatMap((doc) => {
        const membership = byGroup.get(doc._id);
        return membership === undefined ? [] : [{ doc, membership }];
      });
      return toPage(
        rows,
        limit,
        ({ doc }) => encodeGroupKey({ lastActivityAt: doc.lastActivityAt, id: doc._id }),
        ({ doc, membership }) => ({ group: toGroup(doc), membership }),
      );
    },
    async listAllUserGroups(userId) {
      const rows = await memberships.find({ userId }, { projection: { _id: 0, groupId: 1 } }).toArray();
      if (rows.length === 0) return [];
      return (await groups.find({ _id: { $in: rows.map((row) => row.groupId) } }).toArray()).map(toGroup);
    },

    async appendMessage(input): Promise<AppendOutcome> {
      const { groupId, senderId, clientMessageId } = input;
      try {
        return await transaction(async (session): Promise<AppendOutcome> => {
          const group = await groups.findOne({ _id: groupId }, { session, projection: { _id: 1 } });
          if (group === null) return { ok: false, reason: 'GROUP_NOT_FOUND' };
          const member = await memberships.findOne({ groupId, userId: senderId }, { session, projection: { _id: 1 } });
          if (member === null) return { ok: false, reason: 'NOT_A_MEMBER' };
          // Before the $inc: a repeated send must not take a seq (and writes nothing).
          const original = await findByClientMessageId(groupId, senderId, clientMessageId, session);
          if (original !== null) return { ok: true, message: toMessage(original), created: false };
          // The group document is the per-group sequence: of two concurrent senders to one
          // group, the second to write it fails with WriteConflict (112, labelled
          // TransientTransactionError) and withTransaction retries it from a newer snapshot,
          // which sees the first one's seq (2), (3).
          const counted = await groups.findOneAndUpdate(
            { _id: groupId },
            { $inc: { lastSeq: 1 }, $set: { lastActivityAt: input.now } },
            { session, returnDocument: 'after', projection: { lastSeq: 1 } },
          );
          if (counted === null) return { ok: false, reason: 'GROUP_NOT_FOUND' };
          const message: MessageRecord = {
            id: input.id,
            groupId,
            seq: counted.lastSeq,
            senderId,
            body: input.body,
            clientMessageId,
            createdAt: input.now,
          };
          await messages.insertOne(toMessageDoc(message), { session });
          await memberships.updateOne({ groupId, userId: senderId }, { $max: { lastReadSeq: message.seq } }, { session });
          await appendOutbox(session, { type: 'message', message });
          return { ok: true, message, created: true };
        });
      } catch (error) {
        // DuplicateKey (11000) on the clientMessageId index: the same send committed meanwhile.
        // A repeat of a committed send (also one whose first commit result was unknown,
        // UnknownTransactionCommitResult) normally finds the original in its snapshot above, and
        // one racing an uncommitted original conflicts on the group's lastSeq first (112,
        // retried); this is the guard for anything else. The failed statement aborted this
        // transaction on the server (later statements would get NoSuchTransaction, 251), so
        // withTransaction has rethrown it and the original is read outside the transaction (10),
        // at majority, so what is returned is durable.
        if (!isDuplicateKey(error)) throw error;
        const original = await findByClientMessageId(groupId, senderId, clientMessageId);
        if (original === null) throw error;
        return { ok: true, message: toMessage(original), created: false };
      }
    },
    async getMessage(id) {
      const doc = await messages.findOne({ _id: id });
      return doc === null ? null : toMessage(doc);
    },
    async getLastMessages(groupIds) {
      if (groupIds.length === 0) return [];
      const heads = await groups
        .find({ _id: { $in: [...new Set(groupIds)] }, lastSeq: { $gt: 0 } }, { projection: { _id: 1, lastSeq: 1 } })
        .toArray();
      if (heads.length === 0) return [];
      // The message with seq = lastSeq committed with that lastSeq, so it exists; each branch
      // of the $or is one lookup in the (groupId, seq) index.
      const docs = await messages.find({ $or: heads.map((head) => ({ groupId: head._id, seq: head.lastSeq })) }).toArray();
      return docs.map(toMessage);
    },
    async listMessages({ groupId, afterSeq, beforeSeq, limit, order }) {
      // limit(0) means "no limit" to MongoDB.
      if (checkLimit(limit) === 0) return [];
      const seq = beforeSeq === undefined ? { $gt: afterSeq } : { $gt: afterSeq, $lt: beforeSeq };
      const docs = await messages
        .find({ groupId, seq })
        .sort({ seq: order === 'asc' ? 1 : -1 })
        .limit(limit)
        .toArray();
      return docs.map(toMessage);
    },
    async markRead(groupId, userId, seq) {
      // $max never lowers lastReadSeq (12); an update that changes nothing writes nothing.
      const doc = await memberships.findOneAndUpdate(
        { groupId, userId },
        { $max: { lastReadSeq: seq } },
        { returnDocument: 'after' },
      );
      return doc === null ? null : toMembership(doc);
    },

    outbox: outboxFeed,
    async getCheckpoint(name) {
      return (await checkpoints.findOne({ _id: name }))?.position ?? null;
    },
    async setCheckpoint(name, position) {
      await upsertRetrying(() => checkpoints.updateOne({ _id: name }, { $set: { position } }, { upsert: true }));
    },

    async ping() {
      await db.command({ ping: 1 });
    },
    async close() {
      // Only the followers are ours; the client belongs to the composition root.
      closing.abort();
      await Promise.all([...openStreams].map((stream) => stream.close().catch(() => undefined)));
    },
  };
}
