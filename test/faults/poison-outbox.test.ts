/**
 * Fault row: a poison outbox record, one that fails to decode (`outbox-codec.ts`), written
 * straight into the embedded store's outbox table between two runs of sends. The relay (a real
 * process) must log it, move it to the dead-letter table, count it in `chat_outbox_poison_total`
 * and keep going: every message committed after it is still delivered, in order, once.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  cluster,
  createGroup,
  expectContiguous,
  gateway,
  isActiveLine,
  metric,
  relay,
  sameNodes,
  scrape,
  send,
  subscribe,
  tokensFor,
} from '../support/cluster.ts';
import { disposeAll } from '../support/dispose.ts';
import { untilSeq } from '../support/redis.ts';
import { POISON_EVENT, withEmbeddedFile } from '../support/store-adapters.ts';
import { waitFor } from '../support/wait.ts';

afterEach(disposeAll);
afterAll(disposeAll);

describe('a poison outbox record (real processes)', () => {
  it('is logged, moved to outbox_poison and counted; the records after it are still delivered', async () => {
    const c = await cluster();
    const r = await relay(c, 'relay');
    const a = await gateway(c, 'a');
    await r.waitForLog(isActiveLine, 30_000);
    const [alice, bob] = await tokensFor(c, ['alice', 'bob']);
    const groupId = await createGroup(a.url, alice, ['bob']);
    const bobOnA = subscribe(a, bob, groupId);
    await waitFor('gateway A registered for the group', async () => sameNodes(await c.directory.nodesForGroup(groupId), ['a']));

    for (let i = 1; i <= 3; i += 1) await send(a.url, alice, groupId, `before-${i}`);
    await untilSeq(bobOnA, groupId, 3, { who: 'bob' });

    // Behind the store's back, as a hand edit or a writer of another version would.
    const poisonId = withEmbeddedFile(c.dataDir, (db) =>
      Number(db.prepare('INSERT INTO outbox (event, created_at) VALUES (?, ?)').run(JSON.stringify(POISON_EVENT), Date.now()).lastInsertRowid),
    );
    for (let i = 4; i <= 6; i += 1) await send(a.url, alice, groupId, `after-${i}`);

    await untilSeq(bobOnA, groupId, 6, { who: 'bob' });
    expectContiguous(bobOnA, groupId, 6);

    const logged = await r.waitForLog((line) => typeof line['msg'] === 'string' && line['msg'].startsWith('an outbox record cannot be decoded'));
    expect(logged).toMatchObject({ level: 50, poison: { id: String(poisonId), reason: expect.stringMatching(/^Not an outbox event: /) } });
    const { reason } = logged['poison'] as { readonly reason: string };
    expect(metric(await scrape(r.port as number), 'chat_outbox_poison_total')).toBe(1);
    // The relay never failed over it: it went on as the same leader.
    expect(r.logs.filter((line) => line['msg'] === 'relay failed; retrying')).toEqual([]);
    expect(r.logs.filter(isActiveLine)).toHaveLength(1);

    const parked = withEmbeddedFile(c.dataDir, (db) => ({
      dead: db.prepare('SELECT id, event, reason FROM outbox_poison').all(),
      inOutbox: db.prepare('SELECT count(*) FROM outbox WHERE id = ?').pluck().get(poisonId),
    }));
    expect(parked.dead).toEqual([{ id: poisonId, event: JSON.stringify(POISON_EVENT), reason }]);
    expect(parked.inOutbox).toBe(0);
    console.log(`[faults] poison outbox record ${poisonId} set aside; chat_outbox_poison_total=1, 6 of 6 messages delivered`);
  }, 120_000);
});
