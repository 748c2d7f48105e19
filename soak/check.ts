/**
 * The end-of-soak check: what every subscriber got against what was committed while it was a
 * member, and every acknowledged send against the history.
 *
 * Definitions (per user u and group g; seqs are the group's 1..lastSeq):
 * - owed(u, g) = the seqs committed while u was a member (see ledger.ts: after a join at J,
 *   through a leave at R), up to the group's final lastSeq. Being disconnected does not matter:
 *   a message committed meanwhile must arrive after the client resumes with `since`.
 * - Excused: after u's last leave (u not a member at the end), the seqs of that last membership
 *   above the highest seq the client held. A removed user can no longer read the group, so what
 *   was still on its way when the removal committed cannot be fetched any more: the client learns
 *   of the removal instead. Reported, not lost.
 * - lost = owed seqs, not excused and not uncertain, that the client never showed.
 * - nonMemberDeliveries = stream frames of a seq committed while u was not a member. (History is
 *   readable by current members from seq 1, as `Query.messages` documents, so the kit paging it
 *   in is not such a delivery; only the live stream is judged.)
 * - Stream order: within one stream (one socket, one operation) a group's seqs must rise;
 *   `streamDuplicates` counts frames that did not. `streamGaps` counts jumps over seqs owed to u
 *   (the client repairs them from history; reported).
 * - History: seqs 1..lastSeq each exactly once; every acknowledged send at the seq it was
 *   acknowledged with, exactly once by (sender, clientMessageId).
 */
import type { SendOutcome, SoakUser } from './clients.ts';
import type { MembershipLedger } from './ledger.ts';
import type { StreamFrame } from './observe.ts';

export interface HistoryMessage {
  readonly seq: number;
  readonly senderId: string;
  readonly clientMessageId: string;
}

export interface CheckInput {
  readonly users: readonly SoakUser[];
  readonly ledger: MembershipLedger;
  readonly frames: readonly StreamFrame[];
  /** Final history of every group, as paged through the API. */
  readonly histories: ReadonlyMap<string, readonly HistoryMessage[]>;
  readonly acknowledged: readonly SendOutcome[];
}

export interface CheckResult {
  readonly owed: number;
  readonly lost: number;
  readonly excusedByRemoval: number;
  readonly uncertain: number;
  readonly nonMemberDeliveries: number;
  readonly streamDuplicates: number;
  readonly streamGaps: number;
  readonly clientOrderViolations: number;
  readonly historyGaps: number;
  readonly historyDuplicates: number;
  readonly acknowledgedMissing: number;
  readonly acknowledgedMismatched: number;
  /** Owed seqs a client got only from history (a repair), not from its stream. */
  readonly owedViaRepairOnly: number;
  /** Up to 20 examples of each kind of failure, for the report. */
  readonly examples: Record<string, string[]>;
}

