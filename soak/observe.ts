/**
 * What the soak sees of the live streams: every WebSocket the clients open is an instance of a
 * `ws` subclass that reads each incoming `next` frame before the client does, so the checker
 * knows exactly what the server pushed on which stream, when, and can drop every socket at once
 * (the reconnect storm) or stop reading one (the slow consumer).
 */
import WebSocket from 'ws';

/** One `messageAdded` result as it arrived on a stream. */
export interface StreamFrame {
  readonly userId: string;
  /** The socket and operation it came on: seqs are promised in order within one stream. */
  readonly streamId: string;
  readonly groupId: string;
  readonly seq: number;
  /** Epoch ms of arrival. */
  readonly at: number;
  /** Epoch ms of the commit (the message's createdAt). */
  readonly createdAt: number;
}

export interface StreamObserver {
  /** The WebSocket class a user's clients get. */
  webSocketFor(userId: string): unknown;
  /** Every open client socket. */
  readonly sockets: ReadonlySet<WebSocket>;
  /** A user's open sockets. */
  socketsOf(userId: string): WebSocket[];
  /** Every frame so far, in arrival order. */
  readonly frames: StreamFrame[];
  /** Told of each frame as it arrives, before the client handles it. */
  onFrame(listener: (frame: StreamFrame) => void): void;
}

interface NextFrame {
  readonly id?: string;
  readonly type?: string;
  readonly payload?: { readonly data?: { readonly messageAdded?: { groupId?: unknown; seq?: unknown; createdAt?: unknown } | null } | null };
}

export function createStreamObserver(): StreamObserver {
  const sockets = new Set<WebSocket>();
  const byUser = new Map<string, Set<WebSocket>>();
  const frames: StreamFrame[] = [];
  const listeners: ((frame: StreamFrame) => void)[] = [];
  let socketCount = 0;
  const classes = new Map<string, unknown>();

  const webSocketFor = (userId: string): unknown => {
    const known = classes.get(userId);
    if (known !== undefined) return known;
    class ObservedWebSocket extends WebSocket {
      constructor(address: string | URL, protocols?: string | string[]) {
        super(address, protocols);
        socketCount += 1;
        const socketId = `s${socketCount}`;
        sockets.add(this);
        let own = byUser.get(userId);
        if (own === undefined) {
          own = new Set();
          byUser.set(userId, own);
        }
        own.add(this);
        this.once('close', () => {
          sockets.delete(this);
          own.delete(this);
        });
        // Registered before graphql-ws sets `onmessage`, so it runs first.
        this.on('message', (data: WebSocket.RawData) => {
          const text = data.toString();
          if (!text.includes('"messageAdded"')) return;
          let parsed: NextFrame;
          try {
            parsed = JSON.parse(text) as NextFrame;
          } catch {
            return;
          }
          const message = parsed.payload?.data?.messageAdded;
          if (parsed.type !== 'next' || message == null) return;
          if (typeof message.groupId !== 'string' || typeof message.seq !== 'number') return;
          const frame: StreamFrame = {
            userId,
            streamId: `${socketId}/${parsed.id ?? '?'}`,
            groupId: message.groupId,
            seq: message.seq,
            at: Date.now(),
            createdAt: typeof message.createdAt === 'string' ? Date.parse(message.createdAt) : Number.NaN,
          };
          frames.push(frame);
          for (const listener of listeners) listener(frame);
        });
      }
    }
    classes.set(userId, ObservedWebSocket);
    return ObservedWebSocket;
  };

  return {
    webSocketFor,
    sockets,
    socketsOf: (userId) => [...(byUser.get(userId) ?? [])],
    frames,
    onFrame: (listener) => {
      listeners.push(listener);
    },
  };
}
