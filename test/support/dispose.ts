/**
 * One list of disposers per test file (vitest isolates modules per file): whatever a test
 * starts registers its cleanup with `onDispose`, and `disposeAll`, called from afterAll or
 * afterEach, runs them most recent first, as graphql-ws's `tests/utils/tservers.ts` does.
 */
type Disposer = () => Promise<unknown> | unknown;

const disposers: Disposer[] = [];

/** Registers cleanup to run in `disposeAll`, most recent first. */
export function onDispose(dispose: Disposer): void {
  disposers.push(dispose);
}

/** Runs every registered cleanup, most recent first, and empties the list. */
export async function disposeAll(): Promise<void> {
  while (disposers.length > 0) {
    const dispose = disposers.pop() as Disposer;
    await dispose();
  }
}
