/**
 * Message use cases: send (validate → rate limit → one store transaction) and history paging.
 */
import type { Viewer } from '../auth/jwt.ts';
import type { GroupRecord, MessageRecord } from '../storage/port.ts';
import type { UseCaseDeps } from './deps.ts';
import { ErrorCode, UserError, badInput, forbidden, notFound } from './errors.ts';
import { requireMember, type GroupView } from './groups.ts';
import { IdPrefix } from './ids.ts';
import { decodeCursor, encodeCursor, pageSize, type Connection } from './pagination.ts';
import { hasLoneSurrogate } from '../util/unicode.ts';

export interface SendGroupMessageInput {
  readonly groupId: string;
  readonly body: string;
  readonly clientMessageId: string;
}

export interface SendResult {
  readonly message: MessageRecord;
  readonly created: boolean;
}

const codePoints = (text: string): number => {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
};

export async function sendGroupMessage(deps: UseCaseDeps, viewer: Viewer, input: SendGroupMessageInput): Promise<SendResult> {
  const { maxBodyLength, maxClientMessageIdLength } = deps.limits;
  const bodyLength = codePoints(input.body);
  if (bodyLength === 0 || bodyLength > maxBodyLength || input.body.trim() === '') {
    throw badInput('body', `body must be 1 to ${maxBodyLength} characters and not only spaces.`, { limit: maxBodyLength });
  }
  if (hasLoneSurrogate(input.body)) {
    throw badInput('body', 'body contains a lone UTF-16 surrogate, which is not a character.');
  }
  const idLength = codePoints(input.clientMessageId);
  if (idLength === 0 || idLength > maxClientMessageIdLength) {
    throw badInput('clientMessageId', `clientMessageId must be 1 to ${maxClientMessageIdLength} characters.`, {
      limit: maxClientMessageIdLength,
    });
  }
  if (hasLoneSurrogate(input.clientMessageId)) {
    throw badInput('clientMessageId', 'clientMessageId contains a lone UTF-16 surrogate, which is not a character.');
  }
  const waitMs = deps.sendLimiter.take(viewer.id);
  if (waitMs > 0) {
    throw new UserError(
      ErrorCode.RATE_LIMITED,
      `You are sending faster than ${deps.limits.sendRatePerSecond} messages per second; retry in ${waitMs} ms.`,
      { retryAfterMs: waitMs },
    );
  }
  const outcome = await deps.store.appendMessage({
    id: deps.newId(IdPrefix.message),
    groupId: input.groupId,
    senderId: viewer.id,
    body: input.body,
    clientMessageId: input.clientMessageId,
    now: deps.now(),
  });
  if (!outcome.ok) {
    if (outcome.reason === 'GROUP_NOT_FOUND') throw notFound(`Group ${input.groupId} does not exist.`);
    throw forbidden(`You are not a member of group ${input.groupId}.`);
  }
  if (outcome.created) deps.onMessageStored?.();
  return { message: outcome.message, created: outcome.created };
}

export interface MessagesArgs {
  readonly groupId: string;
  readonly first?: number | null | undefined;
  readonly after?: string | null | undefined;
  readonly last?: number | null | undefined;
  readonly before?: string | null | undefined;
  readonly afterSeq?: number | null | undefined;
}

const MESSAGE_CURSOR = 'm';

/** The opaque cursor of a message in its group's history (edges and `Message.cursor` alike). */
export const messageCursor = (message: Pick<MessageRecord, 'seq'>): string => encodeCursor(MESSAGE_CURSOR, String(message.seq));

function cursorSeq(cursor: string | null | undefined, field: string): number | undefined {
  if (cursor == null) return undefined;
  const key = decodeCursor(MESSAGE_CURSOR, cursor, field);
  const seq = Number(key);
  if (!Number.isSafeInteger(seq) || seq < 1) throw badInput(field, `${field} is not a cursor this list returned.`);
  return seq;
}

/** The history arguments of `Query.messages` and `Group.messages`, without the group. */
export type GroupMessagesArgs = Omit<MessagesArgs, 'groupId'>;

