/**
 * The yoga (envelop) plugin that holds every operation to its viewer's token and quota, for
 * server-sent events and graphql-ws alike:
 *
 * - An operation started after the token's `exp` is refused with UNAUTHENTICATED (an HTTP
 *   request's token is checked when it arrives; a WebSocket's was checked at connection_init).
 * - A server-sent events subscription ends at the token's `exp`: its last result is an
 *   UNAUTHENTICATED error naming the expiry, then the response ends; the client subscribes again
 *   with a fresh token (with `since`, losing nothing). Over graphql-ws the socket itself closes
 *   at `exp` (socket-guard.ts) and graphql-ws clients reconnect and resubscribe on their own;
 *   ending the subscription first would leave a lazy client nothing to reconnect for.
 * - A user holds at most `maxSubscriptionsPerUser` live subscriptions across every gateway
 *   (through the Quota port); one more is refused with RATE_LIMITED. The slot is given back
 *   however the stream ends: completed, cancelled, failed, or its socket closed.
 */
import { GraphQLError, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Quota, Slot } from '../quota/port.ts';
import { ErrorCode } from '../resolvers/errors.ts';
import type { Context } from '../schema/builder.ts';
import { callAt } from '../delivery/socket-guard.ts';

/** The Quota pool of live subscriptions. */
export const SUBSCRIPTIONS_POOL = 'subscriptions';

const expiredError = (): GraphQLError =>
  new GraphQLError('The token has expired: subscribe again with a fresh token (and `since`, to miss nothing).', {
    extensions: { code: ErrorCode.UNAUTHENTICATED, reason: 'TOKEN_EXPIRED' },
  });

/**
 * `source`, ended at `expiresAt` with one last `expired()` result; `onEnd` runs once however the
 * stream ends.
 */
export function streamUntil<T>(
  source: AsyncIterable<T>,
  { expiresAt, expired, onEnd, now = Date.now }: { expiresAt: number | null; expired: () => T; onEnd: () => void; now?: () => number },
): AsyncGenerator<T, undefined> {
  const iterator = source[Symbol.asyncIterator]();
  let finished = false;
  let signalExpiry: () => void = () => {};
  const expiry = new Promise<'expired'>((resolve) => {
    signalExpiry = () => resolve('expired');
  });
  const cancelTimer = expiresAt === null ? () => {} : callAt(expiresAt, () => signalExpiry(), now);
  const finish = (): void => {
    if (finished) return;
    finished = true;
    cancelTimer();
    onEnd();
  };
  const done = (): IteratorResult<T, undefined> => ({ done: true, value: undefined });
  const expire = (): IteratorResult<T, undefined> => {
    finish();
    // A pending next() of the source settles on its own once it returns; nothing waits for it.
    void Promise.resolve(iterator.return?.()).catch(() => {});
    return { done: false, value: expired() };
  };
  const generator: AsyncGenerator<T, undefined> = {
    async next() {
      if (finished) return done();
      if (expiresAt !== null && now() >= expiresAt) return expire();
      let step: IteratorResult<T> | 'expired';
      try {
        // Without a deadline there is nothing to race: this runs once per event and subscriber.
        step = await (expiresAt === null ? iterator.next() : Promise.race([iterator.next(), expiry]));
      } catch (error) {
        finish();
        throw error;
      }
      if (step === 'expired') return expire();
      if (step.done === true) {
        finish();
        return done();
      }
      return step;
    },
    async return() {
      finish();
      await iterator.return?.();
      return done();
    },
    async throw(error: unknown) {
      finish();
      if (iterator.throw !== undefined) await iterator.throw(error);
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return generator;
}

export interface SessionLimitsOptions {
  readonly quota: Quota;
  readonly maxSubscriptionsPerUser: number;
  /** Told when giving a slot back fails. @default does nothing */
  readonly onError?: (error: unknown) => void;
  /** Epoch ms. @default Date.now */
  readonly now?: () => number;
}

/**
 * One of the user's `maxSubscriptionsPerUser` subscription slots, or the RATE_LIMITED error to
 * answer. Shared by this plugin and the WebSocket transport's framed subscriptions.
 */
export async function acquireSubscriptionSlot(quota: Quota, userId: string, maxSubscriptionsPerUser: number): Promise<Slot | GraphQLError> {
  const slot = await quota.acquire(SUBSCRIPTIONS_POOL, userId, maxSubscriptionsPerUser);
  return (
    slot ??
    new GraphQLError(`Too many subscriptions: a user may hold ${maxSubscriptionsPerUser} (MAX_SUBSCRIPTIONS_PER_USER); end one first.`, {
      extensions: { code: ErrorCode.RATE_LIMITED, limit: maxSubscriptionsPerUser },
    })
  );
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<ExecutionResult> =>
  typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

export function useSessionLimits({ quota, maxSubscriptionsPerUser, onError = () => {}, now = Date.now }: SessionLimitsOptions): Plugin {
  const expiredAt = (context: Context): number | null => {
    const { auth } = context;
    return auth.viewer !== null && auth.expiresAt !== undefined ? auth.expiresAt : null;
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const expiresAt = expiredAt(args.contextValue as unknown as Context);
      if (expiresAt !== null && now() >= expiresAt) setResultAndStopExecution({ errors: [expiredError()] });
    },
    onSubscribe({ args, subscribeFn, setSubscribeFn, setResultAndStopExecution }) {
      const context = args.contextValue as unknown as Context;
      const expiresAt = expiredAt(context);
      if (expiresAt !== null && now() >= expiresAt) {
        setResultAndStopExecution({ errors: [expiredError()] });
        return;
      }
      const viewer = context.auth.viewer;
      // Without a viewer the field answers UNAUTHENTICATED itself; there is nobody to count.
      if (viewer === null) return;
      setSubscribeFn(async (subscribeArgs) => {
        const slot = await acquireSubscriptionSlot(quota, viewer.id, maxSubscriptionsPerUser);
        if (slot instanceof GraphQLError) return { errors: [slot] };
        const release = (): void => void slot.release().catch(onError);
        let result: Awaited<ReturnType<typeof subscribeFn>>;
        try {
          result = await subscribeFn(subscribeArgs);
        } catch (error) {
          release();
          throw error;
        }
        if (!isAsyncIterable(result)) {
          release();
          return result;
        }
        // HTTP requests carry yoga's `request` in their context; graphql-ws operations do not.
        const overHttp = 'request' in (args.contextValue as object);
        return streamUntil<ExecutionResult>(result, {
          expiresAt: overHttp ? expiresAt : null,
          expired: () => ({ errors: [expiredError()] }),
          onEnd: release,
          now,
        });
      });
    },
  };
}
