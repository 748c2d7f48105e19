/**
 * GraphiQL, rendered once and served from one shared buffer.
 *
 * The page inlines every asset (no CDN, works offline) and weighs 9 MB. Yoga's own GraphiQL
 * plugin calls the renderer on every request and hands the string to the response
 * (graphql-yoga `src/plugins/use-graphiql.ts`), so each request allocates a fresh 9 MB string
 * and, once encoded for the socket, 9 MB more; a client that never reads pins both. Forty unread
 * requests took a gateway from 380 MB to 1.4 GB. Here the page is rendered and gzipped once, and
 * every response writes the same Buffer: Node keeps a reference to a pending Buffer write, not a
 * copy, so a stalled reader holds nothing of its own (and the server's idle timeout drops it).
 */
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { GraphiQLOptions, Plugin } from 'graphql-yoga';

export interface StaticGraphiQLOptions {
  /** Path GraphiQL is served on (GraphQL's own, like yoga does). */
  readonly endpoint: string;
  /** Renders the page's HTML; called once. */
  readonly render: (options: GraphiQLOptions) => string | Promise<string>;
  readonly options: GraphiQLOptions;
}

interface Page {
  // Plain ArrayBuffer-backed (never shared memory), which is what a response body takes.
  readonly identity: Buffer<ArrayBuffer>;
  readonly gzip: Buffer<ArrayBuffer>;
}

/** Whether the client accepts gzip (`accept-encoding: gzip`, not `gzip;q=0`). */
const acceptsGzip = (header: string | null): boolean =>
  header !== null && header.split(',').some((part) => /^\s*gzip\s*(;\s*q\s*=\s*(?!0(\.0*)?\s*$)[\d.]+\s*)?$/i.test(part));

export function useStaticGraphiQL({ endpoint, render, options }: StaticGraphiQLOptions): Plugin {
  let page: Promise<Page> | null = null;
  const renderOnce = (): Promise<Page> => {
    page ??= (async () => {
      const identity = Buffer.from(await render(options), 'utf8') as Buffer<ArrayBuffer>;
      return { identity, gzip: (await promisify(gzip)(identity)) as Buffer<ArrayBuffer> };
    })();
    return page;
  };
  return {
    async onRequest({ request, url, fetchAPI, endResponse }) {
      // The same match as yoga's plugin: a browser navigating to the GraphQL endpoint.
      if (request.method !== 'GET' || !(request.headers.get('accept') ?? '').includes('text/html')) return;
      if (url.pathname !== endpoint && url.pathname !== `${endpoint}/`) return;
      const { identity, gzip: compressed } = await renderOnce();
      const zipped = acceptsGzip(request.headers.get('accept-encoding'));
      endResponse(
        new fetchAPI.Response(zipped ? compressed : identity, {
          status: 200,
          headers: {
            'content-type': 'text/html; charset=utf-8',
            vary: 'accept-encoding',
            ...(zipped ? { 'content-encoding': 'gzip' } : {}),
          },
        }),
      );
    },
  };
}
