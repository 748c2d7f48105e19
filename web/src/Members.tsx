/** Who is in the group (paged, 50 at a time), and a form to add people. */
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { useChatClient } from '../../client/react.ts';
import { GroupMembersQuery } from './documents.ts';
import { displayName, parseIds } from './format.ts';

interface Member {
  readonly id: string;
  readonly name: string | null;
}

const PAGE = 50;

export function Members({ groupId, memberCount }: { groupId: string; memberCount: number }) {
  const client = useChatClient();
  const [members, setMembers] = useState<readonly Member[]>([]);
  const [ownerId, setOwnerId] = useState<string | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [adding, setAdding] = useState('');
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(
    async (after: string | null) => {
      const { group } = await client.request(GroupMembersQuery, { groupId, first: PAGE, after });
      if (group === null) return;
      setOwnerId(group.owner.id);
      setMembers((current) => (after === null ? group.members.nodes : [...current, ...group.members.nodes]));
      setNext(group.members.pageInfo.hasNextPage ? group.members.pageInfo.endCursor : null);
    },
    [client, groupId],
  );
  useEffect(() => {
    load(null).catch((caught: unknown) => setError(caught instanceof Error ? caught.message : String(caught)));
  }, [load, memberCount]);

  const add = async (event: FormEvent) => {
    event.preventDefault();
    const ids = parseIds(adding);
    if (ids.length === 0) return;
    setError(null);
    try {
      await client.addMembers(groupId, ids);
      setAdding('');
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    }
  };

  return (
    <div className="members">
      <ul>
        {members.map((member) => (
          <li key={member.id}>
            {displayName(member)}
            {member.name !== null && <span className="muted"> @{member.id}</span>}
            {member.id === ownerId && <span className="tag">owner</span>}
          </li>
        ))}
      </ul>
      {next !== null && (
        <button type="button" className="link" onClick={() => void load(next)}>
          More members…
        </button>
      )}
      <form onSubmit={add} aria-label="Add members" className="add-members">
        <input name="addMemberIds" placeholder="Add people: user ids" value={adding} onChange={(e) => setAdding(e.target.value)} />
        <button type="submit" disabled={adding.trim() === ''}>
          Add
        </button>
      </form>
      {error !== null && <p className="error">{error}</p>}
    </div>
  );
}
