/**
 * Fault row: a gateway SIGSTOPped past the presence TTL, then SIGCONTed. While it is stopped its
 * presence lapses, so the relay stops routing its members' messages to it. Once it runs again it
 * must notice the lapse and repair its subscriptions from the store: everything sent to its
 * members while it was stopped reaches them, with no gap and no duplicate, on the same socket.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
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
} from '../support/cluster.ts';
import { disposeAll } from '../support/dispose.ts';
import { seqsIn, untilSeq } from '../support/redis.ts';
import { waitFor } from '../support/wait.ts';

afterEach(disposeAll);
afterAll(disposeAll);

/** A short TTL, so the pause outlives it in seconds rather than a minute. */
const PRESENCE = { PRESENCE_TTL_SECONDS: '3', PRESENCE_HEARTBEAT_MS: '1000' };

describe('a gateway paused past the presence TTL (real processes)', () => {
  it('SIGSTOP, presence lapses, SIGCONT: its members get what was sent meanwhile, once each, in order', async () => {
    const c = await cluster();
    const r = await relay(c, 'relay', PRESENCE);
    const [a, b] = await Promise.all([gateway(c, 'a', PRESENCE), gateway(c, 'b', PRESENCE)]);
    await r.waitForLog(isActiveLine, 30_000);
    const [alice, bob, carol] = await tokensFor(c, ['alice', 'bob', 'carol']);
    const groupId = await createGroup(b.url, alice, ['bob', 'carol']);
    const closes: number[] = [];
    const bobOnA = subscribe(a, bob, groupId, 0, (code) => closes.push(code));
    const carolOnB = subscribe(b, carol, groupId);
    await waitFor('both gateways registered for the group', async () => sameNodes(await c.directory.nodesForGroup(groupId), ['a', 'b']));

    for (let i = 1; i <= 5; i += 1) await send(b.url, alice, groupId, `before-${i}`);
    await untilSeq(bobOnA, groupId, 5, { who: 'bob on A' });

    a.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    try {
      // Its alive key expired: the relay no longer routes the group to A.
      await waitFor("A's presence to lapse", async () => sameNodes(await c.directory.nodesForGroup(groupId), ['b']), {
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      for (let i = 6; i <= 15; i += 1) await send(b.url, alice, groupId, `while-stopped-${i}`);
      await untilSeq(carolOnB, groupId, 15, { who: 'carol on B' });
      // Nothing reached bob meanwhile: A was not running.
      expect(seqsIn(bobOnA.results, groupId)).toEqual([1, 2, 3, 4, 5]);
    } finally {
      a.child.kill('SIGCONT');
    }
    const stoppedMs = Date.now() - stoppedAt;

    // A notices the lapse (its next heartbeat finds its alive key gone), registers again under a
    // new instance id and resyncs every subscription from the store.
    await untilSeq(bobOnA, groupId, 15, { who: 'bob on A after SIGCONT' });
    expect(await a.waitForLog((line) => line['cause'] === 'presence')).toMatchObject({ level: 40, subscriptions: 1 });
    for (let i = 16; i <= 20; i += 1) await send(b.url, alice, groupId, `after-${i}`);
    await untilSeq(bobOnA, groupId, 20, { who: 'bob on A' });
    await untilSeq(carolOnB, groupId, 20, { who: 'carol on B' });
    expectContiguous(bobOnA, groupId, 20);
    expectContiguous(carolOnB, groupId, 20);
    // Repaired on the same socket, not by a reconnect.
    expect(closes).toEqual([]);
    expect(bobOnA.completed()).toBe(false);
    const backfills = metric(await scrape(a.port as number), 'chat_backfills_total');
    expect(backfills).toBeGreaterThan(0);
    console.log(`[faults] gateway stopped ${stoppedMs} ms (PRESENCE_TTL_SECONDS=3): repaired by ${backfills} backfill(s), 20 of 20 delivered`);
  }, 120_000);
});
