/**
 * Queries and mutations over HTTP with `fetch` (browsers, React Native and Node 18+ have it),
 * and the classification of what went wrong, which decides whether the kit retries.
 */

/** A GraphQL error as the server sends it. */
export interface GraphQLErrorLike {
  readonly message: string;
  readonly path?: readonly (string | number)[];
  readonly extensions?: Readonly<Record<string, unknown>>;
}

export interface GraphQLResponse<T> {
  readonly data?: T | null;
  readonly errors?: readonly GraphQLErrorLike[];
}

/** Codes that say the request itself is wrong: sending it again gives the same answer. */
const PERMANENT_CODES = new Set([
  'BAD_USER_INPUT',
  'FORBIDDEN',
  'NOT_FOUND',
  'GRAPHQL_VALIDATION_FAILED',
  'GRAPHQL_PARSE_FAILED',
  'BAD_REQUEST',
]);

export const RequestErrorKind = {
  /** The server could not be reached or did not answer in time. */
  network: 'network',
  /** The token was missing, expired or refused (UNAUTHENTICATED). */
  auth: 'auth',
  /** RATE_LIMITED: retry after `retryAfterMs`. */
  rateLimited: 'rateLimited',
  /** The request is wrong (BAD_USER_INPUT, FORBIDDEN, NOT_FOUND, invalid document). */
  rejected: 'rejected',
  /** The server failed in a way it did not explain (a masked internal error, HTTP 500). */
  server: 'server',
} as const;
export type RequestErrorKind = (typeof RequestErrorKind)[keyof typeof RequestErrorKind];

export class ChatRequestError extends Error {
  override readonly name = 'ChatRequestError';
  constructor(
    message: string,
    readonly kind: RequestErrorKind,
    /** `extensions.code` of the first error, when the server answered with one. */
    readonly code: string | null,
    readonly errors: readonly GraphQLErrorLike[] = [],
    /** For RATE_LIMITED: how long the server asked to wait. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

const codeOf = (error: GraphQLErrorLike | undefined): string | null => {
  const code = error?.extensions?.['code'];
  return typeof code === 'string' ? code : null;
};

/** The error a response's GraphQL errors amount to. */
export function errorFromGraphQL(errors: readonly GraphQLErrorLike[]): ChatRequestError {
  const first = errors[0];
  const code = codeOf(first);
  const message = first?.message ?? 'The server answered with errors.';
  if (code === 'UNAUTHENTICATED') return new ChatRequestError(message, RequestErrorKind.auth, code, errors);
  if (code === 'RATE_LIMITED') {
    const retryAfter = first?.extensions?.['retryAfterMs'];
    return new ChatRequestError(message, RequestErrorKind.rateLimited, code, errors, typeof retryAfter === 'number' ? retryAfter : null);
  }
  if (code !== null && PERMANENT_CODES.has(code)) return new ChatRequestError(message, RequestErrorKind.rejected, code, errors);
  return new ChatRequestError(message, RequestErrorKind.server, code, errors);
}

export interface PostOptions {
  readonly fetch: typeof fetch;
  readonly url: string;
  readonly token: string | null;
  readonly query: string;
  readonly variables: unknown;
  /** Abort the request after this long, in ms. */
  readonly timeoutMs: number;
}

/**
 * One POST. Resolves with the parsed response when the server answered GraphQL (data and/or
 * errors); rejects with a ChatRequestError of kind network or server otherwise.
 */
export async function postGraphQL<T>({ fetch: fetchImpl, url, token, query, variables, timeoutMs }: PostOptions): Promise<GraphQLResponse<T>> {
  const controller = typeof AbortController === 'function' ? new AbortController() : null;
  const timer = setTimeout(() => controller?.abort(), timeoutMs);
  let response: Response;
  try {
    response = await fetchImpl(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify({ query, variables }),
      ...(controller === null ? {} : { signal: controller.signal }),
    });
  } catch (error) {
    clearTimeout(timer);
    const message = error instanceof Error ? error.message : String(error);
    throw new ChatRequestError(`The server could not be reached: ${message}`, RequestErrorKind.network, null);
  }
  try {
    const text = await response.text();
    let body: GraphQLResponse<T> | null = null;
    try {
      body = JSON.parse(text) as GraphQLResponse<T>;
    } catch {
      body = null;
    }
    if (body !== null && typeof body === 'object' && ('data' in body || 'errors' in body)) return body;
    // Not a GraphQL answer: a proxy's error page, a gateway restarting, an overloaded server.
    const kind =
      response.status === 429 || response.status === 502 || response.status === 503 || response.status === 504
        ? RequestErrorKind.network
        : RequestErrorKind.server;
    throw new ChatRequestError(`The server answered HTTP ${response.status}.`, kind, null);
  } catch (error) {
    if (error instanceof ChatRequestError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new ChatRequestError(`The answer was cut off: ${message}`, RequestErrorKind.network, null);
  } finally {
    clearTimeout(timer);
  }
}
