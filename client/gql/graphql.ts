/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
export type AddGroupMembersInput = {
  groupId: string | number;
  userIds: Array<string | number>;
};

export type CreateGroupInput = {
  /** Other members besides the creator, who becomes the owner. */
  memberIds?: Array<string | number> | null | undefined;
  name: string;
};

export type GroupSeqInput = {
  groupId: string | number;
  seq: number;
};

export type MarkGroupReadInput = {
  groupId: string | number;
  seq: number;
};

export type RemoveGroupMemberInput = {
  groupId: string | number;
  userId: string | number;
};

export type SendGroupMessageInput = {
  body: string;
  /** Chosen by the client, unique per sender and group: a retry with the same value sends nothing new. */
  clientMessageId: string;
  groupId: string | number;
};

export type ChatMessageFieldsFragment = { id: string, groupId: string, seq: number, body: string, clientMessageId: string, createdAt: string, cursor: string, sender: { id: string, name: string | null } };

export type ChatGroupFieldsFragment = { id: string, name: string, memberCount: number, lastSeq: number, lastReadSeq: number, createdAt: string, lastMessage: { id: string, groupId: string, seq: number, body: string, clientMessageId: string, createdAt: string, cursor: string, sender: { id: string, name: string | null } } | null };

export type ChatGroupsQueryVariables = Exact<{
  first: number;
  after?: string | null | undefined;
}>;


