/**
 * Who may read /metrics. Metrics name internal state (queue lengths, relay lag, Redis reconnects,
 * process memory) that is nobody's business outside operations. With `METRICS_TOKEN` set, /metrics
 * answers only `authorization: Bearer <token>` (Prometheus: `authorization: { credentials: … }`
 * in the scrape config). Without it, /metrics is open in development and off in production. The
 * same rule holds on every role's port (app/ops.ts serves /metrics for all of them).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { bearerToken } from '../auth/jwt.ts';

export type MetricsAccess =
  | { readonly kind: 'open' }
  | { readonly kind: 'token'; readonly token: string }
  | { readonly kind: 'off' };

export function metricsAccess({ metricsToken, production }: { readonly metricsToken: string | null; readonly production: boolean }): MetricsAccess {
  if (metricsToken !== null) return { kind: 'token', token: metricsToken };
  return production ? { kind: 'off' } : { kind: 'open' };
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** The HTTP status to answer instead of the metrics, or null to serve them. */
export function metricsRefusal(access: MetricsAccess, authorization: string | null | undefined): 401 | 404 | null {
  if (access.kind === 'open') return null;
  if (access.kind === 'off') return 404;
  const given = bearerToken(authorization);
  // Compare digests, so neither the length nor a prefix of the token leaks through timing.
  return given !== null && timingSafeEqual(digest(given), digest(access.token)) ? null : 401;
}
