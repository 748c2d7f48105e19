/** Create a group: a name and the ids of the people to add. */
import { useState, type FormEvent } from 'react';
import type { ChatGroup } from '../../client/index.ts';
import { useChatClient } from '../../client/react.ts';
import { parseIds } from './format.ts';

export function NewGroup({ onCreated }: { onCreated: (group: ChatGroup) => void }) {
  const client = useChatClient();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState('');
  const [members, setMembers] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (!open) {
    return (
      <button type="button" className="new-group-toggle" onClick={() => setOpen(true)}>
        + New group
      </button>
    );
  }
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const group = await client.createGroup(name, parseIds(members));
      setName('');
      setMembers('');
      setOpen(false);
      onCreated(group);
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="new-group" onSubmit={submit} aria-label="New group">
      <input name="groupName" placeholder="Group name" autoFocus value={name} onChange={(e) => setName(e.target.value)} />
      <input
        name="memberIds"
        placeholder="Members: user ids, comma separated"
        value={members}
        onChange={(e) => setMembers(e.target.value)}
      />
      {error !== null && <p className="error">{error}</p>}
      <div className="actions">
        <button type="button" className="secondary" onClick={() => setOpen(false)}>
          Cancel
        </button>
        <button type="submit" disabled={busy || name.trim() === ''}>
          Create
        </button>
      </div>
    </form>
  );
}
