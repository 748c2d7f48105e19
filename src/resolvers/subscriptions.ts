/**
 * `messageAdded`: validates what the client asked for, then opens a live subscription on this
 * node's gateway. Without groupId the stream follows the viewer's membership.
 */
import type { Viewer } from '../auth/jwt.ts';
import type { Gateway } from '../delivery/gateway.ts';
import { SubscriptionOverflowError, type StreamItem } from '../delivery/subscription.ts';
import type { MessageRecord } from '../storage/port.ts';
import type { UseCaseDeps } from './deps.ts';
import { ErrorCode, UserError, badInput, forbidden } from './errors.ts';
import { requireMember } from './groups.ts';

export interface MessageAddedArgs {
  readonly groupId?: string | null | undefined;
  readonly since?: readonly { readonly groupId: string; readonly seq: number }[] | null | undefined;
}

export async function subscribeMessages(
  deps: UseCaseDeps,
  gateway: Pick<Gateway, 'open'>,
  viewer: Viewer,
  args: MessageAddedArgs,
): Promise<AsyncIterableIterator<StreamItem>> {
  const sinceList = args.since ?? [];
  const { maxSinceGroups } = deps.limits;
  if (sinceList.length > maxSinceGroups) {
    throw badInput('since', `since may list at most ${maxSinceGroups} groups.`, { limit: maxSinceGroups });
  }
  const since = new Map<string, number>();
  for (const { groupId, seq } of sinceList) {
    if (!Number.isInteger(seq) || seq < 0) throw badInput('since', `since seq for group ${groupId} must be 0 or more.`);
    if (since.has(groupId)) throw badInput('since', `since lists group ${groupId} twice.`);
    if (args.groupId != null && groupId !== args.groupId) {
      throw badInput('since', `since lists group ${groupId}, but the subscription is for group ${args.groupId} only.`);
    }
    since.set(groupId, seq);
  }
  if (args.groupId != null) {
    await requireMember(deps, viewer, args.groupId);
  } else if (since.size > 0) {
    const memberships = await Promise.all([...since.keys()].map((id) => deps.store.getMembership(id, viewer.id)));
    const outsider = [...since.keys()].find((_, index) => memberships[index] === null);
    if (outsider !== undefined) throw forbidden(`You are not a member of group ${outsider}.`);
  }
  return gateway.open({ userId: viewer.id, groupId: args.groupId ?? null, since });
}

/**
 * Each streamed item as the field's value. The stream's last item may be an error: an
 * overflow is one the client can act on (resubscribe with since); others stay masked.
 */
export function streamedMessage(item: StreamItem): MessageRecord {
  if (item instanceof SubscriptionOverflowError) {
    throw new UserError(ErrorCode.RATE_LIMITED, item.message, { limit: item.limit });
  }
  if (item instanceof Error) throw item;
  return item;
}
