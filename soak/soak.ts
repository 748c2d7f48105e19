/**
 * The random-fault soak of issue 12: the multi-process deployment on a private Redis, 200
 * clients sending and changing membership while one fault at a time hits it, then a check of
 * every promise. `runSoak` returns the report; `soak/run.ts` is the command line around it.
 * Long on purpose: the deployment, the clients, the fault schedule and the bookkeeping the check
 * needs share one run's state; the check itself and the plot live in their own files.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { ChatRequestError, RequestErrorKind } from '../client/http.ts';
import { createTokenVerifier } from '../src/auth/jwt.ts';
import { disposeAll } from '../test/support/dispose.ts';
import { sleep, waitFor } from '../test/support/wait.ts';
import { check, type CheckResult, type HistoryMessage } from './check.ts';
import { createFixedUser, createKitUser, doc, resend, type SendOutcome, type SoakUser } from './clients.ts';
import { GATEWAYS, SOAK_ENV, startCluster, type Cluster, type ProcessName } from './cluster.ts';
import { FaultKinds, injectFault, type FaultContext, type FaultKind, type FaultWindow } from './faults.ts';
import { MembershipLedger } from './ledger.ts';
import { createStreamObserver } from './observe.ts';
import { renderSvg } from './plot.ts';

export interface SoakOptions {
  readonly minutes: number;
  readonly seed: number;
  readonly clients: number;
  /** Sends per second over all clients. */
  readonly sendRate: number;
  /** Where the JSON and the SVG go. */
  readonly outDir: string;
  /** File name stem of the results. */
  readonly name: string;
  /** Seconds between the end of one fault and the start of the next: [min, max]. */
  readonly faultGapSeconds: readonly [number, number];
  /** A process whose RSS is above this once every client has closed counts as a leak. */
  readonly rssBoundMiB: number;
  /** Compile the server first (`tsc -p tsconfig.build.json`). */
  readonly build: boolean;
  readonly log: (line: string) => void;
}

export const defaultSoakOptions: SoakOptions = {
  minutes: 10,
  seed: 12,
  clients: 200,
  sendRate: 25,
  outDir: join(import.meta.dirname, 'results'),
  name: 'soak',
  faultGapSeconds: [4, 12],
  rssBoundMiB: 400,
  build: true,
  log: (line) => process.stdout.write(`${line}\n`),
};

/**
 * A fault window, for latency, runs from FAULT_LEAD_MS before the fault (messages then in flight)
 * to FAULT_RECOVERY_MS after every client was connected again (their catch-up with `since`).
 */
export const FAULT_LEAD_MS = 1000;
export const FAULT_RECOVERY_MS = 5000;

/** A small, seedable PRNG (mulberry32): the same seed makes the same choices. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const percentile = (sorted: readonly number[], p: number): number | null =>
  sorted.length === 0 ? null : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number);

interface GroupPlan {
  readonly id: string;
  readonly ownerId: string;
  readonly maxSize: number;
}

export interface LeakReport {
  readonly total: number;
  /** Open authenticated connections and live subscriptions the gateways still count. */
  readonly gatewayConnections: number;
  readonly gatewaySubscriptions: number;
  /** Members left in presence sets (group and user interest) of any instance, live or dead. */
  readonly presenceEntries: number;
  /** Connection and subscription quota slots still held by live gateway instances. */
  readonly quotaSlots: number;
  /** Sockets of the init bursts the server had not closed within the bound. */
  readonly initSockets: number;
  /** Client sockets still open in the soak process after every client was disposed. */
  readonly clientSockets: number;
  /** Processes whose RSS after every client closed is above the bound. */
  readonly rssOverBound: readonly string[];
  /** Up to 20 of the keys and fields left, for the report. */
  readonly examples: readonly string[];
}