/**
 * `messages`: first/after page towards newer messages, last/before towards older ones, last
 * with no cursor gives the newest. Seqs are 1..lastSeq without gaps and messages are never
 * deleted, so the side of the page that was not fetched is known by arithmetic.
 */
export async function listMessages(deps: UseCaseDeps, viewer: Viewer, args: MessagesArgs): Promise<Connection<MessageRecord>> {
  const page = validateMessagesArgs(deps, args);
  const { group } = await requireMember(deps, viewer, args.groupId);
  return readMessages(deps, group, page);
}

/**
 * `Group.messages`: the same paging as `messages`, on a group the viewer was shown as a member
 * (FORBIDDEN when the view comes from the viewer leaving it).
 */
export async function listGroupMessages(deps: UseCaseDeps, view: GroupView, args: GroupMessagesArgs): Promise<Connection<MessageRecord>> {
  const page = validateMessagesArgs(deps, args);
  if (view.membership === null) throw forbidden(`You are not a member of group ${view.group.id}.`);
  return readMessages(deps, view.group, page);
}

interface MessagePage {
  readonly floor: number;
  readonly lower: number;
  readonly beforeCursor: number | undefined;
  readonly backwards: boolean;
  readonly limit: number;
}

/** Bounds every argument before any read. */
function validateMessagesArgs(deps: UseCaseDeps, args: GroupMessagesArgs): MessagePage {
  if (args.first != null && args.last != null) {
    throw badInput('first', 'Give first or last, not both.');
  }
  if (args.afterSeq != null && (!Number.isInteger(args.afterSeq) || args.afterSeq < 0)) {
    throw badInput('afterSeq', 'afterSeq must be 0 or more.');
  }
  const afterCursor = cursorSeq(args.after, 'after');
  const beforeCursor = cursorSeq(args.before, 'before');
  const floor = args.afterSeq ?? 0;
  const lower = Math.max(floor, afterCursor ?? 0);
  // With neither first nor last: a cursor or afterSeq says which way; bare, the newest page.
  const backwards =
    args.last != null ||
    (args.first == null && (beforeCursor !== undefined || (afterCursor === undefined && args.afterSeq == null)));
  const limit = backwards ? pageSize(args.last, 'last', deps.limits) : pageSize(args.first, 'first', deps.limits);
  return { floor, lower, beforeCursor, backwards, limit };
}

async function readMessages(deps: UseCaseDeps, group: GroupRecord, page: MessagePage): Promise<Connection<MessageRecord>> {
  const { floor, lower, beforeCursor, backwards, limit } = page;
  const rows = await deps.store.listMessages({
    groupId: group.id,
    afterSeq: lower,
    beforeSeq: beforeCursor,
    limit: limit + 1,
    order: backwards ? 'desc' : 'asc',
  });
  const more = rows.length > limit;
  const shown = rows.slice(0, limit);
  if (backwards) shown.reverse();
  const edges = shown.map((node) => ({ cursor: messageCursor(node), node }));
  // The messages are exactly the seqs in (floor, lastSeq]; rows fetched one past the limit tell
  // whether the direction of travel has more, and the fixed bound tells the other side.
  const lastSeq = Math.max(group.lastSeq, shown.at(-1)?.seq ?? 0);
  return {
    edges,
    pageInfo: {
      hasNextPage: backwards ? beforeCursor !== undefined && beforeCursor > floor && beforeCursor <= lastSeq : more,
      hasPreviousPage: backwards ? more : lower > floor,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}

/** `node(id)` for a message: null when unknown, FORBIDDEN when not in one of the viewer's groups. */
export async function findMessage(deps: UseCaseDeps, viewer: Viewer, id: string): Promise<MessageRecord | null> {
  const message = await deps.store.getMessage(id);
  if (message === null) return null;
  const membership = await deps.store.getMembership(message.groupId, viewer.id);
  if (membership === null) throw forbidden(`You are not a member of group ${message.groupId}.`);
  return message;
}
