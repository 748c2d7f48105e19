import type { UserRecord, MessageRecord } from '../storage/port.ts';
import type { GroupView } from '../resolvers/groups.ts';
import { findGroup } from '../resolvers/groups.ts';
import { findMessage } from '../resolvers/messages.ts';
import { builder, viewerOf } from './builder.ts';

/** Backing shapes of the types that implement Node. */
export type NodeShape = UserRecord | GroupView | MessageRecord;

const isGroupView = (value: NodeShape): value is GroupView => 'group' in value;
const isMessage = (value: NodeShape): value is MessageRecord => 'seq' in value;

export const Node = builder.interfaceRef<NodeShape>('Node').implement({
  resolveType: (value) => (isGroupView(value) ? 'Group' : isMessage(value) ? 'Message' : 'User'),
  fields: (t) => ({
    id: t.id({ resolve: (value) => (isGroupView(value) ? value.group.id : value.id) }),
  }),
});

builder.queryField('node', (t) =>
  t.field({
    type: Node,
    nullable: true,
    description:
      'Any object by id: groups and messages of your groups, and users. Null when nothing has the id; FORBIDDEN for a group or message of a group you are not in.',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, context) => {
      const viewer = viewerOf(context);
      // Group and message ids carry their prefix; anything else can only be a user's sub.
      if (id.startsWith('g_')) {
        const view = await findGroup(context.deps, viewer, id);
        if (view !== null) return view;
      } else if (id.startsWith('m_')) {
        const message = await findMessage(context.deps, viewer, id);
        if (message !== null) return message;
      }
      return context.loaders.user.load(id);
    },
  }),
);
