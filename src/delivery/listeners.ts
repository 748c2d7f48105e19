/**
 * Reports a listener's exception without stopping delivery to the other listeners, the way
 * `EventTarget` does: the error surfaces as an uncaught exception on a later tick.
 */
export const reportListenerError = (error: unknown): void => {
  queueMicrotask(() => {
    throw error;
  });
};
