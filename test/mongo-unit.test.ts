/**
 * The pure parts of the MongoDB adapter: document mapping, position and page-key encoding, the
 * decisions of the outbox follower (including its fallback read after a lost resume point),
 * the database name choice, and which server errors are retried or fallen back from. No server
 * needed; these always run. (The adapter as a whole runs in `store.contract.test.ts` when
 * MONGODB_URI is set.) Long on purpose: every pure part of one adapter, in one place.
 */
import {
  BSON,
  Binary,
  Timestamp,
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
import { InvalidOutboxPositionError, InvalidPageKeyError } from '../src/storage/errors.ts';
import { outboxEventFromJson, outboxEventToJson } from '../src/storage/outbox-codec.ts';
import type { GroupRecord, MembershipRecord, MessageRecord, OutboxEvent } from '../src/storage/port.ts';
import { chooseMongoDbName, DEFAULT_MONGODB_DB } from '../src/storage/mongo/db-name.ts';
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
  toOutboxRecord,
  toUser,
  type OutboxDoc,
} from '../src/storage/mongo/mapping.ts';
import {
  afterLostHistory,
  afterRescanRecord,
  afterStreamRecord,
  firstToRead,
  insertsUntilEnd,
  mayHaveExpired,
  planRead,
  rescanFrom,
  retryDelayMs,
} from '../src/storage/mongo/follow.ts';
import {
  START,
  decodeGroupKey,
  decodePosition,
  encodeGroupKey,
  encodePosition,
  type OutboxPosition,
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

  it('stores every outbox event type through the codec, surviving BSON, keeping only the event fields', () => {
    const events: OutboxEvent[] = [
      { type: 'message', message },
      { type: 'membersAdded', groupId: 'g1', userIds: ['owner', 'a'], seq: 0 },
      { type: 'memberRemoved', groupId: 'g1', userId: 'a', seq: 3 },
    ];
    for (const event of events) {
      const doc: OutboxDoc = { _id: { g: 'g1', n: 4 }, event: outboxEventToJson(event), createdAt: new Date() };
      expect(toOutboxRecord(throughBson(doc) as OutboxDoc, 'p4')).toEqual({ position: 'p4', event });
    }
    const withExtras = { type: 'memberRemoved', groupId: 'g1', userId: 'a', seq: 3, extra: true } as OutboxEvent;
    expect(Object.keys(outboxEventToJson(withExtras)).sort()).toEqual(['groupId', 'seq', 'type', 'userId']);
    const roundTrip = outboxEventFromJson(throughBson({ e: outboxEventToJson({ type: 'message', message }) })['e']);
    expect(roundTrip.type === 'message' && roundTrip.message.createdAt).toBeInstanceOf(Date);
  });

  it('keeps the outbox key fields in index order (g, then n), as its range reads need', () => {
    const doc: OutboxDoc = { _id: { g: 'g1', n: 2 }, event: outboxEventToJson({ type: 'message', message }), createdAt: new Date() };
    // BSON orders embedded documents field by field, in order: swapped fields would sort by n first.
    expect(Object.keys((throughBson(doc) as OutboxDoc)._id)).toEqual(['g', 'n']);
  });

  it('rejects outbox documents whose event is not one the codec wrote', () => {
    const bad = { _id: { g: 'g1', n: 1 }, event: { type: 'groupRenamed' }, createdAt: new Date() } as unknown as OutboxDoc;
    expect(() => toOutboxRecord(bad, 'p')).toThrow(TypeError);
  });
});

