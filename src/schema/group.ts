import {
  addGroupMembers,
  createGroup,
  findGroup,
  listGroupMembers,
  listViewerGroups,
  markGroupRead,
  removeGroupMember,
  unreadCount,
  type GroupView,
} from '../resolvers/groups.ts';
import { VIEWER_DEPENDENT } from '../delivery/shared-execution.ts';
import { builder } from './builder.ts';
import { connectionComplexity } from './connections.ts';
import { Group, GroupConnection, Message, User, UserConnection } from './refs.ts';

builder.node(Group, {
  id: { resolve: (view) => view.group.id },
  fields: (t) => ({
    name: t.string({ resolve: (view) => view.group.name }),
    owner: t.field({
      type: User,
      resolve: async (view, _args, context) =>
        (await context.loaders.user.load(view.group.ownerId)) ?? { id: view.group.ownerId, name: null },
    }),
    memberCount: t.int({ resolve: (view) => view.group.memberCount }),
    // Forward only, as the contract has it: the plugin's t.connection would add last/before.
    members: t.field({
      type: UserConnection,
      description: 'Members ordered by id.',
      args: { first: t.arg.int(), after: t.arg.string() },
      complexity: connectionComplexity,
      resolve: (view, args, context) => listGroupMembers(context.deps, view, args),
    }),
    lastSeq: t.int({
      description: 'Sequence number of the newest message in the group; 0 while it has none.',
      resolve: (view) => view.group.lastSeq,
    }),
    lastReadSeq: t.int({
      description: "The viewer's read position in this group.",
      extensions: { [VIEWER_DEPENDENT]: true },
      resolve: (view) => view.membership?.lastReadSeq ?? 0,
    }),
    unreadCount: t.int({
      description: 'Messages with seq > lastReadSeq that others sent.',
      extensions: { [VIEWER_DEPENDENT]: true },
      resolve: (view) => unreadCount(view),
    }),
    lastMessage: t.field({
      type: Message,
      nullable: true,
      resolve: (view, _args, context) =>
        view.group.lastSeq === 0 ? null : context.loaders.lastMessage.load(view.group.id),
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (view) => view.group.createdAt }),
    // `messages` is a history field: message.ts defines it next to Query.messages.
  }),
});

builder.queryFields((t) => {
  const signedIn = t.withAuth({ authenticated: true });
  return {
    group: signedIn.field({
      type: Group,
      nullable: true,
      description: 'Null when no group has this id; FORBIDDEN when you are not a member.',
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, { deps, auth }) => findGroup(deps, auth.viewer, id),
    }),
    // Forward only, as the contract has it: the plugin's t.connection would add last/before.
    groups: signedIn.field({
      type: GroupConnection,
      description: "The viewer's groups, the most recently active first.",
      args: { first: t.arg.int(), after: t.arg.string() },
      complexity: connectionComplexity,
      resolve: (_root, args, { deps, auth }) => listViewerGroups(deps, auth.viewer, args),
    }),
  };
});

const CreateGroupInput = builder.inputType('CreateGroupInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    memberIds: t.idList({ description: 'Other members besides the creator, who becomes the owner.' }),
  }),
});

const AddGroupMembersInput = builder.inputType('AddGroupMembersInput', {
  fields: (t) => ({
    groupId: t.id({ required: true }),
    userIds: t.idList({ required: true }),
  }),
});

const RemoveGroupMemberInput = builder.inputType('RemoveGroupMemberInput', {
  fields: (t) => ({
    groupId: t.id({ required: true }),
    userId: t.id({ required: true }),
  }),
});

const MarkGroupReadInput = builder.inputType('MarkGroupReadInput', {
  fields: (t) => ({
    groupId: t.id({ required: true }),
    seq: t.int({ required: true }),
  }),
});

/** Every group mutation answers with the group as the viewer now sees it. */
const groupPayload = (name: string) =>
  builder.objectRef<GroupView>(name).implement({
    fields: (t) => ({ group: t.field({ type: Group, resolve: (view) => view }) }),
  });

const CreateGroupPayload = groupPayload('CreateGroupPayload');
const AddGroupMembersPayload = groupPayload('AddGroupMembersPayload');
const RemoveGroupMemberPayload = groupPayload('RemoveGroupMemberPayload');
const MarkGroupReadPayload = groupPayload('MarkGroupReadPayload');

builder.mutationFields((t) => {
  const signedIn = t.withAuth({ authenticated: true });
  return {
    createGroup: signedIn.field({
      type: CreateGroupPayload,
      description: 'Members may add members; the owner may remove anyone; any member may remove themselves.',
      args: { input: t.arg({ type: CreateGroupInput, required: true }) },
      resolve: (_root, { input }, { deps, auth }) => createGroup(deps, auth.viewer, input),
    }),
    addGroupMembers: signedIn.field({
      type: AddGroupMembersPayload,
      args: { input: t.arg({ type: AddGroupMembersInput, required: true }) },
      resolve: (_root, { input }, { deps, auth }) => addGroupMembers(deps, auth.viewer, input),
    }),
    removeGroupMember: signedIn.field({
      type: RemoveGroupMemberPayload,
      args: { input: t.arg({ type: RemoveGroupMemberInput, required: true }) },
      resolve: (_root, { input }, { deps, auth }) => removeGroupMember(deps, auth.viewer, input),
    }),
    markGroupRead: signedIn.field({
      type: MarkGroupReadPayload,
      description: 'Moves the read position forward; it never moves back.',
      args: { input: t.arg({ type: MarkGroupReadInput, required: true }) },
      resolve: (_root, { input }, { deps, auth }) => markGroupRead(deps, auth.viewer, input),
    }),
  };
});
