/**
 * Who may read /metrics. Metrics name internal state (queue lengths, relay lag, Redis reconnects,
 * process memory) that is nobody's business outside operations. With `METRICS_TOKEN` set, /metrics
 * answers only `authorization: Bearer <token>` (Prometheus: `authorization: { credentials: … }`
 * in the scrape config). Without it, /metrics is open in development and off in production. The
 * same rule holds on a gateway's GraphQL port and on a relay's operational port.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
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

/** Guards `endpoint` in front of the Prometheus plugin. */
export function useMetricsAccess(access: MetricsAccess, endpoint: string): Plugin {
  return {
    onRequest({ request, url, fetchAPI, endResponse }) {
      if (url.pathname !== endpoint) return;
      const refusal = metricsRefusal(access, request.headers.get('authorization'));
      if (refusal === null) return;
      endResponse(
        new fetchAPI.Response(refusal === 401 ? 'unauthorized' : 'not found', {
          status: refusal,
          headers: { 'content-type': 'text/plain', ...(refusal === 401 ? { 'www-authenticate': 'Bearer' } : {}) },
        }),
      );
    },
  };
}
