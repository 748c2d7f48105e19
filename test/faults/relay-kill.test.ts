/**
 * Fault row: `kill -9` of the relay between publish and checkpoint, and right after the
 * checkpoint. Failpoints (src/util/failpoints.ts) put the SIGKILL at those exact steps of a real
 * relay process; a second relay process takes over the lease. Subscribers must see each seq
 * exactly once, in order: the republished batch (after the first kill) is dropped by the
 * gateway as duplicates, and nothing is republished after the second.
 *
 * How the kill is pinned to one batch: the messages are committed before the failing relay
 * starts, so its first batch holds all of them (the outbox is read 256 records at a time).
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseFailpoints } from '../../src/util/failpoints.ts';
import {
  cluster,
  createGroup,
  expectContiguous,
  gateway,
  isActiveLine,
  metric,
  relay,
  sameNodes,
  scrape,
  send,
  subscribe,
  tokensFor,
  type Cluster,
} from '../support/cluster.ts';
import { disposeAll } from '../support/dispose.ts';
import { untilSeq } from '../support/redis.ts';
import { waitFor } from '../support/wait.ts';

afterEach(disposeAll);
afterAll(disposeAll);

/** A short lease, so the successor takes over soon after the kill. */
const LEASE = { RELAY_LEASE_TTL_MS: '2000', RELAY_LEASE_RENEW_MS: '500' };

/** What the embedded store holds of the relay's progress, read from the file itself. */
function relayProgress(c: Cluster): { readonly checkpoint: string | null; readonly outboxIds: number[] } {
  const db = new Database(join(c.dataDir, 'chat.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare<[], { position: string }>("SELECT position FROM checkpoints WHERE name = 'relay'").get();
    const ids = db.prepare<[], number>('SELECT id FROM outbox ORDER BY id').pluck().all();
    return { checkpoint: row === undefined || row.position === '' ? null : row.position, outboxIds: ids };
  } finally {
    db.close();
  }
}

describe('FAILPOINTS', () => {
  it('parses name=action pairs and refuses unknown names and actions', () => {
    expect([...parseFailpoints(' relay.afterPublish=kill ; relay.afterCheckpoint=off;')]).toEqual([
      ['relay.afterPublish', 'kill'],
      ['relay.afterCheckpoint', 'off'],
    ]);
    expect(parseFailpoints('').size).toBe(0);
    expect(() => parseFailpoints('relay.afterPublsh=kill')).toThrow(/unknown failpoint "relay.afterPublsh"/);
    expect(() => parseFailpoints('relay.afterPublish=panic')).toThrow(/unknown action "panic"/);
    expect(() => parseFailpoints('relay.afterPublish')).toThrow(/unknown action ""/);
  });
});

describe('kill -9 of the relay at a failpoint (real processes)', () => {
  it.each([
    {
      point: 'relay.afterPublish',
      // Published, not checkpointed: the successor publishes the batch again.
      expectAtKill: (progress: ReturnType<typeof relayProgress>, messages: number) => {
        expect(progress.checkpoint).toBeNull();
        expect(progress.outboxIds).toHaveLength(messages + 1);
      },
      republished: true,
    },
    {
      point: 'relay.afterCheckpoint',
      // Checkpointed, not acknowledged: the records are still in the outbox, the successor skips them.
      expectAtKill: (progress: ReturnType<typeof relayProgress>, messages: number) => {
        expect(progress.outboxIds).toHaveLength(messages + 1);
        expect(progress.checkpoint).toBe(String(progress.outboxIds.at(-1)));
      },
      republished: false,
    },
  ])('$point: each seq reaches every subscriber exactly once, in order', async ({ point, expectAtKill, republished }) => {
    const c = await cluster();
    const a = await gateway(c, 'a');
    const [alice, bob, carol] = await tokensFor(c, ['alice', 'bob', 'carol']);
    const groupId = await createGroup(a.url, alice, ['bob', 'carol']);
    const subscribers = [
      ['bob', subscribe(a, bob, groupId)],
      ['carol', subscribe(a, carol, groupId)],
    ] as const;
    await waitFor('gateway A registered for the group', async () => sameNodes(await c.directory.nodesForGroup(groupId), ['a']));

    // Committed with no relay running: the failing relay's first batch holds all of them.
    const before = 5;
    for (let i = 1; i <= before; i += 1) expect(await send(a.url, alice, groupId, `before-${i}`)).toBe(i);

    const failing = await relay(c, 'relay-1', { ...LEASE, FAILPOINTS: `${point}=kill` }, { awaitStarted: false });
    expect(await failing.exited).toEqual({ code: null, signal: 'SIGKILL' });
    // It got to the point: the batch reached the subscribers before it died.
    for (const [who, subscriber] of subscribers) await untilSeq(subscriber, groupId, before, { who });
    expectAtKill(relayProgress(c), before);

    const successor = await relay(c, 'relay-2', LEASE);
    await successor.waitForLog(isActiveLine, 30_000);
    const total = 10;
    for (let i = before + 1; i <= total; i += 1) expect(await send(a.url, alice, groupId, `after-${i}`)).toBe(i);
    for (const [who, subscriber] of subscribers) {
      await untilSeq(subscriber, groupId, total, { who });
      expectContiguous(subscriber, groupId, total);
    }

    const dropped = metric(await scrape(a.port as number), 'chat_duplicates_dropped_total');
    console.log(`[faults] kill -9 at ${point}: the gateway dropped ${dropped} duplicates`);
    // Republished after the kill before the checkpoint: every subscriber's copy of each message
    // came twice and once was dropped. After the checkpoint: nothing came twice.
    expect(dropped).toBe(republished ? before * subscribers.length : 0);
    // The successor acknowledges past the dead relay's records, and the outbox empties.
    await waitFor('the outbox to be acknowledged', () => relayProgress(c).outboxIds.length === 0);
  }, 120_000);
});
