/**
 * The pure parts of the MongoDB adapter: document mapping, position and page-key encoding, and
 * which server errors are retried or fallen back from. No server needed; these always run.
 * (The adapter as a whole runs in `store.contract.test.ts` when MONGODB_URI is set.)
 */
import {
  BSON,
  Binary,
  MongoBulkWriteError,
  MongoError,
  MongoErrorLabel,
  MongoNetworkError,
  MongoNetworkTimeoutError,
  MongoServerError,
  MongoServerSelectionError,
  TopologyType,
  type BulkWriteResult,
  type TopologyDescription,
} from 'mongodb';
import { describe, expect, it } from 'vitest';
import type { GroupRecord, MembershipRecord, MessageRecord, OutboxEvent } from '../src/storage/port.ts';
import {
  ServerCode,
  followErrorAction,
  isDuplicateKey,
  isHistoryLost,
  isIndexOptionsConflict,
  isNamespaceExists,
  isRetryLater,
  isTransient,
  isUnknownCommitResult,
  isWriteConflict,
} from '../src/storage/mongo/errors.ts';
import {
  toGroup,
  toGroupDoc,
  toMembership,
  toMembershipDoc,
  toMessage,
  toMessageDoc,
  toOutboxEvent,
  toOutboxEventDoc,
  toOutboxRecord,
  toUser,
  type OutboxDoc,
  type OutboxEventDoc,
} from '../src/storage/mongo/mapping.ts';
import { insertsUntilEnd, placeKey, retryDelayMs } from '../src/storage/mongo/follow.ts';
import {
  START,
  decodeGroupKey,
  decodePosition,
  encodeGroupKey,
  encodePosition,
} from '../src/storage/mongo/position.ts';

const at = (iso: string): Date => new Date(iso);

/** What the driver does to a document on its way to the server and back. */
const throughBson = <T extends BSON.Document>(doc: T): BSON.Document => BSON.deserialize(BSON.serialize(doc));

const serverError = (code: number, errorLabels: string[] = []): MongoServerError =>
  new MongoServerError({ message: `server error ${code}`, code, errorLabels });

const message: MessageRecord = {
  id: 'm1',
  groupId: 'g1',
  seq: 7,
  senderId: 'u1',
  body: 'héllo 👋',
  clientMessageId: 'c1',
  createdAt: at('2025-01-01T00:00:42.123Z'),
};

