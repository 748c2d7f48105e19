/**
 * In-process presence for the embedded default (no Redis): two maps shared by the directory
 * and every node handle of the process.
 */
import type { NodePresence, PresenceDirectory } from '../ports.ts';

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
