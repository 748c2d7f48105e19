import { requireMember } from '../resolvers/groups.ts';
import { listMessages, messageCursor, sendGroupMessage, type SendResult } from '../resolvers/messages.ts';
import { streamedMessage, subscribeMessages } from '../resolvers/subscriptions.ts';
import type { MessageRecord } from '../storage/port.ts';
import { builder, viewerOf } from './builder.ts';
import { Group } from './group.ts';
import { Node } from './node.ts';
import { connectionComplexity, connectionType } from './page-info.ts';
import { User } from './user.ts';

export const Message = builder.objectRef<MessageRecord>('Message');

Message.implement({
  interfaces: [Node],
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

export const MessageConnection = connectionType('Message', Message);

/** The history paging arguments, shared by `Query.messages` and `Group.messages`. */
export const HISTORY_PAGING =
  'first/after page towards newer messages, last/before towards older ones;\n' +
  'last: N with no cursor gives the newest N. afterSeq keeps only messages with seq > afterSeq\n' +
  '(catching up after being offline). first and last may not exceed 100.';


builder.queryField('messages', (t) =>
  t.field({
    type: MessageConnection,
    description: `A group's history. ${HISTORY_PAGING}`,
    args: {
      groupId: t.arg.id({ required: true }),
      first: t.arg.int(),
      after: t.arg.string(),
      last: t.arg.int(),
      before: t.arg.string(),
      afterSeq: t.arg.int(),
    },
    complexity: connectionComplexity,
    resolve: (_root, args, context) => listMessages(context.deps, viewerOf(context), args),
  }),
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
  t.field({
    type: SendGroupMessagePayload,
    args: { input: t.arg({ type: SendGroupMessageInput, required: true }) },
    resolve: (_root, { input }, context) => sendGroupMessage(context.deps, viewerOf(context), input),
  }),
);

const GroupSeqInput = builder.inputType('GroupSeqInput', {
  fields: (t) => ({
    groupId: t.id({ required: true }),
    seq: t.int({ required: true }),
  }),
});

builder.subscriptionField('messageAdded', (t) =>
  t.field({
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
    subscribe: (_root, args, context) => subscribeMessages(context.deps, context.gateway, viewerOf(context), args),
    resolve: (item) => streamedMessage(item),
  }),
);
