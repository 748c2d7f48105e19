/**
 * The embedded storage adapter: one SQLite file in WAL mode, shared by every process of one
 * machine (a relay and its gateways). Implements the storage port in `../port.ts`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type {
  AppendOutcome,
  Checkpoint,
  GroupRecord,
  MembershipChangeOutcome,
  MembershipRecord,
  MessageRange,
  MessageRecord,
  NewGroup,
  NewMessage,
  OutboxEvent,
  OutboxFeed,
  OutboxRecord,
  Page,
  PageRequest,
  Store,
  UserGroupRecord,
  UserRecord,
} from '../port.ts';
import { checkFence } from '../fence.ts';
import { outboxEventFromJson, outboxEventToJson } from '../outbox-codec.ts';
import { checkLimit, toPage } from '../paging.ts';

export interface SqliteStoreOptions {
  /** Directory of `chat.db`; created (with its parents) when missing. */
  readonly dataDir: string;
  /**
   * `PRAGMA synchronous`. With FULL a commit is fsynced before `appendMessage` resolves, so an
   * acknowledged message survives power loss; NORMAL (in WAL mode) survives a process crash
   * but may lose the last commits on power loss, in exchange for fewer fsyncs.
   * @default 'FULL'
   */
  readonly synchronous?: 'FULL' | 'NORMAL' | undefined;
  /**
   * How long a write waits for another connection's write transaction (other processes share
   * the file) before failing with SQLITE_BUSY.
   * @default 5000
   */
  readonly busyTimeoutMs?: number | undefined;
  /**
   * How often a caught-up `outbox.follow` re-reads the outbox. Commits made through this store
   * wake followers at once; the poll is only for commits made by other processes.
   * @default 100
   */
  readonly pollIntervalMs?: number | undefined;
  /**
   * Most records in one batch yielded by `outbox.follow`.
   * @default 256
   */
  readonly outboxBatchSize?: number | undefined;
}

/**
 * 1: the first schema. 2: checkpoints gain `fence` (fencing tokens; see `claimCheckpoint`),
 * and a claimed checkpoint with no position yet stores '' as its position.
 */
const SCHEMA_VERSION = 2;

/** What turns a file of one version into the next, run inside the opening transaction. */
const MIGRATIONS: Readonly<Record<number, string>> = {
  1: 'ALTER TABLE checkpoints ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;',
};

