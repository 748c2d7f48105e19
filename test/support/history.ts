/**
 * A group's history as a client sees it: every page of the `messages` query, walked towards
 * newer messages (`first`/`after`) or towards older ones (`last`/`before`).
 */
import { ok } from './server.ts';

export interface HistoryMessage {
  readonly id: string;
  readonly seq: number;
  readonly clientMessageId: string;
  readonly body: string;
}

interface MessagesPage {
  readonly messages: {
    readonly edges: readonly { readonly cursor: string; readonly node: HistoryMessage }[];
    readonly pageInfo: {
      readonly hasNextPage: boolean;
      readonly hasPreviousPage: boolean;
      readonly startCursor: string | null;
      readonly endCursor: string | null;
    };
  };
}

const MESSAGES = `query History($groupId: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  messages(groupId: $groupId, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { id seq clientMessageId body } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}`;

export type Direction = 'forward' | 'backward';

/** One page of `messages`; `cursor` is `after` going forward, `before` going backward. */
export async function historyPage(
  url: string,
  token: string,
  groupId: string,
  direction: Direction,
  size: number,
  cursor: string | null,
): Promise<MessagesPage['messages']> {
  const variables =
    direction === 'forward' ? { groupId, first: size, after: cursor } : { groupId, last: size, before: cursor };
  return (await ok<MessagesPage, typeof variables>(url, token, MESSAGES, variables)).messages;
}

/**
 * Every page in one direction until the server says there is no more, in the order the pages
 * came (each page's edges in seq order). Going forward it starts at the oldest message (or
 * after `from`), going backward at the newest (or before `from`).
 */
export async function walkHistory(
  url: string,
  token: string,
  groupId: string,
  { direction = 'forward', size = 50, from = null }: { direction?: Direction; size?: number; from?: string | null } = {},
): Promise<HistoryMessage[][]> {
  const pages: HistoryMessage[][] = [];
  let cursor = from;
  // Bounded: a page size of 1 over 100,000 messages is the most any test here asks for.
  for (let i = 0; i < 100_000; i += 1) {
    const page = await historyPage(url, token, groupId, direction, size, cursor);
    pages.push(page.edges.map((edge) => edge.node));
    const more = direction === 'forward' ? page.pageInfo.hasNextPage : page.pageInfo.hasPreviousPage;
    const next = direction === 'forward' ? page.pageInfo.endCursor : page.pageInfo.startCursor;
    if (!more || next === null) return pages;
    cursor = next;
  }
  throw new Error('walkHistory: more than 100,000 pages');
}
