/**
 * Messages the user sent that the server has not confirmed yet, in the order they were written.
 * Each carries the clientMessageId generated once when it was queued, so any number of retries
 * (after a timeout, a reconnect, a reload) store it once. Optionally persisted through an
 * injectable key-value storage (localStorage, React Native's AsyncStorage, a file in Node).
 */

export const OutboxStatus = {
  /** Waiting for its turn, or for the server to be reachable again. */
  queued: 'queued',
  /** A request is in flight. */
  sending: 'sending',
  /** The server refused it for good (e.g. FORBIDDEN, too long); `retry` or `discard` it. */
  failed: 'failed',
  /** Stored as `seq`; leaves the outbox once the message shows in its group. */
  sent: 'sent',
} as const;
export type OutboxStatus = (typeof OutboxStatus)[keyof typeof OutboxStatus];

export interface OutboxItem {
  readonly clientMessageId: string;
  readonly groupId: string;
  readonly body: string;
  /** When it was written (ISO-8601). */
  readonly createdAt: string;
  readonly status: OutboxStatus;
  /** Requests made for it so far. */
  readonly attempts: number;
  /** Why the last attempt failed, while it is queued again or failed. */
  readonly error: string | null;
  /** Its seq once sent. */
  readonly seq: number | null;
}

/** localStorage, AsyncStorage and the like: string values, sync or async. */
export interface KeyValueStorage {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
}

export class OutboxFullError extends Error {
  override readonly name = 'OutboxFullError';
  constructor(readonly limit: number) {
    super(`${limit} messages are waiting to be sent already; wait for them or discard some.`);
  }
}

export interface OutboxOptions {
  /** Most unsent messages held. */
  readonly maxItems: number;
  readonly storage: KeyValueStorage | null;
  /** Called after every change with the new list. */
  readonly onChange: (items: readonly OutboxItem[]) => void;
  readonly onError: (error: unknown) => void;
}

/** What is persisted of an item: everything needed to send it again. */
interface StoredItem {
  readonly clientMessageId: string;
  readonly groupId: string;
  readonly body: string;
  readonly createdAt: string;
  readonly attempts: number;
  readonly failed?: string;
}

const isStoredItem = (value: unknown): value is StoredItem => {
  if (typeof value !== 'object' || value === null) return false;
  const item = value as Record<string, unknown>;
  return (
    typeof item['clientMessageId'] === 'string' &&
    typeof item['groupId'] === 'string' &&
    typeof item['body'] === 'string' &&
    typeof item['createdAt'] === 'string' &&
    typeof item['attempts'] === 'number'
  );
};

export class Outbox {
  readonly #options: OutboxOptions;
  #items: OutboxItem[] = [];
  #key: string | null = null;
  #writing: Promise<void> = Promise.resolve();

  constructor(options: OutboxOptions) {
    this.#options = options;
  }

  get items(): readonly OutboxItem[] {
    return this.#items;
  }

  /** Unsent items (queued, sending or failed): what counts against the limit and is persisted. */
  get unsent(): number {
    return this.#items.filter((item) => item.status !== OutboxStatus.sent).length;
  }

  /** Queues a message; throws OutboxFullError when `maxItems` are unsent already. */
  add(groupId: string, body: string, clientMessageId: string, now: Date): OutboxItem {
    if (this.unsent >= this.#options.maxItems) throw new OutboxFullError(this.#options.maxItems);
    const item: OutboxItem = {
      clientMessageId,
      groupId,
      body,
      createdAt: now.toISOString(),
      status: OutboxStatus.queued,
      attempts: 0,
      error: null,
      seq: null,
    };
    this.#items = [...this.#items, item];
    this.#changed();
    return item;
  }

  /** The oldest queued item: sends go one at a time, in the order they were written. */
  next(): OutboxItem | null {
    return this.#items.find((item) => item.status === OutboxStatus.queued) ?? null;
  }

  get(clientMessageId: string): OutboxItem | null {
    return this.#items.find((item) => item.clientMessageId === clientMessageId) ?? null;
  }

  update(clientMessageId: string, patch: Partial<Omit<OutboxItem, 'clientMessageId' | 'groupId' | 'body'>>): void {
    let found = false;
    this.#items = this.#items.map((item) => {
      if (item.clientMessageId !== clientMessageId) return item;
      found = true;
      return { ...item, ...patch };
    });
    if (found) this.#changed();
  }

  remove(clientMessageId: string): void {
    const before = this.#items.length;
    this.#items = this.#items.filter((item) => item.clientMessageId !== clientMessageId);
    if (this.#items.length !== before) this.#changed();
  }

  /** Removes every item that matches. */
  removeWhere(predicate: (item: OutboxItem) => boolean): void {
    const before = this.#items.length;
    this.#items = this.#items.filter((item) => !predicate(item));
    if (this.#items.length !== before) this.#changed();
  }

  /**
   * Starts persisting under `key`, first adding what an earlier session left there (older,
   * so before anything queued since). An item that was in flight when that session ended is
   * queued again: its clientMessageId makes the retry safe whether or not it was stored.
   */
  async restore(key: string): Promise<void> {
    const storage = this.#options.storage;
    if (storage === null || this.#key === key) return;
    this.#key = key;
    let restored: OutboxItem[] = [];
    try {
      const raw = await storage.getItem(key);
      const parsed: unknown = raw === null ? [] : JSON.parse(raw);
      if (Array.isArray(parsed)) {
        restored = parsed.filter(isStoredItem).map((stored) => ({
          clientMessageId: stored.clientMessageId,
          groupId: stored.groupId,
          body: stored.body,
          createdAt: stored.createdAt,
          status: stored.failed === undefined ? OutboxStatus.queued : OutboxStatus.failed,
          attempts: stored.attempts,
          error: stored.failed ?? null,
          seq: null,
        }));
      }
    } catch (error) {
      // Unreadable storage (corrupt JSON, storage disabled) must not stop the chat.
      this.#options.onError(error);
    }
    const known = new Set(this.#items.map((item) => item.clientMessageId));
    const fresh = restored.filter((item) => !known.has(item.clientMessageId));
    // The limit holds after a restore too: the oldest restored items are kept.
    const room = Math.max(0, this.#options.maxItems - this.unsent);
    this.#items = [...fresh.slice(0, room), ...this.#items];
    this.#changed();
  }

  #changed(): void {
    this.#options.onChange(this.#items);
    const storage = this.#options.storage;
    const key = this.#key;
    if (storage === null || key === null) return;
    const stored: StoredItem[] = this.#items
      .filter((item) => item.status !== OutboxStatus.sent)
      .map((item) => ({
        clientMessageId: item.clientMessageId,
        groupId: item.groupId,
        body: item.body,
        createdAt: item.createdAt,
        attempts: item.attempts,
        ...(item.status === OutboxStatus.failed ? { failed: item.error ?? 'failed' } : {}),
      }));
    const text = JSON.stringify(stored);
    // Writes are chained so that an async storage can never apply an older list last.
    this.#writing = this.#writing
      .then(() => storage.setItem(key, text))
      .catch((error: unknown) => this.#options.onError(error));
  }

  /** Resolves once every change so far is written. */
  flushed(): Promise<void> {
    return this.#writing;
  }
}
