/**
 * Reports a listener's exception without stopping delivery to the other listeners, the way
 * `EventTarget` does: the error surfaces as an uncaught exception on a later tick.
 */
export const reportListenerError = (error: unknown): void => {
  queueMicrotask(() => {
    throw error;
  });
};

/**
 * Calls every listener with `value`, over a copy (a listener may remove itself or another), and
 * reports a listener's exception without skipping the ones after it.
 */
export function callEach<T>(listeners: Iterable<(value: T) => void>, value: T): void {
  for (const listener of [...listeners]) {
    try {
      listener(value);
    } catch (error) {
      reportListenerError(error);
    }
  }
}
