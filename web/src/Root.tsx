/**
 * Start-up: read the gateway's chat settings, find the account (dev sign-in, the host app's
 * token endpoint, or a token handed over in the URL), then run one kit client for it.
 */
import { useEffect, useState } from 'react';
import { createChatClient, type ChatClient } from '../../client/index.ts';
import { ChatProvider } from '../../client/react.ts';
import { App } from './App.tsx';
import { devSignIn, fragmentAccount, hostAccount, loadConfig, rememberedDevUser, type Account, type ChatWebConfig } from './auth.ts';
import { SignIn } from './SignIn.tsx';

type Phase =
  | { readonly type: 'loading' }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'signIn'; readonly config: ChatWebConfig; readonly error: string | null }
  | { readonly type: 'noSignIn' }
  | { readonly type: 'chat'; readonly config: ChatWebConfig; readonly account: Account };

export function Root() {
  const [phase, setPhase] = useState<Phase>({ type: 'loading' });

  useEffect(() => {
    let cancelled = false;
    const settle = (next: Phase) => {
      if (!cancelled) setPhase(next);
    };
    (async () => {
      const config = await loadConfig();
      const handedOver = fragmentAccount();
      if (handedOver !== null) return settle({ type: 'chat', config, account: handedOver });
      if (config.devSignIn) {
        const remembered = rememberedDevUser();
        if (remembered === null) return settle({ type: 'signIn', config, error: null });
        try {
          return settle({ type: 'chat', config, account: await devSignIn(remembered.userId, remembered.name) });
        } catch (error) {
          return settle({ type: 'signIn', config, error: error instanceof Error ? error.message : String(error) });
        }
      }
      if (config.tokenUrl !== null) return settle({ type: 'chat', config, account: hostAccount(config.tokenUrl) });
      return settle({ type: 'noSignIn' });
    })().catch((error: unknown) => settle({ type: 'failed', message: error instanceof Error ? error.message : String(error) }));
    return () => {
      cancelled = true;
    };
  }, []);

  switch (phase.type) {
    case 'loading':
      return <div className="centered muted">Loading…</div>;
    case 'failed':
      return <div className="centered error">{phase.message}</div>;
    case 'noSignIn':
      return (
        <div className="centered card">
          <h1>Group chat</h1>
          <p>This chat signs in through the app it belongs to. Open it from there.</p>
        </div>
      );
    case 'signIn':
      return (
        <SignIn
          error={phase.error}
          onSignIn={async (userId, name) => {
            const account = await devSignIn(userId, name);
            setPhase({ type: 'chat', config: phase.config, account });
          }}
        />
      );
    case 'chat':
      return (
        <Chat
          config={phase.config}
          account={phase.account}
          onSignOut={() => {
            phase.account.signOut();
            setPhase(phase.config.devSignIn ? { type: 'signIn', config: phase.config, error: null } : { type: 'noSignIn' });
          }}
        />
      );
  }
}

function Chat({ config, account, onSignOut }: { config: ChatWebConfig; account: Account; onSignOut: () => void }) {
  const [client, setClient] = useState<ChatClient | null>(null);
  useEffect(() => {
    const created = createChatClient({
      url: new URL(config.graphqlPath, window.location.href).href,
      token: account.token,
      // Unsent messages survive a reload; the kit keeps them per user.
      storage: window.localStorage,
    });
    // Skip the backoff wait when the device is back online or the tab is looked at again.
    const wake = () => created.reconnect();
    const onVisible = () => {
      if (document.visibilityState === 'visible') wake();
    };
    window.addEventListener('online', wake);
    document.addEventListener('visibilitychange', onVisible);
    setClient(created);
    return () => {
      window.removeEventListener('online', wake);
      document.removeEventListener('visibilitychange', onVisible);
      created.dispose();
    };
  }, [config, account]);
  if (client === null) return null;
  return (
    <ChatProvider client={client}>
      <App canSignOut={account.userId !== null} onSignOut={onSignOut} />
    </ChatProvider>
  );
}
