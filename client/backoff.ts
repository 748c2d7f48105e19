/**
 * Reconnect and resend delays: exponential, capped, with jitter so that clients dropped by the
 * same server restart do not all come back in the same millisecond.
 */

export interface BackoffOptions {
  /** Delay ceiling of the first retry, in ms. @default 500 */
  readonly baseMs: number;
  /** No delay exceeds this, however many attempts failed, in ms. @default 30000 */
  readonly capMs: number;
}

export const defaultBackoff: BackoffOptions = { baseMs: 500, capMs: 30_000 };

/**
 * The delay before retry number `attempt` (0 for the first retry): "equal jitter", uniformly in
 * [d/2, d] with d = min(cap, base · 2^attempt). Half of it is fixed, so a retry never comes
 * right away (a crash-looping server is not hammered); the other half spreads clients out.
 * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  // 2^attempt overflows to Infinity long after the cap applies; Math.min handles it.
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.max(0, attempt));
  return ceiling / 2 + random() * (ceiling / 2);
}
