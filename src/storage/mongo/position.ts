/**
 * The opaque strings this adapter hands out: outbox positions and `listUserGroups` page keys.
 * Pure functions, unit-tested in `test/mongo-unit.test.ts`.
 */
import { BSON } from 'mongodb';

/**
 * Where a record sits in the outbox.
 *
 * `key` is the outbox document's `_id`, taken from a counter inside the appending transaction,
 * so key order is commit order and keys are consecutive (see `appendOutbox` in `store.ts`).
 * `token` is the change stream resume token of the record's insert event, when the record came
 * from the change stream; a follower resumes with `startAfter: token` and falls back to reading
 * keys > `key` when the token is gone from the oplog. Records read from the collection itself
 * (catch-up) have no token.
 */
export interface OutboxPosition {
  readonly key: number;
  /** A resume token (`ChangeStreamDocument._id`); any BSON value, kept as the server sent it. */
  readonly token?: unknown;
}

/** The position before every record: `follow(null)` starts here. */
export const START: OutboxPosition = { key: 0 };

interface EncodedPosition {
  readonly k: number;
  /** The token as canonical Extended JSON, so BSON types such as Binary `_typeBits` survive. */
  readonly t?: unknown;
}

const isKey = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

export function encodePosition(position: OutboxPosition): string {
  if (!isKey(position.key)) throw new RangeError(`An outbox key must be a safe integer >= 0, got ${String(position.key)}`);
  const encoded: EncodedPosition =
    position.token === undefined
      ? { k: position.key }
      : { k: position.key, t: BSON.EJSON.serialize(position.token, { relaxed: false }) };
  return Buffer.from(JSON.stringify(encoded), 'utf8').toString('base64url');
}

/** Parses what `encodePosition` produced; anything else is a caller's bug (RangeError). */
export function decodePosition(position: string): OutboxPosition {
  const invalid = (): RangeError =>
    new RangeError(`Not an outbox position of the MongoDB store: ${JSON.stringify(position)}`);
  if (!/^[A-Za-z0-9_-]+$/.test(position)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(position, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid();
  const { k, t } = parsed as { readonly k?: unknown; readonly t?: unknown };
  if (!isKey(k)) throw invalid();
  if (t === undefined) return { key: k };
  if (typeof t !== 'object' || t === null) throw invalid();
  let token: unknown;
  try {
    token = BSON.EJSON.deserialize(t, { relaxed: false });
  } catch {
    throw invalid();
  }
  return { key: k, token };
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
  if (!Number.isSafeInteger(ms)) throw new RangeError(`Not a group page key of the MongoDB store: ${JSON.stringify(key)}`);
  return { lastActivityAt: new Date(ms), id: key.slice(colon + 1) };
}
