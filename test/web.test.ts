/**
 * The browser chat in Debian's Chromium, driven by playwright-core (no browser download): a
 * real server process serving the built app at `/` with dev sign-in, two browser contexts as
 * two users. They create a group and chat both ways, unread badges follow, history pages in as
 * one scrolls up, one reloads mid-conversation, and the server is killed and restarted under
 * both. After each step every page shows exactly the server's history: seqs 1..lastSeq in
 * order, no gap, no duplicate. In production the chat signs in through the host app instead.
 * Screenshots go to test/artifacts/.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../src/auth/jwt.ts';
import { startProcess, type ServerProcess } from './support/process.ts';
import { freePort } from './support/redis.ts';
import { disposeAll, onDispose } from './support/dispose.ts';
import { sleep, waitFor } from './support/wait.ts';
import { ok } from './support/server.ts';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
/**
 * Generous waits: two browser pages, a server process and the test share a small machine, and
 * nothing here measures speed, only what the pages end up showing.
 */
const PATIENCE_MS = 45_000;
const STEP_MS = 150_000;
const until = (what: string, check: () => boolean | Promise<boolean>) => waitFor(what, check, { timeoutMs: PATIENCE_MS, intervalMs: 100 });
const ARTIFACTS = join(import.meta.dirname, 'artifacts');

const Send = `mutation WebSend($groupId: ID!, $body: String!, $clientMessageId: String!) {
  sendGroupMessage(input: { groupId: $groupId, body: $body, clientMessageId: $clientMessageId }) { message { seq } }
}`;
const History = `query WebHistory($groupId: ID!, $after: String) {
  group(id: $groupId) { unreadCount lastSeq }
  messages(groupId: $groupId, first: 100, after: $after) { nodes { seq body } pageInfo { hasNextPage endCursor } }
}`;
interface HistoryData {
  group: { unreadCount: number; lastSeq: number } | null;
  messages: { nodes: { seq: number; body: string }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
}

let server: ServerProcess;
let env: Record<string, string>;
let base: string;
let browser: Browser;
let alice: Page;
let bob: Page;
const tokens = new Map<string, string>();
let tripId: string;

afterEach(async (context) => {
  // What the users saw when a step failed, to tell a page's fault from the server's.
  if (context.task.result?.state !== 'fail') return;
  const name = context.task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
  for (const [who, page] of [['alice', alice], ['bob', bob]] as const) {
    await page?.screenshot({ path: join(ARTIFACTS, `failed-${name}-${who}.png`) }).catch(() => {});
  }
});

afterAll(async () => {
  await browser?.close();
  await disposeAll();
});

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`No Chromium at ${CHROMIUM}: install Debian's (apt-get install -y chromium), as .ci/run does, or set CHROMIUM_PATH.`);
  }
  await mkdir(ARTIFACTS, { recursive: true });
  // Failure screenshots of an earlier run would be mistaken for this one's.
  for (const file of await readdir(ARTIFACTS)) if (file.startsWith('failed-')) await rm(join(ARTIFACTS, file));
  const dataDir = await mkdtemp(join(tmpdir(), 'chat-web-e2e-'));
  onDispose(() => rm(dataDir, { recursive: true, force: true }));
  // No JWT_SECRET: the generated dev secret is in use, so the chat offers sign-in by user id.
  env = {
    DATA_DIR: dataDir,
    PORT: String(await freePort()),
    SQLITE_SYNCHRONOUS: 'NORMAL',
    LIMIT_SEND_RATE_PER_SECOND: '1000',
    LIMIT_SEND_BURST: '1000',
  };
  server = await startProcess(env, { readyTimeoutMs: 60_000 });
  base = `http://127.0.0.1:${server.port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // playwright-core starts it with a fresh temporary profile (user data dir) of its own.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--disable-quic',
    ],
  });
  const page = async () => (await browser.newContext({ viewport: { width: 1180, height: 740 }, deviceScaleFactor: 1 })).newPage();
  [alice, bob] = await Promise.all([page(), page()]);
}, 90_000);

// --- helpers -------------------------------------------------------------------------------------

async function tokenFor(userId: string): Promise<string> {
  let token = tokens.get(userId);
  if (token === undefined) {
    const response = await fetch(`${base}/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId, name: userId[0]?.toUpperCase() + userId.slice(1) }),
    });
    token = ((await response.json()) as { token: string }).token;
    tokens.set(userId, token);
  }
  return token;
}

/** Sends as `userId` over HTTP (the third user, who has no browser). */
async function sendAs(userId: string, groupId: string, body: string): Promise<number> {
  const data = await ok<{ sendGroupMessage: { message: { seq: number } } }, unknown>(`${base}/graphql`, await tokenFor(userId), Send, {
    groupId,
    body,
    clientMessageId: `${userId}-${body}`,
  });
  return data.sendGroupMessage.message.seq;
}

