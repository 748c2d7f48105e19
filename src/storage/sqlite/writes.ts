/**
 * Every write of the embedded store, as plain data (`WriteOp`) and as the code that applies a
 * batch of them to a connection in ONE transaction. It runs in the writer thread
 * (`writer-thread.ts`): the commit's fsync never blocks the event loop that serves sockets.
 */
import type Database from 'better-sqlite3';
import type {
  AppendOutcome,
  Checkpoint,
  GroupRecord,
  MembershipChangeOutcome,
  MembershipRecord,
  MessageRecord,
  NewGroup,
  NewMessage,
  OutboxEvent,
  UserRecord,
} from '../port.ts';
import {
  encodeEvent,
  toGroup,
  toMembership,
  toMessage,
  toCheckpoint,
  type CheckpointRow,
  type GroupRow,
  type MembershipRow,
  type MessageRow,
} from './db.ts';

/** One write, as it crosses to the writer thread (structured clone keeps Dates). */
export type WriteOp =
  | { readonly op: 'upsertUser'; readonly user: UserRecord }
  | { readonly op: 'createGroup'; readonly group: NewGroup }
  | {
      readonly op: 'addMembers';
      readonly groupId: string;
      readonly userIds: readonly string[];
      readonly now: Date;
      readonly maxMembers: number;
    }
  | { readonly op: 'removeMember'; readonly groupId: string; readonly userId: string }
  | { readonly op: 'appendMessage'; readonly message: NewMessage }
  | { readonly op: 'markRead'; readonly groupId: string; readonly userId: string; readonly seq: number }
  | { readonly op: 'acknowledge'; readonly id: number }
  | { readonly op: 'quarantine'; readonly id: number; readonly reason: string; readonly now: number }
  | { readonly op: 'claimCheckpoint'; readonly name: string; readonly fence: number }
  | { readonly op: 'setCheckpoint'; readonly name: string; readonly position: string; readonly fence: number };

/** What each op resolves with. */
export interface WriteResults {
  upsertUser: void;
  createGroup: GroupRecord;
  addMembers: MembershipChangeOutcome;
  removeMember: MembershipChangeOutcome;
  appendMessage: AppendOutcome;
  markRead: MembershipRecord | null;
  acknowledge: void;
  quarantine: void;
  claimCheckpoint: Checkpoint | null;
  setCheckpoint: boolean;
}

/** An error as it crosses threads: enough to rebuild one the caller can inspect. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
}

export type OpResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: SerializedError };

export interface BatchResult {
  readonly results: readonly OpResult[];
  /** Whether the batch appended to the outbox (followers are woken after the commit). */
  readonly outboxAppended: boolean;
}

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(error) };
}

export function deserializeError(serialized: SerializedError): Error {
  const error = new Error(serialized.message);
  error.name = serialized.name;
  if (serialized.code !== undefined) Object.assign(error, { code: serialized.code });
  return error;
}

