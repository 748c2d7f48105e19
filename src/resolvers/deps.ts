import type { Limits } from '../config.ts';
import type { Store } from '../storage/port.ts';
import type { Quota } from '../quota/port.ts';
import type { RateLimiter } from './rate-limit.ts';

/** What the use cases need; built once by the composition root and reached through context. */
export interface UseCaseDeps {
  readonly store: Store;
  readonly limits: Limits;
  readonly sendLimiter: RateLimiter;
  /** Per-user quotas across gateways: the createGroup / addGroupMembers throttle. */
  readonly quota: Quota;
  readonly now: () => Date;
  /** A new unique id that starts with `prefix` (one of `IdPrefix`, ids.ts). */
  readonly newId: (prefix: string) => string;
  /** Told about each message a send stored (not about retries that returned the original). */
  readonly onMessageStored?: () => void;
}
