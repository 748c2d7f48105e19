/**
 * The client kit against real server processes (`node src/main.ts` children), through what
 * breaks connections in production: a gateway killed with SIGKILL while another user keeps
 * sending through a second gateway, a drain with SIGTERM (close 1001) while the other user's
 * sends are retried across it, a frozen server (SIGSTOP) that only the missing pong reveals,
 * an app restarted with a message still unsent, a stream the server ends because it fell
 * behind, and a token that expires mid-session. In every case, each
 * group's message list in the kit ends identical to the server's history: same ids, seqs
 * 1..lastSeq in order, no gap, no duplicate; and every message sent through the kit's outbox
 * is stored exactly once. Long on purpose: the scenarios share the kit and process helpers at
 * the top.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createChatClient, type ChatClient, type ChatClientOptions, type ConnectionState, type TokenRequest } from '../client/index.ts';
import { createTokenVerifier, type TokenVerifier } from '../src/auth/jwt.ts';
import { graphql } from './gql/index.ts';
import type { KitHistoryQuery } from './gql/graphql.ts';
import { startProcess, type ServerProcess } from './support/process.ts';
import { freePort, startRedis } from './support/redis.ts';
import { disposeAll, onDispose } from './support/dispose.ts';
import { sleep, waitFor } from './support/wait.ts';
import { ok, startServer } from './support/server.ts';

afterEach(disposeAll);

const CreateGroup = graphql(`
  mutation KitCreateGroup($input: CreateGroupInput!) {
    createGroup(input: $input) { group { id } }
  }
`);

const Send = graphql(`
  mutation KitSend($input: SendGroupMessageInput!) {
    sendGroupMessage(input: $input) { created message { seq } }
  }
`);

const History = graphql(`
  query KitHistory($groupId: ID!, $after: String) {
    messages(groupId: $groupId, first: 100, after: $after) {
      nodes { id seq clientMessageId sender { id } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

interface Stored {
  readonly id: string;
  readonly seq: number;
  readonly clientMessageId: string;
  readonly senderId: string;
}

/** A group's whole history as the server has it. */
async function history(url: string, token: string, groupId: string): Promise<Stored[]> {
  const all: Stored[] = [];
  let after: string | null = null;
  for (;;) {
    const data: KitHistoryQuery = await ok(url, token, History, { groupId, after });
    all.push(...data.messages.nodes.map((n) => ({ id: n.id, seq: n.seq, clientMessageId: n.clientMessageId, senderId: n.sender.id })));
    if (!data.messages.pageInfo.hasNextPage) return all;
    after = data.messages.pageInfo.endCursor;
  }
}

/** Whatever the kit holds for a group, paging older history in until it has it all. */
async function kitHistory(kit: ChatClient, groupId: string): Promise<Stored[]> {
  const store = kit.messages(groupId);
  while (store.getSnapshot().hasOlder) await kit.loadOlder(groupId);
  return store.getSnapshot().messages.map((m) => ({ id: m.id, seq: m.seq, clientMessageId: m.clientMessageId, senderId: m.sender.id }));
}

/** Waits until the kit's newest message of `groupId` has `seq` (or a later one). */
const untilKitHas = (kit: ChatClient, groupId: string, seq: number, timeoutMs = 30_000) =>
  waitFor(`the kit to show seq ${seq} of ${groupId} (it shows ${kit.messages(groupId).getSnapshot().messages.at(-1)?.seq ?? 'none'})`, () => {
    return (kit.messages(groupId).getSnapshot().messages.at(-1)?.seq ?? 0) >= seq;
  }, { timeoutMs });

/** Every connection state the kit went through. */
function recordConnection(kit: ChatClient): ConnectionState[] {
  const states: ConnectionState[] = [kit.connection.getSnapshot()];
  const stop = kit.connection.subscribe(() => states.push(kit.connection.getSnapshot()));
  onDispose(stop);
  return states;
}

interface Fixture {
  readonly secret: string;
  readonly tokens: TokenVerifier;
  readonly dataDir: string;
}