// Every statement is idempotent so that processes opening the file at the same time (or an
// older file) converge on the same schema. memberships is WITHOUT ROWID so that its user_id
// index carries group_id (the primary key) and listing a user's groups needs no extra lookup.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT
);
CREATE TABLE IF NOT EXISTS groups (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  owner_id TEXT NOT NULL REFERENCES users (id),
  member_count INTEGER NOT NULL,
  last_seq INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  last_activity_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS memberships (
  group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users (id),
  last_read_seq INTEGER NOT NULL,
  joined_seq INTEGER NOT NULL,
  joined_at INTEGER NOT NULL,
  PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS memberships_by_user ON memberships (user_id);
CREATE TABLE IF NOT EXISTS messages (
  id TEXT PRIMARY KEY NOT NULL,
  group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  sender_id TEXT NOT NULL REFERENCES users (id),
  body TEXT NOT NULL,
  client_message_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (group_id, seq),
  UNIQUE (group_id, sender_id, client_message_id)
);
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  event TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
  name TEXT PRIMARY KEY NOT NULL,
  position TEXT NOT NULL,
  fence INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
`;
// No index on groups (last_activity_at, id): listUserGroups starts from the user's memberships
// (memberships_by_user), reaches each group by primary key and sorts that user's groups. An
// index over all groups could only serve that order by walking every group in the database,
// and it would cost an extra index update on every message.

interface UserRow {
  readonly id: string;
  readonly name: string | null;
}

interface GroupRow {
  readonly id: string;
  readonly name: string;
  readonly owner_id: string;
  readonly member_count: number;
  readonly last_seq: number;
  readonly created_at: number;
  readonly last_activity_at: number;
}

interface MembershipRow {
  readonly group_id: string;
  readonly user_id: string;
  readonly last_read_seq: number;
  readonly joined_seq: number;
  readonly joined_at: number;
}

type UserGroupRow = GroupRow & {
  readonly m_last_read_seq: number;
  readonly m_joined_seq: number;
  readonly m_joined_at: number;
};

interface MessageRow {
  readonly id: string;
  readonly group_id: string;
  readonly seq: number;
  readonly sender_id: string;
  readonly body: string;
  readonly client_message_id: string;
  readonly created_at: number;
}

interface OutboxRow {
  readonly id: number;
  readonly event: string;
}

interface CheckpointRow {
  readonly position: string;
  readonly fence: number;
}

const toUser = (row: UserRow): UserRecord => ({ id: row.id, name: row.name });

const toGroup = (row: GroupRow): GroupRecord => ({
  id: row.id,
  name: row.name,
  ownerId: row.owner_id,
  memberCount: row.member_count,
  lastSeq: row.last_seq,
  createdAt: new Date(row.created_at),
  lastActivityAt: new Date(row.last_activity_at),
});

const toMembership = (row: MembershipRow): MembershipRecord => ({
  groupId: row.group_id,
  userId: row.user_id,
  lastReadSeq: row.last_read_seq,
  joinedSeq: row.joined_seq,
  joinedAt: new Date(row.joined_at),
});

const toMessage = (row: MessageRow): MessageRecord => ({
  id: row.id,
  groupId: row.group_id,
  seq: row.seq,
  senderId: row.sender_id,
  body: row.body,
  clientMessageId: row.client_message_id,
  createdAt: new Date(row.created_at),
});

const encodeEvent = (event: OutboxEvent): string => JSON.stringify(outboxEventToJson(event));
const decodeEvent = (json: string): OutboxEvent => outboxEventFromJson(JSON.parse(json));

/** '' marks a checkpoint claimed before its first position was written. */
const toCheckpoint = (row: CheckpointRow): Checkpoint => ({ position: row.position === '' ? null : row.position, fence: row.fence });

/** Outbox positions are the decimal row id; anything else is a caller's bug. */
function parsePosition(position: string): number {
  const id = /^\d{1,15}$/.test(position) ? Number(position) : Number.NaN;
  if (!Number.isSafeInteger(id)) throw new RangeError(`Not an outbox position of this store: ${JSON.stringify(position)}`);
  return id;
}

const groupKey = (row: GroupRow): string => `${row.last_activity_at}:${row.id}`;

function parseGroupKey(key: string): { readonly activityMs: number; readonly id: string } {
  const colon = key.indexOf(':');
  const activityMs = colon > 0 ? Number(key.slice(0, colon)) : Number.NaN;
  if (!Number.isSafeInteger(activityMs)) throw new RangeError(`Not a group page key of this store: ${JSON.stringify(key)}`);
  return { activityMs, id: key.slice(colon + 1) };
}

/** Distinct values in first-seen order, as a JSON array for `json_each` (one cached statement for any count). */
const jsonList = (values: Iterable<string>): string => JSON.stringify([...new Set(values)]);

const NO_UPPER_SEQ = Number.MAX_SAFE_INTEGER;

export function createSqliteStore({
  dataDir,
  synchronous = 'FULL',
  busyTimeoutMs = 5000,
  pollIntervalMs = 100,
  outboxBatchSize = 256,
}: SqliteStoreOptions): Store {
  if (synchronous !== 'FULL' && synchronous !== 'NORMAL') {
    throw new RangeError(`synchronous must be FULL or NORMAL, got ${JSON.stringify(synchronous)}`);
  }
  if (!Number.isSafeInteger(outboxBatchSize) || outboxBatchSize < 1) {
    throw new RangeError(`outboxBatchSize must be a positive integer, got ${outboxBatchSize}`);
  }
  mkdirSync(dataDir, { recursive: true });
  // `timeout` is better-sqlite3's busy_timeout, set before anything below can meet a lock.
  const db = new Database(join(dataDir, 'chat.db'), { timeout: busyTimeoutMs });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous}`);
    db.pragma('foreign_keys = ON');
    db.transaction(() => {
      const version = db.pragma('user_version', { simple: true });
      if (typeof version !== 'number' || version > SCHEMA_VERSION) {
        throw new Error(`${join(dataDir, 'chat.db')} has schema version ${String(version)}; this build knows ${SCHEMA_VERSION}`);
      }
      // A new file (version 0) gets the current schema from SCHEMA; an older one is migrated
      // first, since SCHEMA's CREATE TABLE IF NOT EXISTS leaves existing tables as they are.
      for (let from = version === 0 ? SCHEMA_VERSION : version; from < SCHEMA_VERSION; from += 1) {
        db.exec(MIGRATIONS[from] as string);
      }
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
  } catch (error) {
    db.close();
    throw error;
  }

  const sql = {
    ping: db.prepare<[], number>('SELECT 1').pluck(),
    upsertUser: db.prepare<[string, string | null]>(
      `INSERT INTO users (id, name) VALUES (?, ?)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name
       WHERE excluded.name IS NOT NULL AND users.name IS NOT excluded.name`,
    ),
    ensureUser: db.prepare<[string]>('INSERT INTO users (id, name) VALUES (?, NULL) ON CONFLICT (id) DO NOTHING'),
    getUsers: db.prepare<[string], UserRow>('SELECT id, name FROM users WHERE id IN (SELECT value FROM json_each(?))'),

    insertGroup: db.prepare<[string, string, string, number, number, number]>(
      `INSERT INTO groups (id, name, owner_id, member_count, last_seq, created_at, last_activity_at)
       VALUES (?, ?, ?, ?, 0, ?, ?)`,
    ),
    getGroup: db.prepare<[string], GroupRow>('SELECT * FROM groups WHERE id = ?'),
    getGroups: db.prepare<[string], GroupRow>('SELECT * FROM groups WHERE id IN (SELECT value FROM json_each(?))'),
    addMemberCount: db.prepare<[number, string], GroupRow>(
      'UPDATE groups SET member_count = member_count + ? WHERE id = ? RETURNING *',
    ),
    recordMessage: db.prepare<[number, number, string]>(
      'UPDATE groups SET last_seq = ?, last_activity_at = ? WHERE id = ?',
    ),

    getMembership: db.prepare<[string, string], MembershipRow>(
      'SELECT * FROM memberships WHERE group_id = ? AND user_id = ?',
    ),
    insertMembership: db.prepare<[string, string, number, number, number]>(
      `INSERT INTO memberships (group_id, user_id, last_read_seq, joined_seq, joined_at)
       VALUES (?, ?, ?, ?, ?)`,
    ),
    deleteMembership: db.prepare<[string, string]>('DELETE FROM memberships WHERE group_id = ? AND user_id = ?'),
    advanceRead: db.prepare<[number, string, string], MembershipRow>(
      `UPDATE memberships SET last_read_seq = max(last_read_seq, ?)
       WHERE group_id = ? AND user_id = ? RETURNING *`,
    ),
    membersFirst: db.prepare<[string, number], UserRow>(
      `SELECT u.id, u.name FROM memberships m CROSS JOIN users u ON u.id = m.user_id
       WHERE m.group_id = ? ORDER BY m.user_id LIMIT ?`,
    ),
    membersAfter: db.prepare<[string, string, number], UserRow>(
      `SELECT u.id, u.name FROM memberships m CROSS JOIN users u ON u.id = m.user_id
       WHERE m.group_id = ? AND m.user_id > ? ORDER BY m.user_id LIMIT ?`,
    ),
    // CROSS JOIN fixes memberships as the outer loop: the planner must not walk all groups.
    userGroupsFirst: db.prepare<[string, number], UserGroupRow>(
      `SELECT g.*, m.last_read_seq AS m_last_read_seq, m.joined_seq AS m_joined_seq, m.joined_at AS m_joined_at
       FROM memberships m CROSS JOIN groups g ON g.id = m.group_id
       WHERE m.user_id = ?
       ORDER BY g.last_activity_at DESC, g.id DESC LIMIT ?`,
    ),
    userGroupsAfter: db.prepare<[string, number, string, number], UserGroupRow>(
      `SELECT g.*, m.last_read_seq AS m_last_read_seq, m.joined_seq AS m_joined_seq, m.joined_at AS m_joined_at
       FROM memberships m CROSS JOIN groups g ON g.id = m.group_id
       WHERE m.user_id = ? AND (g.last_activity_at, g.id) < (?, ?)
       ORDER BY g.last_activity_at DESC, g.id DESC LIMIT ?`,
    ),
    allUserGroups: db.prepare<[string], GroupRow>(
      `SELECT g.* FROM memberships m CROSS JOIN groups g ON g.id = m.group_id WHERE m.user_id = ?`,
    ),

    insertMessage: db.prepare<[string, string, number, string, string, string, number]>(
      `INSERT INTO messages (id, group_id, seq, sender_id, body, client_message_id, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    getMessage: db.prepare<[string], MessageRow>('SELECT * FROM messages WHERE id = ?'),
    findByClientId: db.prepare<[string, string, string], MessageRow>(
      'SELECT * FROM messages WHERE group_id = ? AND sender_id = ? AND client_message_id = ?',
    ),
    lastMessages: db.prepare<[string], MessageRow>(
      `SELECT m.* FROM groups g CROSS JOIN messages m ON m.group_id = g.id AND m.seq = g.last_seq
       WHERE g.id IN (SELECT value FROM json_each(?))`,
    ),
    messagesAsc: db.prepare<[string, number, number, number], MessageRow>(
      'SELECT * FROM messages WHERE group_id = ? AND seq > ? AND seq < ? ORDER BY seq ASC LIMIT ?',
    ),
    messagesDesc: db.prepare<[string, number, number, number], MessageRow>(
      'SELECT * FROM messages WHERE group_id = ? AND seq > ? AND seq < ? ORDER BY seq DESC LIMIT ?',
    ),

    appendOutbox: db.prepare<[string, number]>('INSERT INTO outbox (event, created_at) VALUES (?, ?)'),
    readOutbox: db.prepare<[number, number], OutboxRow>(
      'SELECT id, event FROM outbox WHERE id > ? ORDER BY id LIMIT ?',
    ),
    acknowledge: db.prepare<[number]>('DELETE FROM outbox WHERE id <= ?'),
    backlog: db.prepare<[number], number>('SELECT count(*) FROM outbox WHERE id > ?').pluck(),
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

  // --- waking followers -------------------------------------------------------------------
  const closing = new AbortController();
  const waiters = new Set<() => void>();
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

  function wakeFollowers(): void {
    for (const wake of [...waiters]) wake();
  }

  /**
   * Wraps `fn` as a BEGIN IMMEDIATE transaction: taking the write lock up front makes writers
   * of other processes queue on busy_timeout, where a deferred transaction would fail with
   * SQLITE_BUSY when it upgrades a read lock that a concurrent commit made stale.
   */
  function writer<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    const transaction = db.transaction(fn);
    return (...args) => {
      outboxAppended = false;
      const result = transaction.immediate(...args);
      // immediate() has returned, so the commit is done and woken followers can read it (a
      // rolled-back transaction threw above and wakes nobody).
      if (outboxAppended) {
        outboxAppended = false;
        wakeFollowers();
      }
      return result;
    };
  }

  function waitForOutbox(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(done);
        signal.removeEventListener('abort', done);
        closing.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, pollIntervalMs);
      waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
      closing.signal.addEventListener('abort', done, { once: true });
    });
  }

  // --- writes -------------------------------------------------------------------------------
  const upsertUser = writer((user: UserRecord): void => {
    sql.upsertUser.run(user.id, user.name);
  });

  const createGroup = writer((group: NewGroup): GroupRecord => {
    const members = [...new Set([group.ownerId, ...group.memberIds])];
    const now = group.now.getTime();
    for (const userId of members) sql.ensureUser.run(userId);
    sql.insertGroup.run(group.id, group.name, group.ownerId, members.length, now, now);
    for (const userId of members) sql.insertMembership.run(group.id, userId, 0, 0, now);
    appendOutbox({ type: 'membersAdded', groupId: group.id, userIds: members, seq: 0 });
    return toGroup(sql.getGroup.get(group.id)!);
  });

  const addMembers = writer(
    (groupId: string, userIds: readonly string[], now: Date, maxMembers: number): MembershipChangeOutcome => {
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
    },
  );

  const removeMember = writer((groupId: string, userId: string): MembershipChangeOutcome => {
    const group = sql.getGroup.get(groupId);
    if (group === undefined) return { ok: false, reason: 'GROUP_NOT_FOUND' };
    if (sql.deleteMembership.run(groupId, userId).changes === 0) return { ok: true, group: toGroup(group), changed: [] };
    const updated = sql.addMemberCount.get(-1, groupId)!;
    appendOutbox({ type: 'memberRemoved', groupId, userId, seq: group.last_seq });
    return { ok: true, group: toGroup(updated), changed: [userId] };
  });

  // A transaction function called inside another runs as a SAVEPOINT: one append that throws
  // rolls back alone and the rest of its batch commits.
  const appendOne = db.transaction((input: NewMessage): AppendOutcome => {
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
  });

  type AppendResult = { readonly outcome: AppendOutcome } | { readonly error: unknown };
  const appendBatch = writer((inputs: readonly NewMessage[]): AppendResult[] =>
    inputs.map((input) => {
      try {
        return { outcome: appendOne(input) };
      } catch (error) {
        return { error };
      }
    }),
  );

  interface PendingAppend {
    readonly input: NewMessage;
    readonly resolve: (outcome: AppendOutcome) => void;
    readonly reject: (error: unknown) => void;
  }
  let pendingAppends: PendingAppend[] = [];

  /**
   * Group commit: the sends that arrive in one turn of the event loop share one transaction,
   * so one fsync (synchronous=FULL) covers all of them. Each still resolves only after that
   * commit, with its own outcome.
   */
  function flushAppends(): void {
    const batch = pendingAppends;
    pendingAppends = [];
    if (batch.length === 0) return;
    let results: AppendResult[];
    try {
      results = appendBatch(batch.map((pending) => pending.input));
    } catch (error) {
      for (const pending of batch) pending.reject(error);
      return;
    }
    batch.forEach((pending, index) => {
      const result = results[index] as AppendResult;
      if ('error' in result) pending.reject(result.error);
      else pending.resolve(result.outcome);
    });
  }

  function appendMessage(input: NewMessage): Promise<AppendOutcome> {
    if (!db.open) return Promise.reject(new TypeError('The database connection is not open'));
    return new Promise((resolve, reject) => {
      if (pendingAppends.length === 0) setImmediate(flushAppends);
      pendingAppends.push({ input, resolve, reject });
    });
  }

  const markRead = writer((groupId: string, userId: string, seq: number): MembershipRecord | null => {
    const row = sql.advanceRead.get(seq, groupId, userId);
    return row === undefined ? null : toMembership(row);
  });

  const acknowledge = writer((id: number): void => {
    sql.acknowledge.run(id);
  });

  const claimCheckpoint = writer((name: string, fence: number): Checkpoint | null => {
    if (sql.claimCheckpoint.run(name, fence).changes === 0) return null;
    return toCheckpoint(sql.getCheckpoint.get(name) as CheckpointRow);
  });

  const setCheckpoint = writer(
    (name: string, position: string, fence: number): boolean => sql.setCheckpoint.run(name, position, fence).changes > 0,
  );

  // --- outbox feed ------------------------------------------------------------------------
  const outbox: OutboxFeed = {
    async *follow(after, signal) {
      let cursor = after === null ? 0 : parsePosition(after);
      while (!signal.aborted && !closing.signal.aborted) {
        const rows = sql.readOutbox.all(cursor, outboxBatchSize);
        const last = rows.at(-1);
        if (last === undefined) {
          // Registered in the same synchronous step as the empty read: an in-process commit
          // cannot slip in between and go unnoticed.
          await waitForOutbox(signal);
          continue;
        }
        cursor = last.id;
        const batch: OutboxRecord[] = rows.map((row) => ({ position: String(row.id), event: decodeEvent(row.event) }));
        yield batch;
      }
    },
    async acknowledge(position) {
      acknowledge(parsePosition(position));
    },
    async backlog(after) {
      return sql.backlog.get(after === null ? 0 : parsePosition(after)) ?? 0;
    },
  };

  return {
    async upsertUser(user) {
      upsertUser(user);
    },
    async getUsers(ids) {
      return ids.length === 0 ? [] : sql.getUsers.all(jsonList(ids)).map(toUser);
    },

    async createGroup(group) {
      return createGroup(group);
    },
    async getGroup(id) {
      const row = sql.getGroup.get(id);
      return row === undefined ? null : toGroup(row);
    },
    async getGroups(ids) {
      return ids.length === 0 ? [] : sql.getGroups.all(jsonList(ids)).map(toGroup);
    },
    async getMembership(groupId, userId) {
      const row = sql.getMembership.get(groupId, userId);
      return row === undefined ? null : toMembership(row);
    },
    async addMembers(groupId, userIds, { now, maxMembers }) {
      return addMembers(groupId, userIds, now, maxMembers);
    },
    async removeMember(groupId, userId) {
      return removeMember(groupId, userId);
    },
    async listMembers(groupId, { limit, after }: PageRequest): Promise<Page<UserRecord>> {
      checkLimit(limit);
      const rows =
        after === undefined ? sql.membersFirst.all(groupId, limit + 1) : sql.membersAfter.all(groupId, after, limit + 1);
      return toPage(rows, limit, (row) => row.id, toUser);
    },
    async listUserGroups(userId, { limit, after }: PageRequest): Promise<Page<UserGroupRecord>> {
      checkLimit(limit);
      let rows: UserGroupRow[];
      if (after === undefined) {
        rows = sql.userGroupsFirst.all(userId, limit + 1);
      } else {
        const { activityMs, id } = parseGroupKey(after);
        rows = sql.userGroupsAfter.all(userId, activityMs, id, limit + 1);
      }
      return toPage(rows, limit, groupKey, (row) => ({
        group: toGroup(row),
        membership: {
          groupId: row.id,
          userId,
          lastReadSeq: row.m_last_read_seq,
          joinedSeq: row.m_joined_seq,
          joinedAt: new Date(row.m_joined_at),
        },
      }));
    },
    async listAllUserGroups(userId) {
      return sql.allUserGroups.all(userId).map(toGroup);
    },

    appendMessage(message) {
      return appendMessage(message);
    },
    async getMessage(id) {
      const row = sql.getMessage.get(id);
      return row === undefined ? null : toMessage(row);
    },
    async getLastMessages(groupIds) {
      return groupIds.length === 0 ? [] : sql.lastMessages.all(jsonList(groupIds)).map(toMessage);
    },
    async listMessages({ groupId, afterSeq, beforeSeq = NO_UPPER_SEQ, limit, order }: MessageRange) {
      const statement = order === 'asc' ? sql.messagesAsc : sql.messagesDesc;
      return statement.all(groupId, afterSeq, beforeSeq, checkLimit(limit)).map(toMessage);
    },
    async markRead(groupId, userId, seq) {
      const current = sql.getMembership.get(groupId, userId);
      if (current === undefined) return null;
      // Most calls re-read what is already read: answer without a write (and its fsync).
      if (current.last_read_seq >= seq) return toMembership(current);
      return markRead(groupId, userId, seq);
    },

    outbox,
    async getCheckpoint(name) {
      const row = sql.getCheckpoint.get(name);
      return row === undefined ? null : toCheckpoint(row);
    },
    async claimCheckpoint(name, fence) {
      return claimCheckpoint(name, checkFence(fence));
    },
    async setCheckpoint(name, position, fence) {
      return setCheckpoint(name, position, checkFence(fence));
    },

    async ping() {
      sql.ping.get();
    },
    async close() {
      if (!db.open) return;
      // Sends already accepted are committed, not dropped.
      flushAppends();
      closing.abort();
      db.close();
    },
  };
}
