/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

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
    "\n  fragment ApiPageInfo on PageInfo {\n    hasNextPage\n    hasPreviousPage\n    startCursor\n    endCursor\n  }\n": typeof types.ApiPageInfoFragmentDoc,
    "\n  fragment ApiGroupFields on Group {\n    id\n    name\n    createdAt\n    memberCount\n    lastSeq\n    lastReadSeq\n    unreadCount\n    owner {\n      id\n      name\n    }\n    lastMessage {\n      id\n      seq\n      body\n      sender {\n        id\n      }\n    }\n  }\n": typeof types.ApiGroupFieldsFragmentDoc,
    "\n  fragment ApiMessageFields on Message {\n    id\n    seq\n    body\n    clientMessageId\n    groupId\n    createdAt\n    sender {\n      id\n      name\n    }\n    group {\n      id\n      lastSeq\n    }\n  }\n": typeof types.ApiMessageFieldsFragmentDoc,
    "\n  query ApiViewer {\n    viewer {\n      id\n      name\n    }\n  }\n": typeof types.ApiViewerDocument,
    "\n  query ApiIntrospection {\n    __schema {\n      queryType {\n        name\n      }\n    }\n  }\n": typeof types.ApiIntrospectionDocument,
    "\n  query ApiNode($id: ID!) {\n    node(id: $id) {\n      __typename\n      id\n      ... on User {\n        name\n      }\n      ... on Group {\n        groupName: name\n        memberCount\n      }\n      ... on Message {\n        seq\n        body\n        groupId\n      }\n    }\n  }\n": typeof types.ApiNodeDocument,
    "\n  query ApiGroup($id: ID!) {\n    group(id: $id) {\n      ...ApiGroupFields\n    }\n  }\n": typeof types.ApiGroupDocument,
    "\n  query ApiGroups($first: Int, $after: String) {\n    groups(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          ...ApiGroupFields\n        }\n      }\n      pageInfo {\n        ...ApiPageInfo\n      }\n    }\n  }\n": typeof types.ApiGroupsDocument,
    "\n  query ApiMembers($id: ID!, $first: Int, $after: String) {\n    group(id: $id) {\n      id\n      members(first: $first, after: $after) {\n        edges {\n          cursor\n          node {\n            id\n            name\n          }\n        }\n        pageInfo {\n          ...ApiPageInfo\n        }\n      }\n    }\n  }\n": typeof types.ApiMembersDocument,
    "\n  query ApiMessages($groupId: ID!, $first: Int, $after: String, $last: Int, $before: String, $afterSeq: Int) {\n    messages(groupId: $groupId, first: $first, after: $after, last: $last, before: $before, afterSeq: $afterSeq) {\n      edges {\n        cursor\n        node {\n          ...ApiMessageFields\n        }\n      }\n      pageInfo {\n        ...ApiPageInfo\n      }\n    }\n  }\n": typeof types.ApiMessagesDocument,
    "\n  mutation ApiCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) {\n      group {\n        ...ApiGroupFields\n      }\n    }\n  }\n": typeof types.ApiCreateGroupDocument,
    "\n  mutation ApiAddGroupMembers($input: AddGroupMembersInput!) {\n    addGroupMembers(input: $input) {\n      group {\n        ...ApiGroupFields\n      }\n    }\n  }\n": typeof types.ApiAddGroupMembersDocument,
    "\n  mutation ApiRemoveGroupMember($input: RemoveGroupMemberInput!) {\n    removeGroupMember(input: $input) {\n      group {\n        id\n        memberCount\n      }\n    }\n  }\n": typeof types.ApiRemoveGroupMemberDocument,
    "\n  mutation ApiSendGroupMessage($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) {\n      created\n      message {\n        ...ApiMessageFields\n      }\n    }\n  }\n": typeof types.ApiSendGroupMessageDocument,
    "\n  mutation ApiMarkGroupRead($input: MarkGroupReadInput!) {\n    markGroupRead(input: $input) {\n      group {\n        ...ApiGroupFields\n      }\n    }\n  }\n": typeof types.ApiMarkGroupReadDocument,
    "\n  mutation KitCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) { group { id } }\n  }\n": typeof types.KitCreateGroupDocument,
    "\n  mutation KitSend($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) { created message { seq } }\n  }\n": typeof types.KitSendDocument,
    "\n  query KitHistory($groupId: ID!, $after: String) {\n    messages(groupId: $groupId, first: 100, after: $after) {\n      nodes { id seq clientMessageId sender { id } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n": typeof types.KitHistoryDocument,
    "\n  mutation CrashCreateGroup($name: String!, $memberIds: [ID!]) {\n    createGroup(input: { name: $name, memberIds: $memberIds }) { group { id } }\n  }\n": typeof types.CrashCreateGroupDocument,
    "\n  mutation CrashSend($groupId: ID!, $body: String!, $clientMessageId: String!) {\n    sendGroupMessage(input: { groupId: $groupId, body: $body, clientMessageId: $clientMessageId }) {\n      created\n      message { id seq body }\n    }\n  }\n": typeof types.CrashSendDocument,
    "\n  query CrashHistory($groupId: ID!) {\n    group(id: $groupId) { lastSeq }\n    messages(groupId: $groupId, first: 100) { edges { node { id seq body } } }\n  }\n": typeof types.CrashHistoryDocument,
    "\n  subscription CrashReplay($groupId: ID!) {\n    messageAdded(groupId: $groupId, since: [{ groupId: $groupId, seq: 0 }]) { seq body }\n  }\n": typeof types.CrashReplayDocument,
    "\n  mutation AddCreateGroup($name: String!, $memberIds: [ID!]) {\n    createGroup(input: { name: $name, memberIds: $memberIds }) { group { id } }\n  }\n": typeof types.AddCreateGroupDocument,
    "\n  mutation AddSend($groupId: ID!, $body: String!, $clientMessageId: String!) {\n    sendGroupMessage(input: { groupId: $groupId, body: $body, clientMessageId: $clientMessageId }) {\n      message { id seq cursor }\n    }\n  }\n": typeof types.AddSendDocument,
    "\n  mutation AddRemoveMember($groupId: ID!, $userId: ID!) {\n    removeGroupMember(input: { groupId: $groupId, userId: $userId }) {\n      group { messages(last: 5) { nodes { seq } } }\n    }\n  }\n": typeof types.AddRemoveMemberDocument,
    "\n  query AddBothHistories($groupId: ID!, $first: Int, $after: String, $last: Int, $before: String, $afterSeq: Int) {\n    messages(groupId: $groupId, first: $first, after: $after, last: $last, before: $before, afterSeq: $afterSeq) {\n      edges { cursor node { id seq cursor } }\n      nodes { id seq cursor }\n      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }\n    }\n    group(id: $groupId) {\n      messages(first: $first, after: $after, last: $last, before: $before, afterSeq: $afterSeq) {\n        edges { cursor node { id seq cursor } }\n        nodes { id seq cursor }\n        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }\n      }\n    }\n  }\n": typeof types.AddBothHistoriesDocument,
    "\n  query AddGroupHistory($groupId: ID!, $first: Int, $last: Int) {\n    group(id: $groupId) { messages(first: $first, last: $last) { nodes { seq } } }\n  }\n": typeof types.AddGroupHistoryDocument,
    "\n  query AddConnectionNodes($groupId: ID!) {\n    groups(first: 10) { edges { node { id } } nodes { id } }\n    group(id: $groupId) { members(first: 10) { edges { node { id } } nodes { id } } }\n  }\n": typeof types.AddConnectionNodesDocument,
    "\n  query AddNodes($ids: [ID!]!) {\n    nodes(ids: $ids) {\n      __typename\n      id\n      ... on Group { name }\n      ... on Message { seq }\n    }\n  }\n": typeof types.AddNodesDocument,
    "\n  query AddNodeOne($id: ID!) {\n    node(id: $id) { __typename id }\n  }\n": typeof types.AddNodeOneDocument,
    "\n  subscription AddStreamed($groupId: ID!) {\n    messageAdded(groupId: $groupId) { id seq cursor }\n  }\n": typeof types.AddStreamedDocument,
    "\n  mutation SubCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n": typeof types.SubCreateGroupDocument,
    "\n  mutation SubSendMessage($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) {\n      message {\n        seq\n      }\n    }\n  }\n": typeof types.SubSendMessageDocument,
    "\n  mutation SubAddMembers($input: AddGroupMembersInput!) {\n    addGroupMembers(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n": typeof types.SubAddMembersDocument,
    "\n  mutation SubRemoveMember($input: RemoveGroupMemberInput!) {\n    removeGroupMember(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n": typeof types.SubRemoveMemberDocument,
    "\n  subscription SubMessageAdded($groupId: ID, $since: [GroupSeqInput!]) {\n    messageAdded(groupId: $groupId, since: $since) {\n      id\n      groupId\n      seq\n      body\n      sender {\n        id\n      }\n    }\n  }\n": typeof types.SubMessageAddedDocument,
    "\n  mutation MultiCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n": typeof types.MultiCreateGroupDocument,
    "\n  mutation MultiAddMembers($input: AddGroupMembersInput!) {\n    addGroupMembers(input: $input) {\n      group {\n        memberCount\n      }\n    }\n  }\n": typeof types.MultiAddMembersDocument,
    "\n  mutation MultiSend($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) {\n      message {\n        seq\n      }\n    }\n  }\n": typeof types.MultiSendDocument,
    "\n  subscription MultiMessageAdded($groupId: ID, $since: [GroupSeqInput!]) {\n    messageAdded(groupId: $groupId, since: $since) {\n      id\n      groupId\n      seq\n      body\n    }\n  }\n": typeof types.MultiMessageAddedDocument,
};
const documents: Documents = {
    "\n  fragment ApiPageInfo on PageInfo {\n    hasNextPage\n    hasPreviousPage\n    startCursor\n    endCursor\n  }\n": types.ApiPageInfoFragmentDoc,
    "\n  fragment ApiGroupFields on Group {\n    id\n    name\n    createdAt\n    memberCount\n    lastSeq\n    lastReadSeq\n    unreadCount\n    owner {\n      id\n      name\n    }\n    lastMessage {\n      id\n      seq\n      body\n      sender {\n        id\n      }\n    }\n  }\n": types.ApiGroupFieldsFragmentDoc,
    "\n  fragment ApiMessageFields on Message {\n    id\n    seq\n    body\n    clientMessageId\n    groupId\n    createdAt\n    sender {\n      id\n      name\n    }\n    group {\n      id\n      lastSeq\n    }\n  }\n": types.ApiMessageFieldsFragmentDoc,
    "\n  query ApiViewer {\n    viewer {\n      id\n      name\n    }\n  }\n": types.ApiViewerDocument,
    "\n  query ApiIntrospection {\n    __schema {\n      queryType {\n        name\n      }\n    }\n  }\n": types.ApiIntrospectionDocument,
    "\n  query ApiNode($id: ID!) {\n    node(id: $id) {\n      __typename\n      id\n      ... on User {\n        name\n      }\n      ... on Group {\n        groupName: name\n        memberCount\n      }\n      ... on Message {\n        seq\n        body\n        groupId\n      }\n    }\n  }\n": types.ApiNodeDocument,
    "\n  query ApiGroup($id: ID!) {\n    group(id: $id) {\n      ...ApiGroupFields\n    }\n  }\n": types.ApiGroupDocument,
    "\n  query ApiGroups($first: Int, $after: String) {\n    groups(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          ...ApiGroupFields\n        }\n      }\n      pageInfo {\n        ...ApiPageInfo\n      }\n    }\n  }\n": types.ApiGroupsDocument,
    "\n  query ApiMembers($id: ID!, $first: Int, $after: String) {\n    group(id: $id) {\n      id\n      members(first: $first, after: $after) {\n        edges {\n          cursor\n          node {\n            id\n            name\n          }\n        }\n        pageInfo {\n          ...ApiPageInfo\n        }\n      }\n    }\n  }\n": types.ApiMembersDocument,
    "\n  query ApiMessages($groupId: ID!, $first: Int, $after: String, $last: Int, $before: String, $afterSeq: Int) {\n    messages(groupId: $groupId, first: $first, after: $after, last: $last, before: $before, afterSeq: $afterSeq) {\n      edges {\n        cursor\n        node {\n          ...ApiMessageFields\n        }\n      }\n      pageInfo {\n        ...ApiPageInfo\n      }\n    }\n  }\n": types.ApiMessagesDocument,
    "\n  mutation ApiCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) {\n      group {\n        ...ApiGroupFields\n      }\n    }\n  }\n": types.ApiCreateGroupDocument,
    "\n  mutation ApiAddGroupMembers($input: AddGroupMembersInput!) {\n    addGroupMembers(input: $input) {\n      group {\n        ...ApiGroupFields\n      }\n    }\n  }\n": types.ApiAddGroupMembersDocument,
    "\n  mutation ApiRemoveGroupMember($input: RemoveGroupMemberInput!) {\n    removeGroupMember(input: $input) {\n      group {\n        id\n        memberCount\n      }\n    }\n  }\n": types.ApiRemoveGroupMemberDocument,
    "\n  mutation ApiSendGroupMessage($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) {\n      created\n      message {\n        ...ApiMessageFields\n      }\n    }\n  }\n": types.ApiSendGroupMessageDocument,
    "\n  mutation ApiMarkGroupRead($input: MarkGroupReadInput!) {\n    markGroupRead(input: $input) {\n      group {\n        ...ApiGroupFields\n      }\n    }\n  }\n": types.ApiMarkGroupReadDocument,
    "\n  mutation KitCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) { group { id } }\n  }\n": types.KitCreateGroupDocument,
    "\n  mutation KitSend($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) { created message { seq } }\n  }\n": types.KitSendDocument,
    "\n  query KitHistory($groupId: ID!, $after: String) {\n    messages(groupId: $groupId, first: 100, after: $after) {\n      nodes { id seq clientMessageId sender { id } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n": types.KitHistoryDocument,
    "\n  mutation CrashCreateGroup($name: String!, $memberIds: [ID!]) {\n    createGroup(input: { name: $name, memberIds: $memberIds }) { group { id } }\n  }\n": types.CrashCreateGroupDocument,
    "\n  mutation CrashSend($groupId: ID!, $body: String!, $clientMessageId: String!) {\n    sendGroupMessage(input: { groupId: $groupId, body: $body, clientMessageId: $clientMessageId }) {\n      created\n      message { id seq body }\n    }\n  }\n": types.CrashSendDocument,
    "\n  query CrashHistory($groupId: ID!) {\n    group(id: $groupId) { lastSeq }\n    messages(groupId: $groupId, first: 100) { edges { node { id seq body } } }\n  }\n": types.CrashHistoryDocument,
    "\n  subscription CrashReplay($groupId: ID!) {\n    messageAdded(groupId: $groupId, since: [{ groupId: $groupId, seq: 0 }]) { seq body }\n  }\n": types.CrashReplayDocument,
    "\n  mutation AddCreateGroup($name: String!, $memberIds: [ID!]) {\n    createGroup(input: { name: $name, memberIds: $memberIds }) { group { id } }\n  }\n": types.AddCreateGroupDocument,
    "\n  mutation AddSend($groupId: ID!, $body: String!, $clientMessageId: String!) {\n    sendGroupMessage(input: { groupId: $groupId, body: $body, clientMessageId: $clientMessageId }) {\n      message { id seq cursor }\n    }\n  }\n": types.AddSendDocument,
    "\n  mutation AddRemoveMember($groupId: ID!, $userId: ID!) {\n    removeGroupMember(input: { groupId: $groupId, userId: $userId }) {\n      group { messages(last: 5) { nodes { seq } } }\n    }\n  }\n": types.AddRemoveMemberDocument,
    "\n  query AddBothHistories($groupId: ID!, $first: Int, $after: String, $last: Int, $before: String, $afterSeq: Int) {\n    messages(groupId: $groupId, first: $first, after: $after, last: $last, before: $before, afterSeq: $afterSeq) {\n      edges { cursor node { id seq cursor } }\n      nodes { id seq cursor }\n      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }\n    }\n    group(id: $groupId) {\n      messages(first: $first, after: $after, last: $last, before: $before, afterSeq: $afterSeq) {\n        edges { cursor node { id seq cursor } }\n        nodes { id seq cursor }\n        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }\n      }\n    }\n  }\n": types.AddBothHistoriesDocument,
    "\n  query AddGroupHistory($groupId: ID!, $first: Int, $last: Int) {\n    group(id: $groupId) { messages(first: $first, last: $last) { nodes { seq } } }\n  }\n": types.AddGroupHistoryDocument,
    "\n  query AddConnectionNodes($groupId: ID!) {\n    groups(first: 10) { edges { node { id } } nodes { id } }\n    group(id: $groupId) { members(first: 10) { edges { node { id } } nodes { id } } }\n  }\n": types.AddConnectionNodesDocument,
    "\n  query AddNodes($ids: [ID!]!) {\n    nodes(ids: $ids) {\n      __typename\n      id\n      ... on Group { name }\n      ... on Message { seq }\n    }\n  }\n": types.AddNodesDocument,
    "\n  query AddNodeOne($id: ID!) {\n    node(id: $id) { __typename id }\n  }\n": types.AddNodeOneDocument,
    "\n  subscription AddStreamed($groupId: ID!) {\n    messageAdded(groupId: $groupId) { id seq cursor }\n  }\n": types.AddStreamedDocument,
    "\n  mutation SubCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n": types.SubCreateGroupDocument,
    "\n  mutation SubSendMessage($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) {\n      message {\n        seq\n      }\n    }\n  }\n": types.SubSendMessageDocument,
    "\n  mutation SubAddMembers($input: AddGroupMembersInput!) {\n    addGroupMembers(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n": types.SubAddMembersDocument,
    "\n  mutation SubRemoveMember($input: RemoveGroupMemberInput!) {\n    removeGroupMember(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n": types.SubRemoveMemberDocument,
    "\n  subscription SubMessageAdded($groupId: ID, $since: [GroupSeqInput!]) {\n    messageAdded(groupId: $groupId, since: $since) {\n      id\n      groupId\n      seq\n      body\n      sender {\n        id\n      }\n    }\n  }\n": types.SubMessageAddedDocument,
    "\n  mutation MultiCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n": types.MultiCreateGroupDocument,
    "\n  mutation MultiAddMembers($input: AddGroupMembersInput!) {\n    addGroupMembers(input: $input) {\n      group {\n        memberCount\n      }\n    }\n  }\n": types.MultiAddMembersDocument,
    "\n  mutation MultiSend($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) {\n      message {\n        seq\n      }\n    }\n  }\n": types.MultiSendDocument,
    "\n  subscription MultiMessageAdded($groupId: ID, $since: [GroupSeqInput!]) {\n    messageAdded(groupId: $groupId, since: $since) {\n      id\n      groupId\n      seq\n      body\n    }\n  }\n": types.MultiMessageAddedDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ApiPageInfo on PageInfo {\n    hasNextPage\n    hasPreviousPage\n    startCursor\n    endCursor\n  }\n"): (typeof documents)["\n  fragment ApiPageInfo on PageInfo {\n    hasNextPage\n    hasPreviousPage\n    startCursor\n    endCursor\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ApiGroupFields on Group {\n    id\n    name\n    createdAt\n    memberCount\n    lastSeq\n    lastReadSeq\n    unreadCount\n    owner {\n      id\n      name\n    }\n    lastMessage {\n      id\n      seq\n      body\n      sender {\n        id\n      }\n    }\n  }\n"): (typeof documents)["\n  fragment ApiGroupFields on Group {\n    id\n    name\n    createdAt\n    memberCount\n    lastSeq\n    lastReadSeq\n    unreadCount\n    owner {\n      id\n      name\n    }\n    lastMessage {\n      id\n      seq\n      body\n      sender {\n        id\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ApiMessageFields on Message {\n    id\n    seq\n    body\n    clientMessageId\n    groupId\n    createdAt\n    sender {\n      id\n      name\n    }\n    group {\n      id\n      lastSeq\n    }\n  }\n"): (typeof documents)["\n  fragment ApiMessageFields on Message {\n    id\n    seq\n    body\n    clientMessageId\n    groupId\n    createdAt\n    sender {\n      id\n      name\n    }\n    group {\n      id\n      lastSeq\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ApiViewer {\n    viewer {\n      id\n      name\n    }\n  }\n"): (typeof documents)["\n  query ApiViewer {\n    viewer {\n      id\n      name\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ApiIntrospection {\n    __schema {\n      queryType {\n        name\n      }\n    }\n  }\n"): (typeof documents)["\n  query ApiIntrospection {\n    __schema {\n      queryType {\n        name\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ApiNode($id: ID!) {\n    node(id: $id) {\n      __typename\n      id\n      ... on User {\n        name\n      }\n      ... on Group {\n        groupName: name\n        memberCount\n      }\n      ... on Message {\n        seq\n        body\n        groupId\n      }\n    }\n  }\n"): (typeof documents)["\n  query ApiNode($id: ID!) {\n    node(id: $id) {\n      __typename\n      id\n      ... on User {\n        name\n      }\n      ... on Group {\n        groupName: name\n        memberCount\n      }\n      ... on Message {\n        seq\n        body\n        groupId\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ApiGroup($id: ID!) {\n    group(id: $id) {\n      ...ApiGroupFields\n    }\n  }\n"): (typeof documents)["\n  query ApiGroup($id: ID!) {\n    group(id: $id) {\n      ...ApiGroupFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ApiGroups($first: Int, $after: String) {\n    groups(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          ...ApiGroupFields\n        }\n      }\n      pageInfo {\n        ...ApiPageInfo\n      }\n    }\n  }\n"): (typeof documents)["\n  query ApiGroups($first: Int, $after: String) {\n    groups(first: $first, after: $after) {\n      edges {\n        cursor\n        node {\n          ...ApiGroupFields\n        }\n      }\n      pageInfo {\n        ...ApiPageInfo\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ApiMembers($id: ID!, $first: Int, $after: String) {\n    group(id: $id) {\n      id\n      members(first: $first, after: $after) {\n        edges {\n          cursor\n          node {\n            id\n            name\n          }\n        }\n        pageInfo {\n          ...ApiPageInfo\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query ApiMembers($id: ID!, $first: Int, $after: String) {\n    group(id: $id) {\n      id\n      members(first: $first, after: $after) {\n        edges {\n          cursor\n          node {\n            id\n            name\n          }\n        }\n        pageInfo {\n          ...ApiPageInfo\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ApiMessages($groupId: ID!, $first: Int, $after: String, $last: Int, $before: String, $afterSeq: Int) {\n    messages(groupId: $groupId, first: $first, after: $after, last: $last, before: $before, afterSeq: $afterSeq) {\n      edges {\n        cursor\n        node {\n          ...ApiMessageFields\n        }\n      }\n      pageInfo {\n        ...ApiPageInfo\n      }\n    }\n  }\n"): (typeof documents)["\n  query ApiMessages($groupId: ID!, $first: Int, $after: String, $last: Int, $before: String, $afterSeq: Int) {\n    messages(groupId: $groupId, first: $first, after: $after, last: $last, before: $before, afterSeq: $afterSeq) {\n      edges {\n        cursor\n        node {\n          ...ApiMessageFields\n        }\n      }\n      pageInfo {\n        ...ApiPageInfo\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ApiCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) {\n      group {\n        ...ApiGroupFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation ApiCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) {\n      group {\n        ...ApiGroupFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ApiAddGroupMembers($input: AddGroupMembersInput!) {\n    addGroupMembers(input: $input) {\n      group {\n        ...ApiGroupFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation ApiAddGroupMembers($input: AddGroupMembersInput!) {\n    addGroupMembers(input: $input) {\n      group {\n        ...ApiGroupFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ApiRemoveGroupMember($input: RemoveGroupMemberInput!) {\n    removeGroupMember(input: $input) {\n      group {\n        id\n        memberCount\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation ApiRemoveGroupMember($input: RemoveGroupMemberInput!) {\n    removeGroupMember(input: $input) {\n      group {\n        id\n        memberCount\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ApiSendGroupMessage($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) {\n      created\n      message {\n        ...ApiMessageFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation ApiSendGroupMessage($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) {\n      created\n      message {\n        ...ApiMessageFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ApiMarkGroupRead($input: MarkGroupReadInput!) {\n    markGroupRead(input: $input) {\n      group {\n        ...ApiGroupFields\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation ApiMarkGroupRead($input: MarkGroupReadInput!) {\n    markGroupRead(input: $input) {\n      group {\n        ...ApiGroupFields\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation KitCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) { group { id } }\n  }\n"): (typeof documents)["\n  mutation KitCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) { group { id } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation KitSend($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) { created message { seq } }\n  }\n"): (typeof documents)["\n  mutation KitSend($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) { created message { seq } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query KitHistory($groupId: ID!, $after: String) {\n    messages(groupId: $groupId, first: 100, after: $after) {\n      nodes { id seq clientMessageId sender { id } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n"): (typeof documents)["\n  query KitHistory($groupId: ID!, $after: String) {\n    messages(groupId: $groupId, first: 100, after: $after) {\n      nodes { id seq clientMessageId sender { id } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CrashCreateGroup($name: String!, $memberIds: [ID!]) {\n    createGroup(input: { name: $name, memberIds: $memberIds }) { group { id } }\n  }\n"): (typeof documents)["\n  mutation CrashCreateGroup($name: String!, $memberIds: [ID!]) {\n    createGroup(input: { name: $name, memberIds: $memberIds }) { group { id } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CrashSend($groupId: ID!, $body: String!, $clientMessageId: String!) {\n    sendGroupMessage(input: { groupId: $groupId, body: $body, clientMessageId: $clientMessageId }) {\n      created\n      message { id seq body }\n    }\n  }\n"): (typeof documents)["\n  mutation CrashSend($groupId: ID!, $body: String!, $clientMessageId: String!) {\n    sendGroupMessage(input: { groupId: $groupId, body: $body, clientMessageId: $clientMessageId }) {\n      created\n      message { id seq body }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query CrashHistory($groupId: ID!) {\n    group(id: $groupId) { lastSeq }\n    messages(groupId: $groupId, first: 100) { edges { node { id seq body } } }\n  }\n"): (typeof documents)["\n  query CrashHistory($groupId: ID!) {\n    group(id: $groupId) { lastSeq }\n    messages(groupId: $groupId, first: 100) { edges { node { id seq body } } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription CrashReplay($groupId: ID!) {\n    messageAdded(groupId: $groupId, since: [{ groupId: $groupId, seq: 0 }]) { seq body }\n  }\n"): (typeof documents)["\n  subscription CrashReplay($groupId: ID!) {\n    messageAdded(groupId: $groupId, since: [{ groupId: $groupId, seq: 0 }]) { seq body }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation AddCreateGroup($name: String!, $memberIds: [ID!]) {\n    createGroup(input: { name: $name, memberIds: $memberIds }) { group { id } }\n  }\n"): (typeof documents)["\n  mutation AddCreateGroup($name: String!, $memberIds: [ID!]) {\n    createGroup(input: { name: $name, memberIds: $memberIds }) { group { id } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation AddSend($groupId: ID!, $body: String!, $clientMessageId: String!) {\n    sendGroupMessage(input: { groupId: $groupId, body: $body, clientMessageId: $clientMessageId }) {\n      message { id seq cursor }\n    }\n  }\n"): (typeof documents)["\n  mutation AddSend($groupId: ID!, $body: String!, $clientMessageId: String!) {\n    sendGroupMessage(input: { groupId: $groupId, body: $body, clientMessageId: $clientMessageId }) {\n      message { id seq cursor }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation AddRemoveMember($groupId: ID!, $userId: ID!) {\n    removeGroupMember(input: { groupId: $groupId, userId: $userId }) {\n      group { messages(last: 5) { nodes { seq } } }\n    }\n  }\n"): (typeof documents)["\n  mutation AddRemoveMember($groupId: ID!, $userId: ID!) {\n    removeGroupMember(input: { groupId: $groupId, userId: $userId }) {\n      group { messages(last: 5) { nodes { seq } } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AddBothHistories($groupId: ID!, $first: Int, $after: String, $last: Int, $before: String, $afterSeq: Int) {\n    messages(groupId: $groupId, first: $first, after: $after, last: $last, before: $before, afterSeq: $afterSeq) {\n      edges { cursor node { id seq cursor } }\n      nodes { id seq cursor }\n      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }\n    }\n    group(id: $groupId) {\n      messages(first: $first, after: $after, last: $last, before: $before, afterSeq: $afterSeq) {\n        edges { cursor node { id seq cursor } }\n        nodes { id seq cursor }\n        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }\n      }\n    }\n  }\n"): (typeof documents)["\n  query AddBothHistories($groupId: ID!, $first: Int, $after: String, $last: Int, $before: String, $afterSeq: Int) {\n    messages(groupId: $groupId, first: $first, after: $after, last: $last, before: $before, afterSeq: $afterSeq) {\n      edges { cursor node { id seq cursor } }\n      nodes { id seq cursor }\n      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }\n    }\n    group(id: $groupId) {\n      messages(first: $first, after: $after, last: $last, before: $before, afterSeq: $afterSeq) {\n        edges { cursor node { id seq cursor } }\n        nodes { id seq cursor }\n        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AddGroupHistory($groupId: ID!, $first: Int, $last: Int) {\n    group(id: $groupId) { messages(first: $first, last: $last) { nodes { seq } } }\n  }\n"): (typeof documents)["\n  query AddGroupHistory($groupId: ID!, $first: Int, $last: Int) {\n    group(id: $groupId) { messages(first: $first, last: $last) { nodes { seq } } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AddConnectionNodes($groupId: ID!) {\n    groups(first: 10) { edges { node { id } } nodes { id } }\n    group(id: $groupId) { members(first: 10) { edges { node { id } } nodes { id } } }\n  }\n"): (typeof documents)["\n  query AddConnectionNodes($groupId: ID!) {\n    groups(first: 10) { edges { node { id } } nodes { id } }\n    group(id: $groupId) { members(first: 10) { edges { node { id } } nodes { id } } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AddNodes($ids: [ID!]!) {\n    nodes(ids: $ids) {\n      __typename\n      id\n      ... on Group { name }\n      ... on Message { seq }\n    }\n  }\n"): (typeof documents)["\n  query AddNodes($ids: [ID!]!) {\n    nodes(ids: $ids) {\n      __typename\n      id\n      ... on Group { name }\n      ... on Message { seq }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AddNodeOne($id: ID!) {\n    node(id: $id) { __typename id }\n  }\n"): (typeof documents)["\n  query AddNodeOne($id: ID!) {\n    node(id: $id) { __typename id }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription AddStreamed($groupId: ID!) {\n    messageAdded(groupId: $groupId) { id seq cursor }\n  }\n"): (typeof documents)["\n  subscription AddStreamed($groupId: ID!) {\n    messageAdded(groupId: $groupId) { id seq cursor }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SubCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation SubCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SubSendMessage($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) {\n      message {\n        seq\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation SubSendMessage($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) {\n      message {\n        seq\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SubAddMembers($input: AddGroupMembersInput!) {\n    addGroupMembers(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation SubAddMembers($input: AddGroupMembersInput!) {\n    addGroupMembers(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SubRemoveMember($input: RemoveGroupMemberInput!) {\n    removeGroupMember(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation SubRemoveMember($input: RemoveGroupMemberInput!) {\n    removeGroupMember(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription SubMessageAdded($groupId: ID, $since: [GroupSeqInput!]) {\n    messageAdded(groupId: $groupId, since: $since) {\n      id\n      groupId\n      seq\n      body\n      sender {\n        id\n      }\n    }\n  }\n"): (typeof documents)["\n  subscription SubMessageAdded($groupId: ID, $since: [GroupSeqInput!]) {\n    messageAdded(groupId: $groupId, since: $since) {\n      id\n      groupId\n      seq\n      body\n      sender {\n        id\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation MultiCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation MultiCreateGroup($input: CreateGroupInput!) {\n    createGroup(input: $input) {\n      group {\n        id\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation MultiAddMembers($input: AddGroupMembersInput!) {\n    addGroupMembers(input: $input) {\n      group {\n        memberCount\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation MultiAddMembers($input: AddGroupMembersInput!) {\n    addGroupMembers(input: $input) {\n      group {\n        memberCount\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation MultiSend($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) {\n      message {\n        seq\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation MultiSend($input: SendGroupMessageInput!) {\n    sendGroupMessage(input: $input) {\n      message {\n        seq\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription MultiMessageAdded($groupId: ID, $since: [GroupSeqInput!]) {\n    messageAdded(groupId: $groupId, since: $since) {\n      id\n      groupId\n      seq\n      body\n    }\n  }\n"): (typeof documents)["\n  subscription MultiMessageAdded($groupId: ID, $since: [GroupSeqInput!]) {\n    messageAdded(groupId: $groupId, since: $since) {\n      id\n      groupId\n      seq\n      body\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;