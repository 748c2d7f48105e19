/**
 * In-process pub/sub for the embedded default (no Redis): the relay and the gateway live in one
 * process, so a channel is a set of listeners.
 */
import type { DeliveryEvent, PubSub } from '../ports.ts';
import { callEach } from '../listeners.ts';
import { createFenceGate } from './fence.ts';

export interface MemoryPubSubOptions {
  /** Told about each event dropped for a stale fence. @default does nothing */
  readonly onStale?: ((fence: number, highest: number) => void) | undefined;
}

/**
 * Synchronous, in-order pub/sub. `publish` calls every listener of the channel before it
 * resolves; nothing is ever lost, so `onResubscribed` never fires.
 */
export function createMemoryPubSub({ onStale = () => {} }: MemoryPubSubOptions = {}): PubSub {
  const listeners = new Map<string, Set<(event: DeliveryEvent) => void>>();
  const gate = createFenceGate();
  let closed = false;
  const closedError = (): Promise<never> => Promise.reject(new Error('PubSub is closed'));

  return {
    publish(channel, event, options) {
      return this.publishBatch(channel, [event], options);
    },
    publishBatch(channel, events, { fence } = {}) {
      if (closed) return closedError();
      if (!gate.admit(fence)) {
        onStale(fence as number, gate.highest);
        return Promise.resolve();
      }
      const set = listeners.get(channel);
      for (const event of events) {
        if (set) callEach(set, event);
      }
      return Promise.resolve();
    },
    subscribe(channel, listener) {
      if (closed) return closedError();
      // Wrap so that subscribing the same function twice yields two independent subscriptions,
      // as in the Redis adapter.
      const entry = (event: DeliveryEvent): void => listener(event);
      let set = listeners.get(channel);
      if (!set) {
        set = new Set();
        listeners.set(channel, set);
      }
      set.add(entry);
      return Promise.resolve(() => {
        const current = listeners.get(channel);
        if (!current) return;
        current.delete(entry);
        if (current.size === 0) listeners.delete(channel);
      });
    },
    onResubscribed() {
      return () => {};
    },
    close() {
      closed = true;
      listeners.clear();
      return Promise.resolve();
    },
  };
}
