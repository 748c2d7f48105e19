/**
 * The storage adapters the contract suite runs against. Each `create()` gives a store over
 * fresh, empty storage and a `dispose()` that closes it and removes that storage.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '../../src/storage/port.ts';
import { createSqliteStore } from '../../src/storage/sqlite/store.ts';

export interface StoreAdapterCase {
  readonly name: string;
  /** Why this adapter cannot run here (reported with the skipped tests), or null. */
  readonly skipReason: string | null;
  create(): Promise<{ readonly store: Store; dispose(): Promise<void> }>;
}

const embedded: StoreAdapterCase = {
  name: 'embedded',
  skipReason: null,
  async create() {
    const dataDir = await mkdtemp(join(tmpdir(), 'chat-store-'));
    const store = createSqliteStore({ dataDir });
    return {
      store,
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
      return {
        store,
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
