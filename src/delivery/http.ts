/**
 * GraphQL over HTTP in front of yoga. graphql-yoga serves HTTP through `@whatwg-node/server`:
 * every request becomes a WHATWG Request with a body stream and an AbortSignal, passes each
 * HTTP-level plugin hook, and the answer goes back through a Response stream. A profile of
 * `sendGroupMessage` put most of a send's CPU there, ahead of the mutation itself.
 *
 * So the common request of an API client takes a short path: a POST of JSON to the GraphQL
 * endpoint, with a Content-Length, no Origin (browsers always send one; their requests keep
 * yoga's CORS handling), that parses and validates, for a query or a mutation. It still runs
 * through yoga's envelop (`getEnveloped`: the parse and validation caches, the context
 * factory, masked errors, metrics and every GraphQL plugin), and yoga's own
 * `processRegularResult` builds the answer, so status codes and bodies are yoga's. Everything
 * else, including every request that fails before execution, is answered by yoga itself.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getOperationAST, GraphQLError, type DocumentNode, type ExecutionResult } from 'graphql';
import { createGraphQLError, processRegularResult, type YogaServerInstance } from 'graphql-yoga';

export interface GraphQLHttpOptions<TServerContext extends Record<string, any>, TContext extends object> {
  readonly yoga: YogaServerInstance<TServerContext, TContext>;
  /** The GraphQL endpoint's path, e.g. `/graphql`. */
  readonly path: string;
  /** Largest request body in bytes; a larger Content-Length is answered 413 unread. */
  readonly maxBodyBytes: number;
  /** Masks an error thrown during execution, as yoga's `maskedErrors` does. */
  readonly maskError: (error: unknown) => Error;
  /**
   * Most bytes of an oversized body read and dropped after its 413, so that the client reads the
   * answer; a longer body has its connection destroyed. @default 8 MiB
   */
  readonly lingerBytes?: number;
  /** Longest time spent dropping an oversized body after its 413. @default 5000 */
  readonly lingerMs?: number;
  /** Called for each request answered on the short path. @default does nothing */
  readonly onShortPath?: () => void;
}

/** The media types yoga's regular result processor can answer with. */
const REGULAR_MEDIA_TYPES = ['application/graphql-response+json', 'application/json'] as const;
type RegularMediaType = (typeof REGULAR_MEDIA_TYPES)[number];

/**
 * The media type yoga would answer a query or mutation with, or null when it would not use its
 * regular processor. Mirrors yoga's `useResultProcessors`: the regular processor wins whenever
 * any accepted type matches it, with the media type of the first such entry in the header;
 * a wildcard entry matches both and yoga settles on the last, application/json. Entries with a
 * charset other than utf-8 are ignored, as yoga ignores them.
 */
export function regularMediaType(accept: string | undefined): RegularMediaType | null {
  const asked = (accept || '*/*').replace(/\s/g, '').toLowerCase().split(',');
  for (const entry of asked) {
    const [mediaType = '', ...params] = entry.split(';');
    const charset = params.find((param) => param.includes('charset=')) ?? 'charset=utf-8';
    if (charset !== 'charset=utf-8') continue;
    const [pre, suf] = mediaType.split('/');
    let matched: RegularMediaType | null = null;
    for (const candidate of REGULAR_MEDIA_TYPES) {
      const [cPre, cSuf] = candidate.split('/');
      if ((pre === '*' || pre === cPre) && (suf === '*' || suf === cSuf)) matched = candidate;
    }
    if (matched !== null) return matched;
  }
  return null;
}

const isJson = (contentType: string | undefined): boolean => {
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
  return mediaType === 'application/json' || mediaType === 'application/graphql+json';
};

/** What the short path accepts as a request body; anything else goes to yoga. */
interface Params {
  readonly query: string;
  readonly variables?: Record<string, unknown> | null;
  readonly operationName?: string | null;
}

function asParams(body: unknown): Params | null {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return null;
  const { query, variables, operationName, extensions, ...rest } = body as Record<string, unknown>;
  if (Object.keys(rest).length > 0 || extensions != null || typeof query !== 'string') return null;
  if (variables != null && (typeof variables !== 'object' || Array.isArray(variables))) return null;
  if (operationName != null && typeof operationName !== 'string') return null;
  return body as Params;
}

/** Collects what yoga's result processor builds, instead of a WHATWG Response. */
class CapturedResponse {
  constructor(
    readonly body: string | null,
    readonly init: { readonly status?: number; readonly headers?: Record<string, string> } = {},
  ) {}
}
const capture = { Response: CapturedResponse } as unknown as Parameters<typeof processRegularResult>[1];

/** The part of a WHATWG Request the context factory and plugins read. */
function requestShim(req: IncomingMessage, url: string) {
  return {
    method: req.method ?? 'POST',
    url,
    headers: {
      get: (name: string): string | null => {
        const value = req.headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
      },
      has: (name: string): boolean => req.headers[name.toLowerCase()] !== undefined,
    },
  };
}

