/**
 * Peer: raw `ws` + ioredis, the practical limit for this kind of fan-out. Each node keeps an
 * in-memory index group → local sockets and subscribes to one Redis channel of its own. A
 * send is serialised once, written to the local members, and published once to each other
 * node that has members of the group (routing learned from a Redis set per group plus an
 * interest channel that announces changes). Nothing is stored.
 *
 * Wire protocol (JSON text frames): the token rides in the URL (`?token=`), checked before
 * the upgrade completes; the client sends `{"type":"join","groupId"}` and
 * `{"type":"send","groupId","body"}` and receives each message as its JSON object.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  MAX_BODY_LENGTH,
  MAX_GROUP_ID_LENGTH,
  announceStarted,
  createSequencer,
  createVerifier,
  exitOnSignal,
  readPeerEnv,
  redisClient,
  type PeerMessage,
} from '../common.ts';

const env = readPeerEnv();
const verify = createVerifier(env.jwtSecret);
const nextId = createSequencer(env.nodeId);
const KEY = 'rawws:';
const nodeChannel = (nodeId: string): string => `${KEY}node:${nodeId}`;
const INTEREST_CHANNEL = `${KEY}interest`;
const groupNodesKey = (groupId: string): string => `${KEY}group:${groupId}`;

const command = redisClient(env.redisUrl);
const subscriber = command.duplicate();

/** Local sockets per group. */
const local = new Map<string, Set<WebSocket>>();
/** Other nodes with members, per group; filled from Redis on first use, kept by the interest channel. */
const remote = new Map<string, Set<string>>();
const routing = new Map<string, Promise<Set<string>>>();

function remoteNodes(groupId: string): Set<string> | Promise<Set<string>> {
  const known = remote.get(groupId);
  if (known !== undefined) return known;
  let pending = routing.get(groupId);
  if (pending === undefined) {
    pending = command.smembers(groupNodesKey(groupId)).then((nodes) => {
      routing.delete(groupId);
      const set = new Set(nodes.filter((node) => node !== env.nodeId));
      remote.set(groupId, set);
      return set;
    });
    routing.set(groupId, pending);
  }
  return pending;
}

/** Another node gained its first or lost its last member of a group. */
function onInterest(node: string, groupId: string, add: boolean): void {
  const apply = (nodes: Set<string>): void => {
    if (add) nodes.add(node);
    else nodes.delete(node);
  };
  const known = remote.get(groupId);
  if (known !== undefined) apply(known);
  // A read in flight may have missed this change: apply it after the read.
  else void routing.get(groupId)?.then(apply);
  // Otherwise the first send reads the set, which the announcing node changed before publishing.
}

function join(socket: WebSocket, joined: Set<string>, groupId: string): void {
  if (joined.has(groupId)) return;
  joined.add(groupId);
  let sockets = local.get(groupId);
  if (sockets === undefined) {
    sockets = new Set();
    local.set(groupId, sockets);
    void command.multi().sadd(groupNodesKey(groupId), env.nodeId).publish(INTEREST_CHANNEL, `+${env.nodeId} ${groupId}`).exec();
  }
  sockets.add(socket);
}

function leave(socket: WebSocket, groupId: string): void {
  const sockets = local.get(groupId);
  if (sockets === undefined) return;
  sockets.delete(socket);
  if (sockets.size === 0) {
    local.delete(groupId);
    void command.multi().srem(groupNodesKey(groupId), env.nodeId).publish(INTEREST_CHANNEL, `-${env.nodeId} ${groupId}`).exec();
  }
}

function deliverLocally(groupId: string, frame: Buffer): void {
  const sockets = local.get(groupId);
  if (sockets === undefined) return;
  for (const socket of sockets) socket.send(frame, { binary: false });
}

function publish(groupId: string, frame: Buffer, nodes: Set<string>): void {
  if (nodes.size === 0) return;
  const payload = Buffer.concat([Buffer.from(`${groupId}\n`), frame]);
  for (const node of nodes) void command.publish(nodeChannel(node), payload);
}

function onSend(userId: string, joined: Set<string>, groupId: unknown, body: unknown): void {
  if (typeof groupId !== 'string' || typeof body !== 'string' || body.length > MAX_BODY_LENGTH) return;
  // Only a member may post to a group.
  if (!joined.has(groupId)) return;
  const { id, seq } = nextId(groupId);
  const message: PeerMessage = { id, groupId, seq, body, sender: { id: userId } };
  const frame = Buffer.from(JSON.stringify(message));
  deliverLocally(groupId, frame);
  const nodes = remoteNodes(groupId);
  if (nodes instanceof Set) publish(groupId, frame, nodes);
  else void nodes.then((resolved) => publish(groupId, frame, resolved));
}

const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
wss.on('connection', (socket: WebSocket, _request: IncomingMessage, userId: string) => {
  const joined = new Set<string>();
  socket.on('message', (data: Buffer) => {
    let frame: { type?: unknown; groupId?: unknown; body?: unknown };
    try {
      frame = JSON.parse(data.toString()) as typeof frame;
    } catch {
      socket.close(1003, 'not JSON');
      return;
    }
    if (frame.type === 'send') onSend(userId, joined, frame.groupId, frame.body);
    else if (frame.type === 'join' && typeof frame.groupId === 'string' && frame.groupId.length <= MAX_GROUP_ID_LENGTH) {
      join(socket, joined, frame.groupId);
    }
  });
  socket.on('close', () => {
    for (const groupId of joined) leave(socket, groupId);
  });
});

const http = createServer((_request, response) => response.writeHead(404).end());
http.on('upgrade', (request: IncomingMessage, stream: Duplex, head: Buffer) => {
  const token = new URL(request.url ?? '/', 'http://localhost').searchParams.get('token');
  verify(token).then(
    (userId) => wss.handleUpgrade(request, stream, head, (socket) => wss.emit('connection', socket, request, userId)),
    () => {
      stream.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
    },
  );
});

subscriber.on('messageBuffer', (channel: Buffer, payload: Buffer) => {
  if (channel.toString() === INTEREST_CHANNEL) {
    const text = payload.toString();
    const space = text.indexOf(' ');
    const node = text.slice(1, space);
    const groupId = text.slice(space + 1);
    if (node === env.nodeId) return;
    onInterest(node, groupId, text.startsWith('+'));
    return;
  }
  const newline = payload.indexOf(10);
  if (newline < 0) return;
  deliverLocally(payload.toString('utf8', 0, newline), payload.subarray(newline + 1));
});
await subscriber.subscribe(nodeChannel(env.nodeId), INTEREST_CHANNEL);

http.listen(env.port, env.host, () => {
  const address = http.address();
  announceStarted(typeof address === 'object' && address !== null ? address.port : env.port, 'raw-ws');
});

exitOnSignal(async () => {
  for (const socket of wss.clients) socket.terminate();
  http.close();
  command.disconnect();
  subscriber.disconnect();
});
