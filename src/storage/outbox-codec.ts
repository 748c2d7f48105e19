/**
 * The one JSON form of an `OutboxEvent`, written once beside the type. Every place an event
 * leaves process memory uses it: the embedded store's outbox column, the MongoDB outbox
 * document, and Redis pub/sub between the relay and the gateways.
 *
 * JSON has no dates, so `message.createdAt` travels as epoch milliseconds (the embedded store
 * has always stored it so; rows written before this codec decode unchanged). Decoding checks
 * the shape field by field: the input was written by this codebase, but a mismatch (another
 * writer on the same Redis channel, a hand-edited row) fails loudly here with a TypeError
 * instead of as an undefined field somewhere in the gateway.
 */
import type { MessageRecord, OutboxEvent, PoisonRecord } from './port.ts';

export type MessageJson = Omit<MessageRecord, 'createdAt'> & { readonly createdAt: number };

export type OutboxEventJson =
  | { readonly type: 'message'; readonly message: MessageJson }
  | { readonly type: 'membersAdded'; readonly groupId: string; readonly userIds: readonly string[]; readonly seq: number }
  | { readonly type: 'memberRemoved'; readonly groupId: string; readonly userId: string; readonly seq: number };

/** Copies field by field, so nothing but the event (no extra keys a caller attached) is kept. */
export function outboxEventToJson(event: OutboxEvent): OutboxEventJson {
  switch (event.type) {
    case 'message': {
      const { message } = event;
      return {
        type: 'message',
        message: {
          id: message.id,
          groupId: message.groupId,
          seq: message.seq,
          senderId: message.senderId,
          body: message.body,
          clientMessageId: message.clientMessageId,
          createdAt: message.createdAt.getTime(),
        },
      };
    }
    case 'membersAdded':
      return { type: 'membersAdded', groupId: event.groupId, userIds: [...event.userIds], seq: event.seq };
    case 'memberRemoved':
      return { type: 'memberRemoved', groupId: event.groupId, userId: event.userId, seq: event.seq };
  }
}

const invalid = (what: string): TypeError => new TypeError(`Not an outbox event: ${what}`);

function field<T>(object: Record<string, unknown>, key: string, check: (value: unknown) => value is T): T {
  const value = object[key];
  if (!check(value)) throw invalid(`${key} is ${JSON.stringify(value)}`);
  return value;
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isSeq = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every(isString);

/** The event `outboxEventToJson` produced (after JSON or BSON round trips); TypeError otherwise. */
export function outboxEventFromJson(json: unknown): OutboxEvent {
  if (!isObject(json)) throw invalid('not an object');
  switch (json['type']) {
    case 'message': {
      const message = field(json, 'message', isObject);
      return {
        type: 'message',
        message: {
          id: field(message, 'id', isString),
          groupId: field(message, 'groupId', isString),
          seq: field(message, 'seq', isSeq),
          senderId: field(message, 'senderId', isString),
          body: field(message, 'body', isString),
          clientMessageId: field(message, 'clientMessageId', isString),
          createdAt: new Date(field(message, 'createdAt', isTime)),
        },
      };
    }
    case 'membersAdded':
      return {
        type: 'membersAdded',
        groupId: field(json, 'groupId', isString),
        userIds: [...field(json, 'userIds', isStrings)],
        seq: field(json, 'seq', isSeq),
      };
    case 'memberRemoved':
      return {
        type: 'memberRemoved',
        groupId: field(json, 'groupId', isString),
        userId: field(json, 'userId', isString),
        seq: field(json, 'seq', isSeq),
      };
    default:
      throw invalid(`unknown type ${JSON.stringify(json['type'])}`);
  }
}

/** How much of a poison record's stored form `PoisonRecord.excerpt` keeps: enough to recognise it in a log. */
export const POISON_EXCERPT_LENGTH = 200;

/** Describes a stored record (`stored`: its text, or its document) that failed to decode with `error`. */
export function poisonRecord(id: string, error: unknown, stored: unknown): PoisonRecord {
  let text: string;
  try {
    text = typeof stored === 'string' ? stored : (JSON.stringify(stored) ?? String(stored));
  } catch {
    text = String(stored);
  }
  return {
    id,
    reason: error instanceof Error ? error.message : String(error),
    excerpt: text.length > POISON_EXCERPT_LENGTH ? `${text.slice(0, POISON_EXCERPT_LENGTH)}…` : text,
  };
}
