/**
 * The additive schema fields that clients (Relay, Apollo, the client kit) page and normalise
 * with: `Group.messages`, `nodes` on every connection, `Query.nodes(ids:)` and
 * `Message.cursor`. Each is checked against what the existing fields answer for the same data,
 * so the additions can never drift from `Query.messages` and `node(id)`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from './gql/index.ts';
import { codes, collect, ok, request, startServer, wsClient, type TestServer } from './support/server.ts';
import { disposeAll } from './support/dispose.ts';

afterAll(disposeAll);

const CreateGroup = graphql(`
  mutation AddCreateGroup($name: String!, $memberIds: [ID!]) {
    createGroup(input: { name: $name, memberIds: $memberIds }) { group { id } }
  }
`);

const Send = graphql(`
  mutation AddSend($groupId: ID!, $body: String!, $clientMessageId: String!) {
    sendGroupMessage(input: { groupId: $groupId, body: $body, clientMessageId: $clientMessageId }) {
      message { id seq cursor }
    }
  }
`);

const RemoveMember = graphql(`
  mutation AddRemoveMember($groupId: ID!, $userId: ID!) {
    removeGroupMember(input: { groupId: $groupId, userId: $userId }) {
      group { messages(last: 5) { nodes { seq } } }
    }
  }
`);

const BothHistories = graphql(`
  query AddBothHistories($groupId: ID!, $first: Int, $after: String, $last: Int, $before: String, $afterSeq: Int) {
    messages(groupId: $groupId, first: $first, after: $after, last: $last, before: $before, afterSeq: $afterSeq) {
      edges { cursor node { id seq cursor } }
      nodes { id seq cursor }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
    group(id: $groupId) {
      messages(first: $first, after: $after, last: $last, before: $before, afterSeq: $afterSeq) {
        edges { cursor node { id seq cursor } }
        nodes { id seq cursor }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
    }
  }
`);

const GroupHistory = graphql(`
  query AddGroupHistory($groupId: ID!, $first: Int, $last: Int) {
    group(id: $groupId) { messages(first: $first, last: $last) { nodes { seq } } }
  }
`);

const ConnectionNodes = graphql(`
  query AddConnectionNodes($groupId: ID!) {
    groups(first: 10) { edges { node { id } } nodes { id } }
    group(id: $groupId) { members(first: 10) { edges { node { id } } nodes { id } } }
  }
`);

const Nodes = graphql(`
  query AddNodes($ids: [ID!]!) {
    nodes(ids: $ids) {
      __typename
      id
      ... on Group { name }
      ... on Message { seq }
    }
  }
`);

const NodeOne = graphql(`
  query AddNodeOne($id: ID!) {
    node(id: $id) { __typename id }
  }
`);

const Streamed = graphql(`
  subscription AddStreamed($groupId: ID!) {
    messageAdded(groupId: $groupId) { id seq cursor }
  }
`);

type HistoryArgs = { first?: number; after?: string; last?: number; before?: string; afterSeq?: number };

let server: TestServer;
let alice: string;
let bob: string;
let carol: string;
let groupId: string;
const sent: { id: string; seq: number; cursor: string }[] = [];

beforeAll(async () => {
  server = await startServer({ limits: { maxNodeIds: 3 } });
  [alice, bob, carol] = await Promise.all([server.token('alice'), server.token('bob'), server.token('carol')]);
  groupId = (await ok(server.url, alice, CreateGroup, { name: 'additions', memberIds: ['bob'] })).createGroup.group.id;
  for (let i = 1; i <= 7; i += 1) {
    const result = await ok(server.url, i % 2 === 0 ? bob : alice, Send, { groupId, body: `m${i}`, clientMessageId: `c${i}` });
    sent.push(result.sendGroupMessage.message);
  }
});

describe('Group.messages', () => {
  const cases: [string, (cursors: string[]) => HistoryArgs][] = [
    ['newest page with last', () => ({ last: 3 })],
    ['older page with last/before', (c) => ({ last: 2, before: c[4] as string })],
    ['forward with first/after', (c) => ({ first: 3, after: c[1] as string })],
    ['catch-up with afterSeq', () => ({ first: 10, afterSeq: 5 })],
    ['no arguments', () => ({})],
  ];
  it.each(cases)('pages exactly as Query.messages: %s', async (_name, args) => {
    const { messages, group } = await ok(server.url, bob, BothHistories, { groupId, ...args(sent.map((m) => m.cursor)) });
    expect(group?.messages).toEqual(messages);
    expect(messages.edges.length).toBeGreaterThan(0);
  });

  it('rejects what Query.messages rejects, with the same code', async () => {
    for (const args of [{ first: 1, last: 1 }, { last: 101 }, { first: -1 }]) {
      const viaQuery = await request(server.url, bob, BothHistories, { groupId, ...args });
      const viaGroup = await request(server.url, bob, GroupHistory, { groupId, ...args });
      expect(codes(viaQuery)).toEqual(['BAD_USER_INPUT']);
      expect(codes(viaGroup)).toEqual(['BAD_USER_INPUT']);
      expect(viaGroup.errors?.[0]?.message).toBe(viaQuery.errors?.[0]?.message);
    }
    const atLimit = await ok(server.url, bob, GroupHistory, { groupId, last: 100 });
    expect(atLimit.group?.messages.nodes.length).toBeGreaterThan(0);
  });

  it('is FORBIDDEN on the group a member has just left', async () => {
    const leaver = await server.token('leaver');
    const id = (await ok(server.url, leaver, CreateGroup, { name: 'leave me' })).createGroup.group.id;
    await ok(server.url, leaver, Send, { groupId: id, body: 'x', clientMessageId: 'x' });
    const result = await request(server.url, leaver, RemoveMember, { groupId: id, userId: 'leaver' });
    expect(codes(result)).toEqual(['FORBIDDEN']);
  });
});

describe('nodes on connections', () => {
  it('lists the nodes of the edges, in order, on groups, members and messages', async () => {
    const data = await ok(server.url, bob, ConnectionNodes, { groupId });
    expect(data.groups.nodes).toEqual(data.groups.edges.map((edge) => edge.node));
    expect(data.groups.nodes.length).toBeGreaterThan(0);
    expect(data.group?.members.nodes).toEqual(data.group?.members.edges.map((edge) => edge.node));
    expect(data.group?.members.nodes.map((node) => node.id)).toEqual(['alice', 'bob']);
    const { messages } = await ok(server.url, bob, BothHistories, { groupId, last: 4 });
    expect(messages.nodes).toEqual(messages.edges.map((edge) => edge.node));
  });
});

describe('Message.cursor', () => {
  it('is the cursor of the message’s edge in history, for every message', async () => {
    const { messages } = await ok(server.url, bob, BothHistories, { groupId, first: 100 });
    for (const edge of messages.edges) expect(edge.node.cursor).toBe(edge.cursor);
    expect(messages.edges.map((edge) => edge.cursor)).toEqual(sent.map((m) => m.cursor));
  });

  it('comes with a streamed message, and pages older and newer from it', async () => {
    const subscription = collect(wsClient(server, bob), Streamed, { groupId });
    // The subscription is live once a send made after it arrives: probe until one does.
    let next = sent.length;
    while (subscription.results.length === 0) {
      next += 1;
      await ok(server.url, alice, Send, { groupId, body: 'probe', clientMessageId: `p${next}` });
      await subscription.until((results) => results.length > 0, 500).catch(() => {});
    }
    const streamed = subscription.results.at(-1)?.data?.messageAdded;
    expect(streamed?.seq).toBe(next);
    next += 1;
    await ok(server.url, alice, Send, { groupId, body: 'after', clientMessageId: `p${next}` });
    const older = await ok(server.url, bob, BothHistories, { groupId, last: 2, before: streamed?.cursor as string });
    expect(older.messages.nodes.map((node) => node.seq)).toEqual([next - 3, next - 2]);
    const newer = await ok(server.url, bob, BothHistories, { groupId, first: 10, after: streamed?.cursor as string });
    expect(newer.messages.nodes.map((node) => node.seq)).toEqual([next]);
    const history = await ok(server.url, bob, BothHistories, { groupId, first: 100 });
    expect(history.messages.edges.find((edge) => edge.node.id === streamed?.id)?.cursor).toBe(streamed?.cursor);
    subscription.unsubscribe();
  });
});

describe('Query.nodes', () => {
  it('resolves mixed ids in the order asked, with null for unknown ids, as node(id) does one by one', async () => {
    const ids = [sent[2]?.id as string, groupId, 'alice'];
    const { nodes } = await ok(server.url, bob, Nodes, { ids });
    expect(nodes).toEqual([
      { __typename: 'Message', id: sent[2]?.id, seq: 3 },
      { __typename: 'Group', id: groupId, name: 'additions' },
      { __typename: 'User', id: 'alice' },
    ]);
    for (const [index, id] of ids.entries()) {
      expect((await ok(server.url, bob, NodeOne, { id })).node?.__typename).toBe(nodes[index]?.__typename);
    }
    // A user that no token or group ever named does not exist.
    const unknown = await ok(server.url, bob, Nodes, { ids: ['g_nothing', 'm_nothing', 'nobody'] });
    expect(unknown.nodes).toEqual([null, null, null]);
  });

  it("resolves a user whose sub starts like a group's or a message's id, when no such group or message exists", async () => {
    // Subs are whatever the token issuer chose: only the prefix of ids the server mints is its own.
    for (const id of ['g_lookalike', 'm_lookalike']) {
      await ok(server.url, await server.token(id, 'Look Alike'), NodeOne, { id });
      const { nodes } = await ok(server.url, bob, Nodes, { ids: [id] });
      expect(nodes).toEqual([{ __typename: 'User', id }]);
      expect((await ok(server.url, bob, NodeOne, { id })).node).toEqual({ __typename: 'User', id });
    }
  });

  it('answers FORBIDDEN at the index of a group the viewer is not in, and resolves the others', async () => {
    const result = await request(server.url, carol, Nodes, { ids: ['carol', groupId, sent[0]?.id as string] });
    expect(result.data?.nodes).toEqual([{ __typename: 'User', id: 'carol' }, null, null]);
    const errors = (result.errors ?? []).map((error) => [error.extensions?.['code'], error.path]);
    expect(errors.sort((a, b) => String(a[1]).localeCompare(String(b[1])))).toEqual([
      ['FORBIDDEN', ['nodes', 1]],
      ['FORBIDDEN', ['nodes', 2]],
    ]);
  });

  it('accepts exactly maxNodeIds ids and rejects one more with BAD_USER_INPUT and the limit', async () => {
    const atLimit = await ok(server.url, bob, Nodes, { ids: ['alice', 'bob', groupId] });
    expect(atLimit.nodes).toHaveLength(3);
    const over = await request(server.url, bob, Nodes, { ids: ['alice', 'bob', groupId, 'carol'] });
    expect(codes(over)).toEqual(['BAD_USER_INPUT']);
    expect(over.errors?.[0]?.extensions).toMatchObject({ field: 'ids', limit: 3 });
    expect(over.data).toBeNull();
  });

  it('is UNAUTHENTICATED without a token', async () => {
    expect(codes(await request(server.url, null, Nodes, { ids: ['alice'] }))).toEqual(['UNAUTHENTICATED']);
  });
});
