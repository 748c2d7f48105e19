/**
 * Group use cases: create, membership, and the viewer's view of a group. Membership rules:
 * members may add members; the owner may remove anyone; any member may remove themselves.
 */
import type { Viewer } from '../auth/jwt.ts';
import { InvalidPageKeyError } from '../storage/errors.ts';
import type { GroupRecord, MembershipRecord, Page, UserGroupRecord, UserRecord } from '../storage/port.ts';
import type { UseCaseDeps } from './deps.ts';
import { ErrorCode, UserError, badInput, forbidden, notFound } from './errors.ts';
import { IdPrefix } from './ids.ts';
import { decodeCursor, encodeCursor, pageSize, type Connection, type ForwardArgs } from './pagination.ts';
import { hasLoneSurrogate } from '../util/unicode.ts';

/** A group as one viewer sees it: their read position comes with it. */
export interface GroupView {
  readonly group: GroupRecord;
  /** Null only right after the viewer left the group (the payload of removeGroupMember). */
  readonly membership: MembershipRecord | null;
}

export const unreadCount = (view: GroupView): number =>
  view.membership === null ? 0 : Math.max(0, view.group.lastSeq - view.membership.lastReadSeq);

/** The group and the viewer's membership; NOT_FOUND or FORBIDDEN otherwise. */
export async function requireMember(deps: UseCaseDeps, viewer: Viewer, groupId: string): Promise<GroupView> {
  const [group, membership] = await Promise.all([
    deps.store.getGroup(groupId),
    deps.store.getMembership(groupId, viewer.id),
  ]);
  if (group === null) throw notFound(`Group ${groupId} does not exist.`);
  if (membership === null) throw forbidden(`You are not a member of group ${groupId}.`);
  return { group, membership };
}

/** `group(id)`: null when the group does not exist, FORBIDDEN for non-members. */
export async function findGroup(deps: UseCaseDeps, viewer: Viewer, groupId: string): Promise<GroupView | null> {
  try {
    return await requireMember(deps, viewer, groupId);
  } catch (error) {
    if (error instanceof UserError && error.code === ErrorCode.NOT_FOUND) return null;
    throw error;
  }
}

function validateUserIds(deps: UseCaseDeps, ids: readonly string[], field: string): string[] {
  const { maxMembersPerCall, maxUserIdLength } = deps.limits;
  if (ids.length > maxMembersPerCall) {
    throw badInput(field, `${field} may name at most ${maxMembersPerCall} users per call.`, { limit: maxMembersPerCall });
  }
  for (const id of ids) {
    if (id.length === 0 || [...id].length > maxUserIdLength) {
      throw badInput(field, `User ids must be 1 to ${maxUserIdLength} characters long.`, { limit: maxUserIdLength });
    }
    if (hasLoneSurrogate(id)) throw badInput(field, 'User ids may not contain a lone UTF-16 surrogate, which is not a character.');
  }
  return [...new Set(ids)];
}

function validateGroupName(deps: UseCaseDeps, raw: string): string {
  const name = raw.trim();
  const max = deps.limits.maxGroupNameLength;
  if (name.length === 0 || [...name].length > max) {
    throw badInput('name', `A group name must be 1 to ${max} characters long (spaces at the ends are trimmed).`, { limit: max });
  }
  if (hasLoneSurrogate(name)) throw badInput('name', 'A group name may not contain a lone UTF-16 surrogate, which is not a character.');
  return name;
}

/** The Quota bucket createGroup and addGroupMembers share. */
export const GROUP_WRITES_BUCKET = 'group-writes';

/**
 * Creating groups and adding members writes a row per member and fans out membership events, so
 * a user may do it `groupWriteBurst` times at once and `groupWritesPerMinute` sustained, across
 * every gateway. Checked after the input is validated (bad input costs no token), before writing.
 */
async function throttleGroupWrites(deps: UseCaseDeps, viewer: Viewer): Promise<void> {
  const { groupWritesPerMinute, groupWriteBurst } = deps.limits;
  const waitMs = await deps.quota.take(
    { name: GROUP_WRITES_BUCKET, ratePerSecond: groupWritesPerMinute / 60, burst: groupWriteBurst },
    viewer.id,
  );
  if (waitMs > 0) {
    throw new UserError(
      ErrorCode.RATE_LIMITED,
      `You are creating groups or adding members faster than ${groupWritesPerMinute} times per minute; retry in ${waitMs} ms.`,
      { retryAfterMs: waitMs, limit: groupWritesPerMinute },
    );
  }
}

export interface CreateGroupInput {
  readonly name: string;
  readonly memberIds?: readonly string[] | null | undefined;
}

