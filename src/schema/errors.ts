/**
 * The error tiers over GraphQL: a `UserError` from a use case becomes a GraphQLError with
 * `extensions.code` the client can act on; GraphQL's own errors (validation, bad variables)
 * pass as they are; anything else is masked.
 */
import { GraphQLError } from 'graphql';
import { maskError as yogaMaskError, type YogaMaskedErrorOpts } from 'graphql-yoga';
import { asUserError, type UserError } from '../resolvers/errors.ts';

function findUserError(error: unknown): UserError | null {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    const userError = asUserError(current);
    if (userError !== null) return userError;
    current = current instanceof GraphQLError ? current.originalError : current.cause;
  }
  return null;
}

export const maskError: YogaMaskedErrorOpts['maskError'] = (error, message, isDev) => {
  const userError = findUserError(error);
  if (userError !== null) {
    const located = error instanceof GraphQLError ? error : null;
    return new GraphQLError(userError.message, {
      nodes: located?.nodes ?? null,
      path: located?.path ?? null,
      extensions: { ...userError.details, code: userError.code },
    });
  }
  return yogaMaskError(error, message, isDev);
};
