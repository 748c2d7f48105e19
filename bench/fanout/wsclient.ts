/**
 * A minimal WebSocket client (RFC 6455) for the load generator: the upgrade request written
 * by hand on a `net` socket, frames parsed straight out of the socket's reads. With 10,000
 * sockets each receiving a frame at a time, the per-read cost is the generator's limit; Node's
 * `onread` option delivers every read into one shared buffer without the stream machinery
 * (`Readable.push`, `'data'` events, a `Writable` frame parser per socket) that the `ws`
 * client goes through, and frames are handed over as views into that buffer without a copy.
 *
 * What it leaves out, because the benchmarked servers never need it: extensions (no
 * permessage-deflate is offered), binary frames are read like text, sends are text only.
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export interface MiniWebSocketHandlers {
  /** The upgrade succeeded. */
  onOpen(): void;
  /**
   * One complete message. `data` is a view into a shared buffer, valid only during the call:
   * copy what you keep.
   */
  onMessage(data: Buffer): void;
  /** The connection ended: the close frame's code, 1006 without one, or an error. */
  onClose(code: number, reason: string): void;
}

export interface MiniWebSocket {
  send(text: string): void;
  /** Drops the TCP connection at once (no close handshake). */
  terminate(): void;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

// Masking keys for client frames (RFC 6455 §5.3), taken from a pool refilled in bulk.
const maskPool = Buffer.allocUnsafe(64 * 1024);
let maskOffset = maskPool.length;
function maskKey(): number {
  if (maskOffset + 4 > maskPool.length) {
    randomFillSync(maskPool);
    maskOffset = 0;
  }
  const key = maskPool.readUInt32BE(maskOffset);
  maskOffset += 4;
  return key;
}

function frame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const out = Buffer.allocUnsafe(headerLength + 4 + length);
  out[0] = 0x80 | opcode;
  if (length < 126) {
    out[1] = 0x80 | length;
  } else if (length < 65_536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(length, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(0, 2);
    out.writeUInt32BE(length, 6);
  }
  const key = maskKey();
  out.writeUInt32BE(key, headerLength);
  const k0 = key >>> 24;
  const k1 = (key >>> 16) & 0xff;
  const k2 = (key >>> 8) & 0xff;
  const k3 = key & 0xff;
  const base = headerLength + 4;
  for (let i = 0; i < length; i += 1) {
    const k = (i & 3) === 0 ? k0 : (i & 3) === 1 ? k1 : (i & 3) === 2 ? k2 : k3;
    out[base + i] = (payload[i] as number) ^ k;
  }
  return out;
}

export function connectWebSocket(url: string, subprotocol: string | undefined, handlers: MiniWebSocketHandlers): MiniWebSocket {
  const target = new URL(url);
  const key = randomBytes(16).toString('base64');
  const expectedAccept = createHash('sha1').update(key + GUID).digest('base64');
  let upgraded = false;
  let closed = false;
  /** Bytes of an incomplete frame (or of the response head) carried over to the next read. */
  let pending: Buffer | null = null;
  /** Payloads of a fragmented message so far. */
  let fragments: Buffer[] | null = null;
  let socket: Socket;

  const close = (code: number, reason: string): void => {
    if (closed) return;
    closed = true;
    socket.destroy();
    handlers.onClose(code, reason);
  };

  const send = (opcode: number, payload: Buffer): void => {
    if (!closed && upgraded) socket.write(frame(opcode, payload));
  };

  /** Parses the upgrade response; returns where frames start, or -1 while it is incomplete. */
  const handshake = (data: Buffer): number => {
    const end = data.indexOf('\r\n\r\n');
    if (end < 0) {
      if (data.length > 16 * 1024) close(1002, 'upgrade response too long');
      return -1;
    }
    const head = data.toString('latin1', 0, end);
    const status = /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1];
    if (status !== '101') {
      close(1006, `upgrade refused: ${head.split('\r\n')[0]}`);
      return -1;
    }
    const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(head)?.[1];
    if (accept !== expectedAccept) {
      close(1002, 'bad Sec-WebSocket-Accept');
      return -1;
    }
    upgraded = true;
    handlers.onOpen();
    return end + 4;
  };

  /** Handles every complete frame in data[from..]; returns the offset of the first incomplete one. */
  const frames = (data: Buffer, from: number): number => {
    let offset = from;
    while (!closed) {
      const available = data.length - offset;
      if (available < 2) break;
      const b0 = data[offset] as number;
      const b1 = data[offset + 1] as number;
      let length = b1 & 0x7f;
      let header = 2;
      if (length === 126) {
        if (available < 4) break;
        length = data.readUInt16BE(offset + 2);
        header = 4;
      } else if (length === 127) {
        if (available < 10) break;
        length = data.readUInt32BE(offset + 2) * 2 ** 32 + data.readUInt32BE(offset + 6);
        header = 10;
      }
      if ((b1 & 0x80) !== 0) {
        close(1002, 'masked frame from the server');
        break;
      }
      if (available < header + length) break;
      const payload = data.subarray(offset + header, offset + header + length);
      offset += header + length;
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (opcode === 0x1 || opcode === 0x2) {
        if (fin) handlers.onMessage(payload);
        else fragments = [Buffer.from(payload)];
      } else if (opcode === 0x0) {
        if (fragments === null) {
          close(1002, 'continuation without a start');
          break;
        }
        fragments.push(Buffer.from(payload));
        if (fin) {
          const message = Buffer.concat(fragments);
          fragments = null;
          handlers.onMessage(message);
        }
      } else if (opcode === 0x9) {
        send(0xa, Buffer.from(payload));
      } else if (opcode === 0x8) {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        const reason = payload.length > 2 ? payload.toString('utf8', 2) : '';
        // Answer the close handshake, then drop the connection.
        send(0x8, Buffer.from(payload.subarray(0, 2)));
        close(code, reason);
      }
      // 0xa (pong) and reserved opcodes: nothing to do.
    }
    return offset;
  };

  const onRead = (bytes: number): boolean => {
    let data = READ_BUFFER.subarray(0, bytes);
    if (pending !== null) {
      data = Buffer.concat([pending, data]);
      pending = null;
    }
    let offset = 0;
    if (!upgraded) {
      offset = handshake(data);
      if (offset < 0) {
        if (!closed) pending = Buffer.from(data);
        return true;
      }
    }
    offset = frames(data, offset);
    // Keep the incomplete rest: the shared read buffer is overwritten by the next read.
    if (!closed && offset < data.length) pending = Buffer.from(data.subarray(offset));
    return true;
  };

  socket = connect({
    host: target.hostname,
    port: Number(target.port),
    noDelay: true,
    onread: { buffer: READ_BUFFER, callback: onRead },
  });
  socket.on('connect', () => {
    const path = `${target.pathname}${target.search}`;
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
        (subprotocol === undefined ? '' : `Sec-WebSocket-Protocol: ${subprotocol}\r\n`) +
        '\r\n',
    );
  });
  socket.on('error', (error) => close(1006, error.message));
  socket.on('close', () => close(1006, 'connection closed without a close frame'));

  return {
    send: (text) => send(0x1, Buffer.from(text)),
    terminate: () => {
      if (closed) return;
      closed = true;
      socket.destroy();
    },
  };
}
