/**
 * `messageAdded` end to end: the whole app on a real port, mutations over HTTP, real graphql-ws
 * clients. Every assertion is on what a client receives.
 *
 * A subscription without `since` starts at each group's lastSeq at the moment the server opens
 * it, which a client cannot observe; tests that need "everything sent from now on" either pass
 * `since` with the lastSeq they know, or send probes until one arrives (`whenLive`).
 *
 * Long on purpose: the blocks share one `describe.each` over the backends and the `world`
 * helpers that set each test up.
 */
import { randomUUID } from 'node:crypto';
import type { ExecutionResult, GraphQLFormattedError } from 'graphql';
import type { Client } from 'graphql-ws';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import type { Limits } from '../src/config.ts';
import { createTokenVerifier } from '../src/auth/jwt.ts';
import { graphql } from './gql/index.ts';
import type { SubMessageAddedSubscription } from './gql/graphql.ts';
import {
  backendTitle,
  backends,
  collect,
  ok,
  startServer,
  wsClient,
  type Backend,
  type Collected,
  type TestServer,
} from './support/server.ts';
import { disposeAll } from './support/dispose.ts';

const CreateGroup = graphql(`
  mutation SubCreateGroup($input: CreateGroupInput!) {
    createGroup(input: $input) {
      group {
        id
      }
    }
  }
`);

const SendMessage = graphql(`
  mutation SubSendMessage($input: SendGroupMessageInput!) {
    sendGroupMessage(input: $input) {
      message {
        seq
      }
    }
  }
`);

const AddMembers = graphql(`
  mutation SubAddMembers($input: AddGroupMembersInput!) {
    addGroupMembers(input: $input) {
      group {
        id
      }
    }
  }
`);

const RemoveMember = graphql(`
  mutation SubRemoveMember($input: RemoveGroupMemberInput!) {
    removeGroupMember(input: $input) {
      group {
        id
      }
    }
  }
`);

const MessageAdded = graphql(`
  subscription SubMessageAdded($groupId: ID, $since: [GroupSeqInput!]) {
    messageAdded(groupId: $groupId, since: $since) {
      id
      groupId
      seq
      body
      sender {
        id
      }
    }
  }
`);

type Added = SubMessageAddedSubscription['messageAdded'];
type Results = readonly ExecutionResult<SubMessageAddedSubscription>[];
type Subscription = Collected<SubMessageAddedSubscription>;

interface Actor {
  readonly id: string;
  readonly token: string;
}

interface SeqInput {
  readonly groupId: string;
  readonly seq: number;
}

const messagesIn = (results: Results): Added[] =>
  results.flatMap((result) => (result.data?.messageAdded == null ? [] : [result.data.messageAdded]));

const seqsIn = (results: Results, groupId: string): number[] =>
  messagesIn(results)
    .filter((message) => message.groupId === groupId)
    .map((message) => message.seq);

/** Whether `groupId`'s messages up to `seq` (or later) have arrived. */
const reached =
  (groupId: string, seq: number) =>
  (results: Results): boolean =>
    seqsIn(results, groupId).some((s) => s >= seq);

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

const errorsIn = (results: Results): readonly GraphQLFormattedError[] =>
  results.flatMap((result) => (result.errors ?? []) as readonly GraphQLFormattedError[]);

/**
 * How a subscription that must fail ended: the codes of its errors, whether the server answered
 * with an error message (hooks: limits, syntax) or an error result (use cases), and whether any
 * message was delivered before.
 */
async function failure(subscription: Collected<unknown>): Promise<{ codes: string[]; messages: string[]; data: number }> {
  await subscription.until(() => subscription.completed());
  const ended = await subscription.done.then(
    () => null,
    (error: unknown) => error,
  );
  if (ended !== null && !Array.isArray(ended)) throw new Error(`The transport failed: ${String(ended)}`);
  const errors = [...((ended ?? []) as GraphQLFormattedError[]), ...errorsIn(subscription.results as Results)];
  return {
    codes: errors.map((error) => String(error.extensions?.['code'] ?? 'NO_CODE')),
    messages: errors.map((error) => error.message),
    data: subscription.results.filter((result) => result.data != null).length,
  };
}

