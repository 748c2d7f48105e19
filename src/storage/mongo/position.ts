/**
 * The opaque strings this adapter hands out: outbox positions and `listUserGroups` page keys.
 * Pure functions, unit-tested in `test/mongo-unit.test.ts`.
 */
import { BSON, Timestamp } from 'mongodb';
import { InvalidOutboxPositionError, InvalidPageKeyError } from '../errors.ts';

/** How far a collection read (see `outbox.ts`) has got. */
export interface RescanProgress {
  /** T0: the operation time the read fixed first; its change stream starts there (inclusive). */
  readonly at: Timestamp;
  /** The last record yielded, in the read's order: by group id, then by n within the group. */
  readonly g: string;
  readonly n: number;
}

/**
 * Where a follower is in the outbox. Records of the change stream carry their resume `token`
 * and set `watermark` to their own `createdAt`; records of a collection read carry `rescan` and
 * keep the watermark the read started from, since that read is not in commit order.
 */
export interface OutboxPosition {
  /**
   * Epoch ms: the `createdAt` of the last record taken from the change stream. Every record
   * committed after it was created after `watermark - overlap` (see `outbox.ts`). Null before
   * any: a follower that has read nothing from a stream reads from the oldest record kept.
   */
  readonly watermark: number | null;
  /** A resume token (`ChangeStreamDocument._id`); any BSON value, kept as the server sent it. */
  readonly token?: unknown;
  readonly rescan?: RescanProgress;
}

/** The position before every record: `follow(null)` starts here. */
export const START: OutboxPosition = { watermark: null };

interface EncodedPosition {
  readonly w: number | null;
  /** The token as canonical Extended JSON, so BSON types such as Binary `_typeBits` survive. */
  readonly t?: unknown;
  readonly r?: { readonly a: { readonly t: number; readonly i: number }; readonly g: string; readonly n: number };
}

const isWatermark = (value: unknown): value is number | null => value === null || (typeof value === 'number' && Number.isSafeInteger(value));
const isN = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 1;
const isUint32 = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff;

export function encodePosition(position: OutboxPosition): string {
  if (!isWatermark(position.watermark)) throw new RangeError(`An outbox watermark must be epoch ms or null, got ${String(position.watermark)}`);
  if (position.token !== undefined && position.rescan !== undefined) throw new RangeError('An outbox position has a token or a rescan, not both');
  let encoded: EncodedPosition = { w: position.watermark };
  if (position.token !== undefined) encoded = { ...encoded, t: BSON.EJSON.serialize(position.token, { relaxed: false }) };
  if (position.rescan !== undefined) {
    const { at, g, n } = position.rescan;
    if (!isN(n)) throw new RangeError(`An outbox record number must be a positive safe integer, got ${String(n)}`);
    encoded = { ...encoded, r: { a: { t: at.t, i: at.i }, g, n } };
  }
  return Buffer.from(JSON.stringify(encoded), 'utf8').toString('base64url');
}

/** Parses what `encodePosition` produced; anything else is a caller's bug (InvalidOutboxPositionError). */
export function decodePosition(position: string): OutboxPosition {
  const invalid = (): InvalidOutboxPositionError =>
    new InvalidOutboxPositionError(`Not an outbox position of the MongoDB store: ${JSON.stringify(position)}`);
  if (!/^[A-Za-z0-9_-]+$/.test(position)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(position, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid();
  const { w, t, r } = parsed as { readonly w?: unknown; readonly t?: unknown; readonly r?: unknown };
  if (!isWatermark(w)) throw invalid();
  if (t !== undefined && r !== undefined) throw invalid();
  if (t !== undefined) {
    if (typeof t !== 'object' || t === null) throw invalid();
    let token: unknown;
    try {
      token = BSON.EJSON.deserialize(t, { relaxed: false });
    } catch {
      throw invalid();
    }
    return { watermark: w, token };
  }
  if (r !== undefined) {
    if (typeof r !== 'object' || r === null) throw invalid();
    const { a, g, n } = r as { readonly a?: unknown; readonly g?: unknown; readonly n?: unknown };
    if (typeof g !== 'string' || !isN(n) || typeof a !== 'object' || a === null) throw invalid();
    const { t: seconds, i } = a as { readonly t?: unknown; readonly i?: unknown };
    if (!isUint32(seconds) || !isUint32(i)) throw invalid();
    return { watermark: w, rescan: { at: new Timestamp({ t: seconds, i }), g, n } };
  }
  return { watermark: w };
}

/** A `listUserGroups` key: the group's place in (lastActivityAt desc, id desc) order. */
export interface GroupKey {
  readonly lastActivityAt: Date;
  readonly id: string;
}

/** `<epoch ms>:<group id>`; the id may itself contain colons (only the first one splits). */
export function encodeGroupKey(key: GroupKey): string {
  const ms = key.lastActivityAt.getTime();
  if (!Number.isSafeInteger(ms)) throw new RangeError('A group key needs a valid lastActivityAt');
  return `${ms}:${key.id}`;
}

export function decodeGroupKey(key: string): GroupKey {
  const colon = key.indexOf(':');
  const head = colon > 0 ? key.slice(0, colon) : '';
  const ms = /^-?\d{1,16}$/.test(head) ? Number(head) : Number.NaN;
  if (!Number.isSafeInteger(ms)) throw new InvalidPageKeyError(`Not a group page key of the MongoDB store: ${JSON.stringify(key)}`);
  return { lastActivityAt: new Date(ms), id: key.slice(colon + 1) };
}
