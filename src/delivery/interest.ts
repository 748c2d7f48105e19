/**
 * A node's interest index: which local subscribers want a key (a group, a user), reference
 * counted. Presence hears of a key on its first subscriber and of its end on its last, so the
 * relay routes to this node exactly while someone here listens.
 */
export interface InterestIndex<S> {
  /** Adds the subscriber; resolves once presence holds the key (at once when it already did). */
  join(key: string, subscriber: S): Promise<void>;
  /** Removes the subscriber; presence is told when it was the key's last. */
  leave(key: string, subscriber: S): void;
  /** The key's subscribers now, or undefined when it has none. */
  subscribers(key: string): ReadonlySet<S> | undefined;
  /** Every key's subscribers. */
  all(): IterableIterator<ReadonlySet<S>>;
}

export interface InterestIndexOptions {
  /** Registers a key with presence (the first subscriber arrived). */
  readonly register: (keys: string[]) => Promise<void>;
  /** Removes a key from presence (the last subscriber left). */
  readonly unregister: (keys: string[]) => Promise<void>;
  /** Told when an unregistration fails (the key then lapses with the node's presence). */
  readonly onError: (error: unknown) => void;
}

interface Interest<S> {
  readonly subscribers: Set<S>;
  /** Settles when presence holds the key (catch-ups wait for it before reading the store). */
  readonly registered: Promise<void>;
}

export function createInterestIndex<S>({ register, unregister, onError }: InterestIndexOptions): InterestIndex<S> {
  const index = new Map<string, Interest<S>>();
  return {
    join(key, subscriber) {
      let interest = index.get(key);
      if (interest === undefined) {
        const created: Interest<S> = { subscribers: new Set(), registered: register([key]) };
        // A failed registration must not stay cached: the next subscriber registers again.
        created.registered.catch(() => {
          if (index.get(key) === created) index.delete(key);
        });
        interest = created;
        index.set(key, interest);
      }
      interest.subscribers.add(subscriber);
      return interest.registered;
    },
    leave(key, subscriber) {
      const interest = index.get(key);
      if (interest === undefined || !interest.subscribers.delete(subscriber)) return;
      if (interest.subscribers.size === 0) {
        index.delete(key);
        unregister([key]).catch(onError);
      }
    },
    subscribers(key) {
      return index.get(key)?.subscribers;
    },
    *all() {
      for (const interest of index.values()) yield interest.subscribers;
    },
  };
}
