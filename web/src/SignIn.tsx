/** Dev sign-in: any user id, only while the gateway uses its generated dev secret. */
import { useState, type FormEvent } from 'react';

export function SignIn({ error, onSignIn }: { error: string | null; onSignIn: (userId: string, name: string | null) => Promise<void> }) {
  const [userId, setUserId] = useState('');
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(error);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (userId.trim() === '') return;
    setBusy(true);
    setFailure(null);
    try {
      await onSignIn(userId.trim(), name.trim() === '' ? null : name.trim());
    } catch (caught) {
      setFailure(caught instanceof Error ? caught.message : String(caught));
      setBusy(false);
    }
  };

  return (
    <div className="centered">
      <form className="card sign-in" onSubmit={submit} aria-label="Sign in">
        <h1>Group chat</h1>
        <p className="muted">
          Development sign-in: type any user id. This works only while the server uses its generated dev secret (no
          JWT_SECRET).
        </p>
        <label>
          User id
          <input name="userId" autoFocus autoComplete="username" value={userId} onChange={(e) => setUserId(e.target.value)} />
        </label>
        <label>
          <span>
            Display name <span className="muted">(optional)</span>
          </span>
          <input name="name" autoComplete="nickname" value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        {failure !== null && <p className="error">{failure}</p>}
        <button type="submit" disabled={busy || userId.trim() === ''}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
