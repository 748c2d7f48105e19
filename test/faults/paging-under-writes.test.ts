/**
 * Fault row (issue 12): paging history while 5 senders write to the group. Both directions the
 * `messages` query offers are walked while the group grows:
 *
 * - forward (`first`/`after`), following the head: every page continues exactly where the last
 *   one ended, and the pages together are the whole history once the senders stop;
 * - backward (`last`/`before`), from the newest message at the walk's start down to seq 1, again
 *   and again while the senders write: each walk is exactly 1..the head it started at.
 *
 * No duplicate, no gap, seq order, and every acknowledged send is there exactly once.
 */
import { afterAll, expect, it } from 'vitest';
import { disposeAll } from '../support/dispose.ts';
import { historyPage, walkHistory, type HistoryMessage } from '../support/history.ts';
import { ok, startServer } from '../support/server.ts';

afterAll(disposeAll);

const SENDERS = 5;
const SENDS_EACH = 60;

const seqs = (messages: readonly HistoryMessage[]): number[] => messages.map((m) => m.seq);
const oneTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

it(`the union of all pages, both directions, is exactly the history while ${SENDERS} senders write`, async () => {
  const server = await startServer();
  const users = Array.from({ length: SENDERS }, (_, i) => `w${i}`);
  const tokens = await Promise.all(users.map((id) => server.token(id)));
  const reader = await server.token('reader');
  const { createGroup } = await ok<{ createGroup: { group: { id: string } } }, unknown>(
    server.url,
    tokens[0] as string,
    `mutation G($members: [ID!]!) { createGroup(input: { name: "paging", memberIds: $members }) { group { id } } }`,
    { members: [...users.slice(1), 'reader'] },
  );
  const groupId = createGroup.group.id;

  const acknowledged: { id: string; seq: number; clientMessageId: string }[] = [];
  let writing = true;
  const senders = Promise.all(
    tokens.map(async (token, sender) => {
      for (let i = 0; i < SENDS_EACH; i += 1) {
        const { sendGroupMessage } = await ok<{ sendGroupMessage: { message: { id: string; seq: number; clientMessageId: string } } }, unknown>(
          server.url,
          token,
          `mutation S($input: SendGroupMessageInput!) { sendGroupMessage(input: $input) { message { id seq clientMessageId } } }`,
          { input: { groupId, clientMessageId: `w${sender}-${i}`, body: `message ${i} of w${sender}` } },
        );
        acknowledged.push(sendGroupMessage.message);
      }
    }),
  ).finally(() => {
    writing = false;
  });

  // Forward, following the head: after the last page that reached it, ask again from its end.
  const forwardPages: HistoryMessage[][] = [];
  const forward = (async () => {
    let cursor: string | null = null;
    let size = 1;
    // Bounded: each round either advances or waits for writes that stop after SENDERS × SENDS_EACH.
    for (let round = 0; round < 100_000; round += 1) {
      const done = !writing;
      size = (size % 9) + 1;
      const page = await historyPage(server.url, reader, groupId, 'forward', size, cursor);
      forwardPages.push(page.edges.map((edge) => edge.node));
      cursor = page.pageInfo.endCursor ?? cursor;
      if (!page.pageInfo.hasNextPage && done) return;
    }
    throw new Error('the forward walk never caught up');
  })();

  // Backward, from the newest message at each walk's start down to seq 1, as long as writes go on.
  const backwardWalks: HistoryMessage[][][] = [];
  const backward = (async () => {
    let size = 3;
    do {
      size = (size % 11) + 2;
      backwardWalks.push(await walkHistory(server.url, reader, groupId, { direction: 'backward', size }));
    } while (writing);
  })();

  await Promise.all([senders, forward, backward]);
  // One more of each now that the history is final.
  const finalForward = (await walkHistory(server.url, reader, groupId, { direction: 'forward', size: 7 })).flat();
  backwardWalks.push(await walkHistory(server.url, reader, groupId, { direction: 'backward', size: 6 }));

  const total = SENDERS * SENDS_EACH;
  expect(acknowledged).toHaveLength(total);
  // The history: seqs 1..total, and exactly the acknowledged messages.
  expect(seqs(finalForward)).toEqual(oneTo(total));
  const byId = (a: { id: string }, b: { id: string }): number => a.id.localeCompare(b.id);
  expect(finalForward.map(({ id, seq, clientMessageId }) => ({ id, seq, clientMessageId })).sort(byId)).toEqual([...acknowledged].sort(byId));

  // Forward pages taken while writing: concatenated, exactly the history, no seq twice, none skipped.
  const followed = forwardPages.flat();
  expect(seqs(followed)).toEqual(oneTo(total));
  expect(followed).toEqual(finalForward);

  // Each backward walk: its pages in the order taken are descending blocks that tile 1..head.
  for (const walk of backwardWalks) {
    const descending = walk.flatMap((page) => [...page].reverse());
    const head = descending[0]?.seq ?? 0;
    expect(seqs(descending)).toEqual(oneTo(head).reverse());
    for (const page of walk) expect(seqs(page)).toEqual([...seqs(page)].sort((a, b) => a - b));
    expect(descending.every((m) => finalForward[m.seq - 1]?.id === m.id)).toBe(true);
  }
  const heads = backwardWalks.map((walk) => walk[0]?.at(-1)?.seq ?? 0);
  console.info(
    `paging under ${SENDERS} writers: ${total} messages; forward ${forwardPages.length} pages (${forwardPages.filter((p) => p.length === 0).length} empty at the head); ` +
      `${backwardWalks.length} backward walks from heads ${heads.join(', ')}`,
  );
  // The walks overlapped the writes: some started below the final head.
  expect(heads.some((head) => head < total)).toBe(true);
}, 120_000);
