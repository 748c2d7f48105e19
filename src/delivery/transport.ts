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
import { useServer } from 'graphql-ws/use/ws';
import type { Plugin, YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer, type WebSocket } from 'ws';
import { bearerToken, InvalidTokenError, type Session, type TokenVerifier, type Viewer } from '../auth/jwt.ts';
import { FramePump } from './frames.ts';
import type { SharedExecutor } from './shared-execution.ts';
import type { GuardedConnection, SocketGuard } from './socket-guard.ts';

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
  /** Renders subscription events once per distinct operation for every socket on the node. */
  readonly executor: SharedExecutor<Viewer>;
  /** Token expiry, per-user connection cap and document limits (socket-guard.ts). */
  readonly guard: SocketGuard;
  /** Called once a connection is authenticated, and when it closes. @default does nothing */
  readonly onConnection?: (delta: 1 | -1) => void;
  /** Called for each frame written by a shared subscription. @default does nothing */
  readonly onFrame?: () => void;
}

/** Marks the operations whose events become frames of a shared shape (see subscribeShared). */
const isFramed = (rootValue: unknown): boolean =>
  typeof rootValue === 'object' && rootValue !== null && (rootValue as EnvelopedRoot).frames !== undefined;

/**
 * The envelop plugin that makes a framed subscription's subscribe return its source event
 * stream (graphql-js `createSourceEventStream`) instead of a stream of executed results.
 * Register it before plugins that wrap the subscribe function, so that they wrap this one.
 */
export function useSharedSubscriptionSources(): Plugin {
  return {
    onSubscribe({ args, setSubscribeFn }) {
      if (isFramed(args.rootValue)) setSubscribeFn(createSourceEventStream as never);
    },
  };
}

export interface WebSocketTransport {
  /** Closes every socket with 1001 (going away) so clients reconnect elsewhere. */
  close(): Promise<void>;
}

/** WebSocket close code 1001: the server is going away; clients reconnect, elsewhere if they can. */
const GOING_AWAY = 1001;

type ExtraWithViewer = {
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
  executor,
  guard,
  onConnection = () => {},
  onFrame = () => {},
}: WebSocketTransportOptions<TContext>): WebSocketTransport {
  const wss = new WebSocketServer({ server, path, maxPayload: maxPayloadBytes });

  /**
   * A subscription whose events are rendered by a shared shape and written as frames. It still
   * runs through envelop's subscribe, so every plugin's onSubscribe applies (cost limits, the
   * per-user subscription cap, masked errors), but `useSharedSubscriptionSources` makes it
   * return the source event stream: the resolver's root values, one per event, not results.
   * No execution, context or result object is made per subscriber and event.
   */
  async function subscribeShared(
    args: ExecutionArgs,
    root: EnvelopedRoot,
    frames: NonNullable<EnvelopedRoot['frames']>,
  ): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
    const source = (await root.subscribe(args)) as AsyncIterable<unknown> | ExecutionResult;
    if (!(Symbol.asyncIterator in source)) return source;
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
    return new FramePump({ source: source[Symbol.asyncIterator](), shape, socket: frames.socket, id: frames.id, onFrame });
  }

  const disposable = useServer<Record<string, unknown> | undefined, ExtraWithViewer>(
    {
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      subscribe: (args) => {
        const root = args.rootValue as EnvelopedRoot;
        return (root.frames === undefined ? root.subscribe(args) : subscribeShared(args, root, root.frames)) as never;
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
          req: ctx.extra.request,
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
      // Close reasons never carry an internal error's message, whatever NODE_ENV says.
      isProd: true,
    },
    wss,
  );
  return {
    async close() {
      for (const client of wss.clients) client.close(GOING_AWAY, 'Server shutting down');
      await disposable.dispose();
    },
  };
}