describe('mapping', () => {
  it('maps a group to its document and back, dates surviving BSON', () => {
    const group: GroupRecord = {
      id: 'g1',
      name: 'Group',
      ownerId: 'owner',
      memberCount: 3,
      lastSeq: 12,
      createdAt: at('2025-01-01T00:00:00.000Z'),
      lastActivityAt: at('2025-01-02T03:04:05.678Z'),
    };
    const doc = toGroupDoc(group);
    expect(doc).toEqual({
      _id: 'g1',
      name: 'Group',
      ownerId: 'owner',
      memberCount: 3,
      lastSeq: 12,
      createdAt: group.createdAt,
      lastActivityAt: group.lastActivityAt,
    });
    const back = toGroup(throughBson(doc) as typeof doc);
    expect(back).toEqual(group);
    expect(back.lastActivityAt).toBeInstanceOf(Date);
  });

  it('maps users, reading a missing or null name as null', () => {
    expect(toUser({ _id: 'u1', name: 'Ann' })).toEqual({ id: 'u1', name: 'Ann' });
    expect(toUser({ _id: 'u2', name: null })).toEqual({ id: 'u2', name: null });
    expect(toUser(throughBson({ _id: 'u3' }) as { _id: string; name: null })).toEqual({ id: 'u3', name: null });
  });

  it('maps memberships without exposing the document _id', () => {
    const membership: MembershipRecord = {
      groupId: 'g1',
      userId: 'u1',
      lastReadSeq: 4,
      joinedSeq: 2,
      joinedAt: at('2025-01-01T00:00:09.000Z'),
    };
    const stored = throughBson({ _id: new BSON.ObjectId(), ...toMembershipDoc(membership) });
    expect(toMembership(stored as ReturnType<typeof toMembershipDoc>)).toEqual(membership);
  });

  it('maps messages with the message id as _id', () => {
    const doc = toMessageDoc(message);
    expect(doc._id).toBe('m1');
    expect(doc).not.toHaveProperty('id');
    expect(toMessage(throughBson(doc) as typeof doc)).toEqual(message);
  });

  it('maps every outbox event type to a document and back, keeping only the event fields', () => {
    const events: OutboxEvent[] = [
      { type: 'message', message },
      { type: 'membersAdded', groupId: 'g1', userIds: ['owner', 'a'], seq: 0 },
      { type: 'memberRemoved', groupId: 'g1', userId: 'a', seq: 3 },
    ];
    for (const event of events) {
      const doc = toOutboxEventDoc(event);
      const back = toOutboxEvent(throughBson(doc) as OutboxEventDoc);
      expect(back).toEqual(event);
    }
    const withExtras = { type: 'memberRemoved', groupId: 'g1', userId: 'a', seq: 3, extra: true } as OutboxEvent;
    expect(Object.keys(toOutboxEventDoc(withExtras)).sort()).toEqual(['groupId', 'seq', 'type', 'userId']);
  });

  it('keeps the message date a Date and copies arrays rather than sharing them', () => {
    const roundTrip = toOutboxEvent(throughBson(toOutboxEventDoc({ type: 'message', message })) as OutboxEventDoc);
    expect(roundTrip.type === 'message' && roundTrip.message.createdAt).toBeInstanceOf(Date);
    expect(roundTrip.type === 'message' && roundTrip.message.createdAt.getTime()).toBe(message.createdAt.getTime());

    const userIds = ['a', 'b'];
    const doc = toOutboxEventDoc({ type: 'membersAdded', groupId: 'g1', userIds, seq: 1 });
    expect(doc.type === 'membersAdded' && doc.userIds).not.toBe(userIds);
  });

  it('builds an outbox record from a document and a position, and rejects unknown event types', () => {
    const doc: OutboxDoc = {
      _id: 5,
      event: toOutboxEventDoc({ type: 'memberRemoved', groupId: 'g1', userId: 'a', seq: 3 }),
      createdAt: new Date(),
    };
    expect(toOutboxRecord(doc, 'p5')).toEqual({
      position: 'p5',
      event: { type: 'memberRemoved', groupId: 'g1', userId: 'a', seq: 3 },
    });
    expect(() => toOutboxEvent({ type: 'groupRenamed' } as unknown as OutboxEventDoc)).toThrow(TypeError);
  });
});