describe.each(backends)('messageAdded end to end', (backend: Backend) => {
  describe.skipIf(backend.skipReason !== null)(backendTitle(backend), () => {
    afterEach(disposeAll);

    interface World {
      readonly server: TestServer;
      actor(id: string): Promise<Actor>;
      group(owner: Actor, members?: readonly Actor[]): Promise<string>;
      send(sender: Actor, groupId: string, body?: string): Promise<number>;
      sendMany(sender: Actor, groupId: string, count: number): Promise<number[]>;
      add(by: Actor, groupId: string, users: readonly Actor[]): Promise<void>;
      remove(by: Actor, groupId: string, user: Actor): Promise<void>;
      subscribe(client: Client, options?: { readonly groupId?: string; readonly since?: readonly SeqInput[] }): Subscription;
    }

    async function world(limits: Partial<Limits> = {}): Promise<World> {
      const server = await startServer({ backend, limits });
      const send = async (sender: Actor, groupId: string, body = `from ${sender.id}`): Promise<number> => {
        const data = await ok(server.url, sender.token, SendMessage, {
          input: { groupId, body, clientMessageId: randomUUID() },
        });
        return data.sendGroupMessage.message.seq;
      };
      return {
        server,
        async actor(id) {
          return { id, token: await server.token(id) };
        },
        async group(owner, members = []) {
          const data = await ok(server.url, owner.token, CreateGroup, {
            input: { name: `${owner.id}'s group`, memberIds: members.map((m) => m.id) },
          });
          return data.createGroup.group.id;
        },
        send,
        async sendMany(sender, groupId, count) {
          const seqs: number[] = [];
          for (let i = 0; i < count; i += 1) seqs.push(await send(sender, groupId));
          return seqs;
        },
        async add(by, groupId, users) {
          await ok(server.url, by.token, AddMembers, { input: { groupId, userIds: users.map((u) => u.id) } });
        },
        async remove(by, groupId, user) {
          await ok(server.url, by.token, RemoveMember, { input: { groupId, userId: user.id } });
        },
        subscribe(client, { groupId, since } = {}) {
          return collect(client, MessageAdded, {
            ...(groupId === undefined ? {} : { groupId }),
            ...(since === undefined ? {} : { since: [...since] }),
          });
        },
      };
    }

    /**
     * Sends probes into `groupId` until one arrives. Without groupId, one store read fixes
     * where every group starts, so once a probe arrives all groups are live.
     */
    async function whenLive(subscription: Subscription, probe: () => Promise<unknown>, groupId: string): Promise<void> {
      for (let attempt = 1; ; attempt += 1) {
        await probe();
        try {
          await subscription.until((results) => seqsIn(results, groupId).length > 0, 500);
          return;
        } catch (error) {
          // Not an assertion on time: a probe committed before the subscription opened is never
          // delivered (it is before the start), so try again.
          if (attempt >= 40) throw error;
        }
      }
    }

    describe('authentication at connection_init', () => {
      /** Connects and reports how the attempt ended: closed with a code, or acknowledged. */
      function connect(server: TestServer, token: string | null): Promise<{ closedWith: number | null; connected: boolean }> {
        return new Promise((resolve) => {
          let connected = false;
          const client = wsClient(server, token, {
            onClosed: ({ code }) => resolve({ closedWith: code, connected }),
          });
          client.on('connected', () => {
            connected = true;
            resolve({ closedWith: null, connected });
          });
        });
      }

      it('closes the socket with 4403, before acknowledging, without a token', async () => {
        const { server } = await world();
        expect(await connect(server, null)).toEqual({ closedWith: 4403, connected: false });
      });

      it('closes the socket with 4403 for a malformed token and for one signed with another secret', async () => {
        const { server } = await world();
        expect(await connect(server, 'not-a-jwt')).toEqual({ closedWith: 4403, connected: false });
        const forged = await createTokenVerifier('another secret, not the server one').sign({ id: 'alice' });
        expect(await connect(server, forged)).toEqual({ closedWith: 4403, connected: false });
      });

      it('closes the socket with 4403 for an expired token', async () => {
        const { server } = await world();
        const expired = await server.token('alice', null, '-1 minute');
        expect(await connect(server, expired)).toEqual({ closedWith: 4403, connected: false });
      });

      it('acknowledges a valid token', async () => {
        const w = await world();
        const alice = await w.actor('alice');
        expect(await connect(w.server, alice.token)).toEqual({ closedWith: null, connected: true });
      });
    });

    describe('delivery', () => {
      it('with groupId: each message once, in seq order, the sender\'s own included', async () => {
        const w = await world();
        const [alice, bob] = await Promise.all([w.actor('alice'), w.actor('bob')]);
        const g = await w.group(alice, [bob]);
        const sub = w.subscribe(wsClient(w.server, alice.token), { groupId: g });
        await whenLive(sub, () => w.send(bob, g), g);
        const first = seqsIn(sub.results, g)[0] as number;
        let last = 0;
        for (let i = 0; i < 10; i += 1) last = await w.send(i % 2 === 0 ? alice : bob, g);
        await sub.until(reached(g, last));
        expect(seqsIn(sub.results, g)).toEqual(range(first, last));
        const senders = messagesIn(sub.results).map((m) => m.sender.id);
        expect(new Set(senders)).toEqual(new Set(['alice', 'bob']));
        expect(errorsIn(sub.results)).toEqual([]);
      });

      it('without groupId: every group of the viewer, each in order, and nothing from other groups', async () => {
        const w = await world();
        const [alice, bob, carol] = await Promise.all([w.actor('alice'), w.actor('bob'), w.actor('carol')]);
        const lobby = await w.group(alice);
        const g1 = await w.group(alice, [bob]);
        const g2 = await w.group(carol, [alice]);
        const notMine = await w.group(bob, [carol]);
        const sub = w.subscribe(wsClient(w.server, alice.token));
        await whenLive(sub, () => w.send(alice, lobby), lobby);
        await Promise.all([
          w.sendMany(bob, g1, 5),
          w.sendMany(alice, g1, 5),
          w.sendMany(carol, g2, 8),
          w.sendMany(bob, notMine, 8),
          w.sendMany(carol, notMine, 8),
        ]);
        await sub.until((results) => reached(g1, 10)(results) && reached(g2, 8)(results));
        // A last message through the same relay: anything of notMine would have come before it.
        const flush = await w.send(alice, lobby);
        await sub.until(reached(lobby, flush));
        expect(seqsIn(sub.results, g1)).toEqual(range(1, 10));
        expect(seqsIn(sub.results, g2)).toEqual(range(1, 8));
        expect(seqsIn(sub.results, notMine)).toEqual([]);
        expect(messagesIn(sub.results).filter((m) => m.groupId === g1 && m.sender.id === 'alice')).toHaveLength(5);
      });

      it('5 concurrent senders × 20 messages reach 3 subscribers as seqs 1..100, in order, once', async () => {
        const w = await world();
        const senders = await Promise.all(['s1', 's2', 's3', 's4', 's5'].map((id) => w.actor(id)));
        const listeners = await Promise.all(['l1', 'l2', 'l3'].map((id) => w.actor(id)));
        const g = await w.group(senders[0] as Actor, [...senders.slice(1), ...listeners]);
        const subs = listeners.map((l) => w.subscribe(wsClient(w.server, l.token), { groupId: g, since: [{ groupId: g, seq: 0 }] }));
        await Promise.all(senders.map((s) => w.sendMany(s, g, 20)));
        // One more after the burst: a late duplicate of any of the 100 would arrive before it.
        const last = await w.send(senders[0] as Actor, g);
        expect(last).toBe(101);
        for (const sub of subs) {
          await sub.until(reached(g, 101), 20_000);
          expect(seqsIn(sub.results, g)).toEqual(range(1, 101));
          expect(errorsIn(sub.results)).toEqual([]);
        }
      });
    });

    describe('validation', () => {
      it('FORBIDDEN for a group the viewer is not in, NOT_FOUND for a missing group', async () => {
        const w = await world();
        const [alice, bob] = await Promise.all([w.actor('alice'), w.actor('bob')]);
        const bobs = await w.group(bob);
        const client = wsClient(w.server, alice.token);
        expect(await failure(w.subscribe(client, { groupId: bobs }))).toMatchObject({ codes: ['FORBIDDEN'], data: 0 });
        expect(await failure(w.subscribe(client, { groupId: 'g_missing' }))).toMatchObject({ codes: ['NOT_FOUND'], data: 0 });
      });

      it('FORBIDDEN for since naming a group the viewer is not in', async () => {
        const w = await world();
        const [alice, bob] = await Promise.all([w.actor('alice'), w.actor('bob')]);
        const mine = await w.group(alice);
        const bobs = await w.group(bob);
        await w.send(bob, bobs);
        const sub = w.subscribe(wsClient(w.server, alice.token), {
          since: [
            { groupId: mine, seq: 0 },
            { groupId: bobs, seq: 0 },
          ],
        });
        expect(await failure(sub)).toMatchObject({ codes: ['FORBIDDEN'], data: 0 });
      });

      it('BAD_USER_INPUT for a negative seq, a group listed twice, or a group other than groupId', async () => {
        const w = await world();
        const alice = await w.actor('alice');
        const g = await w.group(alice);
        const other = await w.group(alice);
        const client = wsClient(w.server, alice.token);
        const cases: { groupId?: string; since: SeqInput[] }[] = [
          { groupId: g, since: [{ groupId: g, seq: -1 }] },
          { since: [{ groupId: g, seq: -1 }] },
          { since: [{ groupId: g, seq: 0 }, { groupId: g, seq: 2 }] },
          { groupId: g, since: [{ groupId: other, seq: 0 }] },
          { groupId: g, since: [{ groupId: g, seq: 0 }, { groupId: other, seq: 0 }] },
        ];
        for (const options of cases) {
          expect(await failure(w.subscribe(client, options)), JSON.stringify(options)).toMatchObject({
            codes: ['BAD_USER_INPUT'],
            data: 0,
          });
        }
      });

      it('accepts exactly maxSinceGroups entries and refuses one more with BAD_USER_INPUT', async () => {
        const w = await world({ maxSinceGroups: 3 });
        const alice = await w.actor('alice');
        const groups = [await w.group(alice), await w.group(alice), await w.group(alice), await w.group(alice)];
        for (const g of groups) await w.send(alice, g);
        const client = wsClient(w.server, alice.token);
        const since = groups.map((groupId) => ({ groupId, seq: 0 }));
        const tooMany = w.subscribe(client, { since });
        expect(await failure(tooMany)).toMatchObject({ codes: ['BAD_USER_INPUT'], data: 0 });
        const atMax = w.subscribe(client, { since: since.slice(0, 3) });
        await atMax.until((results) => groups.slice(0, 3).every((g) => reached(g, 1)(results)));
        expect(errorsIn(atMax.results)).toEqual([]);
        expect(atMax.completed()).toBe(false);
      });
    });

    describe('since', () => {
      it('resumes after a disconnect with no gap and no duplicate, then continues live', async () => {
        const w = await world();
        const [alice, bob] = await Promise.all([w.actor('alice'), w.actor('bob')]);
        const g = await w.group(bob, [alice]);
        const firstClient = wsClient(w.server, alice.token);
        const first = w.subscribe(firstClient, { groupId: g, since: [{ groupId: g, seq: 0 }] });
        await w.sendMany(bob, g, 5);
        await first.until(reached(g, 5));
        expect(seqsIn(first.results, g)).toEqual(range(1, 5));
        await firstClient.dispose();
        await w.sendMany(bob, g, 10);
        const second = w.subscribe(wsClient(w.server, alice.token), { groupId: g, since: [{ groupId: g, seq: 5 }] });
        await second.until(reached(g, 15));
        expect(seqsIn(second.results, g)).toEqual(range(6, 15));
        await w.sendMany(bob, g, 3);
        await second.until(reached(g, 18));
        expect(seqsIn(second.results, g)).toEqual(range(6, 18));
      });

      it('resumes while messages keep arriving: the two streams together are contiguous, without duplicates', async () => {
        const w = await world();
        const [alice, bob] = await Promise.all([w.actor('alice'), w.actor('bob')]);
        const g = await w.group(bob, [alice]);
        // The sender keeps going until 10 messages after the resubscription, so the resume
        // really happens while messages are being committed.
        let sent = 0;
        let resumedAt: number | null = null;
        const sending = (async () => {
          while (sent < 30 || resumedAt === null || sent < resumedAt + 10) sent = await w.send(bob, g);
        })();
        const firstClient = wsClient(w.server, alice.token);
        const first = w.subscribe(firstClient, { groupId: g, since: [{ groupId: g, seq: 0 }] });
        await first.until(reached(g, 10));
        // What the client had when it went away is what it resumes from.
        const had = seqsIn(first.results, g);
        await firstClient.dispose();
        expect(had).toEqual(range(1, had.length));
        const second = w.subscribe(wsClient(w.server, alice.token), {
          groupId: g,
          since: [{ groupId: g, seq: had.length }],
        });
        resumedAt = sent;
        await sending;
        await second.until(reached(g, sent), 20_000);
        expect([...had, ...seqsIn(second.results, g)]).toEqual(range(1, sent));
      });

      it('seq 0 replays the whole history, then continues live', async () => {
        const w = await world();
        const alice = await w.actor('alice');
        const g = await w.group(alice);
        await w.sendMany(alice, g, 8);
        const sub = w.subscribe(wsClient(w.server, alice.token), { groupId: g, since: [{ groupId: g, seq: 0 }] });
        await sub.until(reached(g, 8));
        expect(seqsIn(sub.results, g)).toEqual(range(1, 8));
        await w.send(alice, g);
        await sub.until(reached(g, 9));
        expect(seqsIn(sub.results, g)).toEqual(range(1, 9));
        expect(messagesIn(sub.results).map((m) => m.body)).toEqual(Array(9).fill('from alice'));
      });

      it('a seq beyond lastSeq starts live without skipping the messages that follow', async () => {
        const w = await world();
        const alice = await w.actor('alice');
        const lobby = await w.group(alice);
        const g = await w.group(alice);
        await w.sendMany(alice, g, 3);
        const sub = w.subscribe(wsClient(w.server, alice.token), { since: [{ groupId: g, seq: 10 }] });
        await whenLive(sub, () => w.send(alice, lobby), lobby);
        await w.sendMany(alice, g, 2);
        await sub.until(reached(g, 5));
        expect(seqsIn(sub.results, g)).toEqual([4, 5]);
      });

      it('several groups at once without groupId: each replays from its own seq; unlisted groups start live', async () => {
        const w = await world();
        const [alice, bob] = await Promise.all([w.actor('alice'), w.actor('bob')]);
        const g1 = await w.group(alice);
        const g2 = await w.group(bob, [alice]);
        const unlisted = await w.group(alice);
        await w.sendMany(alice, g1, 5);
        await w.sendMany(bob, g2, 4);
        await w.sendMany(alice, unlisted, 2);
        const sub = w.subscribe(wsClient(w.server, alice.token), {
          since: [
            { groupId: g1, seq: 2 },
            { groupId: g2, seq: 0 },
          ],
        });
        await sub.until((results) => reached(g1, 5)(results) && reached(g2, 4)(results));
        expect(seqsIn(sub.results, g1)).toEqual([3, 4, 5]);
        expect(seqsIn(sub.results, g2)).toEqual([1, 2, 3, 4]);
        // The replay has arrived, so every group's start is fixed: the next messages are live.
        await w.send(alice, g1);
        await w.send(bob, g2);
        await w.send(alice, unlisted);
        await sub.until((results) => reached(g1, 6)(results) && reached(g2, 5)(results) && reached(unlisted, 3)(results));
        expect(seqsIn(sub.results, g1)).toEqual([3, 4, 5, 6]);
        expect(seqsIn(sub.results, g2)).toEqual([1, 2, 3, 4, 5]);
        expect(seqsIn(sub.results, unlisted)).toEqual([3]);
      });

      it('a replay longer than replayPageSize is complete and ordered', async () => {
        const w = await world({ replayPageSize: 7 });
        const alice = await w.actor('alice');
        const g = await w.group(alice);
        await w.sendMany(alice, g, 30);
        const sub = w.subscribe(wsClient(w.server, alice.token), { groupId: g, since: [{ groupId: g, seq: 1 }] });
        await sub.until(reached(g, 30));
        expect(seqsIn(sub.results, g)).toEqual(range(2, 30));
        await w.send(alice, g);
        await sub.until(reached(g, 31));
        expect(seqsIn(sub.results, g)).toEqual(range(2, 31));
      });
    });

    describe('membership', () => {
      it('without groupId, a group the viewer is added to delivers what is sent after the add, not before', async () => {
        const w = await world();
        const [alice, bob] = await Promise.all([w.actor('alice'), w.actor('bob')]);
        const lobby = await w.group(alice);
        const g = await w.group(bob);
        const sub = w.subscribe(wsClient(w.server, alice.token));
        await whenLive(sub, () => w.send(alice, lobby), lobby);
        await w.sendMany(bob, g, 3);
        await w.add(bob, g, [alice]);
        await w.sendMany(bob, g, 2);
        await sub.until(reached(g, 5));
        expect(seqsIn(sub.results, g)).toEqual([4, 5]);
        await w.send(bob, g);
        await sub.until(reached(g, 6));
        expect(seqsIn(sub.results, g)).toEqual([4, 5, 6]);
      });

      it('without groupId, removal by the owner stops that group at once and keeps the others', async () => {
        const w = await world();
        const [alice, bob] = await Promise.all([w.actor('alice'), w.actor('bob')]);
        const lobby = await w.group(alice);
        const g = await w.group(bob, [alice]);
        const sub = w.subscribe(wsClient(w.server, alice.token));
        const bobs = w.subscribe(wsClient(w.server, bob.token), { groupId: g, since: [{ groupId: g, seq: 0 }] });
        await whenLive(sub, () => w.send(alice, lobby), lobby);
        await w.send(bob, g);
        await sub.until(reached(g, 1));
        await w.remove(bob, g, alice);
        await w.sendMany(bob, g, 3);
        const flush = await w.send(alice, lobby);
        await sub.until(reached(lobby, flush));
        await bobs.until(reached(g, 4));
        expect(seqsIn(sub.results, g)).toEqual([1]);
        expect(sub.completed()).toBe(false);
      });

      it('without groupId, leaving a group stops it at once and keeps the others', async () => {
        const w = await world();
        const [alice, bob] = await Promise.all([w.actor('alice'), w.actor('bob')]);
        const lobby = await w.group(alice);
        const g = await w.group(bob, [alice]);
        const sub = w.subscribe(wsClient(w.server, alice.token));
        await whenLive(sub, () => w.send(alice, lobby), lobby);
        await w.send(bob, g);
        await sub.until(reached(g, 1));
        await w.remove(alice, g, alice);
        await w.sendMany(bob, g, 3);
        const flush = await w.send(alice, lobby);
        await sub.until(reached(lobby, flush));
        expect(seqsIn(sub.results, g)).toEqual([1]);
        expect(sub.completed()).toBe(false);
      });

      it('with groupId, removal completes the subscription', async () => {
        const w = await world();
        const [alice, bob] = await Promise.all([w.actor('alice'), w.actor('bob')]);
        const g = await w.group(bob, [alice]);
        await w.send(bob, g);
        const sub = w.subscribe(wsClient(w.server, alice.token), { groupId: g, since: [{ groupId: g, seq: 0 }] });
        await sub.until(reached(g, 1));
        await w.remove(bob, g, alice);
        await expect(sub.done).resolves.toBeUndefined();
        expect(seqsIn(sub.results, g)).toEqual([1]);
        expect(errorsIn(sub.results)).toEqual([]);
      });
    });

    describe('limits', () => {
      it('a replay is not bounded by subscriptionQueueLength: 50 messages with a queue of 5 arrive complete', async () => {
        const w = await world({ subscriptionQueueLength: 5 });
        const alice = await w.actor('alice');
        const g = await w.group(alice);
        await w.sendMany(alice, g, 50);
        const sub = w.subscribe(wsClient(w.server, alice.token), { groupId: g, since: [{ groupId: g, seq: 0 }] });
        await sub.until(reached(g, 50));
        expect(seqsIn(sub.results, g)).toEqual(range(1, 50));
        expect(errorsIn(sub.results)).toEqual([]);
        await w.send(alice, g);
        await sub.until(reached(g, 51));
        expect(seqsIn(sub.results, g)).toEqual(range(1, 51));
      });

      it('maxSubscriptionsPerConnection: a third subscription is RATE_LIMITED, the first two keep working', async () => {
        const w = await world({ maxSubscriptionsPerConnection: 2 });
        const alice = await w.actor('alice');
        const g = await w.group(alice);
        const client = wsClient(w.server, alice.token);
        const since = [{ groupId: g, seq: 0 }];
        const first = w.subscribe(client, { groupId: g, since });
        const second = w.subscribe(client, { since });
        const third = w.subscribe(client, { groupId: g, since });
        expect(await failure(third)).toMatchObject({ codes: ['RATE_LIMITED'], data: 0 });
        await w.send(alice, g);
        await first.until(reached(g, 1));
        await second.until(reached(g, 1));
        expect(first.completed() || second.completed()).toBe(false);
        // The refused one took no slot: closing one of the two frees one.
        first.unsubscribe();
        const fourth = w.subscribe(client, { groupId: g, since });
        await fourth.until(reached(g, 1));
        expect(errorsIn(fourth.results)).toEqual([]);
      });
    });

    describe('errors', () => {
      it('an unexpected failure while starting an operation closes with 4500 and a masked reason', async () => {
        const w = await world();
        const closes: { code: number; reason: string }[] = [];
        const client = wsClient(w.server, await w.server.token('zed'), { onClosed: (event) => closes.push(event) });
        await new Promise<void>((resolve) => client.on('connected', () => resolve()));
        // The context of the operation writes the viewer to the store: make that fail.
        await w.server.store().close();
        const quiet = vi.spyOn(console, 'error').mockImplementation(() => {});
        try {
          const sub = w.subscribe(client);
          await sub.until(() => sub.completed());
        } finally {
          quiet.mockRestore();
        }
        // Not the store's own message ("The database connection is not open").
        expect(closes).toEqual([{ code: 4500, reason: 'Internal server error' }]);
      });

      it('a syntax or validation error answers that operation and leaves the socket open', async () => {
        const w = await world();
        const alice = await w.actor('alice');
        const g = await w.group(alice);
        const closes: number[] = [];
        const client = wsClient(w.server, alice.token, { onClosed: ({ code }) => closes.push(code) });
        const broken = collect(client, 'subscription { messageAdded( { seq } }');
        const syntax = await failure(broken);
        expect(syntax.messages).toEqual([expect.stringMatching(/^Syntax Error/)]);
        const invalid = await failure(collect(client, 'subscription { messageAdded { noSuchField } }'));
        expect(invalid.messages).toEqual([expect.stringMatching(/noSuchField/)]);
        const sub = w.subscribe(client, { groupId: g, since: [{ groupId: g, seq: 0 }] });
        await w.send(alice, g);
        await sub.until(reached(g, 1));
        expect(closes).toEqual([]);
      });
    });
  });
});

