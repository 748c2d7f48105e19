/**
 * Minimal clients of each system's protocol, written against bare `ws` sockets so every
 * system pays the same client cost: graphql-transport-ws (platform, yoga-redis), engine.io 4
 * + socket.io 5 framing (Socket.IO 4), and the raw-ws peer's JSON frames. They do the
 * handshake, answer pings, and report errors; deliveries never reach them (the generator
 * finds those by their body marker). Senders: GraphQL over HTTP, or a frame on the sending
 * member's own socket.
 */
import { Agent, request } from 'node:http';
import type { Connection, SendErrors, Sender, Wire } from './loadgen.ts';

const startsWith = (frame: Buffer, prefix: Buffer): boolean => frame.length >= prefix.length && frame.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;

// --- graphql-transport-ws ------------------------------------------------------------------------

const MUTATION_ID_PREFIX = Buffer.from('{"id":"m');
const COMPLETE = Buffer.from('"type":"complete"');
const ERRORS = Buffer.from('"errors"');

export interface GraphqlWsWireOptions {
  readonly ports: readonly number[];
  readonly path: string;
  /** The subscribe payload (`{ query, variables }`) of a connection's one subscription. */
  readonly subscription: (connection: Connection) => { query: string; variables?: Record<string, unknown> };
  readonly errors: SendErrors;
}

/** graphql-transport-ws: connection_init with the token, then one subscribe with id "s". */
export function graphqlWsWire({ ports, path, subscription, errors }: GraphqlWsWireOptions): Wire {
  return {
    subprotocol: 'graphql-transport-ws',
    url: (node) => `ws://127.0.0.1:${ports[node]}${path}`,
    open(connection) {
      connection.write(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${connection.token}` } }));
    },
    control(connection, frame) {
      // Results of mutations sent on this socket (--send-via ws), ids "m<index>": the common case, kept cheap.
      if (startsWith(frame, MUTATION_ID_PREFIX)) {
        if (frame.indexOf(COMPLETE) >= 0 || frame.indexOf(ERRORS) < 0) return;
        const message = JSON.parse(frame.toString()) as { id: string; payload?: unknown };
        errors.report(Number(message.id.slice(1)), JSON.stringify(message.payload).slice(0, 300));
        return;
      }
      let message: { id?: string; type?: string; payload?: unknown };
      try {
        message = JSON.parse(frame.toString()) as typeof message;
      } catch {
        connection.fail(`not JSON: ${frame.toString().slice(0, 200)}`);
        return;
      }
      switch (message.type) {
        case 'connection_ack':
          connection.write(JSON.stringify({ id: 's', type: 'subscribe', payload: subscription(connection) }));
          connection.subscribed();
          return;
        case 'ping':
          connection.write('{"type":"pong"}');
          return;
        case 'pong':
          return;
        case 'error':
        case 'complete':
        case 'next':
          if (message.id?.startsWith('m') === true) {
            if (message.type === 'error') errors.report(Number(message.id.slice(1)), JSON.stringify(message.payload).slice(0, 300));
            return;
          }
          connection.fail(`subscription ${message.type}: ${JSON.stringify(message.payload ?? null).slice(0, 300)}`);
          return;
        default:
          connection.fail(`unexpected frame: ${frame.toString().slice(0, 200)}`);
      }
    },
  };
}

/** Sends a mutation on the sending member's own graphql-ws socket, id "m<index>". */
export function graphqlWsSender(operation: (groupId: string, body: string, index: number) => { query: string; variables: Record<string, unknown> }): Sender {
  return {
    send(index, from, groupId, body) {
      from.write(`{"id":"m${index}","type":"subscribe","payload":${JSON.stringify(operation(groupId, body, index))}}`);
    },
    close() {},
  };
}

export interface HttpGraphqlSenderOptions {
  readonly ports: readonly number[];
  readonly path: string;
  readonly operation: (groupId: string, body: string, index: number) => { query: string; variables: Record<string, unknown> };
  readonly errors: SendErrors;
  /** Keep-alive connections per node. @default 64 */
  readonly maxSockets?: number;
}

/**
 * GraphQL over HTTP POST with the sending member's token, round-robin over the nodes. Open
 * loop: a request is issued on schedule whatever is still in flight; beyond `maxSockets` per
 * node it waits in the agent's queue, and that wait counts in the latency.
 */
export function httpGraphqlSender({ ports, path, operation, errors, maxSockets = 64 }: HttpGraphqlSenderOptions): Sender {
  const agents = ports.map(() => new Agent({ keepAlive: true, maxSockets }));
  let turn = 0;
  return {
    send(index, from, groupId, body) {
      const node = turn % ports.length;
      turn += 1;
      const payload = JSON.stringify(operation(groupId, body, index));
      const req = request(
        {
          host: '127.0.0.1',
          port: ports[node],
          path,
          method: 'POST',
          agent: agents[node],
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
            authorization: `Bearer ${from.token}`,
          },
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            text += chunk;
          });
          response.on('end', () => {
            if (response.statusCode !== 200 || text.includes('"errors"')) errors.report(index, `HTTP ${response.statusCode}: ${text.slice(0, 300)}`);
          });
        },
      );
      req.on('error', (error) => errors.report(index, error.message));
      req.end(payload);
    },
    close() {
      for (const agent of agents) agent.destroy();
    },
  };
}

// --- Socket.IO 4 (engine.io protocol 4, socket.io protocol 5) --------------------------------------

/**
 * engine.io packets are one character of type then data: 0 open, 1 close, 2 ping, 3 pong,
 * 4 message. A socket.io packet rides in a message: 40 connect (with the auth object),
 * 41 disconnect, 42 event, 44 connect error. https://socket.io/docs/v4/socket-io-protocol/
 */
export function socketIoWire(ports: readonly number[]): Wire {
  return {
    url: (node) => `ws://127.0.0.1:${ports[node]}/socket.io/?EIO=4&transport=websocket`,
    open() {
      // The server speaks first (engine.io open packet).
    },
    control(connection, frame) {
      const type = frame[0];
      if (type === 0x32 /* 2 ping */) {
        connection.write('3');
        return;
      }
      if (type === 0x30 /* 0 open */) {
        connection.write(`40${JSON.stringify({ token: connection.token })}`);
        return;
      }
      if (type === 0x34 /* 4 message */) {
        const packet = frame[1];
        if (packet === 0x30 /* 0 connect ack */) {
          connection.write(`42${JSON.stringify(['join', connection.groupId])}`);
          connection.subscribed();
          return;
        }
        if (packet === 0x32 /* 2 event without a benchmark body */) return;
      }
      connection.fail(`unexpected packet: ${frame.toString().slice(0, 200)}`);
    },
  };
}

export const socketIoSender: Sender = {
  send(_index, from, groupId, body) {
    from.write(`42${JSON.stringify(['send', groupId, body])}`);
  },
  close() {},
};

// --- raw ws peer -----------------------------------------------------------------------------------

export function rawWsWire(ports: readonly number[]): Wire {
  return {
    url: (node, connection) => `ws://127.0.0.1:${ports[node]}/?token=${encodeURIComponent(connection.token)}`,
    open(connection) {
      connection.write(JSON.stringify({ type: 'join', groupId: connection.groupId }));
      connection.subscribed();
    },
    control(connection, frame) {
      connection.fail(`unexpected frame: ${frame.toString().slice(0, 200)}`);
    },
  };
}

export const rawWsSender: Sender = {
  send(_index, from, groupId, body) {
    from.write(JSON.stringify({ type: 'send', groupId, body }));
  },
  close() {},
};
