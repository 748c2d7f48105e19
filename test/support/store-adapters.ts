/**
 * The storage adapters the contract suite runs against. Each `create()` gives a store over
 * fresh, empty storage and a `dispose()` that closes it and removes that storage.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Store } from '../../src/storage/port.ts';
import { databaseFile } from '../../src/storage/sqlite/db.ts';
import { createSqliteStore } from '../../src/storage/sqlite/store.ts';

/** Behind the store's back, as a bad writer or a hand edit would: for the poison-record contract. */
export interface PoisonAccess {
  /** Appends to the outbox a record that fails to decode, under the group id `groupId`. */
  write(groupId: string): Promise<void>;
  /** The reasons stored with each record in the dead-letter place. */
  quarantined(): Promise<string[]>;
}

export interface StoreAdapterCase {
  readonly name: string;
  /** Why this adapter cannot run here (reported with the skipped tests), or null. */
  readonly skipReason: string | null;
  create(): Promise<{ readonly store: Store; readonly poison: PoisonAccess; dispose(): Promise<void> }>;
}

/** An outbox event with a message that has no fields: valid JSON, not a valid event. */
export const POISON_EVENT = { type: 'message', message: { id: 42 } } as const;

/** Runs `work` on a connection of the test's own to the embedded store's file. */
export function withEmbeddedFile<T>(dataDir: string, work: (db: Database.Database) => T): T {
  const db = new Database(databaseFile(dataDir), { timeout: 5000 });
  try {
    return work(db);
  } finally {
    db.close();
  }
}

const embedded: StoreAdapterCase = {
  name: 'embedded',
  skipReason: null,
  async create() {
    const dataDir = await mkdtemp(join(tmpdir(), 'chat-store-'));
    const store = createSqliteStore({ dataDir });
    return {
      store,
      poison: {
        async write() {
          withEmbeddedFile(dataDir, (db) =>
            db.prepare('INSERT INTO outbox (event, created_at) VALUES (?, ?)').run(JSON.stringify(POISON_EVENT), Date.now()),
          );
        },
        async quarantined() {
          return withEmbeddedFile(dataDir, (db) => db.prepare<[], string>('SELECT reason FROM outbox_poison ORDER BY id').pluck().all());
        },
      },
      async dispose() {
        await store.close();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  },
};

const mongoUri = process.env['MONGODB_URI'];

const mongodb: StoreAdapterCase = {
  name: 'mongodb',
  skipReason: mongoUri ? null : 'MONGODB_URI is not set: no MongoDB server on this machine',
  async create() {
    if (!mongoUri) throw new Error('MONGODB_URI is not set');
    // Imported here, not at the top, so that machines without MongoDB never load the driver
    // or the adapter.
    const [{ MongoClient }, { createMongoStore }] = await Promise.all([
      import('mongodb'),
      import('../../src/storage/mongo/store.ts'),
    ]);
    const client = await new MongoClient(mongoUri).connect();
    // One database per store, so tests never see each other's data and dispose can drop it.
    const dbName = `chat_test_${randomUUID().replaceAll('-', '')}`;
    try {
      const store = await createMongoStore({ client, dbName });
      const db = client.db(dbName);
      return {
        store,
        poison: {
          async write(groupId) {
            await db.collection('outbox').insertOne({ _id: { g: groupId, n: 1 } as never, event: POISON_EVENT, createdAt: new Date() });
          },
          async quarantined() {
            const docs = await db.collection('outbox_poison').find().toArray();
            return docs.map((doc) => String(doc['reason']));
          },
        },
        async dispose() {
          try {
            await store.close();
            await client.db(dbName).dropDatabase();
          } finally {
            await client.close();
          }
        },
      };
    } catch (error) {
      await client.close();
      throw error;
    }
  },
};

export const storeAdapters: readonly StoreAdapterCase[] = [embedded, mongodb];
