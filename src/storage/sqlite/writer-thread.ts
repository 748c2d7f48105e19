/**
 * Entry point of the embedded store's writer thread: applies batches of writes, one
 * transaction (and one fsync) per batch, and answers each batch with its results.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase, type OpenOptions } from './db.ts';
import { createWriteExecutor, serializeError, type WriteOp } from './writes.ts';
import type { ThreadReply, ThreadRequest, WriterThreadData } from './writer.ts';

const port = parentPort;
if (port === null) throw new Error('writer-thread.ts runs as a worker thread');
const { dataDir, synchronous, busyTimeoutMs, maxBytes } = workerData as WriterThreadData;
const options: OpenOptions = { synchronous, busyTimeoutMs };
const db = openDatabase(dataDir, options, false);
if (maxBytes !== null) {
  // A connection's own setting, not stored in the file: applied at every start, so a raised cap
  // takes effect on restart. SQLite never sets it below the file's current page count.
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  db.pragma(`max_page_count = ${Math.max(1, Math.floor(maxBytes / pageSize))}`);
}
const execute = createWriteExecutor(db);

port.on('message', (request: ThreadRequest) => {
  if (request.type === 'close') {
    db.close();
    port.close();
    return;
  }
  let reply: ThreadReply;
  try {
    reply = { type: 'done', id: request.id, ...execute(request.ops as readonly WriteOp[]) };
  } catch (error) {
    // The transaction itself failed (lock timeout, disk full, I/O error): nothing committed.
    reply = { type: 'failed', id: request.id, error: serializeError(error) };
  }
  port.postMessage(reply);
});