async function serverHistory(groupId: string, asUser = 'alice'): Promise<{ seqs: number[]; bodies: string[]; unread: number }> {
  const nodes: { seq: number; body: string }[] = [];
  let after: string | null = null;
  let unread = 0;
  for (;;) {
    const data: HistoryData = await ok<HistoryData, unknown>(`${base}/graphql`, await tokenFor(asUser), History, { groupId, after });
    unread = data.group?.unreadCount ?? 0;
    nodes.push(...data.messages.nodes);
    if (!data.messages.pageInfo.hasNextPage) break;
    after = data.messages.pageInfo.endCursor;
  }
  return { seqs: nodes.map((n) => n.seq), bodies: nodes.map((n) => n.body), unread };
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, name) });

/** Seqs of the confirmed messages the page shows, top to bottom. */
const shownSeqs = (page: Page): Promise<number[]> =>
  page.$$eval('[data-testid=messages] [data-testid=message][data-status=sent]', (rows) =>
    rows.map((row) => Number((row as HTMLElement).dataset['seq'])),
  );

const connectionOf = (page: Page) => page.getAttribute('[data-testid=connection]', 'data-status');

async function signIn(page: Page, userId: string, name: string, screenshot?: string): Promise<void> {
  await page.goto(base);
  await page.fill('input[name=userId]', userId);
  await page.fill('input[name=name]', name);
  if (screenshot !== undefined) await shot(page, screenshot);
  await page.click('form[aria-label="Sign in"] button[type=submit]');
  await page.waitForSelector('[data-testid=connection][data-status=connected]', { timeout: PATIENCE_MS });
}

const groupRow = (page: Page, name: string) => page.locator('[data-testid=group]', { hasText: name });

/** The unread badge of a group in the list (0 when there is none). */
async function unreadBadge(page: Page, name: string): Promise<number> {
  const badge = groupRow(page, name).locator('[data-testid=unread]');
  return (await badge.count()) === 0 ? 0 : Number(await badge.textContent());
}

async function say(page: Page, body: string): Promise<void> {
  await page.fill('textarea[name=body]', body);
  await page.press('textarea[name=body]', 'Enter');
}

/** Waits until the page shows the confirmed message `body`. */
const untilShown = (page: Page, body: string) =>
  page.locator('[data-testid=message][data-status=sent]', { hasText: body }).first().waitFor({ timeout: PATIENCE_MS });

/** Scrolls the conversation to its start, letting the page load history as a user's scrolling would. */
async function scrollToStart(page: Page): Promise<void> {
  await waitFor('the conversation to reach its first message', async () => {
    await page.$eval('[data-testid=messages]', (element) => {
      element.scrollTop = 0;
      element.dispatchEvent(new Event('scroll'));
    });
    return (await page.locator('text=Start of the conversation').count()) > 0;
  }, { timeoutMs: PATIENCE_MS, intervalMs: 200 });
}

async function scrollToEnd(page: Page): Promise<void> {
  await page.$eval('[data-testid=messages]', (element) => {
    element.scrollTop = element.scrollHeight;
    element.dispatchEvent(new Event('scroll'));
  });
}

/** The page shows exactly the server's history of the group: every seq once, in order. */
async function expectWholeHistory(page: Page, groupId: string): Promise<number[]> {
  const { seqs } = await serverHistory(groupId);
  await until(`the page to show seq ${seqs.length}`, async () => (await shownSeqs(page)).at(-1) === seqs.length);
  await scrollToStart(page);
  const shown = await shownSeqs(page);
  expect(shown).toEqual(seqs);
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  return shown;
}

// --- the story -------------------------------------------------------------------------------------

