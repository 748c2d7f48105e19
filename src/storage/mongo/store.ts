/**
 * The MongoDB storage adapter (production): implements the port in `../port.ts` on the official
 * driver. The composition root passes a connected `MongoClient` and closes it; `close()` here
 * only stops this store's outbox followers.
 *
 * Longer than 400 lines on purpose: a fifth of it is this header, whose numbered notes (1)–(26)
 * are the MongoDB behaviours the code relies on, cited by number where it relies on them; the
 * rest is one Store over one set of collections (mapping, positions, errors and the outbox
 * follower are already in their own files).
 *
 * The send path: serialised per group, nothing shared between groups
 * -------------------------------------------------------------------
 * A send is one transaction of six round trips:
 *
 *   1. aggregate: the group, the sender's membership and an earlier send with the same
 *      clientMessageId, in one command ($lookup, 26); it starts the transaction and fixes its
 *      snapshot (4)
 *   2. findOneAndUpdate groups: $inc lastSeq and outboxSeq, $set lastActivityAt (the group write)
 *   3. insertOne messages
 *   4. updateOne memberships: $max lastReadSeq of the sender
 *   5. insertOne outbox: `_id: { g: groupId, n: outboxSeq }`
 *   6. commitTransaction, w: "majority" (5)
 *
 * The group document is the only document two sends write in common, and only when they go to
 * the same group (the membership only when one sender sends twice at once; message and outbox
 * documents are new). There is no global document: sends to different groups never conflict,
 * and membership changes write their group's document the same way.
 *
 * Why one group's sends serialise, and what it costs: two transactions that both write a
 * document cannot both commit unless one's snapshot includes the other's commit (3); a
 * transaction whose snapshot predates a commit to that document fails with WriteConflict when it
 * writes it, and one that writes it while another holds it uncommitted fails at once; both are
 * retried from a new snapshot (2). Where in the transaction the write sits does not matter: any
 * commit after the snapshot dooms the attempt. So successful sends to one group form a chain in
 * which each spans its whole transaction, statements 1..6 up to the commit being applied on the
 * primary (the wait for the majority comes after it and overlaps the next send, since a
 * transaction reads the newest local snapshot and waits for its majority at commit, 4), plus on
 * average about one round trip for the next winner's retry to take its snapshot after that
 * commit: about 7 round trips per send, where the global counter made it 9 for all groups
 * together. The figures for that old chain (9 round trips: 350-500 sends/s on one host,
 * 100-200 on a 3-node replica set) put a round trip at 0.22-0.32 ms and 0.55-1.1 ms; per group:
 *
 *   one host:           1 / (7 x 0.22..0.32 ms) = about 450-650 sends/s per group
 *   3-node replica set: 1 / (7 x 0.55..1.1 ms)  = about 130-260 sends/s per group
 *
 * (before: 350-500 and 100-200 sends/s for the whole deployment). A burst of N sends to one
 * group still costs about N^2/2 attempts, now within that group only. Across groups the limit is
 * the primary's capacity, not a lock: a send is 5 small operations plus a commit; at the 10-20k
 * small operations/s a mid-size primary sustains that is about 1,700-3,300 sends/s, and it
 * grows with the hardware or by sharding on the group id (every document a send writes, outbox
 * included, is keyed by group). These figures are arithmetic on those round-trip times, not
 * measured here: no MongoDB server runs in this environment.
 *
 * Following the outbox without a global key: `outbox.ts`, whose header argues why a change stream
 * plus a collection read from a time watermark (with overlap) yields every record at least once.
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
 *    TransientTransactionError, and is retried by (2). This serialises the writes of one group
 *    (its document's `lastSeq`/`outboxSeq` `$inc`).
 *    "Transactions > Production Considerations" (In-progress Transactions and Write Conflicts).
 * 4. Read concern "snapshot" in transactions: all reads of one attempt see one snapshot. Without
 *    atClusterTime it is speculative: the newest local snapshot when the transaction starts, and
 *    commit with w: "majority" waits until it is majority-committed. "Read Concern "snapshot"",
 *    "Transactions and Read Concern"; SERVER-37514, SERVER-34038.
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
 * 23. The server aborts transactions open longer than transactionLifetimeLimitSeconds (default
 *    60); the clean-up runs every 60 s or every transactionLifetimeLimitSeconds / 2, whichever is
 *    lower. "Server Parameters" (transactionLifetimeLimitSeconds).
 * 24. BSON compares embedded documents field by field in the order they appear (type, name,
 *    value), and MaxKey after every other type, so `{ g, n }` keys sort by g then n and
 *    `{ g, n: MaxKey }` bounds a group's range. "Comparison/Sort Order" (Objects).
 * 25. Read concern "snapshot" outside transactions (MongoDB 5.0+, find, aggregate and distinct
 *    on a primary or secondary): one command reads majority-committed data at one point in time;
 *    the driver sends it for operations of a `snapshot: true` session. "Read Concern
 *    "snapshot"", lib/sessions.js `applySession`.
 * 26. `$lookup` is allowed in transactions and snapshot reads; an uncorrelated sub-pipeline
 *    ($match on constants) runs once per input document and uses the foreign collection's
 *    indexes. "$lookup" (Transactions; Correlated Subqueries Using Concise Syntax).
 */
