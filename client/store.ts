/**
 * Plain subscribable stores: `subscribe(listener)` and `getSnapshot()`, the shape React's
 * `useSyncExternalStore` takes, usable without React too. A snapshot is immutable and keeps its
 * identity until something changed, so comparing snapshots by reference is enough.
 */

export interface ReadableStore<T> {
  /** Calls `listener` after each change; returns the function that stops it. */
  subscribe(listener: () => void): () => void;
  /** The current value; the same object until the next change. */
  getSnapshot(): T;
}

export interface WritableStore<T> extends ReadableStore<T> {
  set(value: T): void;
  update(change: (value: T) => T): void;
  /** Listeners currently subscribed (a store nobody watches may be dropped). */
  readonly watched: boolean;
}

/**
 * A store holding one value. Listeners are told after the current task's synchronous work, once
 * per burst of changes (a replay of 500 messages re-renders once, not 500 times), while
 * `getSnapshot` always answers the newest value.
 */
export function createStore<T>(initial: T, onListenerError: (error: unknown) => void): WritableStore<T> {
  let value = initial;
  const listeners = new Set<() => void>();
  let scheduled = false;
  const notify = (): void => {
    scheduled = false;
    for (const listener of [...listeners]) {
      try {
        listener();
      } catch (error) {
        onListenerError(error);
      }
    }
  };
  const set = (next: T): void => {
    if (Object.is(next, value)) return;
    value = next;
    if (!scheduled && listeners.size > 0) {
      scheduled = true;
      queueMicrotask(notify);
    }
  };
  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    getSnapshot: () => value,
    set,
    update: (change) => set(change(value)),
    get watched() {
      return listeners.size > 0;
    },
  };
}

export interface ComputedStore<T> extends ReadableStore<T> {
  /** Marks the value stale: it is computed again when next read, and listeners are told. */
  invalidate(): void;
  readonly watched: boolean;
}

/**
 * A store whose value is computed from state held elsewhere, at most once per change: a burst
 * of 500 replayed messages invalidates it 500 times but copies the message list once, when it
 * is next read.
 */
export function createComputedStore<T>(compute: () => T, onListenerError: (error: unknown) => void): ComputedStore<T> {
  let value = compute();
  let stale = false;
  const inner = createStore(0, onListenerError);
  let version = 0;
  return {
    subscribe: (listener) => inner.subscribe(listener),
    getSnapshot() {
      if (stale) {
        stale = false;
        value = compute();
      }
      return value;
    },
    invalidate() {
      stale = true;
      version += 1;
      inner.set(version);
    },
    get watched() {
      return inner.watched;
    },
  };
}
