/**
 * End-to-end HTTP tests of the public contract (everything but subscriptions): real servers on
 * port 0, real fetch, typed operations. Each behaviour is asserted at its edges, and every
 * rejected input is checked to have changed nothing.
 *
 * Long on purpose: one `describe.each` over the backends starts one server per backend that
 * every block shares; split into files, each would start its own servers and repeat the
 * operations and helpers declared at the top.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql, type DocumentType } from './gql/index.ts';
import type { ApiMessagesQueryVariables } from './gql/graphql.ts';
import {
  backends,
  backendTitle,
  codes,
  ok,
  request,
  startServer,
  type Result,
  type TestServer,
} from './support/server.ts';
import { disposeAll } from './support/dispose.ts';
import { sleep } from './support/wait.ts';

// --- operations --------------------------------------------------------------------------------

const PageInfoFragment = graphql(`
  fragment ApiPageInfo on PageInfo {
    hasNextPage
    hasPreviousPage
    startCursor
    endCursor
  }
`);

const GroupFieldsFragment = graphql(`
  fragment ApiGroupFields on Group {
    id
    name
    createdAt
    memberCount
    lastSeq
    lastReadSeq
    unreadCount
    owner {
      id
      name
    }
    lastMessage {
      id
      seq
      body
      sender {
        id
      }
    }
  }
`);

const MessageFieldsFragment = graphql(`
  fragment ApiMessageFields on Message {
    id
    seq
    body
    clientMessageId
    groupId
    createdAt
    sender {
      id
      name
    }
    group {
      id
      lastSeq
    }
  }
`);

type PageInfo = DocumentType<typeof PageInfoFragment>;
type GroupFields = DocumentType<typeof GroupFieldsFragment>;
type MessageFields = DocumentType<typeof MessageFieldsFragment>;

const ViewerQuery = graphql(`
  query ApiViewer {
    viewer {
      id
      name
    }
  }
`);

const IntrospectionQuery = graphql(`
  query ApiIntrospection {
    __schema {
      queryType {
        name
      }
    }
  }
`);

const NodeQuery = graphql(`
  query ApiNode($id: ID!) {
    node(id: $id) {
      __typename
      id
      ... on User {
        name
      }
      ... on Group {
        groupName: name
        memberCount
      }
      ... on Message {
        seq
        body
        groupId
      }
    }
  }
`);

const GroupQuery = graphql(`
  query ApiGroup($id: ID!) {
    group(id: $id) {
      ...ApiGroupFields
    }
  }
`);

const GroupsQuery = graphql(`
  query ApiGroups($first: Int, $after: String) {
    groups(first: $first, after: $after) {
      edges {
        cursor
        node {
          ...ApiGroupFields
        }
      }
      pageInfo {
        ...ApiPageInfo
      }
    }
  }
`);

const MembersQuery = graphql(`
  query ApiMembers($id: ID!, $first: Int, $after: String) {
    group(id: $id) {
      id
      members(first: $first, after: $after) {
        edges {
          cursor
          node {
            id
            name
          }
        }
        pageInfo {
          ...ApiPageInfo
        }
      }
    }
  }
`);

const MessagesQuery = graphql(`
  query ApiMessages($groupId: ID!, $first: Int, $after: String, $last: Int, $before: String, $afterSeq: Int) {
    messages(groupId: $groupId, first: $first, after: $after, last: $last, before: $before, afterSeq: $afterSeq) {
      edges {
        cursor
        node {
          ...ApiMessageFields
        }
      }
      pageInfo {
        ...ApiPageInfo
      }
    }
  }
`);

const CreateGroupMutation = graphql(`
  mutation ApiCreateGroup($input: CreateGroupInput!) {
    createGroup(input: $input) {
      group {
        ...ApiGroupFields
      }
    }
  }
`);

const AddMembersMutation = graphql(`
  mutation ApiAddGroupMembers($input: AddGroupMembersInput!) {
    addGroupMembers(input: $input) {
      group {
        ...ApiGroupFields
      }
    }
  }
`);

const RemoveMemberMutation = graphql(`
  mutation ApiRemoveGroupMember($input: RemoveGroupMemberInput!) {
    removeGroupMember(input: $input) {
      group {
        id
        memberCount
      }
    }
  }
`);

const SendMutation = graphql(`
  mutation ApiSendGroupMessage($input: SendGroupMessageInput!) {
    sendGroupMessage(input: $input) {
      created
      message {
        ...ApiMessageFields
      }
    }
  }
`);

const MarkReadMutation = graphql(`
  mutation ApiMarkGroupRead($input: MarkGroupReadInput!) {
    markGroupRead(input: $input) {
      group {
        ...ApiGroupFields
      }
    }
  }
`);

// --- helpers ---------------------------------------------------------------------------------------

let counter = 0;
/** A fresh id, so that tests sharing a server never see each other's users or groups. */
const unique = (prefix: string): string => `${prefix}-${(counter += 1)}-${randomUUID().slice(0, 8)}`;

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

const seqsOf = (connection: { readonly edges: readonly { readonly node: { readonly seq: number } }[] }): number[] =>
  connection.edges.map((edge) => edge.node.seq);

/** Nothing internal may reach a client: no stack, no original error, no source path. */
function expectNothingLeaked(result: Result<unknown>): void {
  const text = JSON.stringify(result.errors ?? []);
  expect(text).not.toMatch(/stack|originalError|RangeError|TypeError|\.ts:\d|node_modules|SQLITE/i);
}

/** The request failed with exactly one error of this code, and leaked nothing. */
function expectCode(result: Result<unknown>, code: string): void {
  expect(codes(result)).toEqual([code]);
  expectNothingLeaked(result);
}

interface Person {
  readonly id: string;
  readonly token: string;
}

type MessagesArgs = Omit<ApiMessagesQueryVariables, 'groupId'>;

/** The operations of the tests, bound to one server. */
function clientOf(server: TestServer) {
  const { url } = server;
  return {
    async person(prefix = 'user', name: string | null = null): Promise<Person> {
      const id = unique(prefix);
      return { id, token: await server.token(id, name) };
    },
    async createGroup(owner: Person, name = unique('group'), memberIds: readonly string[] = []): Promise<GroupFields> {
      const data = await ok(url, owner.token, CreateGroupMutation, { input: { name, memberIds: [...memberIds] } });
      return data.createGroup.group;
    },
    async send(
      sender: Person,
      groupId: string,
      body = 'hello',
      clientMessageId: string = randomUUID(),
    ): Promise<{ readonly created: boolean; readonly message: MessageFields }> {
      const data = await ok(url, sender.token, SendMutation, { input: { groupId, body, clientMessageId } });
      return data.sendGroupMessage;
    },
    async group(viewer: Person, id: string): Promise<GroupFields> {
      const data = await ok(url, viewer.token, GroupQuery, { id });
      if (data.group === null) throw new Error(`group ${id} is null`);
      return data.group;
    },
    async messages(viewer: Person, groupId: string, args: MessagesArgs = {}) {
      return (await ok(url, viewer.token, MessagesQuery, { groupId, ...args })).messages;
    },
    async groupIds(viewer: Person): Promise<string[]> {
      const data = await ok(url, viewer.token, GroupsQuery, { first: 100 });
      return data.groups.edges.map((edge) => edge.node.id);
    },
    async memberIds(viewer: Person, groupId: string): Promise<string[]> {
      const data = await ok(url, viewer.token, MembersQuery, { id: groupId, first: 100 });
      return (data.group?.members.edges ?? []).map((edge) => edge.node.id);
    },
  };
}

