/**
 * Writes a subscription's results straight to its socket as pre-built graphql-transport-ws
 * `next` frames: `{"id":<op id>,"type":"next","payload":` + the shape's shared payload + `}`.
 * graphql-ws would build the same frame with one JSON.stringify of the whole result per
 * subscriber, after a graphql-js execution per subscriber.
 *
 * To graphql-ws this is the operation's result stream: it drives it with one `next()` that
 * settles when the stream ends (it then sends `complete`), and ends it with `return()` when the
 * client completes the operation or the socket closes.
 */
import type { ExecutionResult } from 'graphql';
import type { Shape } from './shared-execution.ts';

/** The part of a WebSocket the pump writes to (ws's `WebSocket` satisfies it). */
export interface FrameSocket {
  readonly readyState: number;
  readonly OPEN: number;
  send(data: string, callback: (error?: Error) => void): void;
}

export interface FramePumpOptions {
  /** The subscription's events (a source event stream: root values, not results). */
  readonly source: AsyncIterator<unknown>;
  readonly shape: Shape;
  readonly socket: FrameSocket;
  /** The operation id the client chose. */
  readonly id: string;
  /**
   * Frames handed to the socket and not yet flushed to the kernel before the pump waits.
   * Beyond it, events wait in the source, whose bound ends a subscriber that stops reading.
   * @default 32
   */
  readonly maxUnflushed?: number;
  /** Told after each frame written. @default does nothing */
  readonly onFrame?: () => void;
  /** Called once when the stream ends, however it ends. @default does nothing */
  readonly onEnd?: () => void;
}

const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true };

export class FramePump implements AsyncIterableIterator<ExecutionResult> {
  readonly #source: AsyncIterator<unknown>;
  readonly #shape: Shape;
  readonly #socket: FrameSocket;
  readonly #prefix: string;
  readonly #maxUnflushed: number;
  readonly #onFrame: () => void;
  readonly #onEnd: () => void;
  #unflushed = 0;
  #flushed: (() => void) | null = null;
  #ended = false;
  #running: Promise<IteratorResult<ExecutionResult>> | null = null;

  constructor({ source, shape, socket, id, maxUnflushed = 32, onFrame = () => {}, onEnd = () => {} }: FramePumpOptions) {
    this.#source = source;
    this.#shape = shape;
    this.#socket = socket;
    this.#prefix = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
    this.#maxUnflushed = maxUnflushed;
    this.#onFrame = onFrame;
    this.#onEnd = onEnd;
  }

  /** Runs the whole stream; settles with `done` when it ends. */
  next(): Promise<IteratorResult<ExecutionResult>> {
    this.#running ??= this.#run();
    return this.#running;
  }

  async #run(): Promise<IteratorResult<ExecutionResult>> {
    try {
      while (!this.#ended) {
        const item = await this.#source.next();
        if (item.done === true || this.#ended) break;
        const rendered = this.#shape.render(item.value as object);
        const payload = typeof rendered === 'string' ? rendered : await rendered;
        if (this.#ended || this.#socket.readyState !== this.#socket.OPEN) break;
        this.#unflushed += 1;
        this.#socket.send(this.#prefix + payload + '}', this.#onFlushed);
        this.#onFrame();
        if (this.#unflushed >= this.#maxUnflushed) await new Promise<void>((resolve) => (this.#flushed = resolve));
      }
    } finally {
      this.#end();
    }
    return DONE;
  }

  readonly #onFlushed = (): void => {
    // An error here means the socket is closing; its close ends the pump through return().
    this.#unflushed -= 1;
    const wake = this.#flushed;
    this.#flushed = null;
    wake?.();
  };

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#shape.release();
    this.#onEnd();
    const wake = this.#flushed;
    this.#flushed = null;
    wake?.();
    void this.#source.return?.();
  }

  return(): Promise<IteratorResult<ExecutionResult>> {
    this.#end();
    return Promise.resolve(DONE);
  }

  throw(): Promise<IteratorResult<ExecutionResult>> {
    return this.return();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
