/**
 * graphql-ws on the same path as HTTP GraphQL. Authentication happens once, at
 * `connection_init`: a missing or bad token closes the socket with 4403 before it is
 * acknowledged. Operations then run through yoga's envelop, so they get the same context,
 * error masking and plugins as HTTP requests.
 */
import type { IncomingMessage, Server } from 'node:http';
import {
  GraphQLError,
  createSourceEventStream,
  getOperationAST,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
} from 'graphql';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer, type WebSocket } from 'ws';
import { bearerToken, InvalidTokenError, type Session, type TokenVerifier, type Viewer } from '../auth/jwt.ts';
import { FramePump } from './frames.ts';
import type { SharedExecutor } from './shared-execution.ts';
import type { GuardedConnection, SocketGuard } from './socket-guard.ts';
import { serveGraphQLWs, type SocketExtra } from './ws-server.ts';

/** What the transport adds to yoga's server context for WebSocket operations. */
export interface SocketServerContext {
  readonly viewer?: Viewer;
  /** Epoch ms at which the connection's token expires. */
  readonly expiresAt?: number;
  readonly req?: IncomingMessage;
}

export interface WebSocketTransportOptions<TContext extends object> {
  readonly server: Server;
  readonly path: string;
  readonly yoga: YogaServerInstance<SocketServerContext, TContext>;
  readonly tokens: TokenVerifier;
  /** Largest incoming WebSocket message, in bytes. */
  readonly maxPayloadBytes: number;
  /** Most operations one connection may run at once. */
  readonly maxSubscriptionsPerConnection: number;
  /** How long a socket may stay open without `connection_init` before it is closed with 4408. */
  readonly connectionInitTimeoutMs: number;
  /** Renders subscription events once per distinct operation for every socket on the node. */
  readonly executor: SharedExecutor<Viewer>;
  /**
   * Admits a subscription before its stream opens, in place of the envelop plugins' onSubscribe
   * hooks (see subscribeShared): the errors to answer, or the function to call when it ends.
   */
  readonly admitSubscription: (args: ExecutionArgs, viewer: Viewer) => Promise<readonly GraphQLError[] | (() => void)>;
  /** What a client sees of a subscription that failed to open (coded, masked errors). */
  readonly formatSubscriptionErrors: (result: ExecutionResult) => ExecutionResult;
  /** Token expiry, per-user connection cap and document limits (socket-guard.ts). */
  readonly guard: SocketGuard;
  /** Called once a connection is authenticated, and when it closes. @default does nothing */
  readonly onConnection?: (delta: 1 | -1) => void;
  /** Called for each frame written by a shared subscription. @default does nothing */
  readonly onFrame?: () => void;
  /** Told about an internal error that closed a socket with 4500. @default does nothing */
  readonly onSocketError?: (error: unknown) => void;
}

export interface WebSocketTransport {
  /** Closes every socket with 1001 (going away) so clients reconnect elsewhere. */
  close(): Promise<void>;
}

/** WebSocket close code 1001: the server is going away; clients reconnect, elsewhere if they can. */
const GOING_AWAY = 1001;

type ExtraWithViewer = SocketExtra & {
  viewer?: Viewer;
  expiresAt?: number;
  guarded?: GuardedConnection;
};

interface EnvelopedRoot {
  readonly execute: (args: ExecutionArgs) => unknown;
  readonly subscribe: (args: ExecutionArgs) => unknown;
  /** Set for subscriptions: their events go to this socket as frames of a shared shape. */
  readonly frames?: {
    readonly socket: WebSocket;
    readonly id: string;
    readonly query: string;
    readonly viewer: Viewer;
  };
}

