/**
 * graphql-ws's protocol server (`makeServer`) on a `ws` WebSocketServer. This is what
 * `graphql-ws/use/ws` does, owned here because that adapter costs every socket memory for its
 * whole life, and a gateway holds tens of thousands of them:
 * - it arms an interval and a pong timeout per socket; here one timer pings a slice of the
 *   sockets at a time and ends those that did not answer their previous ping (the same rule: no
 *   pong within one period). Sockets are spread over `KEEP_ALIVE_SLICES` slices, so a gateway
 *   with 5,000 sockets pings about 200 every half second instead of all 5,000 at once, which
 *   stalled its event loop long enough to show in the p99 of deliveries;
 * - it keeps the upgrade request (headers and all) in `extra` for the socket's life; here
 *   `extra` holds the socket only;
 * - it wraps each message in an async function that stays suspended, with the raw message in
 *   its frame, as long as the operation the message started runs (graphql-ws's handler awaits
 *   the whole subscription); here the handler's promise is only caught.
 * Protocol, close codes and error handling are graphql-ws's own.
 */
import { CloseCode, handleProtocols, makeServer, type ServerOptions } from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';

/** What every connection's `extra` holds. */
export interface SocketExtra {
  readonly socket: WebSocket;
}

export interface GraphQLWsServerOptions {
  /**
   * Ping period: a socket that has not answered the previous ping when the next is due is
   * terminated. graphql-ws's own adapter uses the same default. @default 12000
   */
  readonly keepAliveMs?: number;
  /** Told about errors of the server, a socket or a message handler. @default does nothing */
  readonly onError?: (error: unknown) => void;
}

export interface GraphQLWsServer {
  /** Closes every socket with 1001 and stops the server. */
  dispose(): Promise<void>;
}

const GOING_AWAY = 1001;

/** Keep-alive pings are spread over this many ticks per period. */
const KEEP_ALIVE_SLICES = 24;

export function serveGraphQLWs<P extends Record<string, unknown> | undefined, E extends SocketExtra>(
  options: ServerOptions<P, E>,
  wss: WebSocketServer,
  { keepAliveMs = 12_000, onError = () => {} }: GraphQLWsServerOptions = {},
): GraphQLWsServer {
  const server = makeServer<P, E>(options);
  wss.options.handleProtocols = handleProtocols;

  const awaitingPong = new Set<WebSocket>();
  // One listener for every socket: 'pong' is emitted with the socket as `this`.
  function onPong(this: WebSocket): void {
    awaitingPong.delete(this);
  }
  // Each socket belongs to one slice; the timer visits one slice per tick, so every socket is
  // visited once per keepAliveMs.
  const slices = Array.from({ length: KEEP_ALIVE_SLICES }, () => new Set<WebSocket>());
  const sliceOf = new WeakMap<WebSocket, Set<WebSocket>>();
  let joining = 0;
  let visiting = 0;
  const sweep = setInterval(() => {
    const slice = slices[visiting] as Set<WebSocket>;
    visiting = (visiting + 1) % slices.length;
    for (const socket of slice) {
      if (awaitingPong.has(socket)) {
        awaitingPong.delete(socket);
        socket.terminate();
      } else if (socket.readyState === socket.OPEN) {
        awaitingPong.add(socket);
        socket.ping();
      }
    }
  }, keepAliveMs / KEEP_ALIVE_SLICES);
  sweep.unref();

  // Close reasons never carry an internal error's message.
  const internalError = (socket: WebSocket, error: unknown): void => {
    onError(error);
    socket.close(CloseCode.InternalServerError, 'Internal server error');
  };

  wss.once('error', (error) => {
    onError(error);
    for (const client of wss.clients) client.close(CloseCode.InternalServerError, 'Internal server error');
  });

  wss.on('connection', (socket) => {
    socket.once('error', (error) => internalError(socket, error));
    socket.on('pong', onPong);
    const slice = slices[joining] as Set<WebSocket>;
    joining = (joining + 1) % slices.length;
    slice.add(socket);
    sliceOf.set(socket, slice);
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve, reject) => {
            if (socket.readyState !== socket.OPEN) {
              resolve();
              return;
            }
            socket.send(data, (error) => (error ? reject(error) : resolve()));
          }),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) =>
          socket.on('message', (data) => {
            handle(String(data)).catch((error: unknown) => internalError(socket, error));
          }),
      },
      { socket } as E,
    );
    socket.once('close', (code, reason) => {
      awaitingPong.delete(socket);
      sliceOf.get(socket)?.delete(socket);
      closed(code, String(reason)).catch(onError);
    });
  });

  return {
    async dispose() {
      clearInterval(sweep);
      for (const client of wss.clients) client.close(GOING_AWAY, 'Going away');
      wss.removeAllListeners();
      await new Promise<void>((resolve, reject) => wss.close((error) => (error ? reject(error) : resolve())));
    },
  };
}
