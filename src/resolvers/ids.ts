/**
 * The ids the server mints carry their kind as a prefix, so an id alone says what it names
 * (`node(id:)` resolves by it, src/schema/builder.ts). Users' ids are the `sub` claims of their
 * tokens exactly as issued: they carry no prefix, and one may even start like these.
 */
export const IdPrefix = {
  group: 'g_',
  message: 'm_',
} as const;
