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
import { builder, viewerOf } from './builder.ts';
import { listGroupMessages } from '../resolvers/messages.ts';
import { HISTORY_PAGING, Message, MessageConnection } from './message.ts';
import { Node } from './node.ts';
import { connectionComplexity, connectionType } from './page-info.ts';
import { User, UserConnection } from './user.ts';

export const Group = builder.objectRef<GroupView>('Group');

Group.implement({
  interfaces: [Node],
  fields: (t) => ({
    name: t.string({ resolve: (view) => view.group.name }),
    owner: t.field({
      type: User,
      resolve: async (view, _args, context) =>
        (await context.loaders.user.load(view.group.ownerId)) ?? { id: view.group.ownerId, name: null },
    }),
    memberCount: t.int({ resolve: (view) => view.group.memberCount }),
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
    // Fields are built lazily, after message.ts (which imports this file) has run.
    messages: t.field({
      type: MessageConnection,
      description: `This group's history, as \`Query.messages\` pages it: ${HISTORY_PAGING}`,
      args: {
        first: t.arg.int(),
        after: t.arg.string(),
        last: t.arg.int(),
        before: t.arg.string(),
        afterSeq: t.arg.int(),
      },
      resolve: (view, args, context) => listGroupMessages(context.deps, view, args),
    }),
  }),
});

const GroupConnection = connectionType('Group', Group);

builder.queryFields((t) => ({
  group: t.field({
    type: Group,
    nullable: true,
    description: 'Null when no group has this id; FORBIDDEN when you are not a member.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, context) => findGroup(context.deps, viewerOf(context), id),
  }),
  groups: t.field({
    type: GroupConnection,
    description: "The viewer's groups, the most recently active first.",
    args: { first: t.arg.int(), after: t.arg.string() },
    complexity: connectionComplexity,
    resolve: (_root, args, context) => listViewerGroups(context.deps, viewerOf(context), args),
  }),
}));

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

builder.mutationFields((t) => ({
  createGroup: t.field({
    type: CreateGroupPayload,
    description: 'Members may add members; the owner may remove anyone; any member may remove themselves.',
    args: { input: t.arg({ type: CreateGroupInput, required: true }) },
    resolve: (_root, { input }, context) => createGroup(context.deps, viewerOf(context), input),
  }),
  addGroupMembers: t.field({
    type: AddGroupMembersPayload,
    args: { input: t.arg({ type: AddGroupMembersInput, required: true }) },
    resolve: (_root, { input }, context) => addGroupMembers(context.deps, viewerOf(context), input),
  }),
  removeGroupMember: t.field({
    type: RemoveGroupMemberPayload,
    args: { input: t.arg({ type: RemoveGroupMemberInput, required: true }) },
    resolve: (_root, { input }, context) => removeGroupMember(context.deps, viewerOf(context), input),
  }),
  markGroupRead: t.field({
    type: MarkGroupReadPayload,
    description: 'Moves the read position forward; it never moves back.',
    args: { input: t.arg({ type: MarkGroupReadInput, required: true }) },
    resolve: (_root, { input }, context) => markGroupRead(context.deps, viewerOf(context), input),
  }),
}));
