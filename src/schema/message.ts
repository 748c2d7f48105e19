import { requireMember } from '../resolvers/groups.ts';
import { listGroupMessages, listMessages, messageCursor, sendGroupMessage, type SendResult } from '../resolvers/messages.ts';
import { streamedMessage, subscribeMessages } from '../resolvers/subscriptions.ts';
import { builder, viewerOf } from './builder.ts';
import { connectionComplexity } from './connections.ts';
import { Group, Message, MessageConnection, User } from './refs.ts';

builder.node(Message, {
  id: { resolve: (message) => message.id },
  fields: (t) => ({
    groupId: t.exposeID('groupId'),
    group: t.field({
      type: Group,
      resolve: async (message, _args, context) => {
        const [group, membership] = await Promise.all([
          context.loaders.group.load(message.groupId),
          context.loaders.membership.load(message.groupId),
        ]);
        // A message is only ever shown to members, so both exist unless the viewer just left.
        // Not a scope: shared subscription shapes resolve this field with no viewer.
        if (group === null) return requireMember(context.deps, viewerOf(context), message.groupId);
        return { group, membership };
      },
    }),
    seq: t.exposeInt('seq', { description: '1, 2, 3, ... within its group, in commit order, without gaps.' }),
    sender: t.field({
      type: User,
      resolve: async (message, _args, context) =>
        (await context.loaders.user.load(message.senderId)) ?? { id: message.senderId, name: null },
    }),
    body: t.exposeString('body'),
    clientMessageId: t.exposeString('clientMessageId'),
    createdAt: t.field({ type: 'DateTime', resolve: (message) => message.createdAt }),
    cursor: t.string({
      description:
        "This message's cursor in its group's history: the same opaque value as its edge's cursor in\n" +
        '`messages` and `Group.messages`, so a streamed message can become an edge, and paging can\n' +
        'continue from it (`before:` for older, `after:` for newer).',
      resolve: (message) => messageCursor(message),
    }),
  }),
});

/** The history paging arguments, shared by `Query.messages` and `Group.messages`. */
const HISTORY_PAGING =
  'first/after page towards newer messages, last/before towards older ones;\n' +
  'last: N with no cursor gives the newest N. afterSeq keeps only messages with seq > afterSeq\n' +
  '(catching up after being offline). first and last may not exceed 100.';

// The shared connection type with the plugin's connection arguments, as a plain field: `withAuth`
// narrows the context type, and `t.connection` (plugin-relay 4.8) then refuses a connection ref
// built with the builder's own.
builder.queryField('messages', (t) =>
  t.withAuth({ authenticated: true }).field({
    type: MessageConnection,
    description: `A group's history. ${HISTORY_PAGING}`,
    args: {
      ...t.arg.connectionArgs(),
      groupId: t.arg.id({ required: true }),
      afterSeq: t.arg.int(),
    },
    complexity: connectionComplexity,
    resolve: (_root, args, { deps, auth }) => listMessages(deps, auth.viewer, args),
  }),
);

builder.objectField(Group, 'messages', (t) =>
  t.connection(
    {
      type: Message,
      description: `This group's history, as \`Query.messages\` pages it: ${HISTORY_PAGING}`,
      args: { afterSeq: t.arg.int() },
      // Priced by the page asked for, as Query.messages: the default list multiplier would count
      // `last: 100` as 10.
      complexity: connectionComplexity,
      resolve: (view, args, context) => listGroupMessages(context.deps, view, args),
    },
    MessageConnection,
  ),
);

const SendGroupMessageInput = builder.inputType('SendGroupMessageInput', {
  fields: (t) => ({
    groupId: t.id({ required: true }),
    body: t.string({ required: true }),
    clientMessageId: t.string({
      required: true,
      description: 'Chosen by the client, unique per sender and group: a retry with the same value sends nothing new.',
    }),
  }),
});

const SendGroupMessagePayload = builder.objectRef<SendResult>('SendGroupMessagePayload').implement({
  fields: (t) => ({
    message: t.field({ type: Message, resolve: (result) => result.message }),
    created: t.exposeBoolean('created', {
      description: 'False when this clientMessageId had already been sent: the original message is returned.',
    }),
  }),
});

builder.mutationField('sendGroupMessage', (t) =>
  t.withAuth({ authenticated: true }).field({
    type: SendGroupMessagePayload,
    args: { input: t.arg({ type: SendGroupMessageInput, required: true }) },
    resolve: (_root, { input }, { deps, auth }) => sendGroupMessage(deps, auth.viewer, input),
  }),
);

const GroupSeqInput = builder.inputType('GroupSeqInput', {
  fields: (t) => ({
    groupId: t.id({ required: true }),
    seq: t.int({ required: true }),
  }),
});

builder.subscriptionField('messageAdded', (t) =>
  t.withAuth({ authenticated: true }).field({
    type: Message,
    description:
      "Messages of the viewer's groups (only groupId's when given), pushed as they commit,\n" +
      'each group\'s in seq order with no gap and no duplicate.\n' +
      'Without groupId the stream follows membership: a group joined starts delivering,\n' +
      'a group left or removed from stops at once.\n' +
      'since: for each listed group, first replay every message with seq greater than the\n' +
      'given seq, then continue live.',
    args: {
      groupId: t.arg.id(),
      since: t.arg({ type: [GroupSeqInput] }),
    },
    subscribe: (_root, args, { deps, gateway, auth }) => subscribeMessages(deps, gateway, auth.viewer, args),
    resolve: (item) => streamedMessage(item),
  }),
);
