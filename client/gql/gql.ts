/* eslint-disable */
import * as types from './graphql';



/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  fragment ChatMessageFields on Message {\n    id\n    groupId\n    seq\n    body\n    clientMessageId\n    createdAt\n    cursor\n    sender {\n      id\n      name\n    }\n  }\n": typeof types.ChatMessageFieldsFragmentDoc,
    "\n  fragment ChatGroupFields on Group {\n    id\n    name\n    memberCount\n    lastSeq\n    lastReadSeq\n    createdAt\n    lastMessage {\n      ...ChatMessageFields\n    }\n  }\n": typeof types.ChatGroupFieldsFragmentDoc,
    "\n  query ChatGroups($first: Int!, $after: String) {\n    viewer {\n      id\n      name\n    }\n    groups(first: $first, after: $after) {\n      nodes {\n        ...ChatGroupFields\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": typeof types.ChatGroupsDocument,
    "\n  query ChatNodes($ids: [ID!]!) {\n    nodes(ids: $ids) {\n      __typename\n      id\n      ... on Group {\n        ...ChatGroupFields\n      }\n    }\n  }\n": typeof types.ChatNodesDocument,
    "\n  query ChatOlderMessages($groupId: ID!, $last: Int!, $before: String) {\n    group(id: $groupId) {\n      id\n      messages(last: $last, before: $before) {\n        nodes {\n          ...ChatMessageFields\n        }\n        pageInfo {\n          hasPreviousPage\n        }\n      }\n    }\n  }\n": typeof types.ChatOlderMessagesDocument,
    "\n  query ChatMessagesAfter($groupId: ID!, $afterSeq: Int!, $first: Int!) {\n    messages(groupId: $groupId, afterSeq: $afterSeq, first: $first) {\n      nodes {\n        ...ChatMessageFields\n      }\n      pageInfo {\n        hasNextPage\n      }\n    }\n  }\n": typeof types.ChatMessagesAfterDocument,
    "\n  mutation ChatSend($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) {\n      created\n      message {\n        ...ChatMessageFields\n      }\n    }\n  }\n": typeof types.ChatSendDocument,
    "\n  mutation ChatMarkRead($input: MarkGroupReadInput!) {\n    markGroupRead(input: $input) {\n      group {\n        id\n        lastSeq\n        lastReadSeq\n      }\n    }\n  }\n": typeof types.ChatMarkReadDocument,
    "\n  mutation ChatCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) {\n      group {\n        ...ChatGroupFields\n      }\n    }\n  }\n": typeof types.ChatCreateGroupDocument,
    "\n  mutation ChatAddMembers($input: AddGroupMembersInput!) {\n    addGroupMembers(input: $input) {\n      group {\n        ...ChatGroupFields\n      }\n    }\n  }\n": typeof types.ChatAddMembersDocument,
    "\n  mutation ChatLeaveGroup($input: RemoveGroupMemberInput!) {\n    removeGroupMember(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n": typeof types.ChatLeaveGroupDocument,
    "\n  subscription ChatMessageAdded($since: [GroupSeqInput!]) {\n    messageAdded(since: $since) {\n      ...ChatMessageFields\n    }\n  }\n": typeof types.ChatMessageAddedDocument,
};
const documents: Documents = {
    "\n  fragment ChatMessageFields on Message {\n    id\n    groupId\n    seq\n    body\n    clientMessageId\n    createdAt\n    cursor\n    sender {\n      id\n      name\n    }\n  }\n": types.ChatMessageFieldsFragmentDoc,
    "\n  fragment ChatGroupFields on Group {\n    id\n    name\n    memberCount\n    lastSeq\n    lastReadSeq\n    createdAt\n    lastMessage {\n      ...ChatMessageFields\n    }\n  }\n": types.ChatGroupFieldsFragmentDoc,
    "\n  query ChatGroups($first: Int!, $after: String) {\n    viewer {\n      id\n      name\n    }\n    groups(first: $first, after: $after) {\n      nodes {\n        ...ChatGroupFields\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n": types.ChatGroupsDocument,
    "\n  query ChatNodes($ids: [ID!]!) {\n    nodes(ids: $ids) {\n      __typename\n      id\n      ... on Group {\n        ...ChatGroupFields\n      }\n    }\n  }\n": types.ChatNodesDocument,
    "\n  query ChatOlderMessages($groupId: ID!, $last: Int!, $before: String) {\n    group(id: $groupId) {\n      id\n      messages(last: $last, before: $before) {\n        nodes {\n          ...ChatMessageFields\n        }\n        pageInfo {\n          hasPreviousPage\n        }\n      }\n    }\n  }\n": types.ChatOlderMessagesDocument,
    "\n  query ChatMessagesAfter($groupId: ID!, $afterSeq: Int!, $first: Int!) {\n    messages(groupId: $groupId, afterSeq: $afterSeq, first: $first) {\n      nodes {\n        ...ChatMessageFields\n      }\n      pageInfo {\n        hasNextPage\n      }\n    }\n  }\n": types.ChatMessagesAfterDocument,
    "\n  mutation ChatSend($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) {\n      created\n      message {\n        ...ChatMessageFields\n      }\n    }\n  }\n": types.ChatSendDocument,
    "\n  mutation ChatMarkRead($input: MarkGroupReadInput!) {\n    markGroupRead(input: $input) {\n      group {\n        id\n        lastSeq\n        lastReadSeq\n      }\n    }\n  }\n": types.ChatMarkReadDocument,
    "\n  mutation ChatCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) {\n      group {\n        ...ChatGroupFields\n      }\n    }\n  }\n": types.ChatCreateGroupDocument,
    "\n  mutation ChatAddMembers($input: AddGroupMembersInput!) {\n    addGroupMembers(input: $input) {\n      group {\n        ...ChatGroupFields\n      }\n    }\n  }\n": types.ChatAddMembersDocument,
    "\n  mutation ChatLeaveGroup($input: RemoveGroupMemberInput!) {\n    removeGroupMember(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n": types.ChatLeaveGroupDocument,
    "\n  subscription ChatMessageAdded($since: [GroupSeqInput!]) {\n    messageAdded(since: $since) {\n      ...ChatMessageFields\n    }\n  }\n": types.ChatMessageAddedDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ChatMessageFields on Message {\n    id\n    groupId\n    seq\n    body\n    clientMessageId\n    createdAt\n    cursor\n    sender {\n      id\n      name\n    }\n  }\n"): typeof import('./graphql').ChatMessageFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ChatGroupFields on Group {\n    id\n    name\n    memberCount\n    lastSeq\n    lastReadSeq\n    createdAt\n    lastMessage {\n      ...ChatMessageFields\n    }\n  }\n"): typeof import('./graphql').ChatGroupFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ChatGroups($first: Int!, $after: String) {\n    viewer {\n      id\n      name\n    }\n    groups(first: $first, after: $after) {\n      nodes {\n        ...ChatGroupFields\n      }\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n    }\n  }\n"): typeof import('./graphql').ChatGroupsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ChatNodes($ids: [ID!]!) {\n    nodes(ids: $ids) {\n      __typename\n      id\n      ... on Group {\n        ...ChatGroupFields\n      }\n    }\n  }\n"): typeof import('./graphql').ChatNodesDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ChatOlderMessages($groupId: ID!, $last: Int!, $before: String) {\n    group(id: $groupId) {\n      id\n      messages(last: $last, before: $before) {\n        nodes {\n          ...ChatMessageFields\n        }\n        pageInfo {\n          hasPreviousPage\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').ChatOlderMessagesDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ChatMessagesAfter($groupId: ID!, $afterSeq: Int!, $first: Int!) {\n    messages(groupId: $groupId, afterSeq: $afterSeq, first: $first) {\n      nodes {\n        ...ChatMessageFields\n      }\n      pageInfo {\n        hasNextPage\n      }\n    }\n  }\n"): typeof import('./graphql').ChatMessagesAfterDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ChatSend($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) {\n      created\n      message {\n        ...ChatMessageFields\n      }\n    }\n  }\n"): typeof import('./graphql').ChatSendDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ChatMarkRead($input: MarkGroupReadInput!) {\n    markGroupRead(input: $input) {\n      group {\n        id\n        lastSeq\n        lastReadSeq\n      }\n    }\n  }\n"): typeof import('./graphql').ChatMarkReadDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ChatCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) {\n      group {\n        ...ChatGroupFields\n      }\n    }\n  }\n"): typeof import('./graphql').ChatCreateGroupDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ChatAddMembers($input: AddGroupMembersInput!) {\n    addGroupMembers(input: $input) {\n      group {\n        ...ChatGroupFields\n      }\n    }\n  }\n"): typeof import('./graphql').ChatAddMembersDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ChatLeaveGroup($input: RemoveGroupMemberInput!) {\n    removeGroupMember(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n"): typeof import('./graphql').ChatLeaveGroupDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ChatMessageAdded($since: [GroupSeqInput!]) {\n    messageAdded(since: $since) {\n      ...ChatMessageFields\n    }\n  }\n"): typeof import('./graphql').ChatMessageAddedDocument;


export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}