export type ChatGroupsQuery = { viewer: { id: string, name: string | null }, groups: { nodes: Array<{ id: string, name: string, memberCount: number, lastSeq: number, lastReadSeq: number, createdAt: string, lastMessage: { id: string, groupId: string, seq: number, body: string, clientMessageId: string, createdAt: string, cursor: string, sender: { id: string, name: string | null } } | null }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type ChatNodesQueryVariables = Exact<{
  ids: Array<string | number> | string | number;
}>;


export type ChatNodesQuery = { nodes: Array<
    | { __typename: 'Group', id: string, name: string, memberCount: number, lastSeq: number, lastReadSeq: number, createdAt: string, lastMessage: { id: string, groupId: string, seq: number, body: string, clientMessageId: string, createdAt: string, cursor: string, sender: { id: string, name: string | null } } | null }
    | { __typename: 'Message', id: string }
    | { __typename: 'User', id: string }
   | null> };

export type ChatOlderMessagesQueryVariables = Exact<{
  groupId: string | number;
  last: number;
  before?: string | null | undefined;
}>;


export type ChatOlderMessagesQuery = { group: { id: string, messages: { nodes: Array<{ id: string, groupId: string, seq: number, body: string, clientMessageId: string, createdAt: string, cursor: string, sender: { id: string, name: string | null } }>, pageInfo: { hasPreviousPage: boolean } } } | null };

export type ChatMessagesAfterQueryVariables = Exact<{
  groupId: string | number;
  afterSeq: number;
  first: number;
}>;


export type ChatMessagesAfterQuery = { messages: { nodes: Array<{ id: string, groupId: string, seq: number, body: string, clientMessageId: string, createdAt: string, cursor: string, sender: { id: string, name: string | null } }>, pageInfo: { hasNextPage: boolean } } };

export type ChatSendMutationVariables = Exact<{
  input: SendGroupMessageInput;
}>;


export type ChatSendMutation = { sendGroupMessage: { created: boolean, message: { id: string, groupId: string, seq: number, body: string, clientMessageId: string, createdAt: string, cursor: string, sender: { id: string, name: string | null } } } };

export type ChatMarkReadMutationVariables = Exact<{
  input: MarkGroupReadInput;
}>;


export type ChatMarkReadMutation = { markGroupRead: { group: { id: string, lastSeq: number, lastReadSeq: number } } };

export type ChatCreateGroupMutationVariables = Exact<{
  input: CreateGroupInput;
}>;


export type ChatCreateGroupMutation = { createGroup: { group: { id: string, name: string, memberCount: number, lastSeq: number, lastReadSeq: number, createdAt: string, lastMessage: { id: string, groupId: string, seq: number, body: string, clientMessageId: string, createdAt: string, cursor: string, sender: { id: string, name: string | null } } | null } } };

export type ChatAddMembersMutationVariables = Exact<{
  input: AddGroupMembersInput;
}>;


export type ChatAddMembersMutation = { addGroupMembers: { group: { id: string, name: string, memberCount: number, lastSeq: number, lastReadSeq: number, createdAt: string, lastMessage: { id: string, groupId: string, seq: number, body: string, clientMessageId: string, createdAt: string, cursor: string, sender: { id: string, name: string | null } } | null } } };

export type ChatLeaveGroupMutationVariables = Exact<{
  input: RemoveGroupMemberInput;
}>;


export type ChatLeaveGroupMutation = { removeGroupMember: { group: { id: string } } };

export type ChatMessageAddedSubscriptionVariables = Exact<{
  since?: Array<GroupSeqInput> | GroupSeqInput | null | undefined;
}>;


export type ChatMessageAddedSubscription = { messageAdded: { id: string, groupId: string, seq: number, body: string, clientMessageId: string, createdAt: string, cursor: string, sender: { id: string, name: string | null } } };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const ChatMessageFieldsFragmentDoc = new TypedDocumentString(`
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
    `, {"fragmentName":"ChatMessageFields"}) as unknown as TypedDocumentString<ChatMessageFieldsFragment, unknown>;
export const ChatGroupFieldsFragmentDoc = new TypedDocumentString(`
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
}`, {"fragmentName":"ChatGroupFields"}) as unknown as TypedDocumentString<ChatGroupFieldsFragment, unknown>;
export const ChatGroupsDocument = new TypedDocumentString(`
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
}`) as unknown as TypedDocumentString<ChatGroupsQuery, ChatGroupsQueryVariables>;
export const ChatNodesDocument = new TypedDocumentString(`
    query ChatNodes($ids: [ID!]!) {
  nodes(ids: $ids) {
    __typename
    id
    ... on Group {
      ...ChatGroupFields
    }
  }
}
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
}`) as unknown as TypedDocumentString<ChatNodesQuery, ChatNodesQueryVariables>;
export const ChatOlderMessagesDocument = new TypedDocumentString(`
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
}`) as unknown as TypedDocumentString<ChatOlderMessagesQuery, ChatOlderMessagesQueryVariables>;
export const ChatMessagesAfterDocument = new TypedDocumentString(`
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
}`) as unknown as TypedDocumentString<ChatMessagesAfterQuery, ChatMessagesAfterQueryVariables>;
export const ChatSendDocument = new TypedDocumentString(`
    mutation ChatSend($input: SendGroupMessageInput!) {
  sendGroupMessage(input: $input) {
    created
    message {
      ...ChatMessageFields
    }
  }
}
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
}`) as unknown as TypedDocumentString<ChatSendMutation, ChatSendMutationVariables>;
export const ChatMarkReadDocument = new TypedDocumentString(`
    mutation ChatMarkRead($input: MarkGroupReadInput!) {
  markGroupRead(input: $input) {
    group {
      id
      lastSeq
      lastReadSeq
    }
  }
}
    `) as unknown as TypedDocumentString<ChatMarkReadMutation, ChatMarkReadMutationVariables>;
export const ChatCreateGroupDocument = new TypedDocumentString(`
    mutation ChatCreateGroup($input: CreateGroupInput!) {
  createGroup(input: $input) {
    group {
      ...ChatGroupFields
    }
  }
}
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
}`) as unknown as TypedDocumentString<ChatCreateGroupMutation, ChatCreateGroupMutationVariables>;
export const ChatAddMembersDocument = new TypedDocumentString(`
    mutation ChatAddMembers($input: AddGroupMembersInput!) {
  addGroupMembers(input: $input) {
    group {
      ...ChatGroupFields
    }
  }
}
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
}`) as unknown as TypedDocumentString<ChatAddMembersMutation, ChatAddMembersMutationVariables>;
export const ChatLeaveGroupDocument = new TypedDocumentString(`
    mutation ChatLeaveGroup($input: RemoveGroupMemberInput!) {
  removeGroupMember(input: $input) {
    group {
      id
    }
  }
}
    `) as unknown as TypedDocumentString<ChatLeaveGroupMutation, ChatLeaveGroupMutationVariables>;
export const ChatMessageAddedDocument = new TypedDocumentString(`
    subscription ChatMessageAdded($since: [GroupSeqInput!]) {
  messageAdded(since: $since) {
    ...ChatMessageFields
  }
}
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
}`) as unknown as TypedDocumentString<ChatMessageAddedSubscription, ChatMessageAddedSubscriptionVariables>;