/**
 * What GraphQL runs with on a gateway: the use cases' dependencies, built once, and the
 * per-operation context (who is calling, the loaders) that yoga, graphql-ws and the shared
 * subscription executor all get from one factory.
 */
import { randomUUID } from 'node:crypto';
import { bearerToken, InvalidTokenError, type TokenVerifier } from '../auth/jwt.ts';
import type { Limits } from '../config.ts';
import type { Gateway } from '../delivery/gateway.ts';
import type { Quota } from '../quota/port.ts';
import type { UseCaseDeps } from '../resolvers/deps.ts';
import { createLoaders, createSharedLoaders } from '../resolvers/loaders.ts';
import { createRateLimiter } from '../resolvers/rate-limit.ts';
import type { Auth, Context } from '../schema/builder.ts';
import type { Store } from '../storage/port.ts';

/** Who the `authorization` header names, or why nobody. */
export async function authenticate(tokens: TokenVerifier, header: string | null): Promise<Auth> {
  const token = bearerToken(header);
  if (token === null) {
    return { viewer: null, reason: 'Authentication required: send authorization: Bearer <token>.' };
  }
  try {
    return await tokens.verifySession(token);
  } catch (error) {
    if (error instanceof InvalidTokenError) return { viewer: null, reason: error.message };
    throw error;
  }
}

export interface ContextFactoryOptions {
  readonly store: Store;
  readonly quota: Quota;
  readonly limits: Limits;
  readonly gateway: Pick<Gateway, 'open'>;
  /** Told about each message a send stored. */
  readonly onMessageStored: () => void;
}

/** The context of one operation (or one shared subscription shape) for `auth`. */
export type ContextFor = (auth: Auth) => Context;

export function createContextFactory({ store, quota, limits, gateway, onMessageStored }: ContextFactoryOptions): ContextFor {
  const deps: UseCaseDeps = {
    store,
    limits,
    sendLimiter: createRateLimiter({ ratePerSecond: limits.sendRatePerSecond, burst: limits.sendBurst }),
    quota,
    now: () => new Date(),
    newId: (prefix) => `${prefix}${randomUUID().replaceAll('-', '')}`,
    onMessageStored,
  };
  const sharedLoaders = createSharedLoaders(store);
  return (auth) => ({
    auth,
    deps,
    gateway,
    loaders: createLoaders(store, auth.viewer?.id ?? null, sharedLoaders),
  });
}
