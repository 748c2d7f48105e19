/**
 * One group's messages as the kit holds them: a window of consecutive seqs ending at `head`,
 * the highest seq held with nothing missing before it. Whatever arrives (stream, replay, a
 * send's answer, a history page) is offered here, and the timeline answers what happened:
 * appended, duplicate (dropped by seq), or gap (held back until the missing seqs are fetched).
 * Pure logic: no I/O, no timers.
 */
import type { ChatMessageFieldsFragment } from './gql/graphql.ts';

/** A message as the kit shows it. */
export type ChatMessage = ChatMessageFieldsFragment;

export interface TimelineLimits {
  /** Messages kept; beyond, the oldest are dropped (and can be paged back in). */
  readonly maxMessages: number;
  /** Messages held while a gap before them is repaired; beyond, they are fetched again later. */
  readonly maxAhead: number;
}

export type Offer =
  /** The message, and any held ones it unblocked, in seq order. */
  | { readonly type: 'appended'; readonly messages: readonly ChatMessage[] }
  | { readonly type: 'duplicate' }
  /** Not shown yet: seqs `afterSeq + 1` … `upTo - 1` must be fetched first. */
  | { readonly type: 'gap'; readonly afterSeq: number; readonly upTo: number };

/** What a page of older history changed. */
export interface OlderResult {
  /** Messages added before the window. */
  readonly prepended: number;
  /** Messages of the page newer than `head`, as offered (the page was the newest one). */
  readonly appended: readonly ChatMessage[];
}

export class GroupTimeline {
  readonly groupId: string;
  readonly #limits: TimelineLimits;
  #messages: ChatMessage[] = [];
  /** Highest seq held with nothing missing before it (in the window or before it); null: never seen. */
  #head: number | null;
  /** Messages past a gap, by seq. */
  readonly #ahead = new Map<number, ChatMessage>();
  /** Highest seq known to exist: a gap lies between head and it. */
  #target = 0;

  /** `head`: the group's lastSeq when known (its history before it can be paged in), else null. */
  constructor(groupId: string, limits: TimelineLimits, head: number | null = null) {
    this.groupId = groupId;
    this.#limits = limits;
    this.#head = head;
  }

  get head(): number | null {
    return this.#head;
  }

  /** The held window, ascending, consecutive seqs. */
  get messages(): readonly ChatMessage[] {
    return this.#messages;
  }

  /** Whether messages older than the window exist (seqs start at 1 and have no gaps). */
  get hasOlder(): boolean {
    if (this.#head === null) return false;
    return (this.#messages[0]?.seq ?? this.#head + 1) > 1;
  }

  /** Whether paging older history can add anything: the window is below its limit. */
  get canLoadOlder(): boolean {
    return this.hasOlder && this.#messages.length < this.#limits.maxMessages;
  }

  /** The cursor to page older history before (null: the newest page, the window is empty). */
  get oldestCursor(): string | null {
    return this.#messages[0]?.cursor ?? null;
  }

  /** The seqs to fetch before held messages can be shown: (afterSeq, upTo). */
  get gap(): { readonly afterSeq: number; readonly upTo: number } | null {
    if (this.#head === null || this.#target <= this.#head) return null;
    return { afterSeq: this.#head, upTo: this.#target };
  }

  offer(message: ChatMessage): Offer {
    const { seq } = message;
    if (this.#head === null) {
      // The first message of a group never seen before starts the window.
      this.#head = seq;
      this.#messages = [message];
      this.#target = Math.max(this.#target, seq);
      return { type: 'appended', messages: [message] };
    }
    if (seq <= this.#head || this.#ahead.has(seq)) return { type: 'duplicate' };
    if (seq === this.#head + 1) {
      const appended = [message];
      this.#head = seq;
      for (let next = this.#ahead.get(this.#head + 1); next !== undefined; next = this.#ahead.get(this.#head + 1)) {
        this.#ahead.delete(next.seq);
        appended.push(next);
        this.#head = next.seq;
      }
      this.#messages.push(...appended);
      this.#trim();
      return { type: 'appended', messages: appended };
    }
    // A message from past a gap. When the holding area is full it is dropped here: the repair
    // reads everything after head up to the target, so it is fetched again.
    if (this.#ahead.size < this.#limits.maxAhead) this.#ahead.set(seq, message);
    this.#target = Math.max(this.#target, seq);
    return { type: 'gap', afterSeq: this.#head, upTo: seq };
  }

  /**
   * A page of history, ascending, from before the window (`before: oldestCursor`), or the
   * newest page when the window is empty. Older messages join the window when they end right
   * before it; newer ones are offered as if streamed.
   */
  addOlder(page: readonly ChatMessage[]): OlderResult {
    if (this.#head === null) {
      const appended = page.flatMap((message) => {
        const offer = this.offer(message);
        return offer.type === 'appended' ? offer.messages : [];
      });
      if (page.length === 0) this.#head = 0;
      return { prepended: 0, appended };
    }
    const start = this.#messages[0]?.seq ?? this.#head + 1;
    let older = page.filter((message) => message.seq < start);
    // Keep the run of consecutive seqs that ends right before the window; anything else (a page
    // asked for before the window was trimmed or reset) would leave a hole, so it is dropped.
    let keepFrom = older.length;
    for (let expected = start - 1; keepFrom > 0 && (older[keepFrom - 1] as ChatMessage).seq === expected; expected -= 1) {
      keepFrom -= 1;
    }
    older = older.slice(keepFrom);
    const room = Math.max(0, this.#limits.maxMessages - this.#messages.length);
    older = older.slice(Math.max(0, older.length - room));
    this.#messages = [...older, ...this.#messages];
    const appended = page
      .filter((message) => message.seq > (this.#head as number))
      .flatMap((message) => {
        const offer = this.offer(message);
        return offer.type === 'appended' ? offer.messages : [];
      });
    return { prepended: older.length, appended };
  }

  /**
   * The group's lastSeq as the server reported it: an empty window simply moves to it (its
   * history can be paged in); a window so far behind that keeping it would mean fetching more
   * than the window may hold is dropped and restarted there. A window kept behind lastSeq has a
   * gap up to it (`gap`): the stream replays it after a resubscribe, but nothing replays it to a
   * member re-added while its client held an older position. Returns whether the window moved.
   */
  catchUpTo(lastSeq: number): boolean {
    if (this.#head !== null && lastSeq <= this.#head) return false;
    if (this.#head === null || (this.#messages.length === 0 && this.#ahead.size === 0)) {
      this.#head = lastSeq;
      this.#target = Math.max(this.#target, lastSeq);
      return true;
    }
    if (lastSeq - this.#head > this.#limits.maxMessages) {
      this.#messages = [];
      this.#ahead.clear();
      this.#head = lastSeq;
      this.#target = lastSeq;
      return true;
    }
    this.#target = Math.max(this.#target, lastSeq);
    return false;
  }

  #trim(): void {
    const excess = this.#messages.length - this.#limits.maxMessages;
    if (excess > 0) this.#messages.splice(0, excess);
  }
}
