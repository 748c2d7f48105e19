/**
 * Fault row (issue 12): the embedded store's disk fills up. SQLITE_MAX_BYTES caps the database
 * (SQLite's max_page_count), which fails writes exactly as a full disk does (SQLITE_FULL), so the
 * test needs no root to mount a small file system:
 *
 * - sends then fail with SERVICE_UNAVAILABLE, reason STORE_FULL (retry later, unchanged);
 * - every send acknowledged before is in history, once, in seq order; no refused send appears;
 * - one write that does not fit never fails or loses the others committed in the same batch
 *   (group commit), which SQLite's rollback of the whole transaction on SQLITE_FULL used to do;
 * - once the operator raises the cap (restart with a higher SQLITE_MAX_BYTES), the refused sends
 *   retried with their clientMessageIds are stored, once each, after the others.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { StoreFullError } from '../../src/storage/errors.ts';
import { createSqliteStore } from '../../src/storage/sqlite/store.ts';
import { disposeAll, onDispose } from '../support/dispose.ts';
import { walkHistory } from '../support/history.ts';
import { ok, request, startServer, type TestServer } from '../support/server.ts';

afterAll(disposeAll);

const CAP_BYTES = 256 * 1024;

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'chat-store-full-'));
  onDispose(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const SEND = `mutation Send($input: SendGroupMessageInput!) {
  sendGroupMessage(input: $input) { created message { id seq clientMessageId } }
}`;

interface Sent {
  readonly created: boolean;
  readonly message: { readonly id: string; readonly seq: number; readonly clientMessageId: string };
}

type SendOutcome =
  | { readonly type: 'stored'; readonly sent: Sent }
  | { readonly type: 'refused'; readonly code: unknown; readonly reason: unknown; readonly message: string };

async function send(server: TestServer, token: string, groupId: string, clientMessageId: string, body: string): Promise<SendOutcome> {
  const result = await request<{ sendGroupMessage: Sent }, unknown>(server.url, token, SEND, {
    input: { groupId, clientMessageId, body },
  });
  const error = result.errors?.[0];
  if (error === undefined && result.data != null) return { type: 'stored', sent: result.data.sendGroupMessage };
  return { type: 'refused', code: error?.extensions?.['code'], reason: error?.extensions?.['reason'], message: error?.message ?? '' };
}

const body = (clientMessageId: string, length: number): string => `${clientMessageId} `.padEnd(length, 'x');

it('refuses sends with STORE_FULL when the store is full, loses nothing acknowledged, and resumes once the cap is raised', async () => {
  const dataDir = await tempDir();
  let server = await startServer({ dataDir, settings: { sqliteMaxBytes: CAP_BYTES } });
  const tokens = await Promise.all(['s0', 's1', 's2', 's3', 's4'].map((id) => server.token(id)));
  const created = await ok<{ createGroup: { group: { id: string } } }, unknown>(
    server.url,
    tokens[0] as string,
    `mutation { createGroup(input: { name: "full", memberIds: ["s1", "s2", "s3", "s4"] }) { group { id } } }`,
  );
  const groupId = created.createGroup.group.id;

  // Five senders at once, so sends share group commits, each until its first refusal.
  const acknowledged: Sent['message'][] = [];
  const refused: { clientMessageId: string; body: string; code: unknown; reason: unknown; message: string }[] = [];
  await Promise.all(
    tokens.map(async (token, sender) => {
      for (let i = 0; i < 2000; i += 1) {
        const clientMessageId = `s${sender}-${i}`;
        const text = body(clientMessageId, 500 + ((i * 7 + sender * 13) % 6) * 500);
        const outcome = await send(server, token, groupId, clientMessageId, text);
        if (outcome.type === 'stored') {
          expect(outcome.sent.created).toBe(true);
          acknowledged.push(outcome.sent.message);
        } else {
          refused.push({ clientMessageId, body: text, code: outcome.code, reason: outcome.reason, message: outcome.message });
          return;
        }
      }
      throw new Error(`sender ${sender}: 2000 sends fitted under a ${CAP_BYTES}-byte cap`);
    }),
  );
  console.info(`store full at ${CAP_BYTES} bytes: ${acknowledged.length} sends acknowledged, ${refused.length} refused`);
  expect(refused).toHaveLength(5);
  for (const refusal of refused) {
    expect(refusal).toMatchObject({ code: 'SERVICE_UNAVAILABLE', reason: 'STORE_FULL' });
    expect(refusal.message).toMatch(/out of storage space/);
  }

  // History: exactly what was acknowledged, seqs 1..n with no gap, nothing refused half-written.
  const byCid = (a: { clientMessageId: string }, b: { clientMessageId: string }): number => a.clientMessageId.localeCompare(b.clientMessageId);
  const history = (await walkHistory(server.url, tokens[0] as string, groupId, { size: 100 })).flat();
  expect(history.map((m) => m.seq)).toEqual(Array.from({ length: history.length }, (_, i) => i + 1));
  expect(history.map(({ id, seq, clientMessageId }) => ({ id, seq, clientMessageId })).sort(byCid)).toEqual([...acknowledged].sort(byCid));
  const group = await ok<{ group: { lastMessage: { seq: number } | null } }, unknown>(
    server.url,
    tokens[0] as string,
    `query G($id: ID!) { group(id: $id) { lastMessage { seq } } }`,
    { id: groupId },
  );
  expect(group.group.lastMessage?.seq).toBe(history.length);

  // The operator raises the cap; the writer thread applies it when the server starts again.
  await server.stop();
  server = await startServer({ dataDir, settings: { sqliteMaxBytes: 16 * CAP_BYTES } });
  for (const refusal of refused) {
    const sender = Number(refusal.clientMessageId.slice(1, refusal.clientMessageId.indexOf('-')));
    const token = await server.token(`s${sender}`);
    const retried = await send(server, token, groupId, refusal.clientMessageId, refusal.body);
    expect(retried).toMatchObject({ type: 'stored', sent: { created: true } });
  }
  // A retry of an acknowledged send is answered with the original, not stored again.
  const first = acknowledged[0] as Sent['message'];
  const again = await send(server, await server.token(`s${first.clientMessageId.slice(1, 2)}`), groupId, first.clientMessageId, 'again');
  expect(again).toMatchObject({ type: 'stored', sent: { created: false, message: first } });

  const after = (await walkHistory(server.url, await server.token('s0'), groupId, { size: 100 })).flat();
  expect(after.map((m) => m.seq)).toEqual(Array.from({ length: acknowledged.length + refused.length }, (_, i) => i + 1));
  expect(after.slice(0, history.length)).toEqual(history);
  expect(after.slice(history.length).map((m) => m.clientMessageId).sort()).toEqual(refused.map((r) => r.clientMessageId).sort());
}, 120_000);

it('a write that does not fit fails alone: the others of its group commit are stored and answered', async () => {
  const dataDir = await tempDir();
  const store = createSqliteStore({ dataDir, synchronous: 'NORMAL', maxBytes: 128 * 1024 });
  onDispose(() => store.close());
  await store.createGroup({ id: 'g', name: 'g', ownerId: 'alice', memberIds: ['bob'], now: new Date() });
  const message = (n: number, length: number) => ({
    id: `m${n}`,
    groupId: 'g',
    senderId: 'alice',
    body: 'x'.repeat(length),
    clientMessageId: `c${n}`,
    now: new Date(),
  });
  // Fill it, one write at a time.
  let n = 0;
  for (; n < 1000; n += 1) {
    const outcome = await store.appendMessage(message(n, 1500)).catch((error: unknown) => error);
    if (outcome instanceof StoreFullError) break;
    expect(outcome).toMatchObject({ ok: true, created: true });
  }
  expect(n).toBeLessThan(1000);
  const stored = n;

  // One batch (the same turn of the event loop): writes that need no new page around one that
  // cannot fit. SQLite answers that one with SQLITE_FULL and rolls back the whole transaction.
  const batch = await Promise.allSettled([
    store.markRead('g', 'bob', 1),
    store.appendMessage(message(0, 1500)),
    store.appendMessage(message(5000, 4000 * 20)),
    store.markRead('g', 'bob', 2),
    store.appendMessage(message(1, 1500)),
  ]);
  expect(batch.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  expect((batch[2] as PromiseRejectedResult).reason).toBeInstanceOf(StoreFullError);
  expect((batch[1] as PromiseFulfilledResult<unknown>).value).toMatchObject({ ok: true, created: false, message: { seq: 1 } });
  // Committed, not only answered.
  expect(await store.getMembership('g', 'bob')).toMatchObject({ lastReadSeq: 2 });
  expect(await store.getMessage('m5000')).toBeNull();
  const all = await store.listMessages({ groupId: 'g', afterSeq: 0, limit: 5000, order: 'asc' });
  expect(all.map((m) => m.seq)).toEqual(Array.from({ length: stored }, (_, i) => i + 1));
});
