/**
 * Shared execution of subscriptions (one execution per event per distinct operation): the
 * counts prove the sharing, the contents prove that nobody gets someone else's view.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { collect, ok, startServer, wsClient, type Collected, type TestServer } from './support/server.ts';
import { disposeAll } from './support/dispose.ts';

afterEach(disposeAll);
afterAll(disposeAll);

async function metric(server: TestServer, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  const line = text.split('\n').find((row) => row.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

async function group(server: TestServer, owner: string, members: readonly string[]): Promise<string> {
  const token = await server.token(owner);
  const data = await ok<{ createGroup: { group: { id: string } } }, unknown>(
    server.url,
    token,
    'mutation ($input: CreateGroupInput!) { createGroup(input: $input) { group { id } } }',
    { input: { name: 'fanout', memberIds: members } },
  );
  return data.createGroup.group.id;
}

async function send(server: TestServer, token: string, groupId: string, key: string): Promise<number> {
  const data = await ok<{ sendGroupMessage: { message: { seq: number } } }, unknown>(
    server.url,
    token,
    'mutation ($input: SendGroupMessageInput!) { sendGroupMessage(input: $input) { message { seq } } }',
    { input: { groupId, body: `body ${key}`, clientMessageId: key } },
  );
  return data.sendGroupMessage.message.seq;
}

type Added<T> = { messageAdded: T };

async function subscribed<T>(server: TestServer, userId: string, query: string, variables: Record<string, unknown>): Promise<Collected<Added<T>>> {
  return collect<Added<T>, Record<string, unknown>>(wsClient(server, await server.token(userId)), query, variables);
}

const PLAIN = 'subscription ($g: ID!, $since: [GroupSeqInput!]) { messageAdded(groupId: $g, since: $since) { id seq body sender { id } } }';

describe('shared subscription execution', () => {
  it('executes each event once for every subscriber of the same operation, whatever their since', async () => {
    const server = await startServer();
    const members = ['u1', 'u2', 'u3', 'u4', 'u5'];
    const groupId = await group(server, 'owner', members);
    const owner = await server.token('owner');
    await send(server, owner, groupId, 'before');
    // Different `since` values: root field arguments do not split the shape.
    const subscribers = await Promise.all(
      members.map((userId, i) => subscribed<{ seq: number; body: string; sender: { id: string } }>(server, userId, PLAIN, { g: groupId, since: [{ groupId, seq: i % 2 }] })),
    );
    for (const [i, subscriber] of subscribers.entries()) {
      if (i % 2 === 0) await subscriber.until((results) => results.length === 1);
    }
    const executionsBefore = await metric(server, 'chat_subscription_executions_total');
    const reusedBefore = await metric(server, 'chat_subscription_results_reused_total');
    for (let i = 0; i < 10; i += 1) await send(server, owner, groupId, `m${i}`);
    for (const subscriber of subscribers) await subscriber.until((results) => results.at(-1)?.data?.messageAdded.seq === 11);

    for (const [i, subscriber] of subscribers.entries()) {
      const seqs = subscriber.results.map((result) => result.data?.messageAdded.seq);
      expect(seqs).toEqual(Array.from({ length: i % 2 === 0 ? 11 : 10 }, (_, k) => k + 1 + (i % 2)));
      expect(subscriber.results.at(-1)).toEqual({ data: { messageAdded: expect.objectContaining({ seq: 11, body: 'body m9', sender: { id: 'owner' } }) } });
    }
    expect(await metric(server, 'chat_subscription_executions_total')).toBe(executionsBefore + 10);
    expect(await metric(server, 'chat_subscription_results_reused_total')).toBe(reusedBefore + 10 * (members.length - 1));
    expect(await metric(server, 'chat_subscription_shapes')).toBe(1);
  });

  it('gives two viewers their own unreadCount and lastReadSeq in the same event', async () => {
    const server = await startServer();
    const groupId = await group(server, 'owner', ['ann', 'ben']);
    const owner = await server.token('owner');
    const ann = await server.token('ann');
    await send(server, owner, groupId, 'first');
    await send(server, owner, groupId, 'second');
    // Ann has read everything so far, Ben nothing.
    await ok(server.url, ann, 'mutation ($g: ID!) { markGroupRead(input: { groupId: $g, seq: 2 }) { group { id } } }', { g: groupId });
    // since: the stream is registered before the send below, so it cannot start after it.
    const query =
      'subscription ($g: ID!, $since: [GroupSeqInput!]) { messageAdded(groupId: $g, since: $since) { seq group { name unreadCount lastReadSeq } } }';
    type Viewed = { seq: number; group: { name: string; unreadCount: number; lastReadSeq: number } };
    const [annSees, benSees, benAgain] = await Promise.all([
      subscribed<Viewed>(server, 'ann', query, { g: groupId, since: [{ groupId, seq: 2 }] }),
      subscribed<Viewed>(server, 'ben', query, { g: groupId, since: [{ groupId, seq: 2 }] }),
      subscribed<Viewed>(server, 'ben', query, { g: groupId, since: [{ groupId, seq: 2 }] }),
    ]);
    await send(server, owner, groupId, 'third');
    for (const subscriber of [annSees, benSees, benAgain]) await subscriber.until((results) => results.length === 1);
    expect(annSees.results[0]?.data?.messageAdded).toEqual({ seq: 3, group: { name: 'fanout', unreadCount: 1, lastReadSeq: 2 } });
    expect(benSees.results[0]?.data?.messageAdded).toEqual({ seq: 3, group: { name: 'fanout', unreadCount: 3, lastReadSeq: 0 } });
    expect(benAgain.results).toEqual(benSees.results);

    // All three are live now (message 3 may have reached one of them by its catch-up read, a
    // different event object): the next event is one execution per viewer, Ben's two
    // subscriptions sharing theirs.
    const executionsBefore = await metric(server, 'chat_subscription_executions_total');
    await send(server, owner, groupId, 'fourth');
    for (const subscriber of [annSees, benSees, benAgain]) await subscriber.until((results) => results.length === 2);
    expect(annSees.results[1]?.data?.messageAdded).toEqual({ seq: 4, group: { name: 'fanout', unreadCount: 2, lastReadSeq: 2 } });
    expect(benSees.results[1]?.data?.messageAdded).toEqual({ seq: 4, group: { name: 'fanout', unreadCount: 4, lastReadSeq: 0 } });
    expect(benAgain.results).toEqual(benSees.results);
    expect(await metric(server, 'chat_subscription_executions_total')).toBe(executionsBefore + 2);
  });

  it('finds viewer-dependent fields inside fragments, and variables of the selection split shapes', async () => {
    const server = await startServer();
    const groupId = await group(server, 'owner', ['ann', 'ben', 'cat']);
    const owner = await server.token('owner');
    await send(server, owner, groupId, 'first');
    await ok(server.url, await server.token('ann'), 'mutation ($g: ID!) { markGroupRead(input: { groupId: $g, seq: 1 }) { group { id } } }', { g: groupId });
    const since = [{ groupId, seq: 1 }];
    const fragmentQuery = `
      subscription ($g: ID!, $since: [GroupSeqInput!]) { messageAdded(groupId: $g, since: $since) { ...M } }
      fragment M on Message { seq group { ...G } }
      fragment G on Group { unreadCount }`;
    const pagedQuery = 'subscription ($g: ID!, $since: [GroupSeqInput!], $n: Int) { messageAdded(groupId: $g, since: $since) { seq group { members(first: $n) { edges { node { id } } } } } }';
    type Unread = { seq: number; group: { unreadCount: number } };
    type Paged = { seq: number; group: { members: { edges: { node: { id: string } }[] } } };
    const annUnread = await subscribed<Unread>(server, 'ann', fragmentQuery, { g: groupId, since });
    const benUnread = await subscribed<Unread>(server, 'ben', fragmentQuery, { g: groupId, since });
    const one = await subscribed<Paged>(server, 'ann', pagedQuery, { g: groupId, since, n: 1 });
    const two = await subscribed<Paged>(server, 'cat', pagedQuery, { g: groupId, since, n: 2 });
    const twoAgain = await subscribed<Paged>(server, 'ben', pagedQuery, { g: groupId, since, n: 2 });
    await send(server, owner, groupId, 'x');
    for (const subscriber of [annUnread, benUnread, one, two, twoAgain]) await subscriber.until((results) => results.length === 1);

    expect(annUnread.results[0]?.data?.messageAdded.group.unreadCount).toBe(1);
    expect(benUnread.results[0]?.data?.messageAdded.group.unreadCount).toBe(2);
    expect(one.results[0]?.data?.messageAdded.group.members.edges.map((edge) => edge.node.id)).toEqual(['ann']);
    expect(two.results[0]?.data?.messageAdded.group.members.edges.map((edge) => edge.node.id)).toEqual(['ann', 'ben']);
    expect(twoAgain.results).toEqual(two.results);
    // ann and ben (per viewer) + n=1 + n=2 (shared by cat and ben).
    expect(await metric(server, 'chat_subscription_shapes')).toBe(4);
  });
});
