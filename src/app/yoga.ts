/**
 * Yoga for a gateway's GraphQL over HTTP (and the envelop that graphql-ws operations run
 * through): a list of `useX(...)` plugins, in the order they must wrap each other, and the
 * context factory that authenticates each request.
 */
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { usePrometheus } from '@graphql-yoga/plugin-prometheus';
import { GraphQLError } from 'graphql';
import { createYoga, type GraphiQLOptions, type YogaLogger, type YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { TokenVerifier } from '../auth/jwt.ts';
import type { Config } from '../config.ts';
import type { SocketServerContext } from '../delivery/transport.ts';
import type { Metrics } from '../metrics.ts';
import type { Quota } from '../quota/port.ts';
import { createViewerRegistry } from '../resolvers/users.ts';
import type { Auth, Context } from '../schema/builder.ts';
import { maskError } from '../schema/errors.ts';
import { schema } from '../schema/index.ts';
import { useStaticGraphiQL } from '../security/graphiql.ts';
import { useInputRules } from '../security/input-errors.ts';
import { useOperationLimits } from '../security/operation-limits.ts';
import { createParseCache } from '../security/parse-cache.ts';
import { useSessionLimits } from '../security/session-limits.ts';
import type { Store } from '../storage/port.ts';
import { authenticate, type ContextFor } from './context.ts';

export type HttpYoga = YogaServerInstance<SocketServerContext, Context>;

export interface HttpYogaOptions {
  readonly config: Pick<Config, 'limits' | 'http'>;
  /** Where GraphQL (and GraphiQL) is served. */
  readonly graphqlPath: string;
  readonly logger: Logger;
  readonly store: Store;
  readonly quota: Quota;
  readonly tokens: TokenVerifier;
  readonly contextFor: ContextFor;
  readonly metrics: Pick<Metrics, 'registry'>;
}

/** What GraphiQL opens with: how to get a token, and a first query to run with it. */
const GRAPHIQL: GraphiQLOptions = {
  title: 'Group chat',
  defaultQuery: [
    '# Get a token: npm run token -- alice',
    '# Put it in Headers: {"authorization": "Bearer <token>"}',
    '',
    'query Me {',
    '  viewer { id name }',
    '  groups(first: 10) { edges { node { id name unreadCount lastMessage { seq body } } } }',
    '}',
    '',
  ].join('\n'),
  headers: JSON.stringify({ authorization: 'Bearer <token from npm run token -- alice>' }, null, 2),
};

/** Yoga's log calls, in pino. */
function yogaLogger(logger: Logger): YogaLogger {
  return {
    debug: () => {},
    info: (...args) => logger.info(args.map(String).join(' ')),
    warn: (...args) => logger.warn(args.map(String).join(' ')),
    // Yoga reports errors it masked here; errors meant for the user are not the server's.
    error: (...args) => {
      if (!args.some((arg) => arg instanceof Error && !(arg instanceof GraphQLError))) return;
      logger.error({ err: args.find((arg) => arg instanceof Error) }, 'unexpected error');
    },
  };
}

export function createHttpYoga({ config, graphqlPath, logger, store, quota, tokens, contextFor, metrics }: HttpYogaOptions): HttpYoga {
  const { limits, http } = config;
  const viewers = createViewerRegistry({ store });
  return createYoga<SocketServerContext, Context>({
    schema,
    graphqlEndpoint: graphqlPath,
    landingPage: false,
    // Yoga's own body limit (413) answers what reaches it: browsers' requests and bodies
    // without a Content-Length. API clients' requests are held to the same limit before yoga,
    // from Content-Length (delivery/http.ts).
    maxRequestBodySize: limits.maxRequestBodyBytes,
    parserAndValidationCache: createParseCache({ maxBytes: limits.parseCacheBytes }),
    // Yoga's default reflects any Origin and allows credentials; tokens travel in a header, so
    // credentials are never needed, and only listed origins are answered.
    cors: http.corsOrigins.length === 0 ? false : { origin: [...http.corsOrigins], credentials: false },
    logging: yogaLogger(logger),
    // Masked in every mode: internal details go to the log, never to clients.
    maskedErrors: { maskError, isDev: false },
    // Served by useStaticGraphiQL below: one shared buffer, not a 9 MB string per request.
    graphiql: false,
    plugins: [
      http.graphiql &&
        useStaticGraphiQL({
          endpoint: graphqlPath,
          // Served from the package, not a CDN, so GraphiQL works with no internet.
          render: renderGraphiQL,
          options: GRAPHIQL,
        }),
      useOperationLimits(limits),
      useInputRules({ introspection: http.introspection }),
      useSessionLimits({
        quota,
        maxSubscriptionsPerUser: limits.maxSubscriptionsPerUser,
        onError: (error) => logger.warn({ err: error }, 'releasing a subscription slot failed'),
      }),
      // No url label: one series per distinct URL (query strings included) would be unbounded.
      // No endpoint: /metrics is served with /health and /ready by app/ops.ts, on every role.
      usePrometheus({
        registry: metrics.registry,
        endpoint: false,
        labels: { url: false },
        // Request counts, errors and HTTP durations. The per-phase histograms and the
        // deprecated-field counter were most of a send's CPU in a profile: the latter walks
        // every document with TypeInfo on every request, and this schema deprecates nothing.
        metrics: {
          graphql_envelop_request: true,
          graphql_envelop_error_result: true,
          graphql_yoga_http_duration: true,
          graphql_envelop_deprecated_field: false,
          graphql_envelop_request_duration: false,
          graphql_envelop_request_time_summary: false,
          graphql_envelop_phase_parse: false,
          graphql_envelop_phase_validate: false,
          graphql_envelop_phase_context: false,
          graphql_envelop_phase_execute: false,
          graphql_envelop_phase_subscribe: false,
          graphql_envelop_schema_change: false,
        },
      }),
    ],
    context: async (initial): Promise<Context> => {
      const auth: Auth =
        initial.viewer !== undefined
          ? { viewer: initial.viewer, ...(initial.expiresAt === undefined ? {} : { expiresAt: initial.expiresAt }) }
          : await authenticate(tokens, initial.request.headers.get('authorization'));
      if (auth.viewer !== null) await viewers.remember(auth.viewer);
      return contextFor(auth);
    },
  });
}
