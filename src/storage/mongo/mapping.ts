/**
 * The documents the MongoDB adapter stores, and their mapping to and from the port's records.
 * Pure functions, unit-tested in `test/mongo-unit.test.ts`. Dates stay BSON dates (the driver
 * returns them as `Date`), so only the field names change.
 */
import { outboxEventFromJson, type OutboxEventJson } from '../outbox-codec.ts';
import type { GroupRecord, MembershipRecord, MessageRecord, OutboxRecord, UserRecord } from '../port.ts';

/** `users`: `_id` is the user id. */
export interface UserDoc {
  _id: string;
  name: string | null;
}

/**
 * `groups`: `_id` is the group id. `lastSeq` is the per-group message sequence; `outboxSeq`
 * numbers the group's outbox records (messages and membership changes), so (group, outboxSeq)
 * is an outbox record's identity and the group's commit order. Both are written in the
 * transaction of the change they count, so the group document is the only document two
 * changes of one group both write, and nothing else is shared between groups.
 */
export interface GroupDoc {
  _id: string;
  name: string;
  ownerId: string;
  memberCount: number;
  lastSeq: number;
  /** Absent on groups written before per-group outbox keys; `$inc` creates it. */
  outboxSeq?: number;
  createdAt: Date;
  lastActivityAt: Date;
}

/**
 * `memberships`: one per (groupId, userId), enforced by a unique index; `_id` is an ObjectId
 * the driver assigns, never exposed.
 */
export interface MembershipDoc {
  groupId: string;
  userId: string;
  lastReadSeq: number;
  joinedSeq: number;
  joinedAt: Date;
}

/** `messages`: `_id` is the message id chosen by the domain. */
export interface MessageDoc {
  _id: string;
  groupId: string;
  seq: number;
  senderId: string;
  body: string;
  clientMessageId: string;
  createdAt: Date;
}

/** An outbox record's identity: its group and its number in that group's commit order. */
export interface OutboxKey {
  g: string;
  n: number;
}

/**
 * `outbox`: `_id` is `{ g, n }` (see `OutboxKey`), written in this field order, so that the
 * `_id` index orders each group's records by n and one group's records are one index range
 * (BSON compares embedded documents field by field, in order: "Comparison/Sort Order",
 * Objects). `event` is the `outbox-codec.ts` JSON form. `createdAt` is the adapter's clock
 * when the record was appended inside its transaction: it drives the TTL index and is the
 * time watermark of the fallback read (see `outbox.ts`); it is not the domain's `now`, which
 * tests may set in the past.
 */
export interface OutboxDoc {
  _id: OutboxKey;
  event: OutboxEventJson;
  createdAt: Date;
}

/**
 * `outbox_poison`: outbox documents that failed to decode, moved aside by `quarantine` with the
 * reason and the time; `event` is whatever was stored, unchecked.
 */
export interface PoisonDoc {
  _id: OutboxKey;
  event: unknown;
  createdAt: Date;
  reason: string;
  quarantinedAt: Date;
}

/** `checkpoints`: `_id` is the checkpoint name; `fence` the highest fencing token that claimed it. */
export interface CheckpointDoc {
  _id: string;
  position: string | null;
  fence: number;
}

export const toUser = (doc: UserDoc): UserRecord => ({ id: doc._id, name: doc.name ?? null });

export const toGroup = (doc: GroupDoc): GroupRecord => ({
  id: doc._id,
  name: doc.name,
  ownerId: doc.ownerId,
  memberCount: doc.memberCount,
  lastSeq: doc.lastSeq,
  createdAt: doc.createdAt,
  lastActivityAt: doc.lastActivityAt,
});

export const toGroupDoc = (group: GroupRecord): GroupDoc => ({
  _id: group.id,
  name: group.name,
  ownerId: group.ownerId,
  memberCount: group.memberCount,
  lastSeq: group.lastSeq,
  createdAt: group.createdAt,
  lastActivityAt: group.lastActivityAt,
});

export const toMembership = (doc: MembershipDoc): MembershipRecord => ({
  groupId: doc.groupId,
  userId: doc.userId,
  lastReadSeq: doc.lastReadSeq,
  joinedSeq: doc.joinedSeq,
  joinedAt: doc.joinedAt,
});

export const toMembershipDoc = (membership: MembershipRecord): MembershipDoc => ({
  groupId: membership.groupId,
  userId: membership.userId,
  lastReadSeq: membership.lastReadSeq,
  joinedSeq: membership.joinedSeq,
  joinedAt: membership.joinedAt,
});

export const toMessage = (doc: MessageDoc): MessageRecord => ({
  id: doc._id,
  groupId: doc.groupId,
  seq: doc.seq,
  senderId: doc.senderId,
  body: doc.body,
  clientMessageId: doc.clientMessageId,
  createdAt: doc.createdAt,
});

export const toMessageDoc = (message: MessageRecord): MessageDoc => ({
  _id: message.id,
  groupId: message.groupId,
  seq: message.seq,
  senderId: message.senderId,
  body: message.body,
  clientMessageId: message.clientMessageId,
  createdAt: message.createdAt,
});

export const toOutboxRecord = (doc: OutboxDoc, position: string): OutboxRecord => ({
  position,
  event: outboxEventFromJson(doc.event),
});