import { ReadConcern, ReadPreference, WriteConcern } from 'mongodb';
import type { AnyBulkWriteOperation, ClientSession, Filter, MongoClient, TransactionOptions } from 'mongodb';
import { checkFence } from '../fence.ts';
import { outboxEventToJson } from '../outbox-codec.ts';
import type {
  AppendOutcome,
  Checkpoint,
  GroupRecord,
  MembershipChangeOutcome,
  MessageRecord,
  OutboxEvent,
  Page,
  PageRequest,
  Store,
  UserGroupRecord,
  UserRecord,
} from '../port.ts';
import { checkLimit, toPage } from '../paging.ts';
import { isDuplicateKey, isIndexOptionsConflict, isNamespaceExists } from './errors.ts';
import {
  toGroup,
  toMembership,
  toMessage,
  toMessageDoc,
  toUser,
  type CheckpointDoc,
  type GroupDoc,
  type MembershipDoc,
  type MessageDoc,
  type OutboxDoc,
  type PoisonDoc,
  type UserDoc,
} from './mapping.ts';
import { createOutboxFeed, outboxKey } from './outbox.ts';
import { decodeGroupKey, encodeGroupKey } from './position.ts';

export interface MongoStoreOptions {
  /**
   * A connected client to a replica set or sharded cluster (transactions and change streams need
   * one). The composition root owns it: the store never connects or closes it.
   */
  readonly client: MongoClient;
  /** Database holding the collections (users, groups, memberships, messages, outbox, outbox_poison, checkpoints). */
  readonly dbName: string;
  /**
   * How long outbox documents are kept (TTL index on `createdAt`). A relay that is down longer
   * than this misses the events that expired meanwhile: keep it above the longest relay outage
   * to survive. Changing it on a running deployment updates the index (collMod) at start-up.
   * @default 604800 (7 days)
   */
  readonly outboxRetentionSeconds?: number | undefined;
  /**
   * How far before the last streamed record the outbox is read again when the change stream
   * cannot resume: at least the longest time from a record's creation to its commit (the
   * server's transactionLifetimeLimitSeconds, up to 1.5 times it) plus twice the largest clock
   * error between app servers. See `outbox.ts`.
   * @default 300
   */
  readonly rescanOverlapSeconds?: number | undefined;
  /**
   * Most records in one batch yielded by `outbox.follow`.
   * @default 256
   */
  readonly outboxBatchSize?: number | undefined;
}

const COLLECTIONS = ['users', 'groups', 'memberships', 'messages', 'outbox', 'outbox_poison', 'checkpoints'] as const;
const OUTBOX_TTL_INDEX = 'createdAt_ttl';

/** Behaviours (2)–(6) of the header: one snapshot, durable on commit, on the primary. */
const TRANSACTION_OPTIONS: TransactionOptions = {
  readConcern: new ReadConcern('snapshot'),
  writeConcern: new WriteConcern('majority'),
  readPreference: ReadPreference.primary,
};

/** Concurrent upserts of one `_id` may fail with 11000 once; repeating then matches (11). */
async function upsertRetrying<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (!isDuplicateKey(error)) throw error;
    return write();
  }
}

/** What the send path's first statement reads (aggregate on groups, 26). */
interface SendCheck {
  _id: string;
  member: { _id: unknown }[];
  original: MessageDoc[];
}

/** One membership with its group, as `listUserGroups` reads them in one command (25, 26). */
interface MembershipWithGroup extends MembershipDoc {
  group: GroupDoc;
}

