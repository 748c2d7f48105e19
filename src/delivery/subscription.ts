/**
 * One `messageAdded` subscription: a bounded queue the GraphQL layer pulls from, and a cursor
 * per group saying which seq was delivered last. The gateway feeds it; it never reads the
 * store itself.
 */
import type { MessageRecord } from '../storage/port.ts';

/**
 * Per group: the seq delivered last, and whether the group is catching up from the store
 * (after subscribing, joining, or seeing a gap). While catching up, live events are not queued;
 * the catch-up reads the store until it has passed `highestSeen`, so nothing is lost.
 */
export interface GroupCursor {
  readonly groupId: string;
  last: number;
  catchingUp: boolean;
  /** Highest seq announced by a live event while catching up. */
  highestSeen: number;
}

export class SubscriptionOverflowError extends Error {
  override readonly name = 'SubscriptionOverflowError';
  constructor(readonly limit: number) {
    super(`The subscription fell more than ${limit} messages behind and was ended; resubscribe with since to resume.`);
  }
}

export interface LiveSubscriptionOptions {
  readonly userId: string;
  /** Set for `messageAdded(groupId:)`: the stream ends when the user leaves that group. */
  readonly fixedGroupId: string | null;
  /** Undelivered messages held before the subscription is ended with an overflow. */
  readonly queueLength: number;
  readonly onClose: (subscription: LiveSubscription) => void;
}

/**
 * What the stream yields: messages, and at most one error as its last item (an overflow or a
 * failed store read), which the GraphQL layer turns into an error result before completing.
 */
export type StreamItem = MessageRecord | Error;

export class LiveSubscription implements AsyncIterableIterator<StreamItem> {
  readonly userId: string;
  readonly fixedGroupId: string | null;
  readonly cursors = new Map<string, GroupCursor>();
  /**
   * Non-zero while the gateway re-reads this subscription's memberships after events may have
   * been lost: live events are then only noted, not delivered, until membership is known.
   */
  resyncing = 0;
  readonly #queueLength: number;
  readonly #onClose: (subscription: LiveSubscription) => void;
  #queue: StreamItem[] = [];
  #head = 0;
  #pull: ((result: IteratorResult<StreamItem>) => void) | null = null;
  #drained: (() => void)[] = [];
  #closed = false;

  constructor(options: LiveSubscriptionOptions) {
    this.userId = options.userId;
    this.fixedGroupId = options.fixedGroupId;
    this.#queueLength = options.queueLength;
    this.#onClose = options.onClose;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /** Queues a live message; ends the subscription with an overflow when the queue is full. */
  push(message: MessageRecord): void {
    if (this.#closed) return;
    if (this.#pull !== null) {
      const pull = this.#pull;
      this.#pull = null;
      pull({ value: message, done: false });
      return;
    }
    if (this.queued >= this.#queueLength) {
      this.fail(new SubscriptionOverflowError(this.#queueLength));
      return;
    }
    this.#queue.push(message);
  }

  /** Queues a replayed page; replay waits for `whenDrained` first, so it is never dropped. */
  pushReplayed(messages: readonly MessageRecord[]): void {
    for (const message of messages) {
      if (this.#pull !== null) this.push(message);
      else if (!this.#closed) this.#queue.push(message);
    }
  }

  /** Resolves when the consumer has taken everything queued (or the subscription closed). */
  whenDrained(): Promise<void> {
    if (this.queued === 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  /** Ends the stream after what is queued has been delivered. */
  complete(): void {
    if (this.#closed) return;
    this.#finish();
  }

  /** Ends the stream with an error: undelivered messages are dropped, the error comes next. */
  fail(error: Error): void {
    if (this.#closed) return;
    this.#queue = [];
    this.#head = 0;
    if (this.#pull !== null) {
      const pull = this.#pull;
      this.#pull = null;
      pull({ value: error, done: false });
    } else {
      this.#queue.push(error);
    }
    this.#finish();
  }

  #finish(): void {
    this.#closed = true;
    this.#onClose(this);
    this.#wakeDrained();
    if (this.#pull !== null) {
      const pull = this.#pull;
      this.#pull = null;
      pull({ value: undefined, done: true });
    }
  }

  #wakeDrained(): void {
    const waiters = this.#drained;
    this.#drained = [];
    for (const wake of waiters) wake();
  }

  next(): Promise<IteratorResult<StreamItem>> {
    if (this.queued > 0) {
      const value = this.#queue[this.#head] as StreamItem;
      this.#head += 1;
      // Compact now and then instead of shifting on every read.
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      if (this.queued === 0) this.#wakeDrained();
      return Promise.resolve({ value, done: false });
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    this.#wakeDrained();
    return new Promise((resolve) => {
      this.#pull = resolve;
    });
  }

  return(): Promise<IteratorResult<StreamItem>> {
    this.#queue = [];
    this.#head = 0;
    if (!this.#closed) this.#finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
