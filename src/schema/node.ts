/**
 * `node(id:)` and `nodes(ids:)` over the relay plugin's `Node` interface, whose ids the plugin
 * decodes (builder.ts: the type from the id's prefix). They are defined here rather than by the
 * plugin (`nodeQueryOptions`), because the plugin's differ from the contract in two ways:
 * - its `nodes` loads all ids of one type with one `Promise.all`, so one id the viewer may not
 *   see would fail the whole list; here each id settles alone, FORBIDDEN only at its index;
 * - an id with a group's or a message's prefix that names none can still be a user's `sub`
 *   (they are issued by whoever signs the tokens), which the plugin's type routing cannot try.
 */
import { brandWithType } from '@pothos/core';
import { findGroup } from '../resolvers/groups.ts';
import { badInput } from '../resolvers/errors.ts';
import { findMessage } from '../resolvers/messages.ts';
import { builder, type AuthenticatedContext } from './builder.ts';
import { Group, Message, User } from './refs.ts';

const Node = builder.nodeInterfaceRef();

/** A group, a message of the viewer's groups, a user, or null; FORBIDDEN outside the viewer's groups. */
async function resolveNode(context: AuthenticatedContext, { typename, id }: { typename: string; id: string }) {
  const { deps, auth } = context;
  // Branded with their type, so the Node interface resolves it (the plugin's way, for loads it did not make).
  if (typename === 'Group') {
    const view = await findGroup(deps, auth.viewer, id);
    if (view !== null) return brand(view, Group);
  } else if (typename === 'Message') {
    const message = await findMessage(deps, auth.viewer, id);
    if (message !== null) return brand(message, Message);
  }
  const user = await context.loaders.user.load(id);
  return user === null ? null : brand(user, User);
}

function brand<T extends object>(value: T, type: typeof Group | typeof Message | typeof User): T {
  brandWithType(value, type);
  return value;
}

builder.queryFields((t) => {
  const signedIn = t.withAuth({ authenticated: true });
  return {
    node: signedIn.field({
      type: Node,
      nullable: true,
      description:
        'Any object by id: groups and messages of your groups, and users. Null when nothing has the id; FORBIDDEN for a group or message of a group you are not in.',
      args: { id: t.arg.globalID({ required: true }) },
      resolve: (_root, { id }, context) => resolveNode(context, id),
    }),
    nodes: signedIn.field({
      type: [Node],
      nullable: { list: false, items: true },
      description:
        'Objects by id, in the order asked, as `node` resolves each: null where nothing has the id, and a\n' +
        'FORBIDDEN error at that index for a group or message of a group you are not in.\n' +
        'At most LIMIT_MAX_NODE_IDS ids (100 by default).',
      args: { ids: t.arg.globalIDList({ required: true }) },
      resolve: (_root, { ids }, context) => {
        const max = context.deps.limits.maxNodeIds;
        if (ids.length > max) throw badInput('ids', `nodes accepts at most ${max} ids.`, { limit: max });
        // One promise per id: graphql-js turns a rejected one into an error at its index only.
        return ids.map((id) => resolveNode(context, id));
      },
    }),
  };
});