export interface SoakReport {
  readonly seed: number;
  readonly minutes: number;
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly deployment: { readonly processes: readonly string[]; readonly envOverrides: Readonly<Record<string, string>>; readonly clientSettings: string };
  readonly clients: { readonly kit: number; readonly fixedGroup: number; readonly groups: number; readonly groupSizes: readonly number[] };
  readonly sent: number;
  readonly acknowledged: number;
  readonly refused: Readonly<Record<string, number>>;
  readonly unfinishedSends: number;
  readonly delivered: number;
  readonly duplicatesDropped: number;
  readonly lost: number;
  readonly leaks: LeakReport;
  readonly resends: { readonly checked: number; readonly mismatched: number; readonly failed: number };
  readonly membership: { readonly joins: number; readonly leaves: number; readonly uncertain: number; readonly failed: number };
  readonly faults: { readonly counts: Readonly<Record<string, number>>; readonly windows: readonly FaultWindow[] };
  readonly slowConsumers: FaultContext['slowConsumers'];
  readonly peakRssMiB: Readonly<Record<string, number>>;
  readonly restarts: Readonly<Record<string, number>>;
  readonly latencyMs: {
    readonly outsideFaultWindows: { readonly samples: number; readonly p50: number | null; readonly p99: number | null; readonly max: number | null };
    readonly all: { readonly samples: number; readonly p50: number | null; readonly p99: number | null; readonly max: number | null };
    /** The slowest deliveries outside fault windows, to see what they were. */
    readonly slowestOutside: readonly string[];
  };
  readonly check: CheckResult;
  readonly converged: boolean;
  readonly ok: boolean;
  readonly failures: readonly string[];
}

