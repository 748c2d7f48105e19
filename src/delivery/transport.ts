/**
 * graphql-ws on the same path as HTTP GraphQL. Authentication happens once, at
 * `connection_init`: a missing or bad token closes the socket with 4403 before it is
 * acknowledged. Operations then run through yoga's envelop, so they get the same context,
 * error masking and plugins as HTTP requests.
 */
import type { IncomingMessage, Server } from 'node:http';
import { GraphQLError, type DocumentNode, type ExecutionArgs } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import { bearerToken, InvalidTokenError, type Session, type TokenVerifier, type Viewer } from '../auth/jwt.ts';
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
  /** Token expiry, per-user connection cap and document limits (socket-guard.ts). */
  readonly guard: SocketGuard;
  /** Called once a connection is authenticated, and when it closes. @default does nothing */
  readonly onConnection?: (delta: 1 | -1) => void;
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
}

export function createWebSocketTransport<TContext extends object>({
  server,
  path,
  yoga,
  tokens,
  maxPayloadBytes,
  maxSubscriptionsPerConnection,
  guard,
  onConnection = () => {},
}: WebSocketTransportOptions<TContext>): WebSocketTransport {
  const wss = new WebSocketServer({ server, path, maxPayload: maxPayloadBytes });
  const disposable = useServer<Record<string, unknown> | undefined, ExtraWithViewer>(
    {
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args) as never,
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
      onSubscribe: async (ctx, _id, payload) => {
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
        const args: ExecutionArgs = {
          schema,
          operationName: payload.operationName ?? null,
          document,
          variableValues: payload.variables ?? null,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe } satisfies EnvelopedRoot,
        };
        const errors = validate(args.schema, args.document);
        if (errors.length > 0) return errors;
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