export function createGraphQLHttpHandler<TServerContext extends Record<string, any>, TContext extends object>({
  yoga,
  path,
  maxBodyBytes,
  maskError,
  lingerBytes = 8 * 1024 * 1024,
  lingerMs = 5000,
  onShortPath = () => {},
}: GraphQLHttpOptions<TServerContext, TContext>): (req: IncomingMessage, res: ServerResponse) => void {
  const send = (res: ServerResponse, result: ExecutionResult, mediaType: RegularMediaType): void => {
    const response = processRegularResult(result, capture, mediaType) as unknown as CapturedResponse;
    res.writeHead(response.init.status ?? 200, response.init.headers ?? {});
    res.end(response.body ?? undefined);
  };

  /** Hands a request whose body was already read to yoga, streaming its answer (SSE too). */
  async function toYoga(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const aborted = new AbortController();
    res.once('close', () => aborted.abort());
    const init: RequestInit = { method: 'POST', headers, body: body.toString('utf8'), signal: aborted.signal };
    const response = await yoga.fetch(`http://${req.headers.host ?? 'localhost'}${req.url ?? path}`, init, {
      req,
      res,
    } as unknown as TServerContext);
    const responseHeaders: Record<string, string> = {};
    response.headers.forEach((value, name) => (responseHeaders[name] = value));
    res.writeHead(response.status, responseHeaders);
    if (response.body === null) {
      res.end();
      return;
    }
    const reader = response.body.getReader();
    // A subscription answered as server-sent events streams until either side ends it.
    res.once('close', () => void reader.cancel().catch(() => {}));
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await new Promise((resolve) => res.once('drain', resolve));
    }
    res.end();
  }

  async function shortPath(req: IncomingMessage, res: ServerResponse, mediaType: RegularMediaType, body: Buffer): Promise<void> {
    let params: Params | null = null;
    try {
      params = asParams(JSON.parse(body.toString('utf8')));
    } catch {
      params = null;
    }
    if (params === null) return toYoga(req, res, body);
    const url = `http://${req.headers.host ?? 'localhost'}${path}`;
    const request = requestShim(req, url);
    const enveloped = yoga.getEnveloped({ req, res, request, params } as unknown as TServerContext);
    let document: DocumentNode;
    try {
      document = enveloped.parse(params.query);
    } catch {
      return toYoga(req, res, body);
    }
    const operationName = params.operationName ?? null;
    const operation = getOperationAST(document, operationName);
    if (operation === null || operation === undefined || operation.operation === 'subscription') return toYoga(req, res, body);
    if (enveloped.validate(enveloped.schema, document).length > 0) return toYoga(req, res, body);
    onShortPath();
    let result: ExecutionResult;
    try {
      const contextValue = await enveloped.contextFactory();
      result = (await enveloped.execute({
        schema: enveloped.schema,
        document,
        contextValue,
        variableValues: params.variables ?? null,
        operationName,
      })) as ExecutionResult;
    } catch (error) {
      // What yoga's handleError does with an error thrown instead of returned.
      const masked = maskError(error);
      result = {
        errors: [masked instanceof GraphQLError ? masked : createGraphQLError(masked.message, { originalError: masked })],
      };
    }
    send(res, result, mediaType);
  }

  /**
   * Reads and drops the body of a request answered early, as nginx's lingering close does: a
   * client still sending its body reads the answer instead of failing on a reset connection, and
   * the connection can be reused. Nothing is kept; past `lingerBytes` or `lingerMs` the socket is
   * destroyed, so a client cannot hold it by sending forever.
   */
  const discard = (req: IncomingMessage): void => {
    let dropped = 0;
    const stop = (): void => {
      clearTimeout(timer);
      req.off('data', count);
    };
    const count = (chunk: Buffer): void => {
      dropped += chunk.length;
      if (dropped > lingerBytes) {
        stop();
        req.socket.destroy();
      }
    };
    const timer = setTimeout(() => {
      stop();
      req.socket.destroy();
    }, lingerMs);
    timer.unref();
    req.on('data', count);
    req.once('end', stop);
    req.once('close', stop);
  };

  return (req, res) => {
    const mediaType =
      req.method === 'POST' && req.url === path && req.headers.origin === undefined && isJson(req.headers['content-type'])
        ? regularMediaType(req.headers.accept)
        : null;
    const declared = req.headers['content-length'];
    if (mediaType === null || declared === undefined || !/^\d+$/.test(declared)) {
      void yoga(req, res);
      return;
    }
    if (Number(declared) > maxBodyBytes) {
      send(res, { errors: [createGraphQLError('Request body too large', { extensions: { http: { status: 413 }, code: 'REQUEST_ENTITY_TOO_LARGE' } })] }, mediaType);
      discard(req);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => {
      shortPath(req, res, mediaType, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)).catch((error: unknown) => {
        res.destroy(error instanceof Error ? error : new Error(String(error)));
      });
    });
  };
}