async function fixture(): Promise<Fixture> {
  const dataDir = await mkdtemp(join(tmpdir(), 'chat-kit-'));
  onDispose(() => rm(dataDir, { recursive: true, force: true }));
  const secret = randomBytes(32).toString('base64url');
  return { secret, tokens: createTokenVerifier(secret), dataDir };
}

function kitFor(url: string, token: (request: TokenRequest) => Promise<string>, options: Partial<ChatClientOptions> = {}): ChatClient {
  const kit = createChatClient({
    url,
    token,
    ...options,
    webSocketImpl: WebSocket,
    // Short waits keep the test quick; the policy is the same as with the defaults.
    backoff: { baseMs: 100, capMs: 1000 },
    keepAliveMs: 2000,
    pongTimeoutMs: 2000,
    onError: () => {},
  });
  onDispose(() => kit.dispose());
  return kit;
}

/**
 * Sends `count` messages as `token`'s user through `urlFor(i)`, one after another, each
 * retried with its clientMessageId until it is acknowledged (servers restart meanwhile).
 */
function keepSending(urlFor: () => string, token: string, groupIds: readonly string[], count: number, pauseMs: number) {
  const run = randomUUID().slice(0, 8);
  let sent = 0;
  let stopped = false;
  const done = (async () => {
    for (let i = 0; i < count && !stopped; i += 1) {
      const groupId = groupIds[i % groupIds.length] as string;
      for (;;) {
        try {
          await ok(urlFor(), token, Send, { input: { groupId, body: `other ${i}`, clientMessageId: `${run}-${i}` } });
          break;
        } catch {
          if (stopped) return;
          await sleep(100);
        }
      }
      sent += 1;
      await sleep(pauseMs);
    }
  })();
  onDispose(async () => {
    stopped = true;
    await done;
  });
  return { sent: () => sent, done };
}

/** The kit's list of every group equals the server's history, and its outbox is empty. */
async function expectConverged(kit: ChatClient, url: string, token: string, groupIds: readonly string[]): Promise<void> {
  for (const groupId of groupIds) {
    const server = await history(url, token, groupId);
    await untilKitHas(kit, groupId, server.length);
    const held = await kitHistory(kit, groupId);
    expect(held.map((m) => m.seq)).toEqual(server.map((_, i) => i + 1));
    expect(held).toEqual(server);
  }
  await waitFor('the outbox to empty', () => kit.outbox.getSnapshot().length === 0);
}

