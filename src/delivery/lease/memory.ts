/** The in-process relay lease for the embedded default (one process, so always granted). */
import type { RelayLease } from '../ports.ts';

/**
 * Granted at once, lost only through `release`. Each acquisition after a release takes a new,
 * higher fence, above `fenceFloor`: the process's counter starts at 0 on every start, and the
 * floor (the fence stored with the checkpoint) keeps tokens growing across restarts.
 */
export function createLocalLease(): RelayLease {
  let held: { readonly controller: AbortController; readonly fence: number } | null = null;
  let counter = 0;
  return {
    acquire(signal, { fenceFloor = 0 } = {}) {
      if (signal.aborted) return Promise.reject(signal.reason);
      if (held === null) {
        counter = Math.max(counter, fenceFloor) + 1;
        held = { controller: new AbortController(), fence: counter };
      }
      return Promise.resolve({ lost: held.controller.signal, fence: held.fence });
    },
    release() {
      held?.controller.abort(new Error('Relay lease released'));
      held = null;
      return Promise.resolve();
    },
  };
}
