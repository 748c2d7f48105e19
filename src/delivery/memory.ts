/**
 * In-process delivery adapters for the embedded default (no REDIS_URL): the relay and the
 * gateway live in one process, so pub/sub is a map of listeners, presence is two shared maps
 * and the relay lease is always held.
 */
import type {
  DeliveryEvent,
  NodePresence,
  PresenceDirectory,
  PubSub,
  RelayLease,
} from './ports.ts';
import { reportListenerError } from './listeners.ts';

/**
 * Synchronous, in-order pub/sub. `publish` calls every listener of the channel before it
 * resolves; nothing is ever lost, so `onResubscribed` never fires.
 */
export function createMemoryPubSub(): PubSub {
  const listeners = new Map<string, Set<(event: DeliveryEvent) => void>>();
  let closed = false;
  const closedError = (): Promise<never> => Promise.reject(new Error('PubSub is closed'));

  return {
    publish(channel, event) {
      if (closed) return closedError();
      const set = listeners.get(channel);
      // Copy: a listener may unsubscribe (itself or another) while we iterate.
      for (const listener of set ? [...set] : []) {
        try {
          listener(event);
        } catch (error) {
          reportListenerError(error);
        }
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

/** The embedded presence: one directory and a write handle per gateway node. */
export interface MemoryPresence {
  readonly directory: PresenceDirectory;
  /** A write handle for `nodeId`; handles for the same id share its registrations. */
  forNode(nodeId: string): NodePresence;
}

/** Presence in two maps (group → nodes, user → nodes) shared by the directory and all nodes. */
export function createMemoryPresence(): MemoryPresence {
  const byGroup = new Map<string, Set<string>>();
  const byUser = new Map<string, Set<string>>();

  const add = (index: Map<string, Set<string>>, keys: readonly string[], nodeId: string) => {
    for (const key of keys) {
      let nodes = index.get(key);
      if (!nodes) {
        nodes = new Set();
        index.set(key, nodes);
      }
      nodes.add(nodeId);
    }
  };
  const remove = (index: Map<string, Set<string>>, keys: Iterable<string>, nodeId: string) => {
    for (const key of keys) {
      const nodes = index.get(key);
      if (!nodes) continue;
      nodes.delete(nodeId);
      // Drop empty entries so a long-running process does not keep every group ever seen.
      if (nodes.size === 0) index.delete(key);
    }
  };

  const directory: PresenceDirectory = {
    nodesForGroup(groupId) {
      return Promise.resolve([...(byGroup.get(groupId) ?? [])]);
    },
    nodesForUsers(userIds) {
      const nodes = new Set<string>();
      for (const userId of userIds) {
        for (const nodeId of byUser.get(userId) ?? []) nodes.add(nodeId);
      }
      return Promise.resolve([...nodes]);
    },
  };

  return {
    directory,
    forNode(nodeId) {
      return {
        nodeId,
        addGroups(groupIds) {
          add(byGroup, groupIds, nodeId);
          return Promise.resolve();
        },
        removeGroups(groupIds) {
          remove(byGroup, groupIds, nodeId);
          return Promise.resolve();
        },
        addUsers(userIds) {
          add(byUser, userIds, nodeId);
          return Promise.resolve();
        },
        removeUsers(userIds) {
          remove(byUser, userIds, nodeId);
          return Promise.resolve();
        },
        // In-process registrations never expire, so there is never a lapse to report.
        onReregistered: () => () => {},
        close() {
          // Snapshot the keys: `remove` deletes map entries while we walk them.
          remove(byGroup, [...byGroup.keys()], nodeId);
          remove(byUser, [...byUser.keys()], nodeId);
          return Promise.resolve();
        },
      };
    },
  };
}

/** The single-process lease: granted at once, lost only through `release`. */
export function createLocalLease(): RelayLease {
  let held: AbortController | null = null;
  return {
    acquire(signal) {
      if (signal.aborted) return Promise.reject(signal.reason);
      held ??= new AbortController();
      return Promise.resolve({ lost: held.signal });
    },
    release() {
      held?.abort(new Error('Relay lease released'));
      held = null;
      return Promise.resolve();
    },
  };
}
