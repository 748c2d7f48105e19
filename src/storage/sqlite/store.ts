/**
 * The embedded storage adapter: one SQLite file in WAL mode, shared by every process of one
 * machine (a relay and its gateways). Implements the storage port in `../port.ts`.
 */
import type { CommitSignal, MessageRange, OutboxFeed, OutboxRecord, Page, PageRequest, Store, UserGroupRecord, UserRecord } from '../port.ts';
import { InvalidOutboxPositionError, InvalidPageKeyError } from '../errors.ts';
import { checkFence } from '../fence.ts';
import { checkLimit, toPage } from '../paging.ts';
import { poisonRecord } from '../outbox-codec.ts';
import {
  decodeEvent,
  openDatabase,
  toGroup,
  toMembership,
  toMessage,
  toCheckpoint,
  toUser,
  type GroupRow,
  type MembershipRow,
  type CheckpointRow,
  type MessageRow,
  type OutboxRow,
  type UserGroupRow,
  type UserRow,
} from './db.ts';
import { createSqliteWriter } from './writer.ts';

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
   * Largest the database may grow, in bytes (rounded down to whole pages); a write that needs
   * more fails with `StoreFullError`, as one on a full disk does. The WAL file comes on top (it
   * is checkpointed back at about 4 MB). Null: only the disk limits it.
   * @default null
   */
  readonly maxBytes?: number | null | undefined;
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
  /**
   * Carries "the outbox has new commits" between processes that share the file, so a relay in
   * another process follows at once instead of waiting for its next poll. @default none (poll only)
   */
  readonly commits?: CommitSignal | undefined;
}

/** Outbox positions are the decimal row id; anything else is a caller's bug. */
function parsePosition(position: string): number {
  const id = /^\d{1,15}$/.test(position) ? Number(position) : Number.NaN;
  if (!Number.isSafeInteger(id)) throw new InvalidOutboxPositionError(`Not an outbox position of this store: ${JSON.stringify(position)}`);
  return id;
}

const groupKey = (row: GroupRow): string => `${row.last_activity_at}:${row.id}`;

function parseGroupKey(key: string): { readonly activityMs: number; readonly id: string } {
  const colon = key.indexOf(':');
  const activityMs = colon > 0 ? Number(key.slice(0, colon)) : Number.NaN;
  if (!Number.isSafeInteger(activityMs)) throw new InvalidPageKeyError(`Not a group page key of this store: ${JSON.stringify(key)}`);
  return { activityMs, id: key.slice(colon + 1) };
}

/** Distinct values in first-seen order, as a JSON array for `json_each` (one cached statement for any count). */
const jsonList = (values: Iterable<string>): string => JSON.stringify([...new Set(values)]);

const NO_UPPER_SEQ = Number.MAX_SAFE_INTEGER;