describe('outbox positions', () => {
  const token = { _data: '8267A1B2C3000000012B042C0100296E5A1004' };

  it('round-trips a key alone and a key with a resume token', () => {
    expect(decodePosition(encodePosition({ key: 42 }))).toEqual({ key: 42 });
    expect(decodePosition(encodePosition({ key: 42, token }))).toEqual({ key: 42, token });
    expect(decodePosition(encodePosition(START))).toEqual({ key: 0 });
  });

  it('keeps BSON values inside a token, such as Binary _typeBits', () => {
    const typed = { _data: token._data, _typeBits: new Binary(Buffer.from([0x40]), 0) };
    const decoded = decodePosition(encodePosition({ key: 9, token: typed }));
    expect(decoded.key).toBe(9);
    const back = decoded.token as { _data: string; _typeBits: Binary };
    expect(back._data).toBe(token._data);
    expect(back._typeBits).toBeInstanceOf(Binary);
    expect(Buffer.from(back._typeBits.buffer)).toEqual(Buffer.from([0x40]));
  });

  it('produces URL-safe strings that differ by key and by token', () => {
    const positions = [
      encodePosition({ key: 1 }),
      encodePosition({ key: 2 }),
      encodePosition({ key: 2, token }),
      encodePosition({ key: 2, token: { _data: `${token._data}00` } }),
    ];
    for (const position of positions) expect(position).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(new Set(positions).size).toBe(positions.length);
  });

  it('refuses to encode a key that is not a safe integer >= 0', () => {
    for (const key of [-1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
      expect(() => encodePosition({ key })).toThrow(RangeError);
    }
  });

  it('rejects strings it did not produce with a RangeError', () => {
    const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');
    const garbage = [
      '',
      'not a position',
      '42',
      b64('[]'),
      b64('null'),
      b64('{}'),
      b64('{"k":-1}'),
      b64('{"k":1.5}'),
      b64('{"k":"1"}'),
      b64('{"k":1,"t":5}'),
      b64('{"k":1,"t":null}'),
      b64('{"k":1,"t":{"$binary":"nope"}}'),
      b64('{"k":1'),
    ];
    for (const position of garbage) expect(() => decodePosition(position), position).toThrow(RangeError);
  });
});

describe('group page keys', () => {
  it('round-trips the activity time and the id, including ids with colons', () => {
    const key = { lastActivityAt: at('2025-01-01T00:00:07.000Z'), id: 'team:ops:1' };
    expect(decodeGroupKey(encodeGroupKey(key))).toEqual(key);
    expect(decodeGroupKey(encodeGroupKey({ lastActivityAt: new Date(0), id: '' }))).toEqual({
      lastActivityAt: new Date(0),
      id: '',
    });
    expect(encodeGroupKey(key)).toBe(`${key.lastActivityAt.getTime()}:team:ops:1`);
  });

  it('rejects keys it did not produce and invalid dates', () => {
    for (const key of ['garbage', ':g1', 'abc:g1', '12x:g1', '1.5:g1', '']) {
      expect(() => decodeGroupKey(key), key).toThrow(RangeError);
    }
    expect(() => encodeGroupKey({ lastActivityAt: new Date(Number.NaN), id: 'g' })).toThrow(RangeError);
  });
});

describe('error classification', () => {
  it('recognises duplicate keys from single writes and from bulk writes', () => {
    expect(isDuplicateKey(serverError(11000))).toBe(true);
    const bulk = new MongoBulkWriteError(
      { message: 'E11000 duplicate key error', code: 11000, writeErrors: [] },
      {} as BulkWriteResult,
    );
    expect(bulk).toBeInstanceOf(MongoServerError);
    expect(isDuplicateKey(bulk)).toBe(true);
    expect(isDuplicateKey(serverError(ServerCode.WriteConflict))).toBe(false);
    expect(isDuplicateKey(Object.assign(new Error('E11000'), { code: 11000 }))).toBe(false);
    expect(isDuplicateKey(undefined)).toBe(false);
    expect(isDuplicateKey({ code: 11000 })).toBe(false);
  });

  it('reads the transaction labels the server and driver attach', () => {
    const writeConflict = serverError(112, [MongoErrorLabel.TransientTransactionError]);
    expect(isWriteConflict(writeConflict)).toBe(true);
    expect(isTransient(writeConflict)).toBe(true);
    expect(isTransient(serverError(251, [MongoErrorLabel.TransientTransactionError]))).toBe(true);
    expect(isTransient(serverError(112))).toBe(false);

    const unknownCommit = serverError(50, [MongoErrorLabel.UnknownTransactionCommitResult]);
    expect(isUnknownCommitResult(unknownCommit)).toBe(true);
    expect(isTransient(unknownCommit)).toBe(false);
    const network = new MongoNetworkError('connection reset');
    network.addErrorLabel(MongoErrorLabel.TransientTransactionError);
    expect(isTransient(network)).toBe(true);
    expect(isUnknownCommitResult(new Error('plain'))).toBe(false);
  });

  it('treats lost history, invalid tokens and missing resume points as fallback', () => {
    // 136: a slow follower's open stream lost its oplog position; the driver does not resume it,
    // and failing would end the relay's follow although the outbox collection still has the records.
    for (const code of [286, 136, 260, 280]) {
      expect(isHistoryLost(serverError(code)), String(code)).toBe(true);
      expect(followErrorAction(serverError(code)), String(code)).toBe('fallback');
    }
    expect(isHistoryLost(serverError(11000))).toBe(false);
    expect(isHistoryLost(new MongoNetworkError('down'))).toBe(false);
  });

  it('retries later on network trouble, elections and resumable errors', () => {
    // The driver exports TopologyDescription as a type only; the error reads just `error` of it.
    const noPrimary = { type: TopologyType.ReplicaSetNoPrimary, error: null } as unknown as TopologyDescription;
    const selection = new MongoServerSelectionError('Server selection timed out', noPrimary);
    const retryable = [
      new MongoNetworkError('connection reset'),
      new MongoNetworkTimeoutError('timed out'),
      selection,
      serverError(10107),
      serverError(189),
      serverError(91),
      serverError(43),
      serverError(1, [MongoErrorLabel.ResumableChangeStreamError]),
      serverError(1, [MongoErrorLabel.RetryableWriteError]),
    ];
    for (const error of retryable) {
      expect(isRetryLater(error), error.message).toBe(true);
      expect(followErrorAction(error), error.message).toBe('retry');
    }
  });

  it('fails on everything else', () => {
    const fatal = [serverError(13), serverError(2), new MongoError('driver bug'), new TypeError('bug'), 'string'];
    for (const error of fatal) {
      expect(isRetryLater(error)).toBe(false);
      expect(followErrorAction(error)).toBe('fail');
    }
  });

  it('recognises the start-up codes it tolerates', () => {
    expect(isIndexOptionsConflict(serverError(85))).toBe(true);
    expect(isIndexOptionsConflict(serverError(86))).toBe(false);
    expect(isNamespaceExists(serverError(48))).toBe(true);
    expect(isNamespaceExists(serverError(26))).toBe(false);
  });
});

describe('follow decisions', () => {
  it('skips keys already yielded, takes the next one, and reports a jump past it as a gap', () => {
    // Catch-up and the stream overlap from T0: the stream re-delivers what catch-up yielded.
    expect(placeKey(3, 5, true)).toBe('seen');
    expect(placeKey(5, 5, true)).toBe('seen');
    expect(placeKey(6, 5, true)).toBe('next');
    expect(placeKey(9, 5, true)).toBe('gap');
    // From the start (after = null) the oldest kept key may be anything: expired, not a gap.
    expect(placeKey(40, 0, false)).toBe('next');
    expect(placeKey(0, 0, false)).toBe('seen');
  });

  it('takes the inserts before the change that ends the stream, and nothing after it', () => {
    type Change = { operationType: 'insert'; key: number } | { operationType: 'drop' | 'invalidate' | 'rename' };
    const insert = (key: number): Change => ({ operationType: 'insert', key });
    expect(insertsUntilEnd<Change>([insert(1), insert(2)])).toEqual({ inserts: [insert(1), insert(2)], ended: false });
    expect(insertsUntilEnd<Change>([insert(1), { operationType: 'drop' }, { operationType: 'invalidate' }, insert(2)])).toEqual({
      inserts: [insert(1)],
      ended: true,
    });
    expect(insertsUntilEnd<Change>([{ operationType: 'invalidate' }])).toEqual({ inserts: [], ended: true });
    expect(insertsUntilEnd<Change>([{ operationType: 'rename' }, insert(1)]).ended).toBe(true);
    expect(insertsUntilEnd<Change>([])).toEqual({ inserts: [], ended: false });
  });

  it('retries at once, then backs off from 100 ms doubling to at most 5 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 50].map(retryDelayMs)).toEqual([0, 100, 200, 400, 800, 1600, 3200, 5000, 5000]);
  });
});
