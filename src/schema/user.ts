import { builder } from './builder.ts';
import { User } from './refs.ts';

builder.node(User, {
  description: 'A person. The id is the `sub` claim of their token, exactly as issued (not re-encoded).',
  id: { resolve: (user) => user.id },
  fields: (t) => ({
    name: t.exposeString('name', {
      nullable: true,
      description: "The `name` claim of the user's most recent token, when one was given.",
    }),
  }),
});

builder.queryField('viewer', (t) =>
  t.withAuth({ authenticated: true }).field({
    type: User,
    description: 'The user the token names.',
    resolve: async (_root, _args, { auth: { viewer }, loaders }) => {
      // A token without a name claim leaves the stored name as it was (Store.upsertUser), so
      // answer that name, as node(id), owner and sender do, rather than null.
      if (viewer.name !== null) return viewer;
      return (await loaders.user.load(viewer.id)) ?? viewer;
    },
  }),
);
