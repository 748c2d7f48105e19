/**
 * The main-thread side of the embedded store's writes. better-sqlite3 is synchronous: a commit
 * with synchronous=FULL blocks its thread for the fsync, and a write that meets another
 * process's lock sleeps in busy_timeout. On the event loop that serves sockets, either one
 * stalls every delivery on the node. So every write goes to one writer thread with its own
 * connection; reads stay on the main thread (WAL readers never wait for the writer).
 *
 * Group commit: writes queue while the thread is busy and go over together as the next batch,
 * one transaction and one fsync for all of them. Each resolves only after that commit.
 */
import { Worker } from 'node:worker_threads';
import type { Synchronous } from './db.ts';
import { StoreFullError } from '../errors.ts';
import { deserializeError, type BatchResult, type OpResult, type SerializedError, type WriteOp, type WriteResults } from './writes.ts';

export interface WriterThreadData {
  readonly dataDir: string;
  readonly synchronous: Synchronous;
  readonly busyTimeoutMs: number;
  /** The database's size cap in bytes (`PRAGMA max_page_count`), or null for none. */
  readonly maxBytes: number | null;
}

export type ThreadRequest = { readonly type: 'batch'; readonly id: number; readonly ops: readonly WriteOp[] } | { readonly type: 'close' };

export type ThreadReply =
  | ({ readonly type: 'done'; readonly id: number } & BatchResult)
  | { readonly type: 'failed'; readonly id: number; readonly error: SerializedError };

export interface SqliteWriterOptions extends WriterThreadData {
  /** Most writes in one transaction; more wait for the next. @default 512 */
  readonly maxBatch?: number;
  /** Called after a commit that appended to the outbox. */
  readonly onOutboxCommitted: () => void;
}

export interface SqliteWriter {
  write<K extends WriteOp['op']>(op: Extract<WriteOp, { readonly op: K }>): Promise<WriteResults[K]>;
  /** Rejects when the thread has failed; resolves otherwise. */
  check(): void;
  /** Commits what was accepted, then ends the thread. */
  close(): Promise<void>;
}

interface Pending {
  readonly op: WriteOp;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

function startThread(workerData: WriterThreadData): Worker {
  const url = new URL(import.meta.url.endsWith('.ts') ? './writer-thread.ts' : './writer-thread.js', import.meta.url);
  if (url.pathname.endsWith('.js')) return new Worker(url, { workerData });
  // Running from TypeScript sources (tests, tsx): a worker does not inherit tsx's loader on
  // Node 20, so the thread registers it before importing its entry point.
  const bootstrap = `import('tsx/esm/api').then(({ tsImport }) => tsImport(${JSON.stringify(url.href)}, ${JSON.stringify(url.href)}))`;
  return new Worker(bootstrap, { eval: true, workerData });
}

const closedError = (): Error => new TypeError('The database connection is not open');

/**
 * The store's named error for what SQLite reported, else the error as it came. SQLITE_FULL is
 * both a full disk (ENOSPC) and the `max_page_count` cap.
 */
function storeError(serialized: SerializedError): Error {
  if (serialized.code === 'SQLITE_FULL') return new StoreFullError(`The store is full: ${serialized.message}`);
  return deserializeError(serialized);
}

export function createSqliteWriter({ maxBatch = 512, onOutboxCommitted, ...threadData }: SqliteWriterOptions): SqliteWriter {
  const thread = startThread(threadData);
  let queue: Pending[] = [];
  let inflight: Pending[] | null = null;
  let nextId = 1;
  let scheduled = false;
  let failure: Error | null = null;
  let closed = false;
  const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
  let idle: (() => void) | null = null;

  const fail = (error: Error): void => {
    failure ??= error;
    const dropped = [...(inflight ?? []), ...queue];
    inflight = null;
    queue = [];
    for (const pending of dropped) pending.reject(failure);
    idle?.();
  };
  thread.on('error', (error) => fail(error));
  thread.once('exit', (code) => {
    if (!closed) fail(new Error(`The store's writer thread exited with code ${code}`));
  });
  thread.unref();

  function flush(): void {
    scheduled = false;
    if (inflight !== null || queue.length === 0 || failure !== null) return;
    const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
    queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
    inflight = batch;
    // Referenced while work is in flight: the process must not exit before a commit answers.
    thread.ref();
    const request: ThreadRequest = { type: 'batch', id: nextId++, ops: batch.map((pending) => pending.op) };
    thread.postMessage(request);
  }

  thread.on('message', (reply: ThreadReply) => {
    const batch = inflight;
    if (batch === null) return;
    inflight = null;
    if (reply.type === 'failed') {
      const error = storeError(reply.error);
      for (const pending of batch) pending.reject(error);
    } else {
      // Followers first: a caller resolved below may read the outbox at once.
      if (reply.outboxAppended) onOutboxCommitted();
      batch.forEach((pending, index) => {
        const result = reply.results[index] as OpResult;
        if (result.ok) pending.resolve(result.value);
        else pending.reject(storeError(result.error));
      });
    }
    // Writes that queued during this commit go at once: they have waited a whole fsync.
    if (queue.length > 0) flush();
    else {
      thread.unref();
      idle?.();
    }
  });

  return {
    write<K extends WriteOp['op']>(op: Extract<WriteOp, { readonly op: K }>): Promise<WriteResults[K]> {
      if (closed) return Promise.reject(closedError());
      if (failure !== null) return Promise.reject(failure);
      return new Promise<WriteResults[K]>((resolve, reject) => {
        queue.push({ op, resolve: resolve as (value: unknown) => void, reject });
        // Writes made in the same turn of the event loop share a batch.
        if (!scheduled && inflight === null) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
    check() {
      if (closed) throw closedError();
      if (failure !== null) throw failure;
    },
    async close() {
      if (closed) return;
      // Writes already accepted are committed, not dropped.
      while ((inflight !== null || queue.length > 0) && failure === null) {
        await new Promise<void>((resolve) => {
          idle = resolve;
          flush();
        });
        idle = null;
      }
      closed = true;
      const request: ThreadRequest = { type: 'close' };
      thread.ref();
      thread.postMessage(request);
      await exited;
    },
  };
}
