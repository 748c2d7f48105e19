/**
 * What both threads of the embedded store share: opening `chat.db` with the same pragmas, the
 * schema, the row shapes and their mapping to the port's records.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Checkpoint, GroupRecord, MembershipRecord, MessageRecord, OutboxEvent, UserRecord } from '../port.ts';
import { outboxEventFromJson, outboxEventToJson } from '../outbox-codec.ts';

export type Synchronous = 'FULL' | 'NORMAL';

export interface OpenOptions {
  readonly synchronous: Synchronous;
  readonly busyTimeoutMs: number;
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
CREATE TABLE IF NOT EXISTS outbox_poison (
  id INTEGER PRIMARY KEY NOT NULL,
  event NOT NULL,
  created_at INTEGER NOT NULL,
  reason TEXT NOT NULL,
  quarantined_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
  name TEXT PRIMARY KEY NOT NULL,
  position TEXT NOT NULL,
  fence INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
`;
// outbox_poison is the dead-letter place of outbox rows that fail to decode (`quarantine`): the
// row as it was (event without a declared type, so whatever was stored stays as stored), why,
// and when. It came after schema 2 without a version of its own: CREATE TABLE IF NOT EXISTS adds
// it to any file this build opens, and builds that do not know it never read it.
// No index on groups (last_activity_at, id): listUserGroups starts from the user's memberships
// (memberships_by_user), reaches each group by primary key and sorts that user's groups. An
// index over all groups could only serve that order by walking every group in the database,
// and it would cost an extra index update on every message.

export const databaseFile = (dataDir: string): string => join(dataDir, 'chat.db');

/**
 * Opens `chat.db` in WAL mode. With `migrate`, creates the directory and brings the schema up
 * to date first (the main thread does this once; the writer thread opens what it made).
 */
export function openDatabase(dataDir: string, { synchronous, busyTimeoutMs }: OpenOptions, migrate: boolean): Database.Database {
  const file = databaseFile(dataDir);
  if (migrate) {
    // Messages are private: a data directory this creates is the owner's only, and so is the database.
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // SQLite creates -wal and -shm with the database file's mode (os_unix.c, findCreateFileMode), so
    // creating the file owner-only first covers all three. An existing file keeps its mode.
    closeSync(openSync(file, 'a', 0o600));
  }
  // `timeout` is better-sqlite3's busy_timeout, set before anything below can meet a lock.
  const db = new Database(file, { timeout: busyTimeoutMs });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous}`);
    db.pragma('foreign_keys = ON');
    if (migrate) {
      db.transaction(() => {
        const version = db.pragma('user_version', { simple: true });
        if (typeof version !== 'number' || version > SCHEMA_VERSION) {
          throw new Error(`${file} has schema version ${String(version)}; this build knows ${SCHEMA_VERSION}`);
        }
        // A new file (version 0) gets the current schema from SCHEMA; an older one is migrated
        // first, since SCHEMA's CREATE TABLE IF NOT EXISTS leaves existing tables as they are.
        for (let from = version === 0 ? SCHEMA_VERSION : version; from < SCHEMA_VERSION; from += 1) {
          db.exec(MIGRATIONS[from] as string);
        }
        db.exec(SCHEMA);
        db.pragma(`user_version = ${SCHEMA_VERSION}`);
      }).immediate();
    }
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

export interface UserRow {
  readonly id: string;
  readonly name: string | null;
}

export interface GroupRow {
  readonly id: string;
  readonly name: string;
  readonly owner_id: string;
  readonly member_count: number;
  readonly last_seq: number;
  readonly created_at: number;
  readonly last_activity_at: number;
}

export interface MembershipRow {
  readonly group_id: string;
  readonly user_id: string;
  readonly last_read_seq: number;
  readonly joined_seq: number;
  readonly joined_at: number;
}

export type UserGroupRow = GroupRow & {
  readonly m_last_read_seq: number;
  readonly m_joined_seq: number;
  readonly m_joined_at: number;
};

export interface MessageRow {
  readonly id: string;
  readonly group_id: string;
  readonly seq: number;
  readonly sender_id: string;
  readonly body: string;
  readonly client_message_id: string;
  readonly created_at: number;
}

export interface OutboxRow {
  readonly id: number;
  /** Written as JSON text by this code; anything else (a hand-edited row) is a poison record. */
  readonly event: unknown;
}

export const toUser = (row: UserRow): UserRecord => ({ id: row.id, name: row.name });

export const toGroup = (row: GroupRow): GroupRecord => ({
  id: row.id,
  name: row.name,
  ownerId: row.owner_id,
  memberCount: row.member_count,
  lastSeq: row.last_seq,
  createdAt: new Date(row.created_at),
  lastActivityAt: new Date(row.last_activity_at),
});

export const toMembership = (row: MembershipRow): MembershipRecord => ({
  groupId: row.group_id,
  userId: row.user_id,
  lastReadSeq: row.last_read_seq,
  joinedSeq: row.joined_seq,
  joinedAt: new Date(row.joined_at),
});

export const toMessage = (row: MessageRow): MessageRecord => ({
  id: row.id,
  groupId: row.group_id,
  seq: row.seq,
  senderId: row.sender_id,
  body: row.body,
  clientMessageId: row.client_message_id,
  createdAt: new Date(row.created_at),
});

export const encodeEvent = (event: OutboxEvent): string => JSON.stringify(outboxEventToJson(event));
export const decodeEvent = (stored: unknown): OutboxEvent => {
  if (typeof stored !== 'string') throw new TypeError(`Not an outbox event: a stored ${stored === null ? 'null' : typeof stored}, not JSON text`);
  return outboxEventFromJson(JSON.parse(stored));
};

export interface CheckpointRow {
  readonly position: string;
  readonly fence: number;
}

/** '' marks a checkpoint claimed before its first position was written. */
export const toCheckpoint = (row: CheckpointRow): Checkpoint => ({ position: row.position === '' ? null : row.position, fence: row.fence });
