/**
 * Fault rows: a gateway's Redis subscriber connection is cut, by `CLIENT KILL TYPE pubsub` and
 * by Redis itself when the gateway falls behind past `client-output-buffer-limit pubsub` (set
 * low on the test's own Redis). Redis pub/sub is at-most-once: what was published to the
 * gateway's channel while it had no connection is gone. After ioredis reconnects and
 * resubscribes, the gateway must repair it from the store: nothing lost, no duplicate.
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
  startSending,
  subscribe,
  tokensFor,
  type Cluster,
} from '../support/cluster.ts';
import { disposeAll } from '../support/dispose.ts';
import { seqRange, untilSeq } from '../support/redis.ts';
import { waitFor } from '../support/wait.ts';

afterEach(disposeAll);
afterAll(disposeAll);

/** Subscribers of a gateway node's channel on the test's Redis (0 once its connection is gone). */
async function channelSubscribers(c: Cluster, nodeId: string): Promise<number> {
  const [, count] = (await c.redis.client.pubsub('NUMSUB', `node:${nodeId}`)) as [string, number];
  return Number(count);
}

/** The reconnects of a process's Redis subscriber connection, from its /metrics. */
async function subscriberReconnects(port: number): Promise<number> {
  const text = await scrape(port);
  const line = text.split('\n').find((l) => l.startsWith('chat_redis_reconnects_total{connection="subscriber"}'));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

const isPubSubResync = (line: Record<string, unknown>): boolean => line['cause'] === 'pubsub';

describe("a gateway's pub/sub connection cut by Redis (real processes)", () => {
  it('CLIENT KILL TYPE pubsub, mid-stream and with nothing sent after: the gateway resubscribes and repairs from the store', async () => {
    const c = await cluster();
    const r = await relay(c, 'relay');
    const [a, b] = await Promise.all([gateway(c, 'a'), gateway(c, 'b')]);
    await r.waitForLog(isActiveLine, 30_000);
    const [alice, bob, carol] = await tokensFor(c, ['alice', 'bob', 'carol']);
    const groupId = await createGroup(b.url, alice, ['bob', 'carol']);
    const subscribers = [
      ['bob on A', subscribe(a, bob, groupId)],
      ['carol on B', subscribe(b, carol, groupId)],
    ] as const;
    await waitFor('both gateways registered for the group', async () => sameNodes(await c.directory.nodesForGroup(groupId), ['a', 'b']));

    // Mid-stream: every subscriber connection at once, both gateways' and the relay's
    // commit-signal listener, while sends go on through both gateways.
    const streamed = 120;
    const sender = startSending({ urlFor: (i) => (i % 2 === 0 ? a.url : b.url), token: alice, groupId, count: streamed, concurrency: 2 });
    await waitFor('30 messages sent', () => sender.sent() >= 30, { timeoutMs: 30_000, intervalMs: 5 });
    const killed = Number(await c.redis.client.client('KILL', 'TYPE', 'pubsub'));
    expect(killed).toBeGreaterThanOrEqual(2);
    expect(await sender.done).toEqual(seqRange(1, streamed));
    for (const [who, subscriber] of subscribers) await untilSeq(subscriber, groupId, streamed, { who, timeoutMs: 60_000 });
    await waitFor("A's subscriber connection back", async () => (await channelSubscribers(c, 'a')) === 1);

    // The tail: A's connection is cut while A is held still (well within the presence TTL), so
    // the reconnect cannot beat the messages sent meanwhile; nothing is sent after them, so no
    // later seq arrives live to reveal the gap. Only the resync after resubscribing brings them.
    a.child.kill('SIGSTOP');
    let tail = streamed;
    try {
      expect(Number(await c.redis.client.client('KILL', 'TYPE', 'pubsub'))).toBeGreaterThanOrEqual(2);
      expect(await channelSubscribers(c, 'a')).toBe(0);
      for (let i = 1; i <= 5; i += 1) tail = await send(b.url, alice, groupId, `tail-${i}`);
    } finally {
      a.child.kill('SIGCONT');
    }
    for (const [who, subscriber] of subscribers) {
      await untilSeq(subscriber, groupId, tail, { who, timeoutMs: 60_000 });
      expectContiguous(subscriber, groupId, tail);
      expect(subscriber.completed()).toBe(false);
    }
    for (const g of [a, b]) {
      await g.waitForLog(isPubSubResync);
      expect(await subscriberReconnects(g.port as number)).toBeGreaterThan(0);
    }
    const text = await scrape(a.port as number);
    console.log(
      `[faults] CLIENT KILL TYPE pubsub closed ${killed} connections mid-stream, then A's again; gateway A: ` +
        `${metric(text, 'chat_backfills_total')} backfills, ${metric(text, 'chat_duplicates_dropped_total')} duplicates dropped, ` +
        `${tail} of ${tail} delivered`,
    );
  }, 120_000);

  it('past client-output-buffer-limit pubsub: Redis drops the stalled gateway, which repairs after it resubscribes', async () => {
    // Bodies of 100,000 characters fill the socket buffers between Redis and the stalled gateway
    // in a few dozen messages; everything else keeps its default.
    const big = { LIMIT_MAX_BODY_LENGTH: '100000' };
    const c = await cluster();
    await c.redis.client.config('SET', 'client-output-buffer-limit', 'pubsub 64kb 32kb 1');
    const r = await relay(c, 'relay', big);
    const [a, b] = await Promise.all([gateway(c, 'a', big), gateway(c, 'b', big)]);
    await r.waitForLog(isActiveLine, 30_000);
    const [alice, bob, carol] = await tokensFor(c, ['alice', 'bob', 'carol']);
    const groupId = await createGroup(b.url, alice, ['bob', 'carol']);
    const bobOnA = subscribe(a, bob, groupId);
    const carolOnB = subscribe(b, carol, groupId);
    await waitFor('both gateways registered for the group', async () => sameNodes(await c.directory.nodesForGroup(groupId), ['a', 'b']));
    expect(await channelSubscribers(c, 'a')).toBe(1);

    let seq = 0;
    const sendOne = async (body: number): Promise<void> => {
      seq += 1;
      expect(await send(b.url, alice, groupId, `big-${seq}`, 'x'.repeat(body))).toBe(seq);
    };
    for (let i = 0; i < 3; i += 1) await sendOne(100);
    await untilSeq(bobOnA, groupId, 3, { who: 'bob on A' });

    // A stalled gateway reads nothing (well within the 30 s presence TTL, so presence never
    // lapses): Redis buffers its channel until the limit, then closes its connection.
    a.child.kill('SIGSTOP');
    let bytes = 0;
    try {
      await waitFor(
        "Redis to drop A's subscriber connection",
        async () => {
          if ((await channelSubscribers(c, 'a')) === 0) return true;
          for (let i = 0; i < 5; i += 1) await sendOne(100_000);
          bytes += 5 * 100_000;
          return false;
        },
        { timeoutMs: 90_000, intervalMs: 0 },
      );
      // Published while A had no connection: lost for A, and only the store has them.
      for (let i = 0; i < 5; i += 1) await sendOne(100);
    } finally {
      a.child.kill('SIGCONT');
    }
    const last = seq;
    // Nothing is sent until A has the lost tail: no later seq arrives live to reveal the gap, so
    // only the resync after resubscribing can bring it.
    await untilSeq(bobOnA, groupId, last, { who: 'bob on A after SIGCONT', timeoutMs: 60_000 });
    for (let i = 0; i < 5; i += 1) await sendOne(100);

    await untilSeq(bobOnA, groupId, last + 5, { who: 'bob on A', timeoutMs: 60_000 });
    await untilSeq(carolOnB, groupId, last + 5, { who: 'carol on B', timeoutMs: 60_000 });
    expectContiguous(bobOnA, groupId, last + 5);
    expectContiguous(carolOnB, groupId, last + 5);
    expect(bobOnA.completed()).toBe(false);
    await a.waitForLog(isPubSubResync);
    expect(await subscriberReconnects(a.port as number)).toBeGreaterThan(0);
    expect(await channelSubscribers(c, 'a')).toBe(1);
    console.log(`[faults] Redis dropped the stalled gateway's subscriber after ~${bytes} bytes of bodies; ${last + 5} of ${last + 5} delivered`);
  }, 180_000);
});
