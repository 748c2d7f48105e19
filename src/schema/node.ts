import type { UserRecord, MessageRecord } from '../storage/port.ts';
import type { GroupView } from '../resolvers/groups.ts';
import { findGroup } from '../resolvers/groups.ts';
import { findMessage } from '../resolvers/messages.ts';
import { badInput } from '../resolvers/errors.ts';
import { builder, viewerOf, type Context } from './builder.ts';

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

/** A group, a message of the viewer's groups, a user, or null; FORBIDDEN outside the viewer's groups. */
async function resolveNode(context: Context, id: string): Promise<NodeShape | null> {
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
}

builder.queryFields((t) => ({
  node: t.field({
    type: Node,
    nullable: true,
    description:
      'Any object by id: groups and messages of your groups, and users. Null when nothing has the id; FORBIDDEN for a group or message of a group you are not in.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, context) => resolveNode(context, id),
  }),
  nodes: t.field({
    type: [Node],
    nullable: { list: false, items: true },
    description:
      'Objects by id, in the order asked, as `node` resolves each: null where nothing has the id, and a\n' +
      'FORBIDDEN error at that index for a group or message of a group you are not in.\n' +
      'At most LIMIT_MAX_NODE_IDS ids (100 by default).',
    args: { ids: t.arg.idList({ required: true }) },
    resolve: (_root, { ids }, context) => {
      viewerOf(context);
      const max = context.deps.limits.maxNodeIds;
      if (ids.length > max) throw badInput('ids', `nodes accepts at most ${max} ids.`, { limit: max });
      // One promise per id: graphql-js turns a rejected one into an error at its index only.
      return ids.map((id) => resolveNode(context, id));
    },
  }),
}));
