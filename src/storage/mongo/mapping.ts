/**
 * The documents the MongoDB adapter stores, and their mapping to and from the port's records.
 * Pure functions, unit-tested in `test/mongo-unit.test.ts`. Dates stay BSON dates (the driver
 * returns them as `Date`), so only the field names change.
 */
import type {
  GroupRecord,
  MembershipRecord,
  MessageRecord,
  OutboxEvent,
  OutboxRecord,
  UserRecord,
} from '../port.ts';

/** `users`: `_id` is the user id. */
export interface UserDoc {
  _id: string;
  name: string | null;
}

/** `groups`: `_id` is the group id. `lastSeq` is the per-group sequence counter. */
export interface GroupDoc {
  _id: string;
  name: string;
  ownerId: string;
  memberCount: number;
  lastSeq: number;
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

/** The event as the outbox keeps it: the port's shape, with its dates as BSON dates. */
export type OutboxEventDoc =
  | { type: 'message'; message: MessageFields }
  | { type: 'membersAdded'; groupId: string; userIds: string[]; seq: number }
  | { type: 'memberRemoved'; groupId: string; userId: string; seq: number };

interface MessageFields {
  id: string;
  groupId: string;
  seq: number;
  senderId: string;
  body: string;
  clientMessageId: string;
  createdAt: Date;
}

/**
 * `outbox`: `_id` is the ordered key from the `counters` document (commit order, consecutive).
 * `createdAt` is the adapter's clock at append time and drives the TTL index; it is not the
 * domain's `now`, which tests may set in the past.
 */
export interface OutboxDoc {
  _id: number;
  event: OutboxEventDoc;
  createdAt: Date;
}

/** `checkpoints`: `_id` is the checkpoint name. */
export interface CheckpointDoc {
  _id: string;
  position: string;
}

/** `counters`: `{ _id: 'outbox', seq }` numbers the outbox. */
export interface CounterDoc {
  _id: string;
  seq: number;
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

const messageFields = (message: MessageRecord | MessageFields): MessageFields => ({
  id: message.id,
  groupId: message.groupId,
  seq: message.seq,
  senderId: message.senderId,
  body: message.body,
  clientMessageId: message.clientMessageId,
  createdAt: message.createdAt,
});

/** Copies field by field so that nothing but the event (no `_id`, no extra keys) is stored. */
export function toOutboxEventDoc(event: OutboxEvent): OutboxEventDoc {
  switch (event.type) {
    case 'message':
      return { type: 'message', message: messageFields(event.message) };
    case 'membersAdded':
      return { type: 'membersAdded', groupId: event.groupId, userIds: [...event.userIds], seq: event.seq };
    case 'memberRemoved':
      return { type: 'memberRemoved', groupId: event.groupId, userId: event.userId, seq: event.seq };
  }
}

export function toOutboxEvent(doc: OutboxEventDoc): OutboxEvent {
  switch (doc.type) {
    case 'message':
      return { type: 'message', message: messageFields(doc.message) };
    case 'membersAdded':
      return { type: 'membersAdded', groupId: doc.groupId, userIds: [...doc.userIds], seq: doc.seq };
    case 'memberRemoved':
      return { type: 'memberRemoved', groupId: doc.groupId, userId: doc.userId, seq: doc.seq };
    default:
      // Only this adapter writes the outbox; another writer's document is a deployment error.
      throw new TypeError(`Unknown outbox event type ${JSON.stringify((doc as { type?: unknown }).type)}`);
  }
}

export const toOutboxRecord = (doc: OutboxDoc, position: string): OutboxRecord => ({
  position,
  event: toOutboxEvent(doc.event),
});
