/**
 * One `messageAdded` subscription: a bounded queue the GraphQL layer pulls from, and a cursor
 * per group saying which seq was delivered last. It decides what a live message is to it
 * (`offer`); the gateway feeds it and repairs its gaps from the store; it never reads the store
 * itself.
 */
import type { MessageRecord } from '../storage/port.ts';

/**
 * One group of a subscription: the seq delivered last, and whether the group is catching up
 * from the store (after subscribing, joining, or seeing a gap). While catching up, live events
 * are not queued, only noted (`highestSeen`); the catch-up reads the store until it has passed
 * the highest, so nothing is lost. The subscription changes it as it delivers live messages;
 * the gateway's catch-up through the methods below.
 */
export class GroupCursor {
  readonly groupId: string;
  readonly subscription: LiveSubscription;
  #last: number;
  #catchingUp = true;
  #highestSeen = 0;

  constructor(subscription: LiveSubscription, groupId: string, last: number) {
    this.subscription = subscription;
    this.groupId = groupId;
    this.#last = last;
  }

  /** The seq delivered last. */
  get last(): number {
    return this.#last;
  }

  get catchingUp(): boolean {
    return this.#catchingUp;
  }

  /** Highest seq announced by a live event while this group could not take it. */
  get highestSeen(): number {
    return this.#highestSeen;
  }

  /**
   * False once the subscription closed or stopped following the group (a newer cursor may
   * follow it since): work begun for this cursor then ends without touching anything.
   */
  get current(): boolean {
    return !this.subscription.closed && this.subscription.cursorOf(this.groupId) === this;
  }

  noteSeen(seq: number): void {
    this.#highestSeen = Math.max(this.#highestSeen, seq);
  }

  /** Starts a catch-up through `upTo`; false when one already runs (it will cover `upTo`). */
  beginCatchUp(upTo: number): boolean {
    this.noteSeen(upTo);
    if (this.#catchingUp) return false;
    this.#catchingUp = true;
    return true;
  }

  /** A page read by the catch-up: contiguous from `last + 1` (seqs have no gaps). */
  replay(page: readonly MessageRecord[]): void {
    const newest = page.at(-1);
    if (newest === undefined) return;
    this.#last = newest.seq;
    this.subscription.pushReplayed(page);
  }

  /**
   * Ends the catch-up when its last read was not a full page and covered every seq announced
   * meanwhile; answers whether the group is live again.
   */
  finishCatchUp(lastReadWasFull: boolean): boolean {
    if (lastReadWasFull || this.#last < this.#highestSeen) return false;
    this.#catchingUp = false;
    return true;
  }

  /** Live from here: the read that follows registration found nothing to catch up yet. */
  goLive(): void {
    this.#catchingUp = false;
  }

  /** @internal The subscription delivered `seq` live. */
  delivered(seq: number): void {
    this.#last = seq;
  }
}

/** What became of a live message offered to a subscription. */
export type Offer =
  /** Queued: the next seq of a group that is live. */
  | 'delivered'
  /** Already delivered (a relay retry, an overlap with a replay). */
  | 'duplicate'
  /** Newer than the next seq: seqs were missed, the group must catch up. */
  | 'gap'
  /** Noted, not queued: the group is catching up, or live delivery is on hold. */
  | 'held'
  /** Not a group this subscription follows. */
  | 'ignored';

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
  readonly #cursors = new Map<string, GroupCursor>();
  /**
   * Non-zero while the gateway re-reads this subscription's memberships after events may have
   * been lost: live events are then only noted, not delivered, until membership is known.
   */
  #holds = 0;
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

  /** Starts following a group after `last`, catching up; null when it already follows it. */
  follow(groupId: string, last: number): GroupCursor | null {
    if (this.#cursors.has(groupId)) return null;
    const cursor = new GroupCursor(this, groupId, last);
    this.#cursors.set(groupId, cursor);
    return cursor;
  }

  /** Stops following a group; false when it did not. */
  unfollow(groupId: string): boolean {
    return this.#cursors.delete(groupId);
  }

  cursorOf(groupId: string): GroupCursor | undefined {
    return this.#cursors.get(groupId);
  }

  follows(groupId: string): boolean {
    return this.#cursors.has(groupId);
  }

  /** The groups followed now. */
  groupIds(): IterableIterator<string> {
    return this.#cursors.keys();
  }

  cursors(): IterableIterator<GroupCursor> {
    return this.#cursors.values();
  }

  /** Holds live delivery (every offer answers 'held') until the returned function is called. */
  hold(): () => void {
    this.#holds += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holds -= 1;
    };
  }

  /** A live message: delivered when it is the next seq of a live group, else what to do. */
  offer(message: MessageRecord): Offer {
    const cursor = this.#cursors.get(message.groupId);
    if (cursor === undefined) return 'ignored';
    if (cursor.catchingUp || this.#holds > 0) {
      cursor.noteSeen(message.seq);
      return 'held';
    }
    if (message.seq === cursor.last + 1) {
      cursor.delivered(message.seq);
      this.push(message);
      return 'delivered';
    }
    return message.seq <= cursor.last ? 'duplicate' : 'gap';
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