describe('the browser chat in Chromium', () => {
  it('signs two users in by typing a user id', async () => {
    await signIn(alice, 'alice', 'Alice', '01-sign-in.png');
    await signIn(bob, 'bob', 'Bob');
    expect(await alice.textContent('[data-testid=viewer]')).toBe('Alice');
    expect(await bob.textContent('[data-testid=viewer]')).toBe('Bob');
  }, STEP_MS);

  it('creates a group with a member; both chat both ways, live', async () => {
    await alice.click('text=+ New group');
    await alice.fill('input[name=groupName]', 'Weekend trip');
    await alice.fill('input[name=memberIds]', 'bob');
    await alice.click('form[aria-label="New group"] button[type=submit]');
    await alice.waitForURL(/\/g\/g_/);
    tripId = decodeURIComponent(new URL(alice.url()).pathname.split('/')[2] as string);

    await say(alice, 'Hi Bob! Are we still on for Saturday?');
    await untilShown(alice, 'Are we still on for Saturday');
    // Bob has not opened it: it shows in his list, with the message and an unread badge.
    await until('the group to reach Bob’s list', async () => (await unreadBadge(bob, 'Weekend trip')) === 1);
    expect(await groupRow(bob, 'Weekend trip').locator('[data-testid=preview]').textContent()).toBe(
      'Alice: Hi Bob! Are we still on for Saturday?',
    );

    await groupRow(bob, 'Weekend trip').click();
    await untilShown(bob, 'Are we still on for Saturday');
    await say(bob, 'Yes! I booked the cabin by the lake.');
    await untilShown(alice, 'I booked the cabin');
    await say(alice, 'Perfect. I will bring the board games.');
    await say(bob, 'And I will bring snacks.');
    await untilShown(bob, 'board games');
    await untilShown(alice, 'snacks');
    await until('Bob’s badge to clear once he reads', async () => (await unreadBadge(bob, 'Weekend trip')) === 0);
    for (const page of [alice, bob]) expect(await expectWholeHistory(page, tripId)).toEqual([1, 2, 3, 4]);
  }, STEP_MS);

  it('updates unread badges live, and reading clears them on the server too', async () => {
    // Bob looks at another group while Alice writes in the trip.
    await bob.click('text=+ New group');
    await bob.fill('input[name=groupName]', 'Book club');
    await bob.fill('input[name=memberIds]', 'alice');
    await bob.click('form[aria-label="New group"] button[type=submit]');
    await bob.waitForURL((url) => !url.pathname.endsWith(tripId));
    await say(alice, 'Train leaves at 9:40');
    await until('Bob’s badge to show 1', async () => (await unreadBadge(bob, 'Weekend trip')) === 1);
    await say(alice, 'Platform 4');
    await until('Bob’s badge to show 2', async () => (await unreadBadge(bob, 'Weekend trip')) === 2);
    await shot(bob, '02-bob-unread-badge.png');
    expect((await serverHistory(tripId, 'bob')).unread).toBe(2);

    await groupRow(bob, 'Weekend trip').click();
    await untilShown(bob, 'Platform 4');
    await until('Bob’s badge to clear', async () => (await unreadBadge(bob, 'Weekend trip')) === 0);
    await until('the server to have Bob’s read position', async () => (await serverHistory(tripId, 'bob')).unread === 0);
  }, STEP_MS);

  it('adds a member from the conversation, and pages back through long history as you scroll up', async () => {
    await alice.click('button:has-text("2 members")');
    await alice.fill('input[name=addMemberIds]', 'carol');
    await alice.click('form[aria-label="Add members"] button[type=submit]');
    await alice.waitForSelector('button:has-text("3 members")');
    await alice.click('button:has-text("3 members")');
    for (let i = 1; i <= 120; i += 1) await sendAs('carol', tripId, `Packing list item ${i}`);
    // Opened afresh, the conversation holds the newest page; the rest comes in as Alice scrolls up.
    await alice.goto(`${base}/g/${encodeURIComponent(tripId)}`);
    await untilShown(alice, 'Packing list item 120');
    const before = await shownSeqs(alice);
    expect(before.length).toBeLessThan(126);
    const all = await expectWholeHistory(alice, tripId);
    expect(all).toHaveLength(126);
    await shot(alice, '03-alice-history-start.png');
  }, STEP_MS);

  it('shows no gap to a user who reloads mid-conversation', async () => {
    const sending = (async () => {
      for (let i = 1; i <= 30; i += 1) {
        await sendAs('carol', tripId, `Live update ${i}`);
        await sleep(60);
      }
    })();
    await untilShown(bob, 'Live update 8');
    await bob.reload();
    await sending;
    await untilShown(bob, 'Live update 30');
    await untilShown(alice, 'Live update 30');
    await shot(bob, '04-bob-after-reload.png');
    for (const page of [bob, alice]) expect(await expectWholeHistory(page, tripId)).toHaveLength(156);
  }, STEP_MS);

  it('catches both users up after the server is killed and restarted under them', async () => {
    // Both read the newest messages (the read position follows), then the server dies.
    for (const page of [alice, bob]) await scrollToEnd(page);
    await until('Alice to have read the trip', async () => (await unreadBadge(alice, 'Weekend trip')) === 0);
    server.child.kill('SIGKILL');
    await server.exited;
    await until('both pages to show the lost connection', async () =>
      (await connectionOf(alice)) !== 'connected' && (await connectionOf(bob)) !== 'connected',
    );
    // Written while the server is down: shown at once, pending, kept in the outbox.
    await say(alice, 'I wrote this while the server was down');
    const pending = alice.locator('[data-testid=message][data-status=pending]', { hasText: 'while the server was down' });
    await pending.waitFor({ timeout: PATIENCE_MS });
    expect(await pending.textContent()).toMatch(/Waiting for connection|Sending/);
    await shot(alice, '05-alice-offline-pending.png');

    server = await startProcess(env, { readyTimeoutMs: 60_000 });
    await until('both pages to reconnect', async () =>
      (await connectionOf(alice)) === 'connected' && (await connectionOf(bob)) === 'connected',
    );
    // Pending → sent, exactly once.
    await untilShown(alice, 'while the server was down');
    await untilShown(bob, 'while the server was down');
    await sendAs('carol', tripId, 'Back online. Did anything get lost?');
    await untilShown(bob, 'Did anything get lost');
    await say(bob, 'Nothing. Every message is here, in order.');
    await untilShown(alice, 'Every message is here');
    await sendAs('carol', tripId, 'Great. See you both at the station!');
    await say(alice, 'See you on Saturday!');
    await untilShown(bob, 'See you on Saturday');
    const { bodies } = await serverHistory(tripId);
    expect(bodies.filter((body) => body === 'I wrote this while the server was down')).toHaveLength(1);
    for (const page of [alice, bob]) expect(await expectWholeHistory(page, tripId)).toHaveLength(161);

    // Back at the newest messages for the pictures; Bob writes in the book club meanwhile.
    const bookClub = await groupRow(alice, 'Book club').getAttribute('data-group-id');
    await sendAs('bob', bookClub as string, 'Next book: The Left Hand of Darkness');
    await until('Alice’s book club badge', async () => (await unreadBadge(alice, 'Book club')) === 1);
    for (const page of [alice, bob]) await scrollToEnd(page);
    await shot(bob, '06-bob-after-restart.png');
    await shot(alice, 'chat.png');
  }, STEP_MS);
});

