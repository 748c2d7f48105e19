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
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer, type WebSocket } from 'ws';
import { bearerToken, InvalidTokenError, type TokenVerifier, type Viewer } from '../auth/jwt.ts';
import { FramePump } from './frames.ts';
import type { SharedExecutor } from './shared-execution.ts';

/** What the transport adds to yoga's server context for WebSocket operations. */
export interface SocketServerContext {
  readonly viewer?: Viewer;
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
  /** Masks unexpected errors of a subscription that failed to start, as yoga does. */
  readonly maskError: (error: GraphQLError) => GraphQLError;
  /** Called once a connection is authenticated, and when it closes. @default does nothing */
  readonly onConnection?: (delta: 1 | -1) => void;
  /** Called for each frame written by a shared subscription. @default does nothing */
  readonly onFrame?: () => void;
}

export interface WebSocketTransport {
  /** Closes every socket with 1001 (going away) so clients reconnect elsewhere. */
  close(): Promise<void>;
}

/** WebSocket close code 1001: the server is going away; clients reconnect, elsewhere if they can. */
const GOING_AWAY = 1001;

type ExtraWithViewer = {
  viewer?: Viewer;
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
  maskError,
  onConnection = () => {},
  onFrame = () => {},
}: WebSocketTransportOptions<TContext>): WebSocketTransport {
  const wss = new WebSocketServer({ server, path, maxPayload: maxPayloadBytes });

  /**
   * A subscription whose events are rendered by a shared shape and written as frames. Only the
   * source stream is created per subscriber (the subscribe resolver: arguments, authorization,
   * the gateway's cursors); no per-event execution, context or result object is.
   */
  async function subscribeShared(args: ExecutionArgs, frames: NonNullable<EnvelopedRoot['frames']>): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
    const source = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in source)) {
      const { errors = [] } = source;
      return { errors: errors.map((error) => maskError(error)) };
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
    return new FramePump({ source: source[Symbol.asyncIterator](), shape, socket: frames.socket, id: frames.id, onFrame });
  }

  const disposable = useServer<Record<string, unknown> | undefined, ExtraWithViewer>(
    {
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      subscribe: (args) => {
        const root = args.rootValue as EnvelopedRoot;
        return (root.frames === undefined ? root.subscribe(args) : subscribeShared(args, root.frames)) as never;
      },
      onConnect: async (ctx) => {
        const token = bearerToken(ctx.connectionParams?.['authorization'] ?? ctx.connectionParams?.['Authorization']);
        if (token === null) return false;
        try {
          ctx.extra.viewer = await tokens.verify(token);
        } catch (error) {
          if (error instanceof InvalidTokenError) return false;
          throw error;
        }
        const { socket } = ctx.extra;
        // Closed while the token was verified: 'close' has fired already and would never undo +1.
        if (socket.readyState === socket.CLOSED) return false;
        onConnection(1);
        socket.once('close', () => onConnection(-1));
        return true;
      },
      onSubscribe: async (ctx, id, payload) => {
        // graphql-ws has already reserved this operation's id in ctx.subscriptions.
        if (Object.keys(ctx.subscriptions).length > maxSubscriptionsPerConnection) {
          return [
            new GraphQLError(`A connection may run at most ${maxSubscriptionsPerConnection} operations at once.`, {
              extensions: { code: 'RATE_LIMITED', limit: maxSubscriptionsPerConnection },
            }),
          ];
        }
        const viewer = ctx.extra.viewer;
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...(viewer === undefined ? {} : { viewer }),
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