type Client = ReturnType<typeof clientOf>;

afterAll(disposeAll);

describe.each(backends)('HTTP API', (backend) => {
  describe.skipIf(backend.skipReason !== null)(backendTitle(backend), () => {
    let server: TestServer;
    let api: Client;

    beforeAll(async () => {
      server = await startServer({ backend });
      api = clientOf(server);
    });

    // --- auth --------------------------------------------------------------------------------------

    describe('auth', () => {
      /** One call of every root field, each valid but for the token. */
      const rootCalls = (groupId: string) =>
        [
          ['viewer', (token: string | null) => request(server.url, token, ViewerQuery)],
          ['node', (token: string | null) => request(server.url, token, NodeQuery, { id: groupId })],
          ['group', (token: string | null) => request(server.url, token, GroupQuery, { id: groupId })],
          ['groups', (token: string | null) => request(server.url, token, GroupsQuery, { first: 10 })],
          ['messages', (token: string | null) => request(server.url, token, MessagesQuery, { groupId, last: 10 })],
          ['createGroup', (token: string | null) => request(server.url, token, CreateGroupMutation, { input: { name: 'x' } })],
          [
            'addGroupMembers',
            (token: string | null) =>
              request(server.url, token, AddMembersMutation, { input: { groupId, userIds: ['someone'] } }),
          ],
          [
            'removeGroupMember',
            (token: string | null) =>
              request(server.url, token, RemoveMemberMutation, { input: { groupId, userId: 'someone' } }),
          ],
          [
            'sendGroupMessage',
            (token: string | null) =>
              request(server.url, token, SendMutation, { input: { groupId, body: 'x', clientMessageId: randomUUID() } }),
          ],
          [
            'markGroupRead',
            (token: string | null) => request(server.url, token, MarkReadMutation, { input: { groupId, seq: 0 } }),
          ],
        ] as const;

      it('answers UNAUTHENTICATED on every root field without a valid token, and changes nothing', async () => {
        const owner = await api.person('owner');
        const group = await api.createGroup(owner);
        const secret = new TextEncoder().encode(server.config.jwtSecret as string);
        const otherSecret = new TextEncoder().encode(randomBytes(32).toString('base64url'));
        const header = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
        const badTokens: readonly [string, string | null][] = [
          ['missing', null],
          ['malformed', 'not-a-jwt'],
          ['three garbage parts', 'abc.def.ghi'],
          [
            'signed with another secret',
            await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(owner.id).setExpirationTime('1h').sign(otherSecret),
          ],
          ['expired', await server.token(owner.id, null, '-1s')],
          [
            'expired (crafted)',
            await new SignJWT({})
              .setProtectedHeader({ alg: 'HS256' })
              .setSubject(owner.id)
              .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
              .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
              .sign(secret),
          ],
          ['unsigned (alg none)', `${header({ alg: 'none' })}.${header({ sub: owner.id })}.`],
          ['without sub', await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(secret)],
        ];
        for (const [tokenName, token] of badTokens) {
          for (const [field, call] of rootCalls(group.id)) {
            const result = await call(token);
            expect({ tokenName, field, codes: codes(result) }).toEqual({ tokenName, field, codes: ['UNAUTHENTICATED'] });
            // Non-null root fields null the whole data; nullable ones (node, group) are null themselves.
            expect(Object.values(result.data ?? {}).filter((value) => value !== null)).toEqual([]);
            expectNothingLeaked(result);
          }
        }
        const after = await api.group(owner, group.id);
        expect(after).toEqual(group);
        expect(await api.memberIds(owner, group.id)).toEqual([owner.id]);
      });

      it('serves introspection without a token', async () => {
        const result = await request(server.url, null, IntrospectionQuery);
        expect(result.errors).toBeUndefined();
        expect(result.data?.__schema.queryType.name).toBe('Query');
      });

      it('returns the sub exactly as issued, and the name of the newest token', async () => {
        const id = `auth0|abc:123/é ${unique('ü')}+%2F`;
        const first = await server.token(id, 'Ann');
        expect((await ok(server.url, first, ViewerQuery)).viewer).toEqual({ id, name: 'Ann' });

        const other = await api.person('other');
        const group = await api.createGroup({ id, token: first }, 'named', [other.id]);
        expect(group.owner).toEqual({ id, name: 'Ann' });
        const node = (await ok(server.url, other.token, NodeQuery, { id })).node;
        expect(node).toEqual({ __typename: 'User', id, name: 'Ann' });

        const renamed = await server.token(id, 'Annie');
        expect((await ok(server.url, renamed, ViewerQuery)).viewer).toEqual({ id, name: 'Annie' });
        // Others see the new name too.
        expect((await api.group(other, group.id)).owner).toEqual({ id, name: 'Annie' });
        expect((await ok(server.url, other.token, NodeQuery, { id })).node).toEqual({ __typename: 'User', id, name: 'Annie' });
        const sent = await api.send({ id, token: renamed }, group.id);
        expect(sent.message.sender).toEqual({ id, name: 'Annie' });

        // A token without a name claim keeps the last name given, and every view of the user agrees.
        const nameless = await server.token(id, null);
        expect((await ok(server.url, nameless, ViewerQuery)).viewer).toEqual({ id, name: 'Annie' });
        expect((await ok(server.url, other.token, NodeQuery, { id })).node).toEqual({ __typename: 'User', id, name: 'Annie' });
      });
    });

    // --- groups ----------------------------------------------------------------------------------

    describe('createGroup', () => {
      it('makes the creator the owner, counts each member once, trims the name', async () => {
        const owner = await api.person('owner', 'Olga');
        const [b, c] = [await api.person('b'), await api.person('c')];
        const before = Date.now();
        const group = await api.createGroup(owner, '  Team  ', [owner.id, b.id, b.id, c.id, c.id]);
        expect(group).toMatchObject({
          name: 'Team',
          owner: { id: owner.id, name: 'Olga' },
          memberCount: 3,
          lastSeq: 0,
          lastReadSeq: 0,
          unreadCount: 0,
          lastMessage: null,
        });
        expect(new Date(group.createdAt).toISOString()).toBe(group.createdAt);
        expect(Date.parse(group.createdAt)).toBeGreaterThanOrEqual(before - 1000);
        expect(await api.memberIds(owner, group.id)).toEqual([owner.id, b.id, c.id].sort());
        // Every member sees the group.
        expect(await api.groupIds(b)).toEqual([group.id]);
        expect(await api.groupIds(c)).toEqual([group.id]);
        expect((await api.group(c, group.id)).memberCount).toBe(3);
      });

      it('accepts a name of exactly maxGroupNameLength code points and rejects longer or blank names', async () => {
        const owner = await api.person('owner');
        const member = await api.person('member');
        const max = server.config.limits.maxGroupNameLength;
        const created: string[] = [];
        created.push((await api.createGroup(owner, 'x'.repeat(max))).id);
        // Code points, not UTF-16 units: max emoji are 2·max units.
        const emoji = await api.createGroup(owner, '😀'.repeat(max));
        expect(emoji.name).toBe('😀'.repeat(max));
        created.push(emoji.id);
        // Trimmed before measuring.
        const padded = await api.createGroup(owner, `  ${'y'.repeat(max)}  `);
        expect(padded.name).toBe('y'.repeat(max));
        created.push(padded.id);

        for (const name of ['x'.repeat(max + 1), '😀'.repeat(max + 1), '', '   ', '\t\n ']) {
          const result = await request(server.url, owner.token, CreateGroupMutation, {
            input: { name, memberIds: [member.id] },
          });
          expectCode(result, 'BAD_USER_INPUT');
          expect(result.data ?? null).toBeNull();
        }
        expect((await api.groupIds(owner)).sort()).toEqual(created.sort());
        expect(await api.groupIds(member)).toEqual([]);
      });

      it('rejects user ids that are empty or longer than maxUserIdLength', async () => {
        const owner = await api.person('owner');
        const max = server.config.limits.maxUserIdLength;
        const longest = `${unique('u')}${'x'.repeat(max)}`.slice(0, max);
        const group = await api.createGroup(owner, 'ids', [longest]);
        expect(await api.memberIds(owner, group.id)).toEqual([owner.id, longest].sort());
        for (const bad of ['', `${longest}x`]) {
          expectCode(
            await request(server.url, owner.token, CreateGroupMutation, { input: { name: 'bad', memberIds: [bad] } }),
            'BAD_USER_INPUT',
          );
        }
        expect(await api.groupIds(owner)).toEqual([group.id]);
      });
    });

    describe('with maxMembersPerCall: 3', () => {
      let small: TestServer;
      let smallApi: Client;
      beforeAll(async () => {
        small = await startServer({ backend, limits: { maxMembersPerCall: 3 } });
        smallApi = clientOf(small);
      });

      it('rejects a createGroup or addGroupMembers naming more users than that, changing nothing', async () => {
        const owner = await smallApi.person('owner');
        const ids = [unique('a'), unique('b'), unique('c'), unique('d')];
        const result = await request(small.url, owner.token, CreateGroupMutation, { input: { name: 'big', memberIds: ids } });
        expectCode(result, 'BAD_USER_INPUT');
        expect(result.errors?.[0]?.extensions?.['limit']).toBe(3);
        expect(await smallApi.groupIds(owner)).toEqual([]);

        const group = await smallApi.createGroup(owner, 'three', ids.slice(0, 3));
        expect(group.memberCount).toBe(4);
        expectCode(
          await request(small.url, owner.token, AddMembersMutation, {
            input: { groupId: group.id, userIds: [unique('e'), unique('f'), unique('g'), unique('h')] },
          }),
          'BAD_USER_INPUT',
        );
        expect((await smallApi.group(owner, group.id)).memberCount).toBe(4);
        const added = await ok(small.url, owner.token, AddMembersMutation, {
          input: { groupId: group.id, userIds: [unique('e'), unique('f'), unique('g')] },
        });
        expect(added.addGroupMembers.group.memberCount).toBe(7);
      });
    });

    describe('with maxGroupMembers: 4', () => {
      let small: TestServer;
      let smallApi: Client;
      beforeAll(async () => {
        small = await startServer({ backend, limits: { maxGroupMembers: 4 } });
        smallApi = clientOf(small);
      });

      it('creates a group of exactly the maximum and refuses one more, creating nothing', async () => {
        const owner = await smallApi.person('owner');
        const others = [unique('a'), unique('b'), unique('c')];
        const full = await smallApi.createGroup(owner, 'full', [owner.id, ...others, ...others]);
        expect(full.memberCount).toBe(4);

        const extra = unique('d');
        const result = await request(small.url, owner.token, CreateGroupMutation, {
          input: { name: 'too big', memberIds: [...others, extra] },
        });
        expectCode(result, 'BAD_USER_INPUT');
        expect(await smallApi.groupIds(owner)).toEqual([full.id]);
        const d: Person = { id: extra, token: await small.token(extra) };
        expect(await smallApi.groupIds(d)).toEqual([]);
      });

      it('adds up to the maximum and refuses one more, changing nothing', async () => {
        const owner = await smallApi.person('owner');
        const group = await smallApi.createGroup(owner, 'growing', [unique('a')]);
        const [b, c, d] = [await smallApi.person('b'), await smallApi.person('c'), await smallApi.person('d')];
        const added = await ok(small.url, owner.token, AddMembersMutation, { input: { groupId: group.id, userIds: [b.id, c.id] } });
        expect(added.addGroupMembers.group.memberCount).toBe(4);

        const result = await request(small.url, owner.token, AddMembersMutation, { input: { groupId: group.id, userIds: [d.id] } });
        expectCode(result, 'BAD_USER_INPUT');
        expect((await smallApi.group(owner, group.id)).memberCount).toBe(4);
        expect(await smallApi.memberIds(owner, group.id)).not.toContain(d.id);
        expectCode(await request(small.url, d.token, GroupQuery, { id: group.id }), 'FORBIDDEN');

        // Naming people who are already members adds nobody, so it is no error at the maximum.
        const again = await ok(small.url, b.token, AddMembersMutation, { input: { groupId: group.id, userIds: [c.id, owner.id] } });
        expect(again.addGroupMembers.group.memberCount).toBe(4);
      });
    });

    describe('addGroupMembers', () => {
      it('lets any member add members, ignoring duplicates and existing members', async () => {
        const owner = await api.person('owner');
        const member = await api.person('member');
        const group = await api.createGroup(owner, 'add', [member.id]);
        const [x, y] = [await api.person('x'), await api.person('y')];
        const data = await ok(server.url, member.token, AddMembersMutation, {
          input: { groupId: group.id, userIds: [x.id, x.id, y.id, owner.id, member.id] },
        });
        expect(data.addGroupMembers.group.memberCount).toBe(4);
        expect(data.addGroupMembers.group.id).toBe(group.id);
        expect(await api.memberIds(owner, group.id)).toEqual([owner.id, member.id, x.id, y.id].sort());
        expect(await api.groupIds(x)).toEqual([group.id]);
      });

      it('is FORBIDDEN to a non-member and NOT_FOUND on a missing group', async () => {
        const owner = await api.person('owner');
        const group = await api.createGroup(owner);
        const outsider = await api.person('outsider');
        const friend = await api.person('friend');
        expectCode(
          await request(server.url, outsider.token, AddMembersMutation, {
            input: { groupId: group.id, userIds: [outsider.id, friend.id] },
          }),
          'FORBIDDEN',
        );
        expect((await api.group(owner, group.id)).memberCount).toBe(1);
        expect(await api.memberIds(owner, group.id)).toEqual([owner.id]);
        expect(await api.groupIds(friend)).toEqual([]);

        expectCode(
          await request(server.url, owner.token, AddMembersMutation, {
            input: { groupId: `g_${randomUUID().replaceAll('-', '')}`, userIds: [friend.id] },
          }),
          'NOT_FOUND',
        );
        expect(await api.groupIds(friend)).toEqual([]);
      });
    });

    describe('removeGroupMember', () => {
      it('lets the owner remove anyone, and the removed member loses access at once', async () => {
        const owner = await api.person('owner');
        const b = await api.person('b');
        const group = await api.createGroup(owner, 'remove', [b.id]);
        await api.send(b, group.id, 'before removal');
        const data = await ok(server.url, owner.token, RemoveMemberMutation, { input: { groupId: group.id, userId: b.id } });
        expect(data.removeGroupMember.group).toEqual({ id: group.id, memberCount: 1 });
        expect(await api.memberIds(owner, group.id)).toEqual([owner.id]);
        expect(await api.groupIds(b)).toEqual([]);

        expectCode(await request(server.url, b.token, GroupQuery, { id: group.id }), 'FORBIDDEN');
        expectCode(await request(server.url, b.token, MessagesQuery, { groupId: group.id, last: 10 }), 'FORBIDDEN');
        expectCode(
          await request(server.url, b.token, SendMutation, {
            input: { groupId: group.id, body: 'after removal', clientMessageId: randomUUID() },
          }),
          'FORBIDDEN',
        );
        expectCode(await request(server.url, b.token, MarkReadMutation, { input: { groupId: group.id, seq: 1 } }), 'FORBIDDEN');
        expect((await api.group(owner, group.id)).lastSeq).toBe(1);
      });

      it('lets a member remove themselves but not others', async () => {
        const owner = await api.person('owner');
        const [b, c] = [await api.person('b'), await api.person('c')];
        const group = await api.createGroup(owner, 'leave', [b.id, c.id]);

        expectCode(
          await request(server.url, b.token, RemoveMemberMutation, { input: { groupId: group.id, userId: c.id } }),
          'FORBIDDEN',
        );
        expectCode(
          await request(server.url, b.token, RemoveMemberMutation, { input: { groupId: group.id, userId: owner.id } }),
          'FORBIDDEN',
        );
        expect(await api.memberIds(owner, group.id)).toEqual([owner.id, b.id, c.id].sort());

        const left = await ok(server.url, c.token, RemoveMemberMutation, { input: { groupId: group.id, userId: c.id } });
        expect(left.removeGroupMember.group).toEqual({ id: group.id, memberCount: 2 });
        expect(await api.memberIds(owner, group.id)).toEqual([owner.id, b.id].sort());
        expectCode(await request(server.url, c.token, GroupQuery, { id: group.id }), 'FORBIDDEN');
      });

      it('is NOT_FOUND for a user who is not a member, changing nothing', async () => {
        const owner = await api.person('owner');
        const b = await api.person('b');
        const group = await api.createGroup(owner, 'nf', [b.id]);
        const stranger = await api.person('stranger');
        expectCode(
          await request(server.url, owner.token, RemoveMemberMutation, { input: { groupId: group.id, userId: stranger.id } }),
          'NOT_FOUND',
        );
        await ok(server.url, owner.token, RemoveMemberMutation, { input: { groupId: group.id, userId: b.id } });
        expectCode(
          await request(server.url, owner.token, RemoveMemberMutation, { input: { groupId: group.id, userId: b.id } }),
          'NOT_FOUND',
        );
        expect((await api.group(owner, group.id)).memberCount).toBe(1);
      });
    });

    // --- non-members and node ------------------------------------------------------------------

    describe('non-members and node', () => {
      it('denies a non-member everything about a group with FORBIDDEN and changes nothing', async () => {
        const owner = await api.person('owner');
        const group = await api.createGroup(owner, 'private');
        const { message } = await api.send(owner, group.id, 'secret');
        const outsider = await api.person('outsider');

        const send = await request(server.url, outsider.token, SendMutation, {
          input: { groupId: group.id, body: 'intrusion', clientMessageId: randomUUID() },
        });
        expectCode(send, 'FORBIDDEN');
        const history = await request(server.url, outsider.token, MessagesQuery, { groupId: group.id, first: 10 });
        expectCode(history, 'FORBIDDEN');
        const byId = await request(server.url, outsider.token, GroupQuery, { id: group.id });
        expectCode(byId, 'FORBIDDEN');
        expect(byId.data?.group ?? null).toBeNull();
        const groupNode = await request(server.url, outsider.token, NodeQuery, { id: group.id });
        expectCode(groupNode, 'FORBIDDEN');
        expect(groupNode.data?.node ?? null).toBeNull();
        const messageNode = await request(server.url, outsider.token, NodeQuery, { id: message.id });
        expectCode(messageNode, 'FORBIDDEN');
        expect(messageNode.data?.node ?? null).toBeNull();
        expectCode(
          await request(server.url, outsider.token, MarkReadMutation, { input: { groupId: group.id, seq: 1 } }),
          'FORBIDDEN',
        );
        for (const result of [send, history, byId, groupNode, messageNode]) {
          expect(JSON.stringify(result)).not.toContain('secret');
        }

        const after = await api.group(owner, group.id);
        expect(after).toMatchObject({ lastSeq: 1, memberCount: 1, lastMessage: { id: message.id, body: 'secret' } });
        expect(seqsOf(await api.messages(owner, group.id, { first: 10 }))).toEqual([1]);
        expect(await api.groupIds(outsider)).toEqual([]);
      });

      it('answers null, without an error, for a missing group or an unknown node id', async () => {
        const viewer = await api.person('viewer');
        const missing = await request(server.url, viewer.token, GroupQuery, { id: `g_${randomUUID().replaceAll('-', '')}` });
        expect(missing).toEqual({ data: { group: null } });
        for (const id of [`g_${randomUUID()}`, `m_${randomUUID()}`, unique('nobody'), '']) {
          expect(await request(server.url, viewer.token, NodeQuery, { id })).toEqual({ data: { node: null } });
        }
        expectCode(
          await request(server.url, viewer.token, SendMutation, {
            input: { groupId: `g_${randomUUID()}`, body: 'x', clientMessageId: randomUUID() },
          }),
          'NOT_FOUND',
        );
      });

      it('resolves users, groups and messages by id with their __typename', async () => {
        const owner = await api.person('owner', 'Oskar');
        const other = await api.person('other');
        const group = await api.createGroup(owner, 'nodes', [other.id]);
        const { message } = await api.send(owner, group.id, 'by id');

        expect((await ok(server.url, other.token, NodeQuery, { id: owner.id })).node).toEqual({
          __typename: 'User',
          id: owner.id,
          name: 'Oskar',
        });
        expect((await ok(server.url, other.token, NodeQuery, { id: group.id })).node).toEqual({
          __typename: 'Group',
          id: group.id,
          groupName: 'nodes',
          memberCount: 2,
        });
        expect((await ok(server.url, other.token, NodeQuery, { id: message.id })).node).toEqual({
          __typename: 'Message',
          id: message.id,
          seq: 1,
          body: 'by id',
          groupId: group.id,
        });
      });
    });

    // --- sendGroupMessage ---------------------------------------------------------------------------

    describe('sendGroupMessage', () => {
      it('returns the committed message', async () => {
        const sender = await api.person('sender', 'Sam');
        const group = await api.createGroup(sender, 'send');
        const clientMessageId = randomUUID();
        const before = Date.now();
        const result = await api.send(sender, group.id, 'first words', clientMessageId);
        expect(result.created).toBe(true);
        expect(result.message).toMatchObject({
          seq: 1,
          body: 'first words',
          clientMessageId,
          groupId: group.id,
          sender: { id: sender.id, name: 'Sam' },
          group: { id: group.id, lastSeq: 1 },
        });
        expect(result.message.id).not.toBe('');
        expect(new Date(result.message.createdAt).toISOString()).toBe(result.message.createdAt);
        expect(Date.parse(result.message.createdAt)).toBeGreaterThanOrEqual(before - 1000);
        expect(Date.parse(result.message.createdAt)).toBeLessThanOrEqual(Date.now() + 1000);
        const second = await api.send(sender, group.id, 'second words');
        expect(second.message.seq).toBe(2);
        expect(await api.group(sender, group.id)).toMatchObject({
          lastSeq: 2,
          lastMessage: { id: second.message.id, seq: 2, body: 'second words', sender: { id: sender.id } },
        });
      });

      it('numbers concurrent sends 1..n with no gap and no duplicate', async () => {
        const senders = await Promise.all(range(1, 5).map(() => api.person('concurrent')));
        const group = await api.createGroup(senders[0] as Person, 'race', senders.map((s) => s.id));
        const perSender = 8;
        const results = await Promise.all(
          senders.flatMap((sender) => range(1, perSender).map((i) => api.send(sender, group.id, `${sender.id} #${i}`))),
        );
        const total = senders.length * perSender;
        expect(results.every((r) => r.created)).toBe(true);
        expect(results.map((r) => r.message.seq).sort((a, b) => a - b)).toEqual(range(1, total));
        expect(new Set(results.map((r) => r.message.id)).size).toBe(total);
        expect((await api.group(senders[1] as Person, group.id)).lastSeq).toBe(total);

        const history = await api.messages(senders[2] as Person, group.id, { first: 100 });
        expect(seqsOf(history)).toEqual(range(1, total));
        const bySeq = new Map(results.map((r) => [r.message.seq, r.message]));
        for (const edge of history.edges) {
          const sent = bySeq.get(edge.node.seq);
          expect({ id: edge.node.id, body: edge.node.body }).toEqual({ id: sent?.id, body: sent?.body });
        }
      });

      it('returns the original for a retry with the same clientMessageId, per sender and group', async () => {
        const a = await api.person('a');
        const b = await api.person('b');
        const group = await api.createGroup(a, 'retry', [b.id]);
        const otherGroup = await api.createGroup(a, 'retry 2', [b.id]);
        const clientMessageId = randomUUID();

        const original = await api.send(a, group.id, 'once', clientMessageId);
        const retry = await api.send(a, group.id, 'once (changed on retry)', clientMessageId);
        expect(retry.created).toBe(false);
        expect(retry.message).toEqual(original.message);
        expect((await api.group(a, group.id)).lastSeq).toBe(1);

        const byOther = await api.send(b, group.id, 'same id, other sender', clientMessageId);
        expect(byOther.created).toBe(true);
        expect(byOther.message.seq).toBe(2);
        expect(byOther.message.id).not.toBe(original.message.id);

        const inOtherGroup = await api.send(a, otherGroup.id, 'same id, other group', clientMessageId);
        expect(inOtherGroup.created).toBe(true);
        expect(inOtherGroup.message).toMatchObject({ seq: 1, groupId: otherGroup.id });

        // Concurrent retries still store one message.
        const again = randomUUID();
        const racing = await Promise.all(range(1, 5).map(() => api.send(a, group.id, 'racing retry', again)));
        expect(racing.filter((r) => r.created)).toHaveLength(1);
        expect(new Set(racing.map((r) => r.message.id)).size).toBe(1);
        expect(racing[0]?.message.seq).toBe(3);
        expect((await api.group(a, group.id)).lastSeq).toBe(3);
        expect(seqsOf(await api.messages(a, group.id, { first: 10 }))).toEqual([1, 2, 3]);
      });

      it('accepts bodies and clientMessageIds up to their limits in code points and rejects the rest, storing nothing', async () => {
        const sender = await api.person('sender');
        const group = await api.createGroup(sender, 'edges');
        const maxBody = server.config.limits.maxBodyLength;
        const maxId = server.config.limits.maxClientMessageIdLength;

        const ascii = await api.send(sender, group.id, 'b'.repeat(maxBody));
        expect(ascii.message.body).toHaveLength(maxBody);
        // Emoji are two UTF-16 units each: the limit counts code points.
        const emoji = '😀'.repeat(maxBody);
        const sentEmoji = await api.send(sender, group.id, emoji);
        expect(sentEmoji.message.body).toBe(emoji);
        const longId = await api.send(sender, group.id, 'id at the limit', 'i'.repeat(maxId));
        expect(longId.message.clientMessageId).toBe('i'.repeat(maxId));
        const emojiId = await api.send(sender, group.id, 'emoji id at the limit', '🔑'.repeat(maxId));
        expect(emojiId.message.clientMessageId).toBe('🔑'.repeat(maxId));
        const messagesBefore = await api.messages(sender, group.id, { first: 100 });
        expect(seqsOf(messagesBefore)).toEqual([1, 2, 3, 4]);

        const bad: readonly [string, string, string][] = [
          ['body', 'b'.repeat(maxBody + 1), randomUUID()],
          ['body', `${emoji}😀`, randomUUID()],
          ['body', '', randomUUID()],
          ['body', '   ', randomUUID()],
          ['body', ' \n\t \u00a0', randomUUID()],
          ['clientMessageId', 'fine', 'i'.repeat(maxId + 1)],
          ['clientMessageId', 'fine', '🔑'.repeat(maxId + 1)],
          ['clientMessageId', 'fine', ''],
        ];
        for (const [field, body, clientMessageId] of bad) {
          const result = await request(server.url, sender.token, SendMutation, { input: { groupId: group.id, body, clientMessageId } });
          expectCode(result, 'BAD_USER_INPUT');
          expect(result.errors?.[0]?.extensions?.['field']).toBe(field);
        }
        expect((await api.group(sender, group.id)).lastSeq).toBe(4);
        expect(await api.messages(sender, group.id, { first: 100 })).toEqual(messagesBefore);
      });
    });

    describe('with sendRatePerSecond: 1, sendBurst: 3', () => {
      let limited: TestServer;
      let limitedApi: Client;
      beforeAll(async () => {
        limited = await startServer({ backend, limits: { sendRatePerSecond: 1, sendBurst: 3 } });
        limitedApi = clientOf(limited);
      });

      it('answers the send past the burst with RATE_LIMITED and retryAfterMs, storing nothing; others are unaffected', async () => {
        const fast = await limitedApi.person('fast');
        const calm = await limitedApi.person('calm');
        const group = await limitedApi.createGroup(fast, 'limited', [calm.id]);
        for (const i of range(1, 3)) expect((await limitedApi.send(fast, group.id, `burst ${i}`)).message.seq).toBe(i);
        const result = await request(limited.url, fast.token, SendMutation, {
          input: { groupId: group.id, body: 'one too many', clientMessageId: randomUUID() },
        });
        expectCode(result, 'RATE_LIMITED');
        const retryAfterMs = result.errors?.[0]?.extensions?.['retryAfterMs'];
        expect(typeof retryAfterMs).toBe('number');
        expect(retryAfterMs as number).toBeGreaterThan(0);
        expect(retryAfterMs as number).toBeLessThanOrEqual(1000);
        expect((await limitedApi.group(fast, group.id)).lastSeq).toBe(3);

        const other = await limitedApi.send(calm, group.id, 'not limited');
        expect(other.message.seq).toBe(4);
        expect(seqsOf(await limitedApi.messages(calm, group.id, { first: 10 }))).toEqual([1, 2, 3, 4]);
        expect((await limitedApi.messages(calm, group.id, { first: 10 })).edges.map((e) => e.node.body)).not.toContain(
          'one too many',
        );
      });
    });

    // --- messages paging ------------------------------------------------------------------------

    describe('messages paging', () => {
      const total = 23;
      let reader: Person;
      let groupId: string;

      beforeAll(async () => {
        const a = await api.person('pager-a');
        reader = await api.person('pager-b');
        groupId = (await api.createGroup(a, 'paging', [reader.id])).id;
        for (const i of range(1, total)) await api.send(i % 2 === 0 ? reader : a, groupId, `m${i}`);
      });

      const page = (args: MessagesArgs) => api.messages(reader, groupId, args);

      it('pages forward with first/after over the whole history', async () => {
        const seen: number[] = [];
        const pages: PageInfo[] = [];
        let after: string | null = null;
        for (;;) {
          const connection = await page(after === null ? { first: 5 } : { first: 5, after });
          seen.push(...seqsOf(connection));
          pages.push(connection.pageInfo);
          for (const edge of connection.edges) expect(edge.node.body).toBe(`m${edge.node.seq}`);
          expect(connection.pageInfo.startCursor).toBe(connection.edges[0]?.cursor ?? null);
          expect(connection.pageInfo.endCursor).toBe(connection.edges.at(-1)?.cursor ?? null);
          if (!connection.pageInfo.hasNextPage) break;
          after = connection.pageInfo.endCursor;
          expect(pages.length).toBeLessThan(10);
        }
        expect(seen).toEqual(range(1, total));
        expect(pages.map((p) => p.hasNextPage)).toEqual([true, true, true, true, false]);
        expect(pages.map((p) => p.hasPreviousPage)).toEqual([false, true, true, true, true]);

        // Past the end: nothing, and nothing further.
        const beyond = await page({ first: 5, after: after as string });
        expect(seqsOf(beyond)).toEqual([21, 22, 23]);
        const empty = await page({ first: 5, after: beyond.pageInfo.endCursor as string });
        expect(empty.edges).toEqual([]);
        expect(empty.pageInfo.hasNextPage).toBe(false);
      });

      it('pages backward with last/before from the newest, edges ascending within each page', async () => {
        const pages: number[][] = [];
        const infos: PageInfo[] = [];
        let before: string | null = null;
        for (;;) {
          const connection = await page(before === null ? { last: 5 } : { last: 5, before });
          pages.push(seqsOf(connection));
          infos.push(connection.pageInfo);
          if (!connection.pageInfo.hasPreviousPage) break;
          before = connection.pageInfo.startCursor;
          expect(pages.length).toBeLessThan(10);
        }
        expect(pages).toEqual([range(19, 23), range(14, 18), range(9, 13), range(4, 8), range(1, 3)]);
        expect(infos.map((p) => p.hasPreviousPage)).toEqual([true, true, true, true, false]);
        expect(infos.map((p) => p.hasNextPage)).toEqual([false, true, true, true, true]);
      });

      it('turns around mid-way with a page’s own cursors', async () => {
        const first = await page({ first: 5 });
        const middle = await page({ first: 5, after: first.pageInfo.endCursor as string });
        expect(seqsOf(middle)).toEqual(range(6, 10));
        const back = await page({ last: 3, before: middle.pageInfo.startCursor as string });
        expect(seqsOf(back)).toEqual([3, 4, 5]);
        expect(back.pageInfo).toMatchObject({ hasPreviousPage: true, hasNextPage: true });
        const forth = await page({ first: 4, after: back.pageInfo.endCursor as string });
        expect(seqsOf(forth)).toEqual([6, 7, 8, 9]);

        const newest = await page({ last: 5 });
        const older = await page({ last: 5, before: newest.pageInfo.startCursor as string });
        expect(seqsOf(older)).toEqual(range(14, 18));
        const newer = await page({ first: 3, after: older.pageInfo.endCursor as string });
        expect(seqsOf(newer)).toEqual([19, 20, 21]);
        expect(newer.pageInfo).toMatchObject({ hasPreviousPage: true, hasNextPage: true });
        // Each edge's own cursor works as well as the page's.
        const fromEdge = await page({ last: 2, before: older.edges[2]?.cursor as string });
        expect(seqsOf(fromEdge)).toEqual([14, 15]);
        const toFirst = await page({ last: 5, before: older.edges[0]?.cursor as string });
        expect(seqsOf(toFirst)).toEqual(range(9, 13));

        // A cursor alone says the direction; first with before and last with after bound the other end.
        const cursorOf = async (seq: number): Promise<string> =>
          (await page({ first: 1, afterSeq: seq - 1 })).edges[0]?.cursor as string;
        const ten = await cursorOf(10);
        const five = await cursorOf(5);
        expect(seqsOf(await page({ before: ten }))).toEqual(range(1, 9));
        expect(seqsOf(await page({ after: ten }))).toEqual(range(11, 23));
        expect(seqsOf(await page({ first: 3, before: ten }))).toEqual([1, 2, 3]);
        expect(seqsOf(await page({ last: 3, after: five }))).toEqual([21, 22, 23]);
        expect(seqsOf(await page({ first: 100, after: five, before: ten }))).toEqual([6, 7, 8, 9]);
        expect(seqsOf(await page({ last: 2, after: five, before: ten }))).toEqual([8, 9]);
      });

      it('gives the newest N for last: N, and the newest defaultPageSize with no first or last', async () => {
        const newest = await page({ last: 7 });
        expect(seqsOf(newest)).toEqual(range(17, 23));
        expect(newest.pageInfo).toMatchObject({ hasPreviousPage: true, hasNextPage: false });

        const size = server.config.limits.defaultPageSize;
        const bare = await page({});
        expect(seqsOf(bare)).toEqual(range(total - size + 1, total));
        expect(bare.pageInfo).toMatchObject({ hasPreviousPage: true, hasNextPage: false });

        const all = await page({ last: 100 });
        expect(seqsOf(all)).toEqual(range(1, total));
        expect(all.pageInfo).toMatchObject({ hasPreviousPage: false, hasNextPage: false });
      });

      it('keeps only seq > afterSeq, forward alone or with last', async () => {
        const rest = await page({ afterSeq: 10 });
        expect(seqsOf(rest)).toEqual(range(11, total));
        expect(rest.pageInfo.hasNextPage).toBe(false);

        const some = await page({ afterSeq: 2, first: 5 });
        expect(seqsOf(some)).toEqual(range(3, 7));
        expect(some.pageInfo.hasNextPage).toBe(true);
        const next = await page({ afterSeq: 2, first: 5, after: some.pageInfo.endCursor as string });
        expect(seqsOf(next)).toEqual(range(8, 12));

        const newestAfter = await page({ afterSeq: 10, last: 5 });
        expect(seqsOf(newestAfter)).toEqual(range(19, 23));
        expect(newestAfter.pageInfo.hasPreviousPage).toBe(true);
        const bounded = await page({ afterSeq: 20, last: 5 });
        expect(seqsOf(bounded)).toEqual([21, 22, 23]);
        expect(bounded.pageInfo.hasPreviousPage).toBe(false);
        const olderButAfter = await page({ afterSeq: 12, last: 5, before: newestAfter.pageInfo.startCursor as string });
        expect(seqsOf(olderButAfter)).toEqual(range(14, 18));
        const floor = await page({ afterSeq: 12, last: 5, before: olderButAfter.pageInfo.startCursor as string });
        expect(seqsOf(floor)).toEqual([13]);
        expect(floor.pageInfo.hasPreviousPage).toBe(false);

        expect(seqsOf(await page({ afterSeq: 0, first: 3 }))).toEqual([1, 2, 3]);
        expect((await page({ afterSeq: total })).edges).toEqual([]);
        expect((await page({ afterSeq: total + 50 })).edges).toEqual([]);
      });

      it('accepts first: 100 and first: 0, and rejects out-of-range sizes, both directions at once and foreign cursors', async () => {
        expect(seqsOf(await page({ first: 100 }))).toEqual(range(1, total));
        const none = await page({ first: 0 });
        expect(none.edges).toEqual([]);
        expect(none.pageInfo.hasNextPage).toBe(true);
        expect((await page({ last: 0 })).edges).toEqual([]);

        const cursor = (await page({ first: 1 })).pageInfo.endCursor as string;
        const rejected: readonly MessagesArgs[] = [
          { first: 101 },
          { last: 101 },
          { first: -1 },
          { last: -1 },
          { first: 5, last: 5 },
          { first: 5, after: 'garbage' },
          { last: 5, before: 'garbage' },
          { first: 5, after: `${cursor}x` },
          { first: 5, after: Buffer.from('m:abc').toString('base64url') },
          { first: 5, after: Buffer.from('m:0').toString('base64url') },
          { first: 5, after: Buffer.from('m:-3').toString('base64url') },
          { afterSeq: -1 },
          { afterSeq: -1, first: 5 },
        ];
        for (const args of rejected) {
          const result = await request(server.url, reader.token, MessagesQuery, { groupId, ...args });
          expect({ args, codes: codes(result) }).toEqual({ args, codes: ['BAD_USER_INPUT'] });
          expectNothingLeaked(result);
        }
        // A cursor of another list is not a messages cursor.
        const groupsCursor = (await ok(server.url, reader.token, GroupsQuery, { first: 1 })).groups.pageInfo.endCursor as string;
        expectCode(await request(server.url, reader.token, MessagesQuery, { groupId, first: 5, after: groupsCursor }), 'BAD_USER_INPUT');
      });
    });

    // --- unread and read position --------------------------------------------------------------------

    describe('unread and read position', () => {
      it('counts others’ messages only, and moves the read position forward only', async () => {
        const a = await api.person('a');
        const b = await api.person('b');
        const group = await api.createGroup(a, 'unread', [b.id]);
        for (const i of range(1, 7)) await api.send(a, group.id, `from a ${i}`);

        expect(await api.group(a, group.id)).toMatchObject({ lastSeq: 7, lastReadSeq: 7, unreadCount: 0 });
        expect(await api.group(b, group.id)).toMatchObject({ lastSeq: 7, lastReadSeq: 0, unreadCount: 7 });

        const marked = await ok(server.url, b.token, MarkReadMutation, { input: { groupId: group.id, seq: 5 } });
        expect(marked.markGroupRead.group).toMatchObject({ lastReadSeq: 5, unreadCount: 2 });
        const back = await ok(server.url, b.token, MarkReadMutation, { input: { groupId: group.id, seq: 3 } });
        expect(back.markGroupRead.group).toMatchObject({ lastReadSeq: 5, unreadCount: 2 });
        expect(await api.group(b, group.id)).toMatchObject({ lastReadSeq: 5, unreadCount: 2 });

        for (const seq of [8, 1000, -1]) {
          expectCode(await request(server.url, b.token, MarkReadMutation, { input: { groupId: group.id, seq } }), 'BAD_USER_INPUT');
        }
        expect(await api.group(b, group.id)).toMatchObject({ lastReadSeq: 5, unreadCount: 2 });
        // The groups list tells the same.
        const listed = (await ok(server.url, b.token, GroupsQuery, { first: 10 })).groups.edges.map((e) => e.node);
        expect(listed.find((g) => g.id === group.id)).toMatchObject({ lastSeq: 7, lastReadSeq: 5, unreadCount: 2 });

        // Marking up to lastSeq exactly is fine.
        const all = await ok(server.url, b.token, MarkReadMutation, { input: { groupId: group.id, seq: 7 } });
        expect(all.markGroupRead.group).toMatchObject({ lastReadSeq: 7, unreadCount: 0 });
        // The sender's own messages never count.
        await api.send(b, group.id, 'from b');
        expect(await api.group(b, group.id)).toMatchObject({ lastSeq: 8, unreadCount: 0 });
        expect(await api.group(a, group.id)).toMatchObject({ lastSeq: 8, lastReadSeq: 7, unreadCount: 1 });
        // a's read position belongs to a.
        expect(await api.group(b, group.id)).toMatchObject({ lastReadSeq: 8 });
      });

      it('starts a member added later at the group’s lastSeq', async () => {
        const a = await api.person('a');
        const group = await api.createGroup(a, 'late');
        for (const i of range(1, 4)) await api.send(a, group.id, `early ${i}`);
        const late = await api.person('late');
        await ok(server.url, a.token, AddMembersMutation, { input: { groupId: group.id, userIds: [late.id] } });
        expect(await api.group(late, group.id)).toMatchObject({ lastSeq: 4, lastReadSeq: 4, unreadCount: 0 });
        await api.send(a, group.id, 'after join');
        expect(await api.group(late, group.id)).toMatchObject({ lastSeq: 5, lastReadSeq: 4, unreadCount: 1 });
        // The history before joining is still readable.
        expect(seqsOf(await api.messages(late, group.id, { first: 10 }))).toEqual([1, 2, 3, 4, 5]);
      });
    });

    // --- groups connection --------------------------------------------------------------------------

    describe('groups connection', () => {
      it('lists the most recently active first, and a message moves its group to the front', async () => {
        const viewer = await api.person('viewer');
        const created: string[] = [];
        for (const i of range(1, 3)) {
          created.push((await api.createGroup(viewer, `g${i}`)).id);
          await sleep(5);
        }
        const [g1, g2, g3] = created as [string, string, string];
        expect(await api.groupIds(viewer)).toEqual([g3, g2, g1]);
        await api.send(viewer, g1, 'wake up');
        expect(await api.groupIds(viewer)).toEqual([g1, g3, g2]);
        await sleep(5);
        await api.send(viewer, g2, 'me too');
        expect(await api.groupIds(viewer)).toEqual([g2, g1, g3]);
        // Activity by another member counts the same.
        const other = await api.person('other');
        await ok(server.url, viewer.token, AddMembersMutation, { input: { groupId: g3, userIds: [other.id] } });
        await sleep(5);
        await api.send(other, g3, 'hello from other');
        expect(await api.groupIds(viewer)).toEqual([g3, g2, g1]);
      });

      it('pages with first/after over every group with no skip and no repeat', async () => {
        const viewer = await api.person('viewer');
        const ids: string[] = [];
        for (const i of range(1, 7)) {
          ids.push((await api.createGroup(viewer, `p${i}`)).id);
          await sleep(2);
        }
        const seen: string[] = [];
        const infos: PageInfo[] = [];
        let after: string | null = null;
        for (;;) {
          const data: DocumentType<typeof GroupsQuery> = await ok(
            server.url,
            viewer.token,
            GroupsQuery,
            after === null ? { first: 2 } : { first: 2, after },
          );
          seen.push(...data.groups.edges.map((e) => e.node.id));
          infos.push(data.groups.pageInfo);
          expect(data.groups.pageInfo.endCursor).toBe(data.groups.edges.at(-1)?.cursor ?? null);
          if (!data.groups.pageInfo.hasNextPage) break;
          after = data.groups.pageInfo.endCursor;
          expect(infos.length).toBeLessThan(10);
        }
        expect(seen).toEqual([...ids].reverse());
        expect(infos.map((p) => p.hasNextPage)).toEqual([true, true, true, false]);
        expect(infos.map((p) => p.hasPreviousPage)).toEqual([false, true, true, true]);

        const max = server.config.limits.maxPageSize;
        expect((await ok(server.url, viewer.token, GroupsQuery, { first: max })).groups.edges).toHaveLength(7);
        expect((await ok(server.url, viewer.token, GroupsQuery, { first: 0 })).groups.edges).toEqual([]);
        expectCode(await request(server.url, viewer.token, GroupsQuery, { first: max + 1 }), 'BAD_USER_INPUT');
        expectCode(await request(server.url, viewer.token, GroupsQuery, { first: -1 }), 'BAD_USER_INPUT');
      });

      it('shows the newest message as lastMessage', async () => {
        const viewer = await api.person('viewer');
        const other = await api.person('other');
        const group = await api.createGroup(viewer, 'last', [other.id]);
        await api.send(viewer, group.id, 'older');
        const newest = await api.send(other, group.id, 'newest');
        const listed = (await ok(server.url, viewer.token, GroupsQuery, { first: 1 })).groups.edges[0]?.node;
        expect(listed).toMatchObject({
          id: group.id,
          lastSeq: 2,
          lastMessage: { id: newest.message.id, seq: 2, body: 'newest', sender: { id: other.id } },
        });
      });

      it('pages members by id', async () => {
        const owner = await api.person('owner');
        const prefix = unique('members');
        const others = ['e', 'a', 'd', 'b', 'f', 'c'].map((letter) => `${prefix}-${letter}`);
        const group = await api.createGroup(owner, 'members', others);
        const seen: string[] = [];
        const infos: PageInfo[] = [];
        let after: string | null = null;
        for (;;) {
          const data: DocumentType<typeof MembersQuery> = await ok(
            server.url,
            owner.token,
            MembersQuery,
            after === null ? { id: group.id, first: 3 } : { id: group.id, first: 3, after },
          );
          const members = data.group?.members;
          if (members === undefined) throw new Error('no group');
          seen.push(...members.edges.map((e) => e.node.id));
          infos.push(members.pageInfo);
          if (!members.pageInfo.hasNextPage) break;
          after = members.pageInfo.endCursor;
          expect(infos.length).toBeLessThan(10);
        }
        expect(seen).toEqual([owner.id, ...others].sort());
        expect(infos.map((p) => p.hasNextPage)).toEqual([true, true, false]);
        expectCode(await request(server.url, owner.token, MembersQuery, { id: group.id, first: 101 }), 'BAD_USER_INPUT');
      });
    });

    // --- masked errors -------------------------------------------------------------------------------

    describe('errors', () => {
      it('answers a forged but well-formed groups cursor with BAD_USER_INPUT, not an internal error', async () => {
        const viewer = await api.person('viewer');
        await api.createGroup(viewer);
        const forged = ['g:not-a-key', 'g:', 'g::x', 'g:abc:def', 'g:99999999999999999999:x', 'm:5', 'u:someone'];
        for (const text of forged) {
          const after = Buffer.from(text).toString('base64url');
          const result = await request(server.url, viewer.token, GroupsQuery, { first: 5, after });
          expect({ text, codes: codes(result) }).toEqual({ text, codes: ['BAD_USER_INPUT'] });
          expectNothingLeaked(result);
        }
        for (const after of ['garbage', '!!!', '']) {
          const result = await request(server.url, viewer.token, GroupsQuery, { first: 5, after });
          expect({ after, codes: codes(result) }).toEqual({ after, codes: ['BAD_USER_INPUT'] });
          expectNothingLeaked(result);
        }
      });

      it('keeps GraphQL validation errors free of internals', async () => {
        const viewer = await api.person('viewer');
        const result = await request<unknown, Record<string, unknown>>(server.url, viewer.token, '{ nope }');
        expect(result.errors?.length).toBeGreaterThan(0);
        expectNothingLeaked(result);
        const badVariable = await request(server.url, viewer.token, MessagesQuery, {
          groupId: 'x',
          first: 'ten' as unknown as number,
        });
        expect(badVariable.errors?.length).toBeGreaterThan(0);
        expectNothingLeaked(badVariable);
      });
    });
  });
});
