/**
 * What the soak knows for certain about membership, from the API's own answers: every change
 * of a (user, group) pair, in the order the soak made it, with the seq it happened at.
 *
 * The seq of a change is the group's `lastSeq` in the mutation's payload: the store writes the
 * membership and reads `lastSeq` in one transaction, and the `membersAdded` / `memberRemoved`
 * outbox event carries that same seq. So a user who joined at J is owed every seq > J, and one
 * who left at R is owed every seq <= R; nothing committed in between is theirs to receive live.
 *
 * When a mutation's answer is lost (its gateway was killed mid-request), the soak asks again
 * until it has a definite answer; it then knows only that the change happened at a seq between
 * `lo` (the group's lastSeq read before the first attempt) and `hi` (read after the definite
 * answer). Seqs in (lo, hi] are then `uncertain` for that pair: neither owed nor forbidden.
 */

export type MemberStatus = 'member' | 'non' | 'uncertain';

export interface MembershipChange {
  readonly userId: string;
  readonly groupId: string;
  readonly kind: 'join' | 'leave';
  /** The change happened at a seq in [lo, hi]; lo === hi when the answer named it. */
  readonly lo: number;
  readonly hi: number;
  /** Epoch ms the soak learned of it. */
  readonly at: number;
}

const pairKey = (userId: string, groupId: string): string => `${userId}\u0000${groupId}`;

export class MembershipLedger {
  readonly #changes = new Map<string, MembershipChange[]>();
  /** Current membership as the soak believes it (the last definite change). */
  readonly #members = new Map<string, Set<string>>();
  /** Every change, in order, for the report. */
  readonly all: MembershipChange[] = [];

  record(change: MembershipChange): void {
    const key = pairKey(change.userId, change.groupId);
    const list = this.#changes.get(key) ?? [];
    list.push(change);
    this.#changes.set(key, list);
    this.all.push(change);
    let members = this.#members.get(change.groupId);
    if (members === undefined) {
      members = new Set();
      this.#members.set(change.groupId, members);
    }
    if (change.kind === 'join') members.add(change.userId);
    else members.delete(change.userId);
  }

  members(groupId: string): ReadonlySet<string> {
    return this.#members.get(groupId) ?? new Set();
  }

  isMember(userId: string, groupId: string): boolean {
    return this.#members.get(groupId)?.has(userId) ?? false;
  }

  /** The groups a user was ever a member of. */
  groupsEver(userId: string): string[] {
    const groups: string[] = [];
    for (const key of this.#changes.keys()) {
      const [user, group] = key.split('\u0000') as [string, string];
      if (user === userId) groups.push(group);
    }
    return groups;
  }

  changesOf(userId: string, groupId: string): readonly MembershipChange[] {
    return this.#changes.get(pairKey(userId, groupId)) ?? [];
  }

  /** Whether the user was a member when `seq` was committed. */
  status(userId: string, groupId: string, seq: number): MemberStatus {
    return statusAt(this.changesOf(userId, groupId), seq);
  }
}

/**
 * Membership at `seq` from the ordered changes of one pair: a join at J makes seqs > J owed, a
 * leave at R makes seqs > R not owed; a change known only within [lo, hi] leaves (lo, hi]
 * uncertain.
 */
export function statusAt(changes: readonly MembershipChange[], seq: number): MemberStatus {
  let status: MemberStatus = 'non';
  for (const change of changes) {
    if (seq <= change.lo) continue;
    if (seq <= change.hi) status = 'uncertain';
    else status = change.kind === 'join' ? 'member' : 'non';
  }
  return status;
}