describe('WebSocket message size limit', () => {
  afterEach(disposeAll);

  /** A raw graphql-ws connection, so the test controls every byte of the subscribe message. */
  async function rawConnection(server: TestServer, token: string) {
    const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    const messages: string[] = [];
    socket.on('message', (data) => messages.push(String(data)));
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
    await vi.waitFor(() => expect(messages).toContain('{"type":"connection_ack"}'));
    return { socket, closed, messages };
  }

  /** A subscribe message of exactly `bytes` bytes, padded with a GraphQL comment. */
  function subscribeOfSize(bytes: number): string {
    const build = (padding: string) =>
      JSON.stringify({ id: 'size', type: 'subscribe', payload: { query: `subscription { messageAdded { seq } } #${padding}` } });
    const message = build('x'.repeat(bytes - Buffer.byteLength(build(''))));
    expect(Buffer.byteLength(message)).toBe(bytes);
    return message;
  }

  it('accepts a message of exactly maxWebSocketPayloadBytes and closes with 1009 above it', async () => {
    const limit = 4096;
    const server = await startServer({ limits: { maxWebSocketPayloadBytes: limit } });
    const token = await server.token('big-sender');

    const atLimit = await rawConnection(server, token);
    atLimit.socket.send(subscribeOfSize(limit));
    // The operation is running: completing it is answered, and the socket stays open.
    atLimit.socket.send(JSON.stringify({ id: 'size', type: 'complete' }));
    atLimit.socket.ping();
    await new Promise((resolve) => atLimit.socket.once('pong', resolve));
    expect(atLimit.socket.readyState).toBe(WebSocket.OPEN);
    atLimit.socket.close();

    const overLimit = await rawConnection(server, token);
    overLimit.socket.send(subscribeOfSize(limit + 1));
    expect(await overLimit.closed).toBe(1009);
  });
});