export async function runSoak(options: Partial<SoakOptions> = {}): Promise<SoakReport> {
  const opts: SoakOptions = { ...defaultSoakOptions, ...options };
  const { log } = opts;
  const random = seededRandom(opts.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const root = join(import.meta.dirname, '..');
  if (opts.build) {
    log('compiling the server (tsc -p tsconfig.build.json)…');
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  }
  const work = mkdtempSync(join(tmpdir(), 'soak-'));
  const dataDir = join(work, 'data');
  const logDir = join(work, 'logs');
  mkdirSync(dataDir);
  mkdirSync(logDir);
  const jwtSecret = randomBytes(32).toString('hex');
  const signer = createTokenVerifier(jwtSecret);
  log(`work dir ${work} (process logs in logs/)`);

  const cluster: Cluster = await startCluster({ dataDir, logDir, jwtSecret });
  const observer = createStreamObserver();
  const ledger = new MembershipLedger();
  const startedAt = Date.now();
  const users: SoakUser[] = [];
  const tokens = new Map<string, string>();
  const failures: string[] = [];
  let stopping = false;

  try {
    // --- clients ---
    const fixedCount = Math.max(1, Math.round(opts.clients / 10));
    const kitCount = opts.clients - fixedCount;
    const kitIds = Array.from({ length: kitCount }, (_, i) => `k${String(i).padStart(3, '0')}`);
    const fixedIds = Array.from({ length: fixedCount }, (_, i) => `f${String(i).padStart(3, '0')}`);
    for (const id of [...kitIds, ...fixedIds]) tokens.set(id, await signer.sign({ id, name: null }, { expiresIn: '1d' }));
    const gatewayOf = (index: number): ProcessName => GATEWAYS[index % GATEWAYS.length] as ProcessName;
    const kits = kitIds.map((id, index) =>
      createKitUser({ id, url: cluster.url(gatewayOf(index)), token: tokens.get(id) as string, observer, random }),
    );
    users.push(...kits);
    const byId = new Map<string, SoakUser>(kits.map((user) => [user.id, user]));

    // --- groups of mixed sizes; owners are never removed ---
    const sizes = [2, 3, 4, 6, 8, 12, 16, 24, 32];
    const groupCount = Math.max(2, Math.round(kitCount / 7.5));
    const groups: GroupPlan[] = [];
    const memberOf = new Map<string, Set<string>>();
    for (let i = 0; i < groupCount; i += 1) {
      const size = Math.min(kitCount, pick(sizes));
      const members = new Set([kitIds[i % kitCount] as string]);
      while (members.size < size) members.add(pick(kitIds));
      memberOf.set(String(i), members);
    }
    kitIds.forEach((id, index) => {
      if (![...memberOf.values()].some((members) => members.has(id))) memberOf.get(String(index % groupCount))?.add(id);
    });
    for (let i = 0; i < groupCount; i += 1) {
      const members = memberOf.get(String(i)) as Set<string>;
      const ownerId = kitIds[i % kitCount] as string;
      const fixedHere = fixedIds.filter((_, j) => j % groupCount === i);
      const owner = byId.get(ownerId) as ReturnType<typeof createKitUser>;
      const created = await owner.chat.createGroup(`soak ${i}`, [...members, ...fixedHere].filter((id) => id !== ownerId));
      for (const userId of [ownerId, ...members, ...fixedHere]) {
        if (!ledger.isMember(userId, created.id)) ledger.record({ userId, groupId: created.id, kind: 'join', lo: 0, hi: 0, at: Date.now() });
        byId.get(userId)?.record(created.id);
      }
      groups.push({ id: created.id, ownerId, maxSize: Math.max(members.size + fixedHere.length + 4, 6) });
    }
    const fixedGroupOf = new Map(fixedIds.map((id, j) => [id, (groups[j % groupCount] as GroupPlan).id]));
    const fixed = fixedIds.map((id, j) =>
      createFixedUser({
        id,
        url: cluster.url(gatewayOf(kitCount + j)),
        token: tokens.get(id) as string,
        observer,
        groupId: fixedGroupOf.get(id) as string,
        random,
      }),
    );
    users.push(...fixed);
    for (const user of fixed) byId.set(user.id, user);
    const frozen = new Set<string>(fixedIds);
    for (const group of groups) frozen.add(`${group.ownerId}\u0000${group.id}`);
    log(`${kits.length} kit clients, ${fixed.length} single-group clients, ${groups.length} groups of ${groups.map((g) => ledger.members(g.id).size).join(', ')} members`);
    await waitFor('every client to connect', () => users.every((user) => user.connected()), { timeoutMs: 120_000, intervalMs: 250 });
    log(`all connected after ${Math.round((Date.now() - startedAt) / 1000)} s`);

    // --- observation ---
    let duplicatesDropped = 0;
    observer.onFrame((frame) => {
      if (byId.get(frame.userId)?.records.get(frame.groupId)?.seen.has(frame.seq) === true) duplicatesDropped += 1;
    });
    const rssTimeline: { t: number; rss: Record<string, number> }[] = [];
    const sampler = setInterval(() => {
      void cluster.sampleRss().then((rss) => rssTimeline.push({ t: Date.now(), rss }));
    }, 1000);

    // --- traffic ---
    let sent = 0;
    const acknowledged: SendOutcome[] = [];
    const refused: Record<string, number> = {};
    const resends = { checked: 0, mismatched: 0, failed: 0 };
    const inFlight = new Set<Promise<unknown>>();
    const track = (promise: Promise<unknown>): void => {
      inFlight.add(promise);
      void promise.finally(() => inFlight.delete(promise));
    };
    let credit = 0;
    const traffic = setInterval(() => {
      if (stopping) return;
      credit += opts.sendRate / 10;
      for (; credit >= 1; credit -= 1) {
        const user = pick(users);
        const mine = user.kind === 'fixed' ? [fixedGroupOf.get(user.id) as string] : groups.map((g) => g.id).filter((g) => ledger.isMember(user.id, g));
        if (mine.length === 0) continue;
        const groupId = pick(mine);
        if (user.pendingSends() >= 50) {
          refused['client outbox backlog'] = (refused['client outbox backlog'] ?? 0) + 1;
          continue;
        }
        sent += 1;
        const body = `soak ${user.id} ${sent}`;
        track(
          user.send(groupId, body).then(
            (outcome) => {
              acknowledged.push(outcome);
              if (random() < 0.05) {
                // A client whose answer was lost sends the same clientMessageId again.
                track(
                  resend(user.url, tokens.get(user.id) as string, groupId, body, outcome.clientMessageId).then(
                    (again) => {
                      resends.checked += 1;
                      if (again.created || again.seq !== outcome.seq) resends.mismatched += 1;
                    },
                    () => {
                      resends.failed += 1;
                    },
                  ),
                );
              }
            },
            (error: unknown) => {
              const reason = error instanceof ChatRequestError ? `${error.kind}${error.code === null ? '' : ` ${error.code}`}` : error instanceof Error ? error.name : String(error);
              refused[reason] = (refused[reason] ?? 0) + 1;
            },
          ),
        );
      }
    }, 100);

    // --- membership changes while subscribed ---
    const membership = { joins: 0, leaves: 0, uncertain: 0, failed: 0 };
    const GroupLastSeq = doc<{ group: { lastSeq: number } | null }, { id: string }>('query SoakLastSeq($id: ID!) { group(id: $id) { lastSeq } }');
    const AddMembers = doc<{ addGroupMembers: { group: { lastSeq: number } } }, { input: { groupId: string; userIds: string[] } }>(
      'mutation SoakAdd($input: AddGroupMembersInput!) { addGroupMembers(input: $input) { group { lastSeq } } }',
    );
    const RemoveMember = doc<{ removeGroupMember: { group: { lastSeq: number } } }, { input: { groupId: string; userId: string } }>(
      'mutation SoakRemove($input: RemoveGroupMemberInput!) { removeGroupMember(input: $input) { group { lastSeq } } }',
    );
    const ownerChat = (group: GroupPlan) => (byId.get(group.ownerId) as ReturnType<typeof createKitUser>).chat;
    const readLastSeq = async (group: GroupPlan): Promise<number> => {
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          const data = await ownerChat(group).request(GroupLastSeq, { id: group.id });
          return data.group?.lastSeq ?? 0;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await sleep(500);
        }
      }
    };
    const changeMembership = async (): Promise<void> => {
      const group = pick(groups);
      const members = ledger.members(group.id);
      const removable = [...members].filter((id) => !frozen.has(id) && !frozen.has(`${id}\u0000${group.id}`));
      const addable = kitIds.filter((id) => !members.has(id) && !frozen.has(`${id}\u0000${group.id}`));
      const add = addable.length > 0 && members.size < group.maxSize && (removable.length === 0 || members.size <= 2 || random() < 0.5);
      if (!add && removable.length === 0) return;
      const userId = add ? pick(addable) : pick(removable);
      const lo = await readLastSeq(group);
      let ambiguous = false;
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          const seq = add
            ? (await ownerChat(group).request(AddMembers, { input: { groupId: group.id, userIds: [userId] } })).addGroupMembers.group.lastSeq
            : (await ownerChat(group).request(RemoveMember, { input: { groupId: group.id, userId } })).removeGroupMember.group.lastSeq;
          // A retried add answers the same whether the first attempt had committed or not.
          const range = add && ambiguous ? { lo, hi: seq } : { lo: seq, hi: seq };
          if (range.lo !== range.hi) membership.uncertain += 1;
          ledger.record({ userId, groupId: group.id, kind: add ? 'join' : 'leave', ...range, at: Date.now() });
          if (add) {
            membership.joins += 1;
            byId.get(userId)?.record(group.id);
          } else membership.leaves += 1;
          return;
        } catch (error) {
          const kind = error instanceof ChatRequestError ? error.kind : RequestErrorKind.network;
          if (kind === RequestErrorKind.rejected) {
            if (!add && ambiguous && (error as ChatRequestError).code === 'NOT_FOUND') {
              // The lost first attempt had removed them.
              const hi = await readLastSeq(group);
              membership.uncertain += 1;
              membership.leaves += 1;
              ledger.record({ userId, groupId: group.id, kind: 'leave', lo, hi, at: Date.now() });
              return;
            }
            membership.failed += 1;
            log(`membership change refused: ${add ? 'add' : 'remove'} ${userId} ${group.id}: ${(error as Error).message}`);
            return;
          }
          if (kind === RequestErrorKind.rateLimited) {
            await sleep((error as ChatRequestError).retryAfterMs ?? 1000);
            continue;
          }
          ambiguous = true;
          if (Date.now() > deadline) {
            // Never learned what happened: the pair is uncertain from here on and left alone.
            membership.failed += 1;
            frozen.add(`${userId}\u0000${group.id}`);
            ledger.record({ userId, groupId: group.id, kind: add ? 'join' : 'leave', lo, hi: Number.MAX_SAFE_INTEGER, at: Date.now() });
            return;
          }
          await sleep(500);
        }
      }
    };
    const membershipLoop = (async () => {
      while (!stopping) {
        await sleep(1000 + random() * 2000);
        if (stopping) break;
        await changeMembership().catch((error: unknown) => {
          membership.failed += 1;
          log(`membership change failed: ${String(error)}`);
        });
      }
    })();

    // --- faults ---
    const hogUser = [...kits].sort((a, b) => ledger.groupsEver(b.id).length - ledger.groupsEver(a.id).length)[0] as SoakUser;
    const faultCtx: FaultContext = {
      cluster,
      observer,
      users,
      random,
      leakedInitSockets: 0,
      slowConsumers: [],
      hog: (gatewayUrl) => {
        const socket = new WebSocket(gatewayUrl.replace(/^http/, 'ws'), 'graphql-transport-ws');
        socket.on('error', () => {});
        const since = groups.filter((g) => ledger.isMember(hogUser.id, g.id)).map((g) => ({ groupId: g.id, seq: 0 }));
        socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${tokens.get(hogUser.id)}` } })));
        socket.on('message', (data: WebSocket.RawData) => {
          if (!data.toString().includes('"connection_ack"')) return;
          socket.send(
            JSON.stringify({
              id: 'hog',
              type: 'subscribe',
              payload: { query: 'subscription Hog($since: [GroupSeqInput!]) { messageAdded(since: $since) { id groupId seq body createdAt } }', variables: { since } },
            }),
          );
        });
        return { socket, userId: hogUser.id };
      },
    };
    const windows: FaultWindow[] = [];
    const endAt = startedAt + opts.minutes * 60_000;
    const faultLoop = (async () => {
      await sleep(3000);
      while (Date.now() < endAt - 2000) {
        const kind: FaultKind = pick(FaultKinds);
        log(`${Math.round((Date.now() - startedAt) / 1000)} s: fault ${kind}`);
        try {
          const window = await injectFault(kind, faultCtx);
          windows.push(window);
          log(`   ${window.detail} (${window.end - window.start} ms)`);
        } catch (error) {
          failures.push(`fault ${kind} could not be injected: ${String(error)}`);
          log(`   failed: ${String(error)}`);
          await cluster.heal();
        }
        await sleep(1000 * (opts.faultGapSeconds[0] + random() * (opts.faultGapSeconds[1] - opts.faultGapSeconds[0])));
      }
    })();

    await sleep(Math.max(0, endAt - Date.now()));
    await faultLoop;
    stopping = true;
    clearInterval(traffic);
    await membershipLoop;
    log(`${Math.round((Date.now() - startedAt) / 1000)} s: traffic stopped; healing and waiting for every client to settle`);
    await cluster.heal();

    // --- settle: every send answered, every client caught up ---
    await waitFor('every send to be answered', () => inFlight.size === 0, { timeoutMs: 120_000, intervalMs: 250 }).catch(() =>
      failures.push(`${inFlight.size} sends still unanswered after 120 s`),
    );
    const histories = new Map<string, HistoryMessage[]>();
    interface HistoryPage {
      readonly nodes: readonly { seq: number; clientMessageId: string; sender: { id: string } }[];
      readonly pageInfo: { hasNextPage: boolean; endCursor: string | null };
    }
    const History = doc<{ messages: HistoryPage }, { groupId: string; after: string | null }>('query SoakHistory($groupId: ID!, $after: String) { messages(groupId: $groupId, first: 100, after: $after) { nodes { seq clientMessageId sender { id } } pageInfo { hasNextPage endCursor } } }');
    for (const group of groups) {
      const list: HistoryMessage[] = [];
      let after: string | null = null;
      for (;;) {
        const answer: { messages: HistoryPage } = await ownerChat(group).request(History, { groupId: group.id, after });
        const page = answer.messages;
        list.push(...page.nodes.map((node) => ({ seq: node.seq, senderId: node.sender.id, clientMessageId: node.clientMessageId })));
        if (!page.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      histories.set(group.id, list);
    }
    const behind = (): string[] => {
      const out: string[] = [];
      for (const user of users) {
        const mine = user.kind === 'fixed' ? [fixedGroupOf.get(user.id) as string] : groups.map((g) => g.id).filter((g) => ledger.isMember(user.id, g));
        for (const groupId of mine) {
          const lastSeq = histories.get(groupId)?.length ?? 0;
          if (user.head(groupId) < lastSeq || !user.historyComplete(groupId)) out.push(`${user.id} ${groupId} at ${user.head(groupId)}/${lastSeq}`);
        }
      }
      return out;
    };
    let converged = true;
    await waitFor('every client to hold every message of its groups', () => behind().length === 0, { timeoutMs: 120_000, intervalMs: 500 }).catch(() => {
      converged = false;
      failures.push(`not converged after 120 s: ${behind().slice(0, 10).join('; ')}`);
    });
    const settledAt = Date.now();
    log(`settled ${Math.round((settledAt - endAt) / 1000)} s after the end of traffic`);

    const result = check({ users, ledger, frames: observer.frames, histories, acknowledged });

    // --- close every client, then look for what was left behind ---
    for (const user of users) user.dispose();
    const leaks = await measureLeaks(cluster, observer.sockets, faultCtx.leakedInitSockets, opts.rssBoundMiB);
    clearInterval(sampler);

    // --- latency, outside fault windows ---
    const inWindow = (t: number): boolean => windows.some((w) => t >= w.start - FAULT_LEAD_MS && t <= w.recovered + FAULT_RECOVERY_MS);
    const latencies: number[] = [];
    const outside: number[] = [];
    const slowest: typeof observer.frames = [];
    for (const frame of observer.frames) {
      if (!Number.isFinite(frame.createdAt)) continue;
      const latency = frame.at - frame.createdAt;
      latencies.push(latency);
      if (inWindow(frame.at) || inWindow(frame.createdAt)) continue;
      outside.push(latency);
      if (latency > 1000) slowest.push(frame);
    }
    const slowestOutside = slowest
      .sort((a, b) => b.at - b.createdAt - (a.at - a.createdAt))
      .slice(0, 15)
      .map((f) => `${f.userId} ${f.groupId}#${f.seq} on ${f.streamId}: committed at ${((f.createdAt - startedAt) / 1000).toFixed(1)} s, arrived ${f.at - f.createdAt} ms later`);
    const summary = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b);
      return { samples: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? null };
    };

    const counts: Record<string, number> = {};
    for (const window of windows) counts[window.kind] = (counts[window.kind] ?? 0) + 1;
    const peakRssMiB: Record<string, number> = { redis: Math.round(cluster.peakRedisRssKiB / 1024) };
    const restarts: Record<string, number> = {};
    for (const member of cluster.members.values()) {
      peakRssMiB[member.name] = Math.round(member.peakRssKiB / 1024);
      restarts[member.name] = member.restarts;
    }
    const violations: [string, number][] = [
      ['lost', result.lost],
      ['leaks', leaks.total],
      ['deliveries to non-members', result.nonMemberDeliveries],
      ['history gaps', result.historyGaps],
      ['history duplicates', result.historyDuplicates],
      ['acknowledged at another seq', result.acknowledgedMismatched],
      ['client order violations', result.clientOrderViolations],
      ['stream duplicates', result.streamDuplicates],
      ['retries that stored twice', resends.mismatched],
    ];
    for (const [what, count] of violations) if (count > 0) failures.push(`${what}: ${count}`);
    const report: SoakReport = {
      seed: opts.seed,
      minutes: opts.minutes,
      startedAt: new Date(startedAt).toISOString(),
      durationSeconds: Math.round((Date.now() - startedAt) / 1000),
      deployment: {
        processes: ['redis (private, no persistence)', ...[...cluster.members.keys()].map((name) => `${name} (node dist/main.js)`)],
        envOverrides: SOAK_ENV,
        clientSettings: 'kit: backoff 250 ms..4 s, keep-alive 4 s, pong timeout 3 s, request timeout 5 s, groups refresh 15 s, maxMessagesPerGroup 1,000,000',
      },
      clients: { kit: kits.length, fixedGroup: fixed.length, groups: groups.length, groupSizes: groups.map((g) => ledger.members(g.id).size) },
      sent,
      acknowledged: acknowledged.length,
      refused,
      unfinishedSends: inFlight.size,
      delivered: observer.frames.length,
      duplicatesDropped,
      lost: result.lost,
      leaks,
      resends,
      membership,
      faults: { counts, windows },
      slowConsumers: faultCtx.slowConsumers,
      peakRssMiB,
      restarts,
      latencyMs: { outsideFaultWindows: summary(outside), all: summary(latencies), slowestOutside },
      check: result,
      converged,
      ok: failures.length === 0,
      failures,
    };
    mkdirSync(opts.outDir, { recursive: true });
    writeFileSync(join(opts.outDir, `${opts.name}.json`), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(
      join(opts.outDir, `${opts.name}.svg`),
      renderSvg({ startedAt, endedAt: settledAt, frames: observer.frames, windows, rss: rssTimeline, title: `soak: ${opts.minutes} min, seed ${opts.seed}` }),
    );
    return report;
  } finally {
    stopping = true;
    for (const user of users) user.dispose();
    await cluster.shutdown().catch(() => {});
    await disposeAll();
    rmSync(join(work, 'data'), { recursive: true, force: true });
  }
}