describe('client kit against real server processes', () => {
  it('loses nothing when its gateway is killed with SIGKILL while another user sends through a second gateway', async () => {
    // `since` has room for one group only: the other one's missed messages come from the gap
    // repair (messages(afterSeq:)) once its next live message shows the gap.
    const { secret, tokens, dataDir } = await fixture();
    const redis = await startRedis();
    const shared = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `kit:${randomUUID().slice(0, 8)}:`,
      DATA_DIR: dataDir,
      JWT_SECRET: secret,
      SQLITE_SYNCHRONOUS: 'NORMAL',
    };
    const portA = await freePort();
    const start = (env: Record<string, string>) => startProcess({ ...shared, ...env }, { readyTimeoutMs: 60_000 });
    await start({ ROLE: 'relay', NODE_ID: 'kit-relay' });
    let gatewayA: ServerProcess = await start({ ROLE: 'gateway', NODE_ID: 'kit-a', PORT: String(portA) });
    const gatewayB = await start({ ROLE: 'gateway', NODE_ID: 'kit-b' });
    const [alice, bob] = await Promise.all([tokens.sign({ id: 'alice' }), tokens.sign({ id: 'bob' })]);

    const pair = (await ok(gatewayB.url, bob, CreateGroup, { input: { name: 'pair', memberIds: ['alice'] } })).createGroup.group.id;
    const team = (await ok(gatewayB.url, bob, CreateGroup, { input: { name: 'team', memberIds: ['alice', 'carol'] } })).createGroup.group.id;
    // History from before the kit started: it pages it in at the end.
    for (let i = 0; i < 30; i += 1) await ok(gatewayB.url, bob, Send, { input: { groupId: pair, body: `old ${i}`, clientMessageId: `old-${i}` } });

    const kit = kitFor(gatewayA.url, async () => alice, { limits: { maxSinceGroups: 1 } });
    const states = recordConnection(kit);
    const repaired = new Set<string>();
    for (const groupId of [pair, team]) {
      const store = kit.messages(groupId);
      onDispose(store.subscribe(() => {
        if (store.getSnapshot().repairing) repaired.add(groupId);
      }));
    }
    await waitFor('the kit to connect', () => kit.connection.getSnapshot().status === 'connected');

    const other = keepSending(() => gatewayB.url, bob, [pair, team], 60, 40);
    await untilKitHas(kit, team, 5);
    const mine = [kit.send(pair, 'before the crash')];

    gatewayA.child.kill('SIGKILL');
    await gatewayA.exited;
    await waitFor('the kit to notice', () => kit.connection.getSnapshot().status !== 'connected');
    // Written while its gateway is dead: queued in the outbox, sent after the restart.
    mine.push(kit.send(pair, 'while down 1'), kit.send(team, 'while down 2'));
    expect(kit.messages(pair).getSnapshot().pending.some((item) => item.body === 'while down 1')).toBe(true);
    await sleep(500);
    gatewayA = await start({ ROLE: 'gateway', NODE_ID: 'kit-a', PORT: String(portA) });

    await waitFor('the kit to reconnect', () => kit.connection.getSnapshot().status === 'connected');
    mine.push(kit.send(team, 'after the restart'));
    await other.done;
    // A live message in each group after the reconnect: the group left out of `since` shows a gap.
    await ok(gatewayB.url, bob, Send, { input: { groupId: pair, body: 'last pair', clientMessageId: 'last-pair' } });
    await ok(gatewayB.url, bob, Send, { input: { groupId: team, body: 'last team', clientMessageId: 'last-team' } });
    const sentByKit = await Promise.all(mine);

    await expectConverged(kit, gatewayB.url, bob, [pair, team]);
    const stored = [...(await history(gatewayB.url, bob, pair)), ...(await history(gatewayB.url, bob, team))];
    for (const message of sentByKit) {
      expect(stored.filter((m) => m.clientMessageId === message.clientMessageId)).toHaveLength(1);
    }
    expect(stored.filter((m) => m.senderId === 'bob')).toHaveLength(92);
    expect(repaired.size).toBeGreaterThan(0);
    // It did lose its connection (abnormally: no close frame from a killed process) and came back.
    expect(states.some((s) => s.status === 'reconnecting' && s.lastClose?.code === 1006)).toBe(true);
  }, 120_000);

  it('loses nothing across a SIGTERM drain (close 1001) while the other user’s kit keeps sending through the restart', async () => {
    const { secret, tokens, dataDir } = await fixture();
    const port = await freePort();
    const env = { DATA_DIR: dataDir, JWT_SECRET: secret, SQLITE_SYNCHRONOUS: 'NORMAL', PORT: String(port) };
    let server = await startProcess(env, { readyTimeoutMs: 60_000 });
    const [alice, bob] = await Promise.all([tokens.sign({ id: 'alice' }), tokens.sign({ id: 'bob' })]);
    const groupId = (await ok(server.url, alice, CreateGroup, { input: { name: 'drain', memberIds: ['bob'] } })).createGroup.group.id;

    const aliceKit = kitFor(server.url, async () => alice);
    const bobKit = kitFor(server.url, async () => bob);
    const states = recordConnection(aliceKit);
    await waitFor('both kits to connect', () =>
      [aliceKit, bobKit].every((kit) => kit.connection.getSnapshot().status === 'connected'),
    );

    // Bob's kit sends 40 messages, one every 50 ms, through the drain and the restart: its
    // outbox retries each with the same clientMessageId until the server answers.
    const bobSends: Promise<unknown>[] = [];
    const sending = (async () => {
      for (let i = 0; i < 40; i += 1) {
        bobSends.push(bobKit.send(groupId, `bob ${i}`));
        await sleep(50);
      }
    })();
    await untilKitHas(aliceKit, groupId, 10);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    await waitFor('alice’s kit to notice', () => aliceKit.connection.getSnapshot().status !== 'connected');
    server = await startProcess(env, { readyTimeoutMs: 60_000 });
    await sending;
    await Promise.all(bobSends);
    await aliceKit.send(groupId, 'alice after the drain');

    await expectConverged(aliceKit, server.url, alice, [groupId]);
    await expectConverged(bobKit, server.url, bob, [groupId]);
    const stored = await history(server.url, alice, groupId);
    expect(stored).toHaveLength(41);
    expect(new Set(stored.map((m) => m.clientMessageId)).size).toBe(41);
    // The drain said "going away": the kit saw 1001, not an abnormal close.
    expect(states.some((s) => s.lastClose?.code === 1001)).toBe(true);
  }, 120_000);

  it('drops a connection whose pings go unanswered (a frozen server, SIGSTOP) and catches up once it answers again', async () => {
    const { secret, tokens, dataDir } = await fixture();
    const server = await startProcess({ DATA_DIR: dataDir, JWT_SECRET: secret, SQLITE_SYNCHRONOUS: 'NORMAL' }, { readyTimeoutMs: 60_000 });
    const [alice, bob] = await Promise.all([tokens.sign({ id: 'alice' }), tokens.sign({ id: 'bob' })]);
    const groupId = (await ok(server.url, bob, CreateGroup, { input: { name: 'frozen', memberIds: ['alice'] } })).createGroup.group.id;
    const kit = kitFor(server.url, async () => alice, { keepAliveMs: 500, pongTimeoutMs: 1000, requestTimeoutMs: 2000 });
    const states = recordConnection(kit);
    await waitFor('the kit to connect', () => kit.connection.getSnapshot().status === 'connected');
    await ok(server.url, bob, Send, { input: { groupId, body: 'before', clientMessageId: 'before' } });
    await untilKitHas(kit, groupId, 1);
    // The socket stays open but nothing answers: only the missing pong shows it.
    server.child.kill('SIGSTOP');
    onDispose(() => void server.child.kill('SIGCONT'));
    await waitFor('the kit to drop the silent connection', () => states.some((s) => s.lastClose?.code === 4408), { timeoutMs: 15_000 });
    server.child.kill('SIGCONT');
    await waitFor('the kit to reconnect', () => kit.connection.getSnapshot().status === 'connected', { timeoutMs: 30_000 });
    for (let i = 0; i < 5; i += 1) await ok(server.url, bob, Send, { input: { groupId, body: `after ${i}`, clientMessageId: `after-${i}` } });
    await expectConverged(kit, server.url, bob, [groupId]);
  }, 90_000);

  it('keeps an unsent message in its storage across a restart of the app, and sends it once', async () => {
    const { secret, tokens, dataDir } = await fixture();
    const port = await freePort();
    const env = { DATA_DIR: dataDir, JWT_SECRET: secret, SQLITE_SYNCHRONOUS: 'NORMAL', PORT: String(port) };
    let server = await startProcess(env, { readyTimeoutMs: 60_000 });
    const alice = await tokens.sign({ id: 'alice' });
    const groupId = (await ok(server.url, alice, CreateGroup, { input: { name: 'outbox' } })).createGroup.group.id;
    // localStorage's shape, kept by the test across the two "launches" of the app.
    const saved = new Map<string, string>();
    const storage = { getItem: (key: string) => saved.get(key) ?? null, setItem: (key: string, value: string) => void saved.set(key, value) };
    const first = kitFor(server.url, async () => alice, { storage });
    await waitFor('the first kit to connect', () => first.connection.getSnapshot().status === 'connected');
    server.child.kill('SIGKILL');
    await server.exited;
    const lost = first.send(groupId, 'written while offline, then the app closed');
    lost.catch(() => {});
    await waitFor('the message to be in storage', () => (saved.get('groupchat:outbox:alice') ?? '').includes('written while offline'));
    first.dispose();

    server = await startProcess(env, { readyTimeoutMs: 60_000 });
    const second = kitFor(server.url, async () => alice, { storage });
    await waitFor('the second kit to send it', () => second.messages(groupId).getSnapshot().messages.length === 1);
    await expectConverged(second, server.url, alice, [groupId]);
    const stored = await history(server.url, alice, groupId);
    expect(stored).toHaveLength(1);
    expect(JSON.parse(saved.get('groupchat:outbox:alice') as string)).toEqual([]);
  }, 90_000);

  describe('a token that expires mid-session', () => {
    /** A provider whose first token expires after `firstTtl`, later ones after an hour. */
    function expiringProvider(tokens: TokenVerifier, userId: string, firstTtl: string) {
      const calls: TokenRequest[] = [];
      let current: Promise<string> | null = null;
      const provider = async (request: TokenRequest): Promise<string> => {
        calls.push(request);
        if (current === null) current = tokens.sign({ id: userId }, { expiresIn: firstTtl });
        else if (request.refresh) current = tokens.sign({ id: userId }, { expiresIn: '1h' });
        return current;
      };
      return { provider, calls };
    }

    it('is refreshed when the server closes the socket with 4403 at expiry, and nothing is lost', async () => {
      const { secret, tokens, dataDir } = await fixture();
      const server = await startProcess({ DATA_DIR: dataDir, JWT_SECRET: secret, SQLITE_SYNCHRONOUS: 'NORMAL' }, { readyTimeoutMs: 60_000 });
      const bob = await tokens.sign({ id: 'bob' });
      const groupId = (await ok(server.url, bob, CreateGroup, { input: { name: 'expiry', memberIds: ['alice'] } })).createGroup.group.id;
      const { provider, calls } = expiringProvider(tokens, 'alice', '3s');
      const kit = kitFor(server.url, provider);
      const states = recordConnection(kit);
      await waitFor('the kit to connect', () => kit.connection.getSnapshot().status === 'connected');

      const other = keepSending(() => server.url, bob, [groupId], 60, 100);
      // The server must end the session at the token's exp with 4403, naming expiry.
      await waitFor(
        'the server to close the socket with 4403 when the token expires',
        () => states.some((s) => s.lastClose?.code === 4403),
        { timeoutMs: 15_000 },
      );
      expect(states.find((s) => s.lastClose?.code === 4403)?.lastClose?.reason).toMatch(/expir/i);
      await waitFor('the kit to reconnect with a fresh token', () => kit.connection.getSnapshot().status === 'connected');
      expect(calls.some((call) => call.refresh)).toBe(true);
      await other.done;
      await expectConverged(kit, server.url, bob, [groupId]);
    }, 90_000);

    it('is refreshed when an HTTP request is refused after expiry, and the send is stored once', async () => {
      const { secret, tokens, dataDir } = await fixture();
      const server = await startProcess({ DATA_DIR: dataDir, JWT_SECRET: secret, SQLITE_SYNCHRONOUS: 'NORMAL' }, { readyTimeoutMs: 60_000 });
      const bob = await tokens.sign({ id: 'bob' });
      const groupId = (await ok(server.url, bob, CreateGroup, { input: { name: 'expiry http', memberIds: ['alice'] } })).createGroup.group.id;
      const { provider, calls } = expiringProvider(tokens, 'alice', '2s');
      const kit = kitFor(server.url, provider);
      await waitFor('the kit to connect', () => kit.connection.getSnapshot().status === 'connected');
      await sleep(3000);
      const sent = await kit.send(groupId, 'after my first token expired');
      expect(calls.filter((call) => call.refresh)).toHaveLength(1);
      await ok(server.url, bob, Send, { input: { groupId, body: 'bob after', clientMessageId: 'b1' } });
      await untilKitHas(kit, groupId, 2);
      await expectConverged(kit, server.url, bob, [groupId]);
      expect((await history(server.url, bob, groupId)).filter((m) => m.clientMessageId === sent.clientMessageId)).toHaveLength(1);
    }, 90_000);
  });
});

