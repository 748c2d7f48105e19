/**
 * Lifecycles as disposables, the way graphql-ws's `useServer` returns a `Disposable`: each part
 * that starts hands back a `dispose` that stops it and frees what it holds, and whoever started
 * the parts keeps them in a `Disposables` stack that disposes them in reverse. This is the shape
 * of TC39's `AsyncDisposableStack` (`use`, `defer`, dispose in reverse), which Node 20 lacks.
 */

/** A started part: `dispose` stops it and releases what it holds. */
export interface Disposable {
  dispose(): Promise<void>;
}

export class Disposables implements Disposable {
  readonly #parts: (() => Promise<void> | void)[] = [];

  /** Keeps a started part, to be disposed before every part kept earlier; returns it. */
  use<T extends Disposable>(part: T): T {
    this.#parts.push(() => part.dispose());
    return part;
  }

  /** Keeps a cleanup step, to run before every part kept earlier. */
  defer(dispose: () => Promise<void> | void): void {
    this.#parts.push(dispose);
  }

  /**
   * Disposes the parts most recent first, each after the one started after it has finished.
   * A part that fails does not keep the others open: every part is disposed, then the first
   * failure is thrown. The stack is empty afterwards, so disposing again does nothing.
   */
  async dispose(): Promise<void> {
    let failed = false;
    let failure: unknown;
    for (let part = this.#parts.pop(); part !== undefined; part = this.#parts.pop()) {
      try {
        await part();
      } catch (error) {
        if (!failed) failure = error;
        failed = true;
      }
    }
    if (failed) throw failure;
  }
}

/**
 * Runs `start` with a fresh stack for the parts it starts: on success the caller owns them
 * through the returned value's `dispose`; if `start` throws, the parts it had started are
 * disposed (most recent first) before the error is rethrown, so a failed start leaves nothing
 * open.
 */
export async function startAll<T extends object>(start: (parts: Disposables) => Promise<T>): Promise<T & Disposable> {
  const parts = new Disposables();
  try {
    const started = await start(parts);
    return { ...started, dispose: () => parts.dispose() };
  } catch (error) {
    // The start's own error is the one worth reporting; a part failing to stop is secondary.
    await parts.dispose().catch(() => {});
    throw error;
  }
}