export function check({ users, ledger, frames, histories, acknowledged }: CheckInput): CheckResult {
  const examples: Record<string, string[]> = {};
  const note = (kind: string, text: string): void => {
    const list = examples[kind] ?? [];
    if (list.length < 20) list.push(text);
    examples[kind] = list;
  };
  const lastSeqOf = (groupId: string): number => histories.get(groupId)?.length ?? 0;

  // --- streams ---
  let nonMemberDeliveries = 0;
  let streamDuplicates = 0;
  let streamGaps = 0;
  const streamed = new Map<string, Set<number>>();
  const lastInStream = new Map<string, number>();
  for (const frame of frames) {
    const pair = `${frame.userId}\u0000${frame.groupId}`;
    let got = streamed.get(pair);
    if (got === undefined) {
      got = new Set();
      streamed.set(pair, got);
    }
    got.add(frame.seq);
    if (ledger.status(frame.userId, frame.groupId, frame.seq) === 'non') {
      nonMemberDeliveries += 1;
      note('nonMemberDeliveries', `${frame.userId} got ${frame.groupId}#${frame.seq} on ${frame.streamId}`);
    }
    const key = `${frame.streamId}\u0000${frame.groupId}`;
    const previous = lastInStream.get(key);
    lastInStream.set(key, Math.max(previous ?? 0, frame.seq));
    if (previous === undefined) continue;
    if (frame.seq <= previous) {
      streamDuplicates += 1;
      note('streamDuplicates', `${frame.userId} ${frame.groupId}#${frame.seq} after #${previous} on ${frame.streamId}`);
    } else if (frame.seq > previous + 1) {
      for (let seq = previous + 1; seq < frame.seq; seq += 1) {
        if (ledger.status(frame.userId, frame.groupId, seq) === 'member') {
          streamGaps += 1;
          note('streamGaps', `${frame.userId} ${frame.groupId}: #${previous} then #${frame.seq} on ${frame.streamId}`);
          break;
        }
      }
    }
  }

  // --- what each client showed ---
  let owed = 0;
  let lost = 0;
  let excusedByRemoval = 0;
  let uncertain = 0;
  let clientOrderViolations = 0;
  let owedViaRepairOnly = 0;
  for (const user of users) {
    const groups = user.kind === 'fixed' ? [...user.records.keys()] : ledger.groupsEver(user.id);
    for (const groupId of groups) {
      const record = user.records.get(groupId);
      clientOrderViolations += record?.orderViolations ?? 0;
      if ((record?.orderViolations ?? 0) > 0) note('clientOrderViolations', `${user.id} ${groupId}`);
      const lastSeq = lastSeqOf(groupId);
      const changes = ledger.changesOf(user.id, groupId);
      const stillMember = ledger.isMember(user.id, groupId);
      const lastLeave = stillMember ? undefined : changes.at(-1);
      const lastJoin = stillMember ? undefined : changes.at(-2);
      const maxSeen = record?.maxSeen ?? 0;
      const got = streamed.get(`${user.id}\u0000${groupId}`);
      const missing: number[] = [];
      for (let seq = 1; seq <= lastSeq; seq += 1) {
        const status = ledger.status(user.id, groupId, seq);
        if (status === 'non') continue;
        if (status === 'uncertain') {
          uncertain += 1;
          continue;
        }
        owed += 1;
        if (record?.seen.has(seq) === true) {
          if (got?.has(seq) !== true) owedViaRepairOnly += 1;
          continue;
        }
        const inLastMembership =
          lastLeave !== undefined && lastLeave.kind === 'leave' && seq <= lastLeave.hi && (lastJoin === undefined || seq > lastJoin.hi);
        if (inLastMembership && seq > maxSeen) {
          excusedByRemoval += 1;
          continue;
        }
        lost += 1;
        missing.push(seq);
      }
      if (missing.length > 0) {
        note('lost', `${user.id} (${user.kind}) ${groupId}: missing ${JSON.stringify(missing.slice(0, 20))}${missing.length > 20 ? '…' : ''} of ${lastSeq}; held up to ${maxSeen}`);
      }
    }
  }

  // --- history ---
  let historyGaps = 0;
  let historyDuplicates = 0;
  const bySendId = new Map<string, HistoryMessage[]>();
  for (const [groupId, history] of histories) {
    history.forEach((message, index) => {
      if (message.seq !== index + 1) {
        historyGaps += 1;
        note('historyGaps', `${groupId}: position ${index + 1} holds #${message.seq}`);
      }
      const key = `${groupId}\u0000${message.senderId}\u0000${message.clientMessageId}`;
      const list = bySendId.get(key) ?? [];
      list.push(message);
      bySendId.set(key, list);
    });
  }
  for (const [key, list] of bySendId) {
    if (list.length > 1) {
      historyDuplicates += list.length - 1;
      note('historyDuplicates', `${key.replaceAll('\u0000', ' ')} stored ${list.length} times`);
    }
  }
  let acknowledgedMissing = 0;
  let acknowledgedMismatched = 0;
  for (const ack of acknowledged) {
    const found = bySendId.get(`${ack.groupId}\u0000${ack.userId}\u0000${ack.clientMessageId}`);
    if (found === undefined) {
      acknowledgedMissing += 1;
      note('acknowledgedMissing', `${ack.userId} ${ack.groupId}#${ack.seq} (${ack.clientMessageId})`);
    } else if (found[0]?.seq !== ack.seq) {
      acknowledgedMismatched += 1;
      note('acknowledgedMismatched', `${ack.userId} ${ack.groupId}: acknowledged #${ack.seq}, history #${found[0]?.seq}`);
    }
  }

  return {
    owed,
    lost: lost + acknowledgedMissing,
    excusedByRemoval,
    uncertain,
    nonMemberDeliveries,
    streamDuplicates,
    streamGaps,
    clientOrderViolations,
    historyGaps,
    historyDuplicates,
    acknowledgedMissing,
    acknowledgedMismatched,
    owedViaRepairOnly,
    examples,
  };
}
