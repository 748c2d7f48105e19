/**
 * Peer: Socket.IO 4 with `@socket.io/redis-adapter`, one node of several on one Redis.
 * The textbook room setup: a client authenticates in the handshake (`auth.token`), joins its
 * group's room, and `send` broadcasts to the room with `io.to(room).emit`, which the adapter
 * also publishes to the other nodes. Nothing is stored. WebSocket transport only, as the
 * benchmark's clients never poll.
 */
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Server } from 'socket.io';
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
const pub = redisClient(env.redisUrl);
const sub = pub.duplicate();

const http = createServer();
const io = new Server(http, {
  transports: ['websocket'],
  serveClient: false,
  adapter: createAdapter(pub, sub),
});

io.use((socket, next) => {
  verify((socket.handshake.auth as { token?: unknown }).token).then(
    (userId) => {
      socket.data.userId = userId;
      next();
    },
    () => next(new Error('unauthorized')),
  );
});

io.on('connection', (socket) => {
  socket.on('join', (groupId: unknown) => {
    if (typeof groupId === 'string' && groupId.length <= MAX_GROUP_ID_LENGTH) void socket.join(groupId);
  });
  socket.on('send', (groupId: unknown, body: unknown) => {
    // Only a member (a socket in the room) may post to it.
    if (typeof groupId !== 'string' || typeof body !== 'string' || body.length > MAX_BODY_LENGTH) return;
    if (!socket.rooms.has(groupId)) return;
    const { id, seq } = nextId(groupId);
    const message: PeerMessage = { id, groupId, seq, body, sender: { id: socket.data.userId as string } };
    io.to(groupId).emit('message', message);
  });
});

http.listen(env.port, env.host, () => {
  const address = http.address();
  announceStarted(typeof address === 'object' && address !== null ? address.port : env.port, 'socketio');
});

exitOnSignal(async () => {
  io.close();
  pub.disconnect();
  sub.disconnect();
});