/** Prepares the write statements on `db` and returns the batch executor. */
export function createWriteExecutor(db: Database.Database): (ops: readonly WriteOp[]) => BatchResult {
  const sql = {
    upsertUser: db.prepare<[string, string | null]>(
      `INSERT INTO users (id, name) VALUES (?, ?)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name
       WHERE excluded.name IS NOT NULL AND users.name IS NOT excluded.name`,
    ),
    ensureUser: db.prepare<[string]>('INSERT INTO users (id, name) VALUES (?, NULL) ON CONFLICT (id) DO NOTHING'),
    insertGroup: db.prepare<[string, string, string, number, number, number]>(
      `INSERT INTO groups (id, name, owner_id, member_count, last_seq, created_at, last_activity_at)
       VALUES (?, ?, ?, ?, 0, ?, ?)`,
    ),
    getGroup: db.prepare<[string], GroupRow>('SELECT * FROM groups WHERE id = ?'),
    addMemberCount: db.prepare<[number, string], GroupRow>(
      'UPDATE groups SET member_count = member_count + ? WHERE id = ? RETURNING *',
    ),
    recordMessage: db.prepare<[number, number, string]>('UPDATE groups SET last_seq = ?, last_activity_at = ? WHERE id = ?'),
    getMembership: db.prepare<[string, string], MembershipRow>('SELECT * FROM memberships WHERE group_id = ? AND user_id = ?'),
    insertMembership: db.prepare<[string, string, number, number, number]>(
      `INSERT INTO memberships (group_id, user_id, last_read_seq, joined_seq, joined_at)
       VALUES (?, ?, ?, ?, ?)`,
    ),
    deleteMembership: db.prepare<[string, string]>('DELETE FROM memberships WHERE group_id = ? AND user_id = ?'),
    advanceRead: db.prepare<[number, string, string], MembershipRow>(
      `UPDATE memberships SET last_read_seq = max(last_read_seq, ?)
       WHERE group_id = ? AND user_id = ? RETURNING *`,
    ),
    insertMessage: db.prepare<[string, string, number, string, string, string, number]>(
      `INSERT INTO messages (id, group_id, seq, sender_id, body, client_message_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    findByClientId: db.prepare<[string, string, string], MessageRow>(
      'SELECT * FROM messages WHERE group_id = ? AND sender_id = ? AND client_message_id = ?',
    ),
    appendOutbox: db.prepare<[string, number]>('INSERT INTO outbox (event, created_at) VALUES (?, ?)'),
    acknowledge: db.prepare<[number]>('DELETE FROM outbox WHERE id <= ?'),
    // Both in one transaction: the row is in exactly one of the two tables. A row already moved
    // (or acknowledged) selects nothing and deletes nothing.
    setAside: db.prepare<[string, number, number]>(
      `INSERT INTO outbox_poison (id, event, created_at, reason, quarantined_at)
       SELECT id, event, created_at, ?, ? FROM outbox WHERE id = ? ON CONFLICT (id) DO NOTHING`,
    ),
    deleteOutbox: db.prepare<[number]>('DELETE FROM outbox WHERE id = ?'),
    getCheckpoint: db.prepare<[string], CheckpointRow>('SELECT position, fence FROM checkpoints WHERE name = ?'),
    // Both write only when the caller's fence is at least the stored one: otherwise the upsert's
    // WHERE fails, nothing changes and `changes` is 0.
    claimCheckpoint: db.prepare<[string, number]>(
      `INSERT INTO checkpoints (name, position, fence) VALUES (?, '', ?)
       ON CONFLICT (name) DO UPDATE SET fence = excluded.fence WHERE checkpoints.fence <= excluded.fence`,
    ),
    setCheckpoint: db.prepare<[string, string, number]>(
      `INSERT INTO checkpoints (name, position, fence) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET position = excluded.position, fence = excluded.fence
       WHERE checkpoints.fence <= excluded.fence`,
    ),
  };

  let outboxAppended = false;

  function appendOutbox(event: OutboxEvent): void {
    // Ids come from AUTOINCREMENT inside a BEGIN IMMEDIATE transaction. Writers of every
    // process serialise on the write lock, so a transaction that takes a larger id commits
    // after every one that took a smaller id: id order is commit order, and a reader that sees
    // id n has already seen all ids below n (no gap fills in later). AUTOINCREMENT (not a plain
    // rowid) also keeps ids from being reused after acknowledge deletes the newest rows, which
    // would hide new records from a follower resuming after the deleted id.
    sql.appendOutbox.run(encodeEvent(event), Date.now());
    outboxAppended = true;
  }

  function createGroup(group: NewGroup): GroupRecord {
    const members = [...new Set([group.ownerId, ...group.memberIds])];
    const now = group.now.getTime();
    for (const userId of members) sql.ensureUser.run(userId);
    sql.insertGroup.run(group.id, group.name, group.ownerId, members.length, now, now);
    for (const userId of members) sql.insertMembership.run(group.id, userId, 0, 0, now);
    appendOutbox({ type: 'membersAdded', groupId: group.id, userIds: members, seq: 0 });
    return toGroup(sql.getGroup.get(group.id)!);
  }

  function addMembers(groupId: string, userIds: readonly string[], now: Date, maxMembers: number): MembershipChangeOutcome {
    const group = sql.getGroup.get(groupId);
    if (group === undefined) return { ok: false, reason: 'GROUP_NOT_FOUND' };
    const added = [...new Set(userIds)].filter((userId) => sql.getMembership.get(groupId, userId) === undefined);
    if (added.length === 0) return { ok: true, group: toGroup(group), changed: [] };
    if (group.member_count + added.length > maxMembers) return { ok: false, reason: 'TOO_MANY_MEMBERS' };
    for (const userId of added) {
      sql.ensureUser.run(userId);
      sql.insertMembership.run(groupId, userId, group.last_seq, group.last_seq, now.getTime());
    }
    const updated = sql.addMemberCount.get(added.length, groupId)!;
    appendOutbox({ type: 'membersAdded', groupId, userIds: added, seq: group.last_seq });
    return { ok: true, group: toGroup(updated), changed: added };
  }

  function removeMember(groupId: string, userId: string): MembershipChangeOutcome {
    const group = sql.getGroup.get(groupId);
    if (group === undefined) return { ok: false, reason: 'GROUP_NOT_FOUND' };
    if (sql.deleteMembership.run(groupId, userId).changes === 0) return { ok: true, group: toGroup(group), changed: [] };
    const updated = sql.addMemberCount.get(-1, groupId)!;
    appendOutbox({ type: 'memberRemoved', groupId, userId, seq: group.last_seq });
    return { ok: true, group: toGroup(updated), changed: [userId] };
  }

  function appendMessage(input: NewMessage): AppendOutcome {
    const group = sql.getGroup.get(input.groupId);
    if (group === undefined) return { ok: false, reason: 'GROUP_NOT_FOUND' };
    if (sql.getMembership.get(input.groupId, input.senderId) === undefined) return { ok: false, reason: 'NOT_A_MEMBER' };
    const original = sql.findByClientId.get(input.groupId, input.senderId, input.clientMessageId);
    if (original !== undefined) return { ok: true, message: toMessage(original), created: false };
    const message: MessageRecord = {
      id: input.id,
      groupId: input.groupId,
      seq: group.last_seq + 1,
      senderId: input.senderId,
      body: input.body,
      clientMessageId: input.clientMessageId,
      createdAt: input.now,
    };
    const now = input.now.getTime();
    sql.insertMessage.run(message.id, message.groupId, message.seq, message.senderId, message.body, message.clientMessageId, now);
    sql.recordMessage.run(message.seq, now, message.groupId);
    sql.advanceRead.run(message.seq, message.groupId, message.senderId);
    appendOutbox({ type: 'message', message });
    return { ok: true, message, created: true };
  }

  function apply(op: WriteOp): unknown {
    switch (op.op) {
      case 'upsertUser':
        sql.upsertUser.run(op.user.id, op.user.name);
        return undefined;
      case 'createGroup':
        return createGroup(op.group);
      case 'addMembers':
        return addMembers(op.groupId, op.userIds, op.now, op.maxMembers);
      case 'removeMember':
        return removeMember(op.groupId, op.userId);
      case 'appendMessage':
        return appendMessage(op.message);
      case 'markRead': {
        const row = sql.advanceRead.get(op.seq, op.groupId, op.userId);
        return row === undefined ? null : toMembership(row);
      }
      case 'acknowledge':
        sql.acknowledge.run(op.id);
        return undefined;
      case 'quarantine':
        sql.setAside.run(op.reason, op.now, op.id);
        sql.deleteOutbox.run(op.id);
        return undefined;
      case 'claimCheckpoint':
        if (sql.claimCheckpoint.run(op.name, op.fence).changes === 0) return null;
        return toCheckpoint(sql.getCheckpoint.get(op.name) as CheckpointRow);
      case 'setCheckpoint':
        return sql.setCheckpoint.run(op.name, op.position, op.fence).changes > 0;
    }
  }

  // A transaction function called inside another runs as a SAVEPOINT: one op that throws rolls
  // back alone and the rest of its batch commits.
  const applyOne = db.transaction((op: WriteOp): unknown => {
    const appendedBefore = outboxAppended;
    try {
      return apply(op);
    } catch (error) {
      // Its outbox rows were rolled back with it.
      outboxAppended = appendedBefore;
      throw error;
    }
  });

  /**
   * BEGIN IMMEDIATE takes the write lock up front: writers of other processes queue on
   * busy_timeout (in this thread, not on an event loop), where a deferred transaction would
   * fail with SQLITE_BUSY when it upgrades a read lock that a concurrent commit made stale.
   */
  const applyBatch = db.transaction((ops: readonly WriteOp[]): OpResult[] =>
    ops.map((op, index) => {
      try {
        return { ok: true, value: applyOne(op) };
      } catch (error) {
        // SQLITE_FULL, SQLITE_IOERR and SQLITE_NOMEM may roll back the whole transaction, not only
        // the op's savepoint (https://sqlite.org/lang_transaction.html, "Response To Errors Within
        // A Transaction"). The ops before this one are then undone, and the ops after it would run
        // in autocommit, each committed alone and outside the write lock's ordering of the outbox.
        if (!db.inTransaction) throw new TransactionLost(index, serializeError(error));
        return { ok: false, error: serializeError(error) };
      }
    }),
  );

  return (ops) => {
    const results: OpResult[] = new Array<OpResult>(ops.length);
    let remaining = ops.map((op, index) => ({ op, index }));
    // The op that lost the transaction gets its error; the batch runs again without it, so one
    // write that does not fit never fails the others. Each round settles at least one op.
    for (;;) {
      outboxAppended = false;
      try {
        const settled = applyBatch.immediate(remaining.map(({ op }) => op));
        settled.forEach((result, i) => {
          results[(remaining[i] as { index: number }).index] = result;
        });
        return { results, outboxAppended };
      } catch (error) {
        if (!(error instanceof TransactionLost)) throw error;
        const lost = remaining[error.index] as { index: number };
        results[lost.index] = { ok: false, error: error.error };
        remaining = remaining.filter((_, i) => i !== error.index);
        if (remaining.length === 0) return { results, outboxAppended: false };
      } finally {
        outboxAppended = false;
      }
    }
  };
}

/** An op's error that made SQLite roll back the batch's whole transaction. */
class TransactionLost {
  constructor(
    /** The op's index in the batch that was run. */
    readonly index: number,
    readonly error: SerializedError,
  ) {}
}
