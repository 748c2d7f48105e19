/**
 * Multi-node delivery over Redis, with real processes: relays and gateways run as
 * `node src/main.ts` children on one test-owned redis-server and one embedded store (a shared
 * DATA_DIR). Clients subscribe on one gateway and send on another; processes and Redis are
 * killed mid-stream. Every assertion is on what a client, Redis or an operational endpoint shows.
 *
 * The only timed assertions are the limits the feature states: a dead gateway's presence is
 * gone within PRESENCE_TTL_SECONDS (30), a standby relay takes over within 10 s, a drained
 * gateway exits within 10 s. Each is measured and printed.
 *
 * The deployment, operations and sending helpers live in `support/cluster.ts`.
 * Long on purpose: each scenario is a whole deployment's story; the fault rows of issue 12 are
 * in `test/faults/`.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  AddMembers,
  MessageAdded,
  cluster,
  createGroup,
  expectContiguous,
  gateway,
  httpStatus,
  isActiveLine,
  metric,
  relay,
  sameNodes,
  scrape,
  send,
  startSending,
  subscribe,
  tokensFor,
  type Subscriber,
} from './support/cluster.ts';
import { type ServerProcess } from './support/process.ts';
import { commandStats, keysWithPrefix, seqRange, seqsIn, untilSeq } from './support/redis.ts';
import { disposeAll } from './support/dispose.ts';
import { sleep, waitFor } from './support/wait.ts';
import { collect, ok, wsClient } from './support/server.ts';

afterEach(disposeAll);
afterAll(disposeAll);

describe('multi-node delivery over Redis (real processes)', () => {
  it('relay + two gateways: subscribe on one, send on the other, both ways; every device gets everything once, in order', async () => {
    const c = await cluster();
    const r = await relay(c, 'relay');
    const [a, b] = await Promise.all([gateway(c, 'a'), gateway(c, 'b')]);
    await r.waitForLog(isActiveLine, 30_000);
    const [alice, bob, carol, dave] = await tokensFor(c, ['alice', 'bob', 'carol', 'dave']);
    const groupId = await createGroup(a.url, alice, ['bob', 'carol', 'dave']);

    const subscribers: [string, Subscriber][] = [
      ['bob on A', subscribe(a, bob, groupId)],
      ['carol on B', subscribe(b, carol, groupId)],
      // One user, two devices on two nodes.
      ['dave on A', subscribe(a, dave, groupId)],
      ['dave on B', subscribe(b, dave, groupId)],
    ];
    await waitFor('both gateways registered for the group', async () => sameNodes(await c.directory.nodesForGroup(groupId), ['a', 'b']));

    // Sent on B (reaching A's subscribers through the relay), then on A (reaching B's).
    const sent: number[] = [];
    for (let i = 0; i < 10; i += 1) sent.push(await send(b.url, alice, groupId, `onB-${i}`));
    for (let i = 0; i < 10; i += 1) sent.push(await send(a.url, alice, groupId, `onA-${i}`));
    expect(sent).toEqual(seqRange(1, 20));

    for (const [who, subscriber] of subscribers) {
      await untilSeq(subscriber, groupId, 20, { who });
      expectContiguous(subscriber, groupId, 20);
      expect(subscriber.results.map((result) => result.data?.messageAdded.body)).toEqual([
        ...seqRange(0, 9).map((i) => `body onB-${i}`),
        ...seqRange(0, 9).map((i) => `body onA-${i}`),
      ]);
    }
    // The relay routed each message to both nodes, through Redis.
    expect(metric(await scrape(r.port as number), 'chat_relay_publishes_total')).toBeGreaterThanOrEqual(40);
  }, 90_000);

  it('a commit in a gateway process wakes the relay in another process through Redis, not its poll', async () => {
    const c = await cluster();
    // A poll this slow would leave every message undelivered for the whole test.
    const r = await relay(c, 'relay', { OUTBOX_POLL_MS: '600000' });
    const a = await gateway(c, 'a');
    await r.waitForLog(isActiveLine, 30_000);
    const [alice, bob] = await tokensFor(c, ['alice', 'bob']);
    const groupId = await createGroup(a.url, alice, ['bob']);
    const bobOnA = subscribe(a, bob, groupId);
    await waitFor('gateway registered for the group', async () => sameNodes(await c.directory.nodesForGroup(groupId), ['a']));
    for (let i = 0; i < 5; i += 1) await send(a.url, alice, groupId, `woken-${i}`);
    await untilSeq(bobOnA, groupId, 5, { who: 'bob on A' });
    expectContiguous(bobOnA, groupId, 5);
  }, 90_000);

  it('kill -9 of a gateway: its presence expires within the TTL and its client resumes on the other gateway with no gap or duplicate', async () => {
    const c = await cluster();
    const r = await relay(c, 'relay');
    const [a, b] = await Promise.all([gateway(c, 'a'), gateway(c, 'b')]);
    await r.waitForLog(isActiveLine, 30_000);
    const [alice, bob] = await tokensFor(c, ['alice', 'bob']);
    const groupId = await createGroup(b.url, alice, ['bob']);

    const onA = subscribe(a, bob, groupId);
    await waitFor('gateway A registered for the group', async () => (await c.directory.nodesForGroup(groupId)).includes('a'));
    const aliveKeysOfA = async (): Promise<string[]> => keysWithPrefix(c.redis.client, `${c.prefix}{presence}:alive:a@`);
    expect(await aliveKeysOfA()).toHaveLength(1);

    // Sent on B throughout, so sending never depends on the node that dies.
    const sender = startSending({ urlFor: () => b.url, token: alice, groupId, pauseMs: 40 });
    await waitFor('bob to receive 10 messages on A', () => seqsIn(onA.results, groupId).length >= 10, { timeoutMs: 30_000 });

    const killedAt = Date.now();
    await a.kill('SIGKILL');
    const expiry = (async () => {
      await waitFor(
        "A's presence to expire",
        async () =>
          !(await c.directory.nodesForGroup(groupId)).includes('a') &&
          !(await c.directory.nodesForUsers(['bob'])).includes('a') &&
          (await aliveKeysOfA()).length === 0,
        { timeoutMs: 45_000, intervalMs: 100 },
      );
      return Date.now() - killedAt;
    })();
    expiry.catch(() => {});

    // The client sees its socket die, then reconnects to B with the last seq it saw.
    await expect(onA.done).rejects.toBeDefined();
    const seenOnA = seqsIn(onA.results, groupId);
    const lastSeen = seenOnA.at(-1) as number;
    const sentAtReconnect = sender.sent();
    const onB = subscribe(b, bob, groupId, lastSeen);
    await waitFor('bob to receive 20 messages on B', () => seqsIn(onB.results, groupId).length >= 20, { timeoutMs: 30_000 });
    const sent = await sender.stop();
    expect(sent.length).toBeGreaterThan(sentAtReconnect); // messages kept coming across the reconnect
    const last = sent.at(-1) as number;
    expect(sent).toEqual(seqRange(1, last));

    await untilSeq(onB, groupId, last, { who: 'bob on B' });
    expect([...seenOnA, ...seqsIn(onB.results, groupId)]).toEqual(seqRange(1, last));

    const expiryMs = await expiry;
    console.log(`[multinode] presence of a kill -9'd gateway expired ${expiryMs} ms after the kill (PRESENCE_TTL_SECONDS=30)`);
    // The alive key was last refreshed before the kill, so it expires at most 30 s after it;
    // the margin is the 100 ms poll plus one round trip.
    expect(expiryMs).toBeLessThanOrEqual(30_000 + 500);
  }, 120_000);

  it('kill -9 of the active relay: the standby takes over within 10 s and every subscriber gets all 200 messages in order', async () => {
    const c = await cluster();
    const first = await relay(c, 'relay-1');
    await first.waitForLog(isActiveLine, 30_000);
    const second = await relay(c, 'relay-2');
    const [a, b] = await Promise.all([gateway(c, 'a'), gateway(c, 'b')]);
    const relays = [first, second];
    const active = await Promise.all(relays.map(async (r) => metric(await scrape(r.port as number), 'chat_relay_active')));
    expect([...active].sort()).toEqual([0, 1]);
    const activeOne = relays[active.indexOf(1)] as ServerProcess;
    const standbyOne = relays[active.indexOf(0)] as ServerProcess;
    expect(standbyOne.logs.some(isActiveLine)).toBe(false);

    const [alice, bob, carol] = await tokensFor(c, ['alice', 'bob', 'carol']);
    const groupId = await createGroup(a.url, alice, ['bob', 'carol']);
    const subscribers: [string, Subscriber][] = [
      ['bob on A', subscribe(a, bob, groupId)],
      ['carol on B', subscribe(b, carol, groupId)],
    ];
    await waitFor('both gateways registered for the group', async () => sameNodes(await c.directory.nodesForGroup(groupId), ['a', 'b']));

    const sender = startSending({
      urlFor: (i) => (i % 2 === 0 ? a.url : b.url),
      token: alice,
      groupId,
      count: 200,
      concurrency: 4,
      pauseMs: 20,
    });
    await waitFor('60 messages sent', () => sender.sent() >= 60, { timeoutMs: 30_000, intervalMs: 10 });
    const killedAt = Date.now();
    activeOne.child.kill('SIGKILL');
    const line = await standbyOne.waitForLog(isActiveLine, 30_000);
    const takeoverMs = (line['time'] as number) - killedAt;
    await activeOne.exited;

    const sent = await sender.done;
    expect(sent).toEqual(seqRange(1, 200));
    for (const [who, subscriber] of subscribers) {
      await untilSeq(subscriber, groupId, 200, { who, timeoutMs: 60_000 });
      expectContiguous(subscriber, groupId, 200);
    }
    expect(metric(await scrape(standbyOne.port as number), 'chat_relay_active')).toBe(1);
    console.log(`[multinode] standby relay took over ${takeoverMs} ms after kill -9 of the active one (RELAY_LEASE_TTL_MS=5000, RELAY_LEASE_RENEW_MS=1500)`);
    expect(takeoverMs).toBeLessThan(10_000);
  }, 120_000);

  it('Redis restart mid-stream: sends go on, every subscriber ends with every message, /ready reports the outage, reconnects are counted', async () => {
    const c = await cluster();
    const r = await relay(c, 'relay');
    const [a, b] = await Promise.all([gateway(c, 'a'), gateway(c, 'b')]);
    await r.waitForLog(isActiveLine, 30_000);
    expect(await httpStatus(a.port as number, '/ready')).toBe(200);
    const [alice, bob, carol] = await tokensFor(c, ['alice', 'bob', 'carol']);
    const groupId = await createGroup(a.url, alice, ['bob', 'carol']);
    const subscribers: [string, Subscriber][] = [
      ['bob on A', subscribe(a, bob, groupId)],
      ['carol on B', subscribe(b, carol, groupId)],
    ];
    await waitFor('both gateways registered for the group', async () => sameNodes(await c.directory.nodesForGroup(groupId), ['a', 'b']));

    const total = 150;
    const sender = startSending({ urlFor: (i) => (i % 2 === 0 ? a.url : b.url), token: alice, groupId, count: total, pauseMs: 25 });
    await waitFor('40 messages sent', () => sender.sent() >= 40, { timeoutMs: 30_000, intervalMs: 10 });
    await c.redis.kill();
    const sentWhileDown = sender.sent();
    // Probed until it answers 503: a probe sent before the gateway noticed the dead socket
    // waits on its PING (ioredis resends it after reconnecting), so each probe gets 300 ms.
    const readyWhileDown: (number | 'timeout')[] = [];
    const probeReady = async (): Promise<void> => {
      const until = Date.now() + 900;
      while (Date.now() < until && !readyWhileDown.includes(503)) readyWhileDown.push(await httpStatus(a.port as number, '/ready', 300));
    };
    await Promise.all([probeReady(), sleep(1000)]);
    expect(sender.sent()).toBeGreaterThan(sentWhileDown); // sends only touch the store
    await c.redis.restart();
    const restartedAt = Date.now();
    // Informational: the restarted Redis is empty until each gateway's next heartbeat registers
    // it again (PRESENCE_HEARTBEAT_MS); until then the relay routes the group's messages nowhere.
    const reregistered = waitFor(
      'both gateways to register again after the restart',
      async () => sameNodes(await c.directory.nodesForGroup(groupId), ['a', 'b']),
      { timeoutMs: 60_000, intervalMs: 100 },
    ).then(() => Date.now() - restartedAt);

    const sent = await sender.done;
    expect(sent).toEqual(seqRange(1, total));
    for (const [who, subscriber] of subscribers) {
      await untilSeq(subscriber, groupId, total, { who, timeoutMs: 60_000 });
      expectContiguous(subscriber, groupId, total);
      expect(subscriber.completed()).toBe(false);
    }
    console.log(`[multinode] after the Redis restart, presence was registered again after ${await reregistered} ms (PRESENCE_HEARTBEAT_MS=10000)`);
    for (const g of [a, b]) {
      const text = await scrape(g.port as number);
      expect(metric(text, 'chat_redis_reconnects_total')).toBeGreaterThan(0);
      // The missed messages came from the store, through the gateway's gap repair.
      expect(metric(text, 'chat_backfills_total')).toBeGreaterThan(0);
    }
    await waitFor('gateway A to be ready again', async () => (await httpStatus(a.port as number, '/ready')) === 200);
    expect(readyWhileDown).toContain(503);
  }, 120_000);

  it('Redis commands per message grow with nodes, not with group members', async () => {
    const c = await cluster();
    const r = await relay(c, 'relay');
    const [a, b] = await Promise.all([gateway(c, 'a'), gateway(c, 'b')]);
    await r.waitForLog(isActiveLine, 30_000);
    const owner = await c.token('owner');

    // 10,000 members: createGroup names 999 (+ the owner), then 9 × addGroupMembers of 1000.
    const memberId = (i: number): string => `m${String(i).padStart(5, '0')}`;
    const bigGroup = await createGroup(a.url, owner, seqRange(0, 998).map(memberId));
    let memberCount = 0;
    for (let batch = 0; batch < 9; batch += 1) {
      const ids = seqRange(999 + batch * 1000, 999 + batch * 1000 + 999).map(memberId);
      const data = await ok(a.url, owner, AddMembers, { input: { groupId: bigGroup, userIds: ids } });
      memberCount = data.addGroupMembers.group.memberCount;
    }
    expect(memberCount).toBe(10_000);
    // 10 members: the owner and 9 of the big group's members, online on both gateways.
    const smallGroup = await createGroup(a.url, owner, [0, 1, 2, 3, 4, 20, 21, 22, 23].map(memberId));

    // 20 online members of the big group on each gateway; 4 and 5 of them are also in the small one.
    const online = await Promise.all(
      seqRange(0, 39).map(async (i) => ({ i, server: i < 20 ? a : b, token: await c.token(memberId(i)) })),
    );
    const subscribersOf = new Map<string, [string, Subscriber][]>([
      [bigGroup, []],
      [smallGroup, []],
    ]);
    for (const { i, server, token } of online) {
      const client = wsClient(server, token);
      subscribersOf.get(bigGroup)?.push([`${memberId(i)} (big)`, collect(client, MessageAdded, { groupId: bigGroup, since: [{ groupId: bigGroup, seq: 0 }] })]);
      if ([0, 1, 2, 3, 4, 20, 21, 22, 23].includes(i)) {
        subscribersOf.get(smallGroup)?.push([`${memberId(i)} (small)`, collect(client, MessageAdded, { groupId: smallGroup, since: [{ groupId: smallGroup, seq: 0 }] })]);
      }
    }
    // A first message in each group proves every subscription is open and registered, and that
    // the relay has routed the membership events, so the windows below count only messages.
    for (const groupId of [bigGroup, smallGroup]) {
      await send(a.url, owner, groupId, 'probe');
      for (const [who, subscriber] of subscribersOf.get(groupId) ?? []) await untilSeq(subscriber, groupId, 1, { who });
      expect(sameNodes(await c.directory.nodesForGroup(groupId), ['a', 'b'])).toBe(true);
    }

    const N = 50;
    const redis = c.redis.client;
    const notOurs = (command: string): boolean => !['info', 'config', 'config|resetstat'].includes(command);
    const total = (stats: Map<string, number>): number => [...stats].filter(([command]) => notOurs(command)).reduce((sum, [, calls]) => sum + calls, 0);

    interface Measured {
      readonly perMessage: number;
      readonly sending: Record<string, number>;
      readonly idle: Record<string, number>;
      readonly windowMs: number;
    }
    /**
     * Sends N messages in lockstep (each delivered to every subscriber before the next, so the
     * relay reads one record per batch in both groups and the two counts compare like for like),
     * then counts an idle window of the same length: heartbeats and lease renewals are time-based
     * and are subtracted command by command.
     */
    const measure = async (groupId: string): Promise<Measured> => {
      const subscribers = subscribersOf.get(groupId) ?? [];
      await redis.config('RESETSTAT');
      const started = Date.now();
      for (let i = 0; i < N; i += 1) {
        const seq = await send(i % 2 === 0 ? a.url : b.url, owner, groupId, `count-${i}`);
        await Promise.all(subscribers.map(([who, subscriber]) => untilSeq(subscriber, groupId, seq, { who })));
      }
      const sending = await commandStats(redis);
      const windowMs = Date.now() - started;
      await redis.config('RESETSTAT');
      await sleep(windowMs);
      const idle = await commandStats(redis);
      for (const [who, subscriber] of subscribers) {
        expect(seqsIn(subscriber.results, groupId), who).toEqual(seqRange(1, N + 1));
      }
      const commands = new Set([...sending.keys(), ...idle.keys()].filter(notOurs));
      const attributed = [...commands].reduce((sum, command) => sum + Math.max(0, (sending.get(command) ?? 0) - (idle.get(command) ?? 0)), 0);
      const pick = (stats: Map<string, number>): Record<string, number> =>
        Object.fromEntries([...stats].filter(([command]) => notOurs(command)).sort());
      expect(total(sending)).toBeGreaterThan(0);
      return { perMessage: attributed / N, sending: pick(sending), idle: pick(idle), windowMs };
    };

    const small = await measure(smallGroup);
    const big = await measure(bigGroup);
    for (const [label, m] of [['10 members', small], ['10,000 members', big]] as const) {
      console.log(
        `[multinode] Redis commands per message, ${label}, 2 gateways with online members: ${m.perMessage.toFixed(2)} ` +
          `(${N} messages in ${m.windowMs} ms: ${JSON.stringify(m.sending)}; idle window of the same length: ${JSON.stringify(m.idle)})`,
      );
    }
    // nodesForGroup (SMEMBERS + MGET) + one PUBLISH per node = 4 when every batch holds one
    // record, + 1 PUBLISH of the gateway's commit signal that wakes the relay (one per commit).
    expect(small.perMessage).toBeLessThanOrEqual(5 + 0.5);
    expect(big.perMessage).toBeLessThanOrEqual(small.perMessage + 0.5);
  }, 180_000);

  it('SIGTERM drains a gateway: clients get 1001, the process exits 0 within 10 s, presence is gone at once', async () => {
    const c = await cluster();
    const r = await relay(c, 'relay');
    const g = await gateway(c, 'drain');
    await r.waitForLog(isActiveLine, 30_000);
    const [alice, bob] = await tokensFor(c, ['alice', 'bob']);
    const groupId = await createGroup(g.url, alice, ['bob']);
    const closeCodes: number[] = [];
    const subscriber = subscribe(g, bob, groupId, 0, (code) => closeCodes.push(code));
    await waitFor('the gateway registered for the group', async () => sameNodes(await c.directory.nodesForGroup(groupId), ['drain']));
    await send(g.url, alice, groupId, 'before-drain');
    await untilSeq(subscriber, groupId, 1, { who: 'bob' });
    const ofDrain = (key: string): boolean => key.includes(':alive:drain@') || key.includes(':own:drain@');
    expect((await keysWithPrefix(c.redis.client, c.prefix)).filter(ofDrain)).not.toEqual([]);

    const signalledAt = Date.now();
    g.child.kill('SIGTERM');
    const exit = await g.exited;
    const drainMs = Date.now() - signalledAt;
    // Read at once: seconds before the 30 s TTL could have removed anything.
    const leftover = (await keysWithPrefix(c.redis.client, c.prefix)).filter(
      (key) => key.includes('presence:group:') || key.includes('}:user:') || ofDrain(key),
    );
    const instances = await c.redis.client.smembers(`${c.prefix}{presence}:instances`);
    const nodes = await c.directory.nodesForGroup(groupId);
    console.log(`[multinode] SIGTERM drain: exit ${JSON.stringify(exit)} after ${drainMs} ms`);

    expect(exit).toEqual({ code: 0, signal: null });
    expect(drainMs).toBeLessThan(10_000);
    expect(leftover).toEqual([]);
    expect(instances.filter((id) => id.startsWith('drain@'))).toEqual([]);
    expect(nodes).toEqual([]);
    await waitFor('the client to see the close', () => closeCodes.length > 0, { timeoutMs: 5000 });
    expect(closeCodes).toEqual([1001]);
    expect(g.logs.some((line) => line['msg'] === 'draining' && line['signal'] === 'SIGTERM')).toBe(true);
  }, 60_000);

  it('operability: health, readiness, metrics and JSON logs naming the node', async () => {
    const c = await cluster();
    const r = await relay(c, 'ops-relay');
    const g = await gateway(c, 'ops-gateway');
    await r.waitForLog(isActiveLine, 30_000);
    const [alice, bob] = await tokensFor(c, ['alice', 'bob']);
    const groupId = await createGroup(g.url, alice, ['bob']);
    const subscriber = subscribe(g, bob, groupId);
    await waitFor('the gateway registered for the group', async () => sameNodes(await c.directory.nodesForGroup(groupId), ['ops-gateway']));
    await send(g.url, alice, groupId, 'ops');
    await untilSeq(subscriber, groupId, 1, { who: 'bob' });

    for (const server of [g, r]) {
      expect(await httpStatus(server.port as number, '/health')).toBe(200);
      expect(await httpStatus(server.port as number, '/ready')).toBe(200);
    }

    const text = await scrape(g.port as number);
    for (const name of [
      'chat_connections',
      'chat_active_subscriptions',
      'chat_messages_sent_total',
      'chat_deliveries_total',
      'chat_relay_lag_ms',
      'chat_relay_lag_records',
      'chat_backfills_total',
      'chat_redis_reconnects_total',
    ]) {
      expect(text, name).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    expect(metric(text, 'chat_connections')).toBe(1);
    expect(metric(text, 'chat_active_subscriptions')).toBe(1);
    expect(metric(text, 'chat_messages_sent_total')).toBe(1);
    expect(metric(text, 'chat_deliveries_total')).toBe(1);
    expect(metric(text, 'chat_backfills_total')).toBe(0);
    const relayText = await scrape(r.port as number);
    expect(metric(relayText, 'chat_relay_active')).toBe(1);
    expect(metric(relayText, 'chat_relay_records_total')).toBeGreaterThanOrEqual(1);

    // Every stdout line parsed as JSON (process.ts keeps unparsable lines as { msg } only).
    for (const [server, nodeId] of [[g, 'ops-gateway'], [r, 'ops-relay']] as const) {
      expect(server.logs.length).toBeGreaterThan(0);
      for (const line of server.logs) expect(line, JSON.stringify(line)).toMatchObject({ nodeId });
    }
  }, 60_000);
});