export async function createGroup(deps: UseCaseDeps, viewer: Viewer, input: CreateGroupInput): Promise<GroupView> {
  const name = validateGroupName(deps, input.name);
  const memberIds = validateUserIds(deps, input.memberIds ?? [], 'memberIds').filter((id) => id !== viewer.id);
  if (memberIds.length + 1 > deps.limits.maxGroupMembers) {
    throw badInput('memberIds', `A group may have at most ${deps.limits.maxGroupMembers} members.`, {
      limit: deps.limits.maxGroupMembers,
    });
  }
  await throttleGroupWrites(deps, viewer);
  const group = await deps.store.createGroup({
    id: deps.newId(IdPrefix.group),
    name,
    ownerId: viewer.id,
    memberIds,
    now: deps.now(),
  });
  const membership = await deps.store.getMembership(group.id, viewer.id);
  return { group, membership };
}

export async function addGroupMembers(
  deps: UseCaseDeps,
  viewer: Viewer,
  input: { readonly groupId: string; readonly userIds: readonly string[] },
): Promise<GroupView> {
  const userIds = validateUserIds(deps, input.userIds, 'userIds');
  const { membership } = await requireMember(deps, viewer, input.groupId);
  await throttleGroupWrites(deps, viewer);
  const outcome = await deps.store.addMembers(input.groupId, userIds, {
    now: deps.now(),
    maxMembers: deps.limits.maxGroupMembers,
  });
  if (!outcome.ok) {
    if (outcome.reason === 'GROUP_NOT_FOUND') throw notFound(`Group ${input.groupId} does not exist.`);
    throw badInput('userIds', `A group may have at most ${deps.limits.maxGroupMembers} members.`, {
      limit: deps.limits.maxGroupMembers,
    });
  }
  return { group: outcome.group, membership };
}

export async function removeGroupMember(
  deps: UseCaseDeps,
  viewer: Viewer,
  input: { readonly groupId: string; readonly userId: string },
): Promise<GroupView> {
  const { group, membership } = await requireMember(deps, viewer, input.groupId);
  if (input.userId !== viewer.id && group.ownerId !== viewer.id) {
    throw forbidden('Only the owner may remove other members; any member may remove themselves.');
  }
  const outcome = await deps.store.removeMember(input.groupId, input.userId);
  if (!outcome.ok) throw notFound(`Group ${input.groupId} does not exist.`);
  if (outcome.changed.length === 0) throw notFound(`User ${input.userId} is not a member of group ${input.groupId}.`);
  return { group: outcome.group, membership: input.userId === viewer.id ? null : membership };
}

function forwardConnection<T, U>(
  kind: string,
  page: Page<T>,
  hadCursor: boolean,
  map: (node: T) => U,
): Connection<U> {
  const edges = page.items.map((item) => ({ cursor: encodeCursor(kind, item.key), node: map(item.node) }));
  return {
    edges,
    pageInfo: {
      hasNextPage: page.hasMore,
      hasPreviousPage: hadCursor,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}

/**
 * A page key travels inside the client's cursor, so a key the store did not issue is the
 * client's input; every other store error stays the server's (masked).
 */
const rejectForeignKey =
  (field: string) =>
  (error: unknown): never => {
    if (error instanceof InvalidPageKeyError) throw badInput(field, `${field} is not a cursor this list returned.`);
    throw error;
  };

/** `groups`: the viewer's groups, most recently active first. */
export async function listViewerGroups(deps: UseCaseDeps, viewer: Viewer, args: ForwardArgs): Promise<Connection<GroupView>> {
  const limit = pageSize(args.first, 'first', deps.limits);
  const after = args.after == null ? undefined : decodeCursor('g', args.after, 'after');
  const page = await deps.store.listUserGroups(viewer.id, { limit, after }).catch(rejectForeignKey('after'));
  return forwardConnection('g', page, after !== undefined, (item: UserGroupRecord): GroupView => item);
}

/** `Group.members`, for members only (the view was obtained through requireMember). */
export async function listGroupMembers(deps: UseCaseDeps, view: GroupView, args: ForwardArgs): Promise<Connection<UserRecord>> {
  const limit = pageSize(args.first, 'first', deps.limits);
  const after = args.after == null ? undefined : decodeCursor('u', args.after, 'after');
  const page = await deps.store.listMembers(view.group.id, { limit, after }).catch(rejectForeignKey('after'));
  return forwardConnection('u', page, after !== undefined, (user) => user);
}

export async function markGroupRead(
  deps: UseCaseDeps,
  viewer: Viewer,
  input: { readonly groupId: string; readonly seq: number },
): Promise<GroupView> {
  if (!Number.isInteger(input.seq) || input.seq < 0) throw badInput('seq', 'seq must be 0 or more.');
  const { group } = await requireMember(deps, viewer, input.groupId);
  if (input.seq > group.lastSeq) {
    throw badInput('seq', `seq ${input.seq} is past the group's last message (${group.lastSeq}).`, {
      lastSeq: group.lastSeq,
    });
  }
  const membership = await deps.store.markRead(input.groupId, viewer.id, input.seq);
  if (membership === null) throw forbidden(`You are not a member of group ${input.groupId}.`);
  return { group, membership };
}