export function createSqliteStore({
  dataDir,
  synchronous = 'FULL',
  busyTimeoutMs = 5000,
  maxBytes = null,
  pollIntervalMs = 100,
  outboxBatchSize = 256,
  commits,
}: SqliteStoreOptions): Store {
  if (synchronous !== 'FULL' && synchronous !== 'NORMAL') {
    throw new RangeError(`synchronous must be FULL or NORMAL, got ${JSON.stringify(synchronous)}`);
  }
  if (maxBytes !== null && !(Number.isSafeInteger(maxBytes) && maxBytes > 0)) {
    throw new RangeError(`maxBytes must be a positive integer or null, got ${maxBytes}`);
  }
  if (!Number.isSafeInteger(outboxBatchSize) || outboxBatchSize < 1) {
    throw new RangeError(`outboxBatchSize must be a positive integer, got ${outboxBatchSize}`);
  }
  const db = openDatabase(dataDir, { synchronous, busyTimeoutMs }, true);

  // Reads only: every write goes through the writer thread (see writer.ts for why).
  const sql = {
    ping: db.prepare<[], number>('SELECT 1').pluck(),
    getUsers: db.prepare<[string], UserRow>('SELECT id, name FROM users WHERE id IN (SELECT value FROM json_each(?))'),
    getGroup: db.prepare<[string], GroupRow>('SELECT * FROM groups WHERE id = ?'),
    getGroups: db.prepare<[string], GroupRow>('SELECT * FROM groups WHERE id IN (SELECT value FROM json_each(?))'),
    getMembership: db.prepare<[string, string], MembershipRow>(
      'SELECT * FROM memberships WHERE group_id = ? AND user_id = ?',
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
    getMessage: db.prepare<[string], MessageRow>('SELECT * FROM messages WHERE id = ?'),
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
    readOutbox: db.prepare<[number, number], OutboxRow>(
      'SELECT id, event FROM outbox WHERE id > ? ORDER BY id LIMIT ?',
    ),
    backlog: db.prepare<[number], number>('SELECT count(*) FROM outbox WHERE id > ?').pluck(),
    getCheckpoint: db.prepare<[string], CheckpointRow>('SELECT position, fence FROM checkpoints WHERE name = ?'),
  };

  // --- waking followers -------------------------------------------------------------------
  const closing = new AbortController();
  const waiters = new Set<() => void>();

  function wakeFollowers(): void {
    for (const wake of [...waiters]) wake();
  }

  const writer = createSqliteWriter({
    dataDir,
    synchronous,
    busyTimeoutMs,
    maxBytes,
    onOutboxCommitted() {
      wakeFollowers();
      commits?.notify();
    },
  });
  // Subscribed by the first follower: only a relay needs other processes' commits.
  let stopListening: (() => void) | null = null;

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

  // --- outbox feed ------------------------------------------------------------------------
  const outbox: OutboxFeed = {
    async *follow(after, signal, { onPoison } = {}) {
      stopListening ??= commits?.onNotified(wakeFollowers) ?? null;
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
        const batch: OutboxRecord[] = [];
        for (const row of rows) {
          let event;
          try {
            event = decodeEvent(row.event);
          } catch (error) {
            if (onPoison === undefined) throw error;
            await onPoison(poisonRecord(String(row.id), error, row.event));
            continue;
          }
          batch.push({ position: String(row.id), event });
        }
        // A batch of nothing but poison yields nothing: the cursor has moved past it all the same.
        if (batch.length > 0) yield batch;
      }
    },
    async acknowledge(position) {
      await writer.write({ op: 'acknowledge', id: parsePosition(position) });
    },
    async quarantine({ id, reason }) {
      await writer.write({ op: 'quarantine', id: parsePosition(id), reason, now: Date.now() });
    },
    async backlog(after) {
      return sql.backlog.get(after === null ? 0 : parsePosition(after)) ?? 0;
    },
  };

  return {
    async upsertUser(user) {
      await writer.write({ op: 'upsertUser', user });
    },
    async getUsers(ids) {
      return ids.length === 0 ? [] : sql.getUsers.all(jsonList(ids)).map(toUser);
    },

    createGroup(group) {
      return writer.write({ op: 'createGroup', group });
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
    addMembers(groupId, userIds, { now, maxMembers }) {
      return writer.write({ op: 'addMembers', groupId, userIds, now, maxMembers });
    },
    removeMember(groupId, userId) {
      return writer.write({ op: 'removeMember', groupId, userId });
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
      return writer.write({ op: 'appendMessage', message });
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
      return writer.write({ op: 'markRead', groupId, userId, seq });
    },

    outbox,
    async getCheckpoint(name) {
      const row = sql.getCheckpoint.get(name);
      return row === undefined ? null : toCheckpoint(row);
    },
    async claimCheckpoint(name, fence) {
      return writer.write({ op: 'claimCheckpoint', name, fence: checkFence(fence) });
    },
    async setCheckpoint(name, position, fence) {
      return writer.write({ op: 'setCheckpoint', name, position, fence: checkFence(fence) });
    },

    async ping() {
      writer.check();
      sql.ping.get();
    },
    async close() {
      if (!db.open) return;
      stopListening?.();
      // Writes already accepted are committed, not dropped.
      await writer.close();
      closing.abort();
      db.close();
    },
  };
}