describe('client kit against an in-process server', () => {
  it('resubscribes with since when the server ends a stream that fell behind (RATE_LIMITED), losing nothing', async () => {
    // One undelivered message per subscription at most: a burst overflows it on purpose.
    const server = await startServer({ limits: { subscriptionQueueLength: 1 } });
    const [alice, bob] = await Promise.all([server.token('alice'), server.token('bob')]);
    const groupId = (await ok(server.url, bob, CreateGroup, { input: { name: 'burst', memberIds: ['alice'] } })).createGroup.group.id;
    const kit = kitFor(server.url, async () => alice);
    const states = recordConnection(kit);
    await waitFor('the kit to connect', () => kit.connection.getSnapshot().status === 'connected');
    for (let batch = 0; batch < 10; batch += 1) {
      await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          ok(server.url, bob, Send, { input: { groupId, body: `burst ${batch}-${i}`, clientMessageId: `b${batch}-${i}` } }),
        ),
      );
    }
    await expectConverged(kit, server.url, bob, [groupId]);
    expect(kit.messages(groupId).getSnapshot().messages).toHaveLength(300);
    expect(states.some((s) => /fell more than 1 messages behind/.test(s.lastClose?.reason ?? ''))).toBe(true);
  }, 60_000);

  it('stops after exactly maxAuthFailures refused connects, and reconnect() starts again after a new sign-in', async () => {
    const server = await startServer();
    const forged = await createTokenVerifier(randomBytes(32).toString('base64url')).sign({ id: 'alice' });
    const good = await server.token('alice');
    /** The provider answers a refused token for its first `bad` calls. */
    const providerFailing = (bad: number) => {
      let calls = 0;
      return {
        calls: () => calls,
        provider: async () => {
          calls += 1;
          return calls <= bad ? forged : good;
        },
      };
    };
    // maxAuthFailures 3: the first connect asks twice (cached, then refresh), later ones once.
    const twoRefusals = providerFailing(3);
    const recovers = kitFor(server.url, twoRefusals.provider, { limits: { maxAuthFailures: 3 } });
    await waitFor('two refused connects, then a connection', () => recovers.connection.getSnapshot().status === 'connected');
    // Three refused tokens, the fresh one over HTTP, and once more for the WebSocket's connect.
    expect(twoRefusals.calls()).toBe(5);

    const threeRefusals = providerFailing(4);
    const gives = kitFor(server.url, threeRefusals.provider, { limits: { maxAuthFailures: 3 } });
    await waitFor('the kit to give up', () => gives.connection.getSnapshot().status === 'unauthorized');
    await sleep(1500);
    expect(threeRefusals.calls()).toBe(4);
    expect(gives.connection.getSnapshot().status).toBe('unauthorized');
    gives.reconnect();
    await waitFor('the kit to connect after reconnect()', () => gives.connection.getSnapshot().status === 'connected');
  }, 60_000);

  it('marks a send failed after exactly maxSendAttempts unexplained server errors, and retry() queues it again', async () => {
    const server = await startServer();
    const alice = await server.token('alice');
    const groupId = (await ok(server.url, alice, CreateGroup, { input: { name: 'broken store' } })).createGroup.group.id;
    const kit = kitFor(server.url, async () => alice, { limits: { maxSendAttempts: 2 } });
    await waitFor('the kit to connect', () => kit.connection.getSnapshot().status === 'connected');
    // The store fails for real: every send now gets the masked internal error.
    await server.store().close();
    const sent = kit.send(groupId, 'into a broken store');
    await expect(sent).rejects.toThrow(/Unexpected error/);
    const [item] = kit.outbox.getSnapshot();
    expect(item).toMatchObject({ status: 'failed', attempts: 2, body: 'into a broken store' });
    expect(kit.messages(groupId).getSnapshot().pending).toEqual([item]);
    kit.retry(item?.clientMessageId as string);
    // Queued afresh (attempts from 0, no error), and on its way again at once.
    expect(kit.outbox.getSnapshot()[0]).toMatchObject({ status: 'sending', attempts: 1, error: null });
    await waitFor('the retried send to fail again', () => kit.outbox.getSnapshot()[0]?.status === 'failed');
    expect(kit.outbox.getSnapshot()[0]?.attempts).toBe(2);
    kit.discard(item?.clientMessageId as string);
    await waitFor('the discarded message to leave the outbox', () => kit.outbox.getSnapshot().length === 0);
  }, 60_000);

  it('tracks at most maxGroups groups (the most recently active), describing new ones maxNodeIds at a time', async () => {
    const server = await startServer();
    const [alice, bob] = await Promise.all([server.token('alice'), server.token('bob')]);
    const group = async (name: string) => {
      const id = (await ok(server.url, bob, CreateGroup, { input: { name, memberIds: ['alice'] } })).createGroup.group.id;
      await ok(server.url, bob, Send, { input: { groupId: id, body: `in ${name}`, clientMessageId: `c-${name}` } });
      return id;
    };
    const g1 = await group('one');
    const g2 = await group('two');
    await group('three');
    const nodeQueries: string[][] = [];
    const counting: typeof fetch = async (input, init) => {
      const body = JSON.parse(String(init?.body ?? '{}')) as { query?: string; variables?: { ids?: string[] } };
      if (body.query?.includes('query ChatNodes') === true) nodeQueries.push(body.variables?.ids ?? []);
      return fetch(input, init);
    };
    const kit = kitFor(server.url, async () => alice, { fetch: counting, limits: { maxGroups: 2, maxNodeIds: 1 } });
    await waitFor('the kit to connect', () => kit.connection.getSnapshot().status === 'connected');
    const names = () => kit.groups.getSnapshot().groups.map((g) => g.name);
    expect(names()).toEqual(['three', 'two']);

    // Two groups it does not hold get messages: each is described (one id per nodes query) and
    // the least recently active are forgotten, so it still holds exactly two.
    await ok(server.url, bob, Send, { input: { groupId: g1, body: 'one again', clientMessageId: 'one-again' } });
    const g4 = await group('four');
    await waitFor('the list to follow activity', () => names().join() === 'four,one');
    expect(nodeQueries.every((ids) => ids.length === 1)).toBe(true);
    expect(new Set(nodeQueries.flat())).toEqual(new Set([g1, g4]));
    expect(kit.groups.getSnapshot().groups.find((g) => g.name === 'one')?.lastMessage?.body).toBe('one again');
    expect(kit.messages(g2).getSnapshot().messages).toEqual([]);
  }, 60_000);

  it('updates a message store asked for before its group was known (a conversation opened by URL)', async () => {
    const server = await startServer();
    const alice = await server.token('alice');
    const groupId = (await ok(server.url, alice, CreateGroup, { input: { name: 'deep link' } })).createGroup.group.id;
    for (let i = 1; i <= 3; i += 1) await ok(server.url, alice, Send, { input: { groupId, body: `m${i}`, clientMessageId: `m${i}` } });
    const kit = kitFor(server.url, async () => alice, { connect: false });
    const store = kit.messages(groupId);
    let told = 0;
    onDispose(store.subscribe(() => {
      told += 1;
    }));
    expect(store.getSnapshot()).toMatchObject({ messages: [], hasOlder: false });
    await kit.refreshGroups();
    await waitFor('the store’s listeners to be told', () => told > 0);
    // Its history exists now (and a view loads it), though no message of it is held yet.
    expect(store.getSnapshot()).toMatchObject({ messages: [], hasOlder: true, canLoadOlder: true });
    await kit.loadOlder(groupId);
    expect(store.getSnapshot().messages.map((m) => m.body)).toEqual(['m1', 'm2', 'm3']);
  }, 30_000);
});