describe('outbox positions', () => {
  const token = { _data: '8267A1B2C3000000012B042C0100296E5A1004' };
  const at = new Timestamp({ t: 1_750_000_000, i: 7 });

  it('round-trips the start, a streamed position and a collection-read position', () => {
    expect(decodePosition(encodePosition(START))).toEqual({ watermark: null });
    expect(decodePosition(encodePosition({ watermark: 1_750_000_000_123, token }))).toEqual({ watermark: 1_750_000_000_123, token });
    const rescan = decodePosition(encodePosition({ watermark: 42, rescan: { at, g: 'g:1', n: 9 } }));
    expect(rescan.watermark).toBe(42);
    expect(rescan.rescan?.g).toBe('g:1');
    expect(rescan.rescan?.n).toBe(9);
    expect(rescan.rescan?.at.equals(at)).toBe(true);
    expect(decodePosition(encodePosition({ watermark: null, rescan: { at, g: 'g', n: 1 } })).watermark).toBeNull();
  });

  it('keeps BSON values inside a token, such as Binary _typeBits', () => {
    const typed = { _data: token._data, _typeBits: new Binary(Buffer.from([0x40]), 0) };
    const decoded = decodePosition(encodePosition({ watermark: 9, token: typed }));
    expect(decoded.watermark).toBe(9);
    const back = decoded.token as { _data: string; _typeBits: Binary };
    expect(back._data).toBe(token._data);
    expect(back._typeBits).toBeInstanceOf(Binary);
    expect(Buffer.from(back._typeBits.buffer)).toEqual(Buffer.from([0x40]));
  });

  it('produces URL-safe strings that differ by watermark, token and progress', () => {
    const positions = [
      encodePosition({ watermark: 1 }),
      encodePosition({ watermark: 2 }),
      encodePosition({ watermark: 2, token }),
      encodePosition({ watermark: 2, token: { _data: `${token._data}00` } }),
      encodePosition({ watermark: 2, rescan: { at, g: 'g1', n: 1 } }),
      encodePosition({ watermark: 2, rescan: { at, g: 'g1', n: 2 } }),
      encodePosition({ watermark: 2, rescan: { at, g: 'g2', n: 1 } }),
    ];
    for (const position of positions) expect(position).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(new Set(positions).size).toBe(positions.length);
  });

  it('refuses to encode what no follower produces', () => {
    for (const watermark of [1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) {
      expect(() => encodePosition({ watermark })).toThrow(RangeError);
    }
    expect(() => encodePosition({ watermark: 1, token, rescan: { at, g: 'g', n: 1 } })).toThrow(RangeError);
    expect(() => encodePosition({ watermark: 1, rescan: { at, g: 'g', n: 0 } })).toThrow(RangeError);
  });

  it('rejects strings it did not produce with an InvalidOutboxPositionError', () => {
    const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64url');
    const garbage = [
      '',
      'not a position',
      '42',
      b64('[]'),
      b64('null'),
      b64('{}'),
      b64('{"k":1}'),
      b64('{"w":1.5}'),
      b64('{"w":"1"}'),
      b64('{"w":1,"t":5}'),
      b64('{"w":1,"t":null}'),
      b64('{"w":1,"t":{"$binary":"nope"}}'),
      b64('{"w":1,"t":{"_data":"a"},"r":{"a":{"t":1,"i":1},"g":"g","n":1}}'),
      b64('{"w":1,"r":{"a":{"t":1,"i":1},"g":"g","n":0}}'),
      b64('{"w":1,"r":{"a":{"t":-1,"i":1},"g":"g","n":1}}'),
      b64('{"w":1,"r":{"a":{"t":1,"i":1},"g":7,"n":1}}'),
      b64('{"w":1,"r":{"g":"g","n":1}}'),
      b64('{"w":1'),
    ];
    for (const position of garbage) expect(() => decodePosition(position), position).toThrow(InvalidOutboxPositionError);
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
      expect(() => decodeGroupKey(key), key).toThrow(InvalidPageKeyError);
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

describe('follow decisions (the fallback after a lost resume point)', () => {
  const token = { _data: '82aa' };
  const t0 = new Timestamp({ t: 1_750_000_000, i: 1 });
  const minute = 60_000;

  it('resumes the change stream right after the token of the last streamed record', () => {
    const position = afterStreamRecord(new Date(1_000_000), token);
    expect(position).toEqual({ watermark: 1_000_000, token });
    expect(planRead(position, 5 * minute)).toEqual({ mode: 'stream', startAfter: token });
  });

  it('from nothing, reads every kept record, then streams', () => {
    expect(planRead(START, 5 * minute)).toEqual({ mode: 'rescan', from: null, resume: null });
  });

  it('after a lost resume point, re-reads from the overlap before the last streamed record', () => {
    // Record E streamed at watermark W; the stream then fails with 286 (or 260, 280, 136).
    const streamed = afterStreamRecord(new Date(10 * minute), token);
    const lost = afterLostHistory(streamed);
    expect(lost).toEqual({ watermark: 10 * minute });
    const plan = planRead(lost, 5 * minute);
    expect(plan).toEqual({ mode: 'rescan', from: new Date(5 * minute), resume: null });
  });

  it('takes every record committed after E, even one created before E by a slower, skewed writer', () => {
    // E: created (by one app server's clock) at W and streamed. r: committed after E by another
    // server whose clock runs S behind, its transaction L long: createdAt(r) = W - L - 2S at
    // worst (see outbox.ts). With the overlap at least L + 2S, r is in the window; one ms less
    // overlap than that bound and it would not be.
    const W = 100 * minute;
    const L = 90_000;
    const S = 30_000;
    const createdAtOfR = W - L - 2 * S;
    const window = (overlapMs: number): Date | null => {
      const plan = planRead(afterLostHistory(afterStreamRecord(new Date(W), token)), overlapMs);
      return plan.mode === 'rescan' ? plan.from : null;
    };
    expect(window(L + 2 * S)!.getTime()).toBeLessThanOrEqual(createdAtOfR);
    expect(window(L + 2 * S - 1)!.getTime()).toBeGreaterThan(createdAtOfR);
    // The default overlap covers L = 90 s (transactionLifetimeLimitSeconds 60 s, checked every 30 s)
    // with clocks up to 105 s apart.
    expect(window(300_000)!.getTime()).toBeLessThanOrEqual(W - 90_000 - 2 * 105_000);
  });

  it('keeps the read\'s watermark on the records it yields, with its T0 and progress', () => {
    const start = afterLostHistory(afterStreamRecord(new Date(10 * minute), token));
    const first = afterRescanRecord(start, t0, { g: 'g1', n: 4 });
    const second = afterRescanRecord(first, t0, { g: 'g2', n: 1 });
    // Not in commit order: a record's own time says nothing about the others.
    expect(second).toEqual({ watermark: 10 * minute, rescan: { at: t0, g: 'g2', n: 1 } });
    // Resumed there: same window, skip what was yielded, stream from the same T0.
    expect(planRead(second, 5 * minute)).toEqual({ mode: 'rescan', from: new Date(5 * minute), resume: { at: t0, g: 'g2', n: 1 } });
  });

  it('continues a resumed read after the last record it yielded, and reads other groups from their first', () => {
    const resume = { at: t0, g: 'g2', n: 7 };
    expect(firstToRead('g2', 3, resume)).toBe(8);
    expect(firstToRead('g2', 9, resume)).toBe(9);
    expect(firstToRead('g3', 1, resume)).toBe(1);
    expect(firstToRead('g3', 5, null)).toBe(5);
  });

  it('drops a resumed read\'s T0 when the stream cannot continue: the whole window is read again', () => {
    const resumed: OutboxPosition = { watermark: 10 * minute, rescan: { at: t0, g: 'g2', n: 7 } };
    const lost = afterLostHistory(resumed);
    expect(lost).toEqual({ watermark: 10 * minute });
    expect(planRead(lost, minute)).toEqual({ mode: 'rescan', from: new Date(9 * minute), resume: null });
    // From nothing stays nothing.
    expect(afterLostHistory(START)).toEqual({ watermark: null });
  });

  it('computes the window start, and warns exactly when it reaches before what the TTL keeps', () => {
    expect(rescanFrom(null, minute)).toBeNull();
    expect(rescanFrom(10 * minute, minute)).toEqual(new Date(9 * minute));
    const retention = 60 * minute;
    const now = 100 * minute;
    expect(mayHaveExpired(null, now, retention)).toBe(false);
    expect(mayHaveExpired(new Date(now - retention), now, retention)).toBe(false);
    expect(mayHaveExpired(new Date(now - retention - 1), now, retention)).toBe(true);
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

describe('database name', () => {
  it('uses the database in the URI path only when the path names one', () => {
    expect(chooseMongoDbName('mongodb://db.example:27017/app?replicaSet=rs0', null)).toBe('app');
    expect(chooseMongoDbName('mongodb://a:27017,b:27017/app%2Dtwo?replicaSet=rs0', null)).toBe('app-two');
    expect(chooseMongoDbName('mongodb+srv://cluster.example.net/tenant1', null)).toBe('tenant1');
    // No database in the URI: the driver would say 'test'; the store uses MONGODB_DB, else chat.
    for (const uri of ['mongodb://db.example:27017', 'mongodb://db.example:27017/', 'mongodb://u:p%40ss@db.example/?authSource=admin']) {
      expect(chooseMongoDbName(uri, null), uri).toBe(DEFAULT_MONGODB_DB);
      expect(chooseMongoDbName(uri, 'custom'), uri).toBe('custom');
    }
    expect(DEFAULT_MONGODB_DB).toBe('chat');
    expect(chooseMongoDbName(null, null)).toBe('chat');
    expect(chooseMongoDbName(null, 'custom')).toBe('custom');
    // Both naming the same database is fine.
    expect(chooseMongoDbName('mongodb://db.example/app', 'app')).toBe('app');
  });

  it('refuses two different names, invalid names and a URI that is not MongoDB\'s', () => {
    expect(() => chooseMongoDbName('mongodb://db.example/app', 'other')).toThrow(/set only one/);
    expect(() => chooseMongoDbName(null, 'has.dot')).toThrow(RangeError);
    expect(() => chooseMongoDbName(null, 'x'.repeat(64))).toThrow(RangeError);
    expect(chooseMongoDbName(null, 'x'.repeat(63))).toBe('x'.repeat(63));
    expect(() => chooseMongoDbName('mongodb://db.example/has%24dollar', null)).toThrow(RangeError);
    expect(() => chooseMongoDbName('http://db.example/app', null)).toThrow(/not a MongoDB connection string/);
  });
});