/**
 * Leaks, measured once every client is gone, each waited for (bounded) since cleanup is
 * asynchronous: a dead gateway's presence lapses within the TTL and is then swept.
 */
async function measureLeaks(cluster: Cluster, clientSockets: ReadonlySet<WebSocket>, initSockets: number, rssBoundMiB: number): Promise<LeakReport> {
  const gatewayCounts = async (): Promise<{ connections: number; subscriptions: number }> => {
    let connections = 0;
    let subscriptions = 0;
    for (const name of GATEWAYS) {
      connections += (await cluster.metric(name, 'chat_connections')) ?? 0;
      subscriptions += (await cluster.metric(name, 'chat_active_subscriptions')) ?? 0;
    }
    return { connections, subscriptions };
  };
  const redis = cluster.redis.client;
  const prefix = 'chat:';
  const examples: string[] = [];
  const example = (text: string): void => {
    if (examples.length < 20 && !examples.includes(text)) examples.push(text);
  };
  const presenceEntries = async (): Promise<number> => {
    let total = 0;
    for (const pattern of [`${prefix}presence:group:*`, `${prefix}{presence:u*}:user:*`]) {
      for await (const keys of redis.scanStream({ match: pattern, count: 1000 })) {
        for (const key of keys as string[]) {
          const count = await redis.scard(key);
          if (count > 0) example(`${key}: ${(await redis.smembers(key)).join(', ')}`);
          total += count;
        }
      }
    }
    return total;
  };
  const quotaSlots = async (): Promise<number> => {
    const [seconds] = (await redis.time()) as unknown as [string, string];
    const live = new Set(await redis.zrangebyscore(`${prefix}quota:instances`, Number(seconds) * 1000, '+inf'));
    let total = 0;
    for await (const keys of redis.scanStream({ match: `${prefix}quota:*:slots:*`, count: 1000 })) {
      for (const key of keys as string[]) {
        const fields = await redis.hgetall(key);
        for (const [field, count] of Object.entries(fields)) {
          if (!live.has(field.slice(field.indexOf(':') + 1))) continue;
          total += Number(count);
          if (Number(count) !== 0) example(`${key} ${field} = ${count}`);
        }
      }
    }
    return total;
  };
  let gateway = await gatewayCounts();
  await waitFor('gateways to count no connection and no subscription', async () => {
    gateway = await gatewayCounts();
    return gateway.connections === 0 && gateway.subscriptions === 0;
  }, { timeoutMs: 30_000, intervalMs: 500 }).catch(() => {});
  let presence = 0;
  await waitFor('presence sets to empty', async () => (presence = await presenceEntries()) === 0, { timeoutMs: 60_000, intervalMs: 1000 }).catch(() => {});
  let quota = 0;
  await waitFor('quota slots to be released', async () => (quota = await quotaSlots()) === 0, { timeoutMs: 30_000, intervalMs: 1000 }).catch(() => {});
  await waitFor('client sockets to close', () => clientSockets.size === 0, { timeoutMs: 10_000 }).catch(() => {});
  const rss = await cluster.sampleRss();
  const rssOverBound = Object.entries(rss)
    .filter(([name, kib]) => name !== 'redis' && kib / 1024 > rssBoundMiB)
    .map(([name, kib]) => `${name} ${Math.round(kib / 1024)} MiB`);
  const clientLeft = clientSockets.size;
  return {
    total: gateway.connections + gateway.subscriptions + presence + quota + initSockets + clientLeft + rssOverBound.length,
    gatewayConnections: gateway.connections,
    gatewaySubscriptions: gateway.subscriptions,
    presenceEntries: presence,
    quotaSlots: quota,
    initSockets,
    clientSockets: clientLeft,
    rssOverBound,
    examples,
  };
}
