import type { UserRecord } from '../storage/port.ts';
import { builder, viewerOf } from './builder.ts';
import { Node } from './node.ts';
import { connectionType } from './page-info.ts';

export const User = builder.objectRef<UserRecord>('User');

User.implement({
  description: 'A person. The id is the `sub` claim of their token, exactly as issued (not re-encoded).',
  interfaces: [Node],
  fields: (t) => ({
    name: t.exposeString('name', {
      nullable: true,
      description: "The `name` claim of the user's most recent token, when one was given.",
    }),
  }),
});

export const UserConnection = connectionType('User', User);

builder.queryField('viewer', (t) =>
  t.field({
    type: User,
    description: 'The user the token names.',
    resolve: async (_root, _args, context) => {
      const viewer = viewerOf(context);
      // A token without a name claim leaves the stored name as it was (Store.upsertUser), so
      // answer that name, as node(id), owner and sender do, rather than null.
      if (viewer.name !== null) return viewer;
      return (await context.loaders.user.load(viewer.id)) ?? viewer;
    },
  }),
);
