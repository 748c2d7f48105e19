/**
 * Where the chat's token comes from. Three ways, chosen by what the gateway reports at
 * /chat-config.json:
 * - dev sign-in (only while the gateway uses its generated dev secret): the user types an id,
 *   `POST /dev/token` mints a token for it;
 * - the host app's token endpoint (CHAT_TOKEN_URL): fetched with the host app's cookies, it
 *   answers `{ "token": "…" }` for whoever is signed in there;
 * - a token handed over in the URL fragment (`/#token=…`), e.g. by a host app that opens the
 *   chat in a new tab; it cannot be refreshed, so the chat asks to be opened again on expiry.
 */
import type { TokenProvider } from '../../client/index.ts';

export interface ChatWebConfig {
  readonly devSignIn: boolean;
  readonly tokenUrl: string | null;
  readonly graphqlPath: string;
}

export interface Account {
  /** The user id typed at dev sign-in; null when the token comes from elsewhere. */
  readonly userId: string | null;
  readonly token: TokenProvider;
  /** Forgets the account on this device. */
  signOut(): void;
}

const DEV_USER_KEY = 'groupchat:dev-user';
const FRAGMENT_TOKEN_KEY = 'groupchat:fragment-token';

export async function loadConfig(): Promise<ChatWebConfig> {
  const response = await fetch('/chat-config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`The chat's configuration did not load (HTTP ${response.status}).`);
  return (await response.json()) as ChatWebConfig;
}

/** A provider that keeps the token it got until the server refuses it. */
function cached(fetchToken: () => Promise<string | null>): TokenProvider {
  let token: string | null = null;
  return async ({ refresh }) => {
    if (token === null || refresh) token = await fetchToken();
    return token;
  };
}

export class DevSignInError extends Error {
  override readonly name = 'DevSignInError';
}

async function mintDevToken(userId: string, name: string | null): Promise<string> {
  const response = await fetch('/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId, name }),
  });
  const body = (await response.json().catch(() => ({}))) as { token?: string; error?: { message?: string } };
  if (!response.ok || typeof body.token !== 'string') {
    throw new DevSignInError(body.error?.message ?? `Sign-in failed (HTTP ${response.status}).`);
  }
  return body.token;
}

/** Signs in as `userId` with a dev token (minting the first one checks the id is accepted). */
export async function devSignIn(userId: string, name: string | null): Promise<Account> {
  let token = await mintDevToken(userId, name);
  localStorage.setItem(DEV_USER_KEY, JSON.stringify({ userId, name }));
  return {
    userId,
    token: async ({ refresh }) => {
      if (refresh) token = await mintDevToken(userId, name);
      return token;
    },
    signOut: () => localStorage.removeItem(DEV_USER_KEY),
  };
}

/** The account this device signed in with last, when dev sign-in is still available. */
export function rememberedDevUser(): { userId: string; name: string | null } | null {
  try {
    const raw = localStorage.getItem(DEV_USER_KEY);
    const parsed = raw === null ? null : (JSON.parse(raw) as { userId?: unknown; name?: unknown });
    if (parsed === null || typeof parsed.userId !== 'string') return null;
    return { userId: parsed.userId, name: typeof parsed.name === 'string' ? parsed.name : null };
  } catch {
    return null;
  }
}

/** The host app's token endpoint: `{ "token": "…" }` for its signed-in user, 401 otherwise. */
export function hostAccount(tokenUrl: string): Account {
  return {
    userId: null,
    token: cached(async () => {
      const response = await fetch(tokenUrl, { credentials: 'include', headers: { accept: 'application/json' } });
      if (response.status === 401 || response.status === 403) return null;
      if (!response.ok) throw new Error(`The token endpoint answered HTTP ${response.status}.`);
      const body = (await response.json()) as { token?: unknown };
      return typeof body.token === 'string' ? body.token : null;
    }),
    signOut: () => {},
  };
}

/** A token from `#token=…` (kept for this tab only), or null. */
export function fragmentAccount(): Account | null {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (match !== null) {
    sessionStorage.setItem(FRAGMENT_TOKEN_KEY, decodeURIComponent(match[1] as string));
    // Out of the address bar, the history and any screenshot.
    history.replaceState(null, '', window.location.pathname + window.location.search);
  }
  const token = sessionStorage.getItem(FRAGMENT_TOKEN_KEY);
  if (token === null) return null;
  return {
    userId: null,
    // It cannot be renewed: once refused, the provider answers null and the chat says so.
    token: ({ refresh }) => (refresh ? null : token),
    signOut: () => sessionStorage.removeItem(FRAGMENT_TOKEN_KEY),
  };
}