describe('the browser chat in production', () => {
  it('takes its token from the host app (CHAT_TOKEN_URL) or from #token=, and offers no dev sign-in', async () => {
    const secret = randomBytes(32).toString('base64url');
    const signer = createTokenVerifier(secret);
    const dataDir = await mkdtemp(join(tmpdir(), 'chat-web-prod-'));
    onDispose(() => rm(dataDir, { recursive: true, force: true }));
    // The host app: whoever its session cookie names gets a chat token, from the chat's origin only.
    let chatOrigin = '';
    const requests: string[] = [];
    const host = createServer((request, response) => {
      requests.push(request.url ?? '');
      const user = /(?:^|; )session=([^;]+)/.exec(request.headers.cookie ?? '')?.[1];
      const cors = { 'access-control-allow-origin': chatOrigin, 'access-control-allow-credentials': 'true', vary: 'origin' };
      if (user === undefined) {
        response.writeHead(401, cors).end();
        return;
      }
      void signer.sign({ id: user, name: 'Carol (host app)' }).then((token) => {
        response.writeHead(200, { ...cors, 'content-type': 'application/json' }).end(JSON.stringify({ token }));
      });
    });
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    onDispose(() => new Promise<void>((resolve) => host.close(() => resolve())));
    const hostUrl = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
    const production = await startProcess(
      { NODE_ENV: 'production', JWT_SECRET: secret, DATA_DIR: dataDir, CHAT_TOKEN_URL: `${hostUrl}/chat-token` },
      { readyTimeoutMs: 60_000 },
    );
    chatOrigin = `http://127.0.0.1:${production.port}`;
    expect((await fetch(`${chatOrigin}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"userId":"x"}' })).status).toBe(404);

    const hosted = await browser.newContext({ viewport: { width: 1180, height: 740 } });
    onDispose(() => hosted.close());
    await hosted.addCookies([{ name: 'session', value: 'carol', url: hostUrl }]);
    const carol = await hosted.newPage();
    await carol.goto(chatOrigin);
    await carol.waitForSelector('[data-testid=connection][data-status=connected]', { timeout: PATIENCE_MS });
    expect(await carol.textContent('[data-testid=viewer]')).toBe('Carol (host app)');
    expect(await carol.locator('form[aria-label="Sign in"]').count()).toBe(0);
    expect(requests).toContain('/chat-token');

    const handedOver = await browser.newContext({ viewport: { width: 1180, height: 740 } });
    onDispose(() => handedOver.close());
    const dave = await handedOver.newPage();
    await dave.goto(`${chatOrigin}/#token=${await signer.sign({ id: 'dave', name: 'Dave' })}`);
    await dave.waitForSelector('[data-testid=connection][data-status=connected]', { timeout: PATIENCE_MS });
    expect(await dave.textContent('[data-testid=viewer]')).toBe('Dave');
    // The token leaves the address bar (and so the history) at once.
    expect(new URL(dave.url()).hash).toBe('');
    await shot(carol, '07-production-host-app-sign-in.png');
  }, STEP_MS);
});
