import { InvalidFenceError } from './errors.ts';

/** Fencing tokens (see `Store.claimCheckpoint`): positive safe integers, as the leases hand out. */
export function checkFence(fence: number): number {
  if (!Number.isSafeInteger(fence) || fence < 1) {
    throw new InvalidFenceError(`A fencing token must be a positive safe integer, got ${String(fence)}`);
  }
  return fence;
}