export function createWebSocketTransport<TContext extends object>({
  server,
  path,
  yoga,
  tokens,
  maxPayloadBytes,
  maxSubscriptionsPerConnection,
  connectionInitTimeoutMs,
  executor,
  admitSubscription,
  formatSubscriptionErrors,
  guard,
  onConnection = () => {},
  onFrame = () => {},
  onSocketError = () => {},
}: WebSocketTransportOptions<TContext>): WebSocketTransport {
  const wss = new WebSocketServer({ server, path, maxPayload: maxPayloadBytes });

  /**
   * A subscription whose events are rendered by a shared shape and written as frames. It does
   * not run through envelop's subscribe: every plugin hook there wraps the stream in an iterator
   * of its own and keeps the operation's context alive with it, about 8 kB per subscription in a
   * heap snapshot, for hooks that have nothing to do on a stream of root values. The checks that
   * matter run explicitly instead (`admitSubscription`: cost limits, the per-user cap), the
   * source stream comes from graphql-js's createSourceEventStream (the subscribe resolver:
   * arguments, authorization, the gateway's cursors), and no execution, context or result
   * object is made per subscriber and event.
   */
  async function subscribeShared(
    args: ExecutionArgs,
    frames: NonNullable<EnvelopedRoot['frames']>,
  ): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
    const admitted = await admitSubscription(args, frames.viewer);
    if (typeof admitted !== 'function') return { errors: [...admitted] };
    let source: AsyncIterable<unknown> | ExecutionResult;
    try {
      source = await createSourceEventStream(args);
    } catch (error) {
      admitted();
      throw error;
    }
    if (!(Symbol.asyncIterator in source)) {
      admitted();
      return formatSubscriptionErrors(source);
    }
    // graphql-ws keeps the arguments for the life of the operation; the context (loaders and
    // all) was only needed to open the stream.
    (args as { contextValue?: unknown }).contextValue = undefined;
    const shape = executor.acquire({
      query: frames.query,
      document: args.document,
      operationName: args.operationName ?? null,
      variables: args.variableValues ?? null,
      viewer: frames.viewer,
    });
    return new FramePump({ source: source[Symbol.asyncIterator](), shape, socket: frames.socket, id: frames.id, onFrame, onEnd: admitted });
  }

  const disposable = serveGraphQLWs<Record<string, unknown> | undefined, ExtraWithViewer>(
    {
      connectionInitWaitTimeout: connectionInitTimeoutMs,
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      subscribe: (args) => {
        const root = args.rootValue as EnvelopedRoot;
        return (root.frames === undefined ? root.subscribe(args) : subscribeShared(args, root.frames)) as never;
      },
      onConnect: async (ctx) => {
        const token = bearerToken(ctx.connectionParams?.['authorization'] ?? ctx.connectionParams?.['Authorization']);
        if (token === null) return false;
        let session: Session;
        try {
          session = await tokens.verifySession(token);
        } catch (error) {
          if (error instanceof InvalidTokenError) return false;
          throw error;
        }
        const { socket } = ctx.extra;
        const closed = (): boolean => socket.readyState === socket.CLOSED;
        // Closed while the token was verified: 'close' has fired already and would never undo +1.
        if (closed()) return false;
        const guarded = await guard.admit(session, (code, reason) => socket.close(code, reason));
        if (guarded === null) return false;
        if (closed()) {
          guarded.end();
          return false;
        }
        Object.assign(ctx.extra, { viewer: session.viewer, expiresAt: session.expiresAt, guarded });
        // graphql-ws keeps connectionParams for the connection's life; the token in them has
        // been verified and is not needed again.
        // @ts-expect-error: graphql-ws's context is readonly to its users; this write is ours.
        ctx.connectionParams = undefined;
        onConnection(1);
        socket.once('close', () => {
          guarded.end();
          onConnection(-1);
        });
        return true;
      },
      onSubscribe: async (ctx, id, payload) => {
        // An operation after the token's exp closes the socket (4403), whatever the timer did.
        if (ctx.extra.guarded?.check() === false) {
          return [new GraphQLError('The token has expired.', { extensions: { code: 'UNAUTHENTICATED' } })];
        }
        const documentErrors = guard.documentErrors(payload.query);
        if (documentErrors.length > 0) return documentErrors;
        // graphql-ws has already reserved this operation's id in ctx.subscriptions.
        if (Object.keys(ctx.subscriptions).length > maxSubscriptionsPerConnection) {
          return [
            new GraphQLError(`A connection may run at most ${maxSubscriptionsPerConnection} operations at once.`, {
              extensions: { code: 'RATE_LIMITED', limit: maxSubscriptionsPerConnection },
            }),
          ];
        }
        const { viewer, expiresAt } = ctx.extra;
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...(viewer === undefined ? {} : { viewer }),
          ...(expiresAt === undefined ? {} : { expiresAt }),
        });
        let document: DocumentNode;
        try {
          document = parse(payload.query);
        } catch (error) {
          // A syntax error is the client's to fix: answer it instead of closing the socket.
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        const operationName = payload.operationName ?? null;
        const isSubscription = getOperationAST(document, operationName)?.operation === 'subscription';
        const root: EnvelopedRoot =
          isSubscription && viewer !== undefined
            ? { execute, subscribe, frames: { socket: ctx.extra.socket, id, query: payload.query, viewer } }
            : { execute, subscribe };
        const args: ExecutionArgs = {
          schema,
          operationName,
          document,
          variableValues: payload.variables ?? null,
          contextValue: await contextFactory(),
          rootValue: root,
        };
        return args;
      },
    },
    wss,
    { onError: (error) => onSocketError(error) },
  );
  return {
    async close() {
      for (const client of wss.clients) client.close(GOING_AWAY, 'Server shutting down');
      await disposable.dispose();
    },
  };
}
