/**
 * Keeps `npm run soak` working: its checker must catch what it is there to catch (a missing
 * seq, a delivery to a non-member, a send stored twice), and a short soak with a fixed seed
 * (relay, standby, two gateways on a private Redis, 40 clients, random faults for 30 s) must
 * report nothing lost and nothing leaked. The 10-minute run's report is soak/results/soak.json.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { check } from '../soak/check.ts';
import { GroupRecord, type SoakUser } from '../soak/clients.ts';
import { MembershipLedger, statusAt, type MembershipChange } from '../soak/ledger.ts';
import type { StreamFrame } from '../soak/observe.ts';
import { runSoak } from '../soak/soak.ts';

const change = (kind: 'join' | 'leave', lo: number, hi = lo): MembershipChange => ({ userId: 'u', groupId: 'g', kind, lo, hi, at: 0 });

/** A user that held exactly `seqs` of group g. */
function userHolding(id: string, seqs: readonly number[]): SoakUser {
  const record = new GroupRecord();
  record.observeWindow(seqs);
  const records = new Map([['g', record]]);
  return {
    id,
    kind: 'kit',
    url: '',
    records,
    record: () => record,
    send: () => Promise.reject(new Error('not in this test')),
    pendingSends: () => 0,
    connected: () => true,
    head: () => seqs.at(-1) ?? 0,
    historyComplete: () => true,
    dispose: () => {},
  };
}

const frame = (userId: string, seq: number, streamId = 's1/1'): StreamFrame => ({ userId, streamId, groupId: 'g', seq, at: 0, createdAt: 0 });
const history = (n: number, senders: readonly string[] = []) =>
  new Map([['g', Array.from({ length: n }, (_, i) => ({ seq: i + 1, senderId: senders[i] ?? 'owner', clientMessageId: `c${i + 1}` }))]]);

describe('soak checker', () => {
  it('owes a member every seq after its join through its leave, and nothing of an uncertain window', () => {
    const changes = [change('join', 0), change('leave', 5), change('join', 8, 10)];
    const statuses = Array.from({ length: 12 }, (_, i) => statusAt(changes, i + 1));
    expect(statuses).toEqual(['member', 'member', 'member', 'member', 'member', 'non', 'non', 'non', 'uncertain', 'uncertain', 'member', 'member']);
  });

  it('counts a seq a member never held as lost, and a stream frame of a non-member seq as a leak of membership', () => {
    const ledger = new MembershipLedger();
    ledger.record({ ...change('join', 0), userId: 'a' });
    ledger.record({ ...change('leave', 3), userId: 'a' });
    ledger.record({ ...change('join', 5), userId: 'a' });
    const result = check({
      users: [userHolding('a', [1, 2, 4, 5, 6, 7, 8])],
      ledger,
      frames: [frame('a', 1), frame('a', 2), frame('a', 4), frame('a', 6), frame('a', 6)],
      histories: history(8),
      acknowledged: [],
    });
    expect(result.lost).toBe(1); // seq 3
    expect(result.nonMemberDeliveries).toBe(1); // seq 4, committed while a was out
    expect(result.streamDuplicates).toBe(1); // seq 6 twice on one stream
    expect(result.streamGaps).toBe(1); // 2 then 4 skipped the owed 3
    expect(result.owedViaRepairOnly).toBe(2); // 7 and 8 were held but never streamed
    expect(result.clientOrderViolations).toBe(1); // the window 2 → 4 was not consecutive
  });

  it('excuses what was still on its way to a member when its removal committed, and nothing else', () => {
    const ledger = new MembershipLedger();
    ledger.record({ ...change('join', 0), userId: 'a' });
    ledger.record({ ...change('leave', 6), userId: 'a' });
    const result = check({ users: [userHolding('a', [1, 2, 3, 4])], ledger, frames: [], histories: history(9), acknowledged: [] });
    expect(result.lost).toBe(0);
    expect(result.excusedByRemoval).toBe(2);
  });

  it('counts an acknowledged send missing from history, stored twice, or at another seq', () => {
    const ledger = new MembershipLedger();
    const histories = new Map([
      [
        'g',
        [
          { seq: 1, senderId: 'a', clientMessageId: 'x' },
          { seq: 2, senderId: 'a', clientMessageId: 'x' },
          { seq: 3, senderId: 'a', clientMessageId: 'y' },
        ],
      ],
    ]);
    const ack = (clientMessageId: string, seq: number) => ({ userId: 'a', groupId: 'g', clientMessageId, seq, sentAt: 0, ackedAt: 0 });
    const result = check({ users: [], ledger, frames: [], histories, acknowledged: [ack('x', 1), ack('y', 2), ack('z', 4)] });
    expect(result.historyDuplicates).toBe(1);
    expect(result.acknowledgedMismatched).toBe(1);
    expect(result.acknowledgedMissing).toBe(1);
    expect(result.lost).toBe(1);
  });
});

describe('soak', () => {
  it('a 30 s soak with a fixed seed loses nothing and leaks nothing', { timeout: 170_000 }, async () => {
    const outDir = mkdtempSync(join(tmpdir(), 'soak-test-'));
    try {
      const report = await runSoak({ minutes: 0.5, seed: 7, clients: 40, sendRate: 15, outDir, name: 'ci', build: false, log: () => {} });
      const printed = JSON.parse(readFileSync(join(outDir, 'ci.json'), 'utf8')) as { lost: number };
      expect(printed.lost).toBe(report.lost);
      expect(readFileSync(join(outDir, 'ci.svg'), 'utf8')).toContain('<svg');
      expect({ failures: report.failures, lost: report.lost, leaks: report.leaks.total }).toEqual({ failures: [], lost: 0, leaks: 0 });
      expect(report.acknowledged).toBeGreaterThan(0);
      expect(report.delivered).toBeGreaterThan(0);
      expect(report.faults.windows.length).toBeGreaterThan(0);
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  });
});