export async function createMongoStore({
  client,
  dbName,
  outboxRetentionSeconds = 7 * 24 * 60 * 60,
  rescanOverlapSeconds = 300,
  outboxBatchSize = 256,
}: MongoStoreOptions): Promise<Store> {
  for (const [name, value] of [
    ['outboxRetentionSeconds', outboxRetentionSeconds],
    ['rescanOverlapSeconds', rescanOverlapSeconds],
    ['outboxBatchSize', outboxBatchSize],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  const overlapMs = rescanOverlapSeconds * 1000;
  const retentionMs = outboxRetentionSeconds * 1000;

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
  const poison = db.collection<PoisonDoc>('outbox_poison');

  // --- start-up: collections and indexes ------------------------------------------------------
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
    // The outbox's `_id` ({ g, n }) orders each group's records; this index expires them (15)
    // and serves the collection read's window (createdAt >= watermark - overlap).
    await outbox.createIndexes([{ key: { createdAt: 1 }, name: OUTBOX_TTL_INDEX, expireAfterSeconds: outboxRetentionSeconds }]);
  } catch (error) {
    if (!isIndexOptionsConflict(error)) throw error;
    await db.command({ collMod: 'outbox', index: { name: OUTBOX_TTL_INDEX, expireAfterSeconds: outboxRetentionSeconds } });
  }

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
   * Appends a group's event inside the caller's transaction, as record `n` of the group: the
   * caller took `n` from the group document's `outboxSeq` in the same transaction, so the write
   * that numbers it is the one that serialises the group's changes (3), and no document outside
   * the group is written. `createdAt` is read here, inside the transaction after its first
   * statement, which bounds the time to the commit (23; see `outbox.ts`).
   */
  async function appendOutbox(session: ClientSession, groupId: string, n: number, event: OutboxEvent): Promise<void> {
    await outbox.insertOne({ _id: outboxKey(groupId, n), event: outboxEventToJson(event), createdAt: new Date() }, { session });
  }

  /** Creates the users that do not exist yet, with a null name, inside the transaction. */
  async function ensureUsers(session: ClientSession, userIds: readonly string[]): Promise<void> {
    if (userIds.length === 0) return;
    const operations: AnyBulkWriteOperation<UserDoc>[] = userIds.map((id) => ({
      updateOne: { filter: { _id: id }, update: { $setOnInsert: { name: null } }, upsert: true },
    }));
    await users.bulkWrite(operations, { session, ordered: true });
  }

  async function findByClientMessageId(groupId: string, senderId: string, clientMessageId: string): Promise<MessageDoc | null> {
    return messages.findOne({ groupId, senderId, clientMessageId });
  }

  /**
   * Conditional upsert on the fence: matches only a checkpoint whose fence is at most `fence`
   * (or that has none yet). A higher stored fence makes the filter miss and the upsert's insert
   * collide on `_id` (11000): refused. A collision can also be two upserts racing (11), so the
   * stored fence decides.
   */
  async function fencedUpsert(name: string, fence: number, set: Partial<CheckpointDoc>): Promise<boolean> {
    const filter: Filter<CheckpointDoc> = { _id: name, $or: [{ fence: { $lte: fence } }, { fence: { $exists: false } }] };
    for (let attempt = 0; ; attempt += 1) {
      try {
        // A claim on a new checkpoint stores no position yet; a write sets it (one or the other:
        // $set and $setOnInsert may not both name a field).
        const update = set.position === undefined ? { $set: { fence }, $setOnInsert: { position: null } } : { $set: { ...set, fence } };
        await checkpoints.updateOne(filter, update, { upsert: true });
        return true;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        const stored = await checkpoints.findOne({ _id: name });
        if (stored !== null && stored.fence > fence) return false;
        if (attempt >= 1) throw error;
      }
    }
  }

  // --- outbox feed ------------------------------------------------------------------------------
  const followers = createOutboxFeed({ client, outbox, poison, overlapMs, retentionMs, batchSize: outboxBatchSize });

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
          outboxSeq: 1,
          createdAt: group.now,
          lastActivityAt: group.now,
        };
        await ensureUsers(session, members);
        await groups.insertOne(doc, { session });
        await memberships.insertMany(
          members.map((userId) => ({ groupId: group.id, userId, lastReadSeq: 0, joinedSeq: 0, joinedAt: group.now })),
          { session },
        );
        await appendOutbox(session, group.id, 1, { type: 'membersAdded', groupId: group.id, userIds: members, seq: 0 });
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
          { $inc: { memberCount: added.length, outboxSeq: 1 } },
          { session, returnDocument: 'after' },
        );
        if (updated === null) return { ok: false, reason: 'GROUP_NOT_FOUND' };
        await appendOutbox(session, groupId, updated.outboxSeq ?? 1, {
          type: 'membersAdded',
          groupId,
          userIds: added,
          seq: updated.lastSeq,
        });
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
          { $inc: { memberCount: -1, outboxSeq: 1 } },
          { session, returnDocument: 'after' },
        );
        if (updated === null) return { ok: false, reason: 'GROUP_NOT_FOUND' };
        await appendOutbox(session, groupId, updated.outboxSeq ?? 1, { type: 'memberRemoved', groupId, userId, seq: updated.lastSeq });
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
      // Decoded before any read: a key this store did not produce is an InvalidPageKeyError even
      // for a user without groups, as in the embedded adapter.
      const key = after === undefined ? undefined : decodeGroupKey(after);
      const page: Filter<MembershipWithGroup> = {};
      if (key !== undefined) {
        page.$or = [
          { 'group.lastActivityAt': { $lt: key.lastActivityAt } },
          { 'group.lastActivityAt': key.lastActivityAt, 'group._id': { $lt: key.id } },
        ];
      }
      // Memberships and groups in ONE command at one point in time (25), so a send between two
      // reads can no longer make unreadCount count the viewer's own message, nor a group left
      // meanwhile be listed. The user's memberships (userId_groupId index), each joined to its
      // group by _id (26), sorted in memory (top limit + 1) as before: no walk over all groups.
      const session = client.startSession({ snapshot: true });
      let rows: MembershipWithGroup[];
      try {
        rows = await memberships
          .aggregate<MembershipWithGroup>(
            [
              { $match: { userId } },
              { $lookup: { from: 'groups', localField: 'groupId', foreignField: '_id', as: 'group' } },
              { $unwind: '$group' },
              { $match: page },
              { $sort: { 'group.lastActivityAt': -1, 'group._id': -1 } },
              { $limit: limit + 1 },
            ],
            { session },
          )
          .toArray();
      } finally {
        await session.endSession();
      }
      return toPage(
        rows,
        limit,
        ({ group }) => encodeGroupKey({ lastActivityAt: group.lastActivityAt, id: group._id }),
        (row) => ({ group: toGroup(row.group), membership: toMembership(row) }),
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
          // One round trip for the three checks (26); it also starts the transaction's snapshot.
          const [check] = await groups
            .aggregate<SendCheck>(
              [
                { $match: { _id: groupId } },
                { $project: { _id: 1 } },
                {
                  $lookup: {
                    from: 'memberships',
                    pipeline: [{ $match: { groupId, userId: senderId } }, { $project: { _id: 1 } }],
                    as: 'member',
                  },
                },
                // A repeated send must not take a seq (and writes nothing).
                { $lookup: { from: 'messages', pipeline: [{ $match: { groupId, senderId, clientMessageId } }], as: 'original' } },
              ],
              { session },
            )
            .toArray();
          if (check === undefined) return { ok: false, reason: 'GROUP_NOT_FOUND' };
          if (check.member.length === 0) return { ok: false, reason: 'NOT_A_MEMBER' };
          const [original] = check.original;
          if (original !== undefined) return { ok: true, message: toMessage(original), created: false };
          // The group document is the per-group sequence of messages and of outbox records: of
          // two concurrent senders to one group, the second to write it fails with WriteConflict
          // (112, labelled TransientTransactionError) and withTransaction retries it from a newer
          // snapshot, which sees the first one's numbers (2), (3). Nothing else is shared.
          const counted = await groups.findOneAndUpdate(
            { _id: groupId },
            { $inc: { lastSeq: 1, outboxSeq: 1 }, $set: { lastActivityAt: input.now } },
            { session, returnDocument: 'after', projection: { lastSeq: 1, outboxSeq: 1 } },
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
          await appendOutbox(session, groupId, counted.outboxSeq ?? 1, { type: 'message', message });
          return { ok: true, message, created: true };
        });
      } catch (error) {
        // DuplicateKey (11000) on the clientMessageId index: the same send committed meanwhile.
        // A repeat of a committed send (also one whose first commit result was unknown,
        // UnknownTransactionCommitResult) normally finds the original in its snapshot above, and
        // one racing an uncommitted original conflicts on the group document first (112,
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

    outbox: followers.feed,
    async getCheckpoint(name): Promise<Checkpoint | null> {
      const doc = await checkpoints.findOne({ _id: name });
      return doc === null ? null : { position: doc.position ?? null, fence: doc.fence ?? 0 };
    },
    async claimCheckpoint(name, fence) {
      if (!(await fencedUpsert(name, checkFence(fence), {}))) return null;
      const doc = await checkpoints.findOne({ _id: name });
      // Read back at majority after the write: it is ours unless a higher fence claimed since.
      if (doc === null || doc.fence !== fence) return null;
      return { position: doc.position ?? null, fence };
    },
    async setCheckpoint(name, position, fence) {
      return fencedUpsert(name, checkFence(fence), { position });
    },

    async ping() {
      await db.command({ ping: 1 });
    },
    async close() {
      // Only the followers are ours; the client belongs to the composition root.
      await followers.close();
    },
  };
}
