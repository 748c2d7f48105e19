/**
 * Every operation the kit sends, typed by `npm run codegen` from schema.graphql into
 * client/gql (documentMode: 'string': a document is its own query text).
 */
import { graphql } from './gql/index.ts';

export const ChatMessageFields = graphql(`
  fragment ChatMessageFields on Message {
    id
    groupId
    seq
    body
    clientMessageId
    createdAt
    cursor
    sender {
      id
      name
    }
  }
`);

export const ChatGroupFields = graphql(`
  fragment ChatGroupFields on Group {
    id
    name
    memberCount
    lastSeq
    lastReadSeq
    createdAt
    lastMessage {
      ...ChatMessageFields
    }
  }
`);

/** The viewer and one page of their groups, most recently active first. */
export const ChatGroupsQuery = graphql(`
  query ChatGroups($first: Int!, $after: String) {
    viewer {
      id
      name
    }
    groups(first: $first, after: $after) {
      nodes {
        ...ChatGroupFields
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

/** Groups by id: learning a group from its first streamed message, or checking membership. */
export const ChatNodesQuery = graphql(`
  query ChatNodes($ids: [ID!]!) {
    nodes(ids: $ids) {
      __typename
      id
      ... on Group {
        ...ChatGroupFields
      }
    }
  }
`);

/** Older history: the page before `before` (the newest page without it). */
export const ChatOlderMessagesQuery = graphql(`
  query ChatOlderMessages($groupId: ID!, $last: Int!, $before: String) {
    group(id: $groupId) {
      id
      messages(last: $last, before: $before) {
        nodes {
          ...ChatMessageFields
        }
        pageInfo {
          hasPreviousPage
        }
      }
    }
  }
`);

/** Gap repair: what came after the last seq held. */
export const ChatMessagesAfterQuery = graphql(`
  query ChatMessagesAfter($groupId: ID!, $afterSeq: Int!, $first: Int!) {
    messages(groupId: $groupId, afterSeq: $afterSeq, first: $first) {
      nodes {
        ...ChatMessageFields
      }
      pageInfo {
        hasNextPage
      }
    }
  }
`);

export const ChatSendMutation = graphql(`
  mutation ChatSend($input: SendGroupMessageInput!) {
    sendGroupMessage(input: $input) {
      created
      message {
        ...ChatMessageFields
      }
    }
  }
`);

export const ChatMarkReadMutation = graphql(`
  mutation ChatMarkRead($input: MarkGroupReadInput!) {
    markGroupRead(input: $input) {
      group {
        id
        lastSeq
        lastReadSeq
      }
    }
  }
`);

export const ChatCreateGroupMutation = graphql(`
  mutation ChatCreateGroup($input: CreateGroupInput!) {
    createGroup(input: $input) {
      group {
        ...ChatGroupFields
      }
    }
  }
`);

export const ChatAddMembersMutation = graphql(`
  mutation ChatAddMembers($input: AddGroupMembersInput!) {
    addGroupMembers(input: $input) {
      group {
        ...ChatGroupFields
      }
    }
  }
`);

export const ChatLeaveGroupMutation = graphql(`
  mutation ChatLeaveGroup($input: RemoveGroupMemberInput!) {
    removeGroupMember(input: $input) {
      group {
        id
      }
    }
  }
`);

/** The one live stream: every group of the viewer's, resumed after the seq held per group. */
export const ChatMessageAddedSubscription = graphql(`
  subscription ChatMessageAdded($since: [GroupSeqInput!]) {
    messageAdded(since: $since) {
      ...ChatMessageFields
    }
  }
`);
