/** The viewer's groups, most recently active first: last message and unread count. */
import type { ChatGroup } from '../../client/index.ts';
import { displayName, shortTime } from './format.ts';

/** One of six avatar colours, the same for a group everywhere. */
const colourOf = (id: string): number => [...id].reduce((sum, char) => (sum * 31 + (char.codePointAt(0) ?? 0)) % 9973, 0) % 6;

export function GroupList({
  groups,
  openGroupId,
  onOpen,
}: {
  groups: readonly ChatGroup[];
  openGroupId: string | null;
  onOpen: (groupId: string) => void;
}) {
  if (groups.length === 0) return <p className="muted pad">No groups yet.</p>;
  return (
    <nav aria-label="Groups">
      <ul className="groups">
        {groups.map((group) => (
          <li key={group.id}>
            <button
              type="button"
              className={`group${group.id === openGroupId ? ' open' : ''}${group.unreadCount > 0 ? ' unread' : ''}`}
              data-testid="group"
              data-group-id={group.id}
              aria-current={group.id === openGroupId ? 'true' : undefined}
              onClick={() => onOpen(group.id)}
            >
              <span className={`avatar c${colourOf(group.id)}`} aria-hidden="true">
                {group.name.slice(0, 1).toUpperCase() || '#'}
              </span>
              <span className="summary">
                <span className="row">
                  <span className="name">{group.name}</span>
                  <span className="time">{shortTime(group.lastActivityAt)}</span>
                </span>
                <span className="row">
                  <span className="preview" data-testid="preview">
                    {group.lastMessage === null
                      ? `${group.memberCount} member${group.memberCount === 1 ? '' : 's'}`
                      : `${displayName(group.lastMessage.sender)}: ${group.lastMessage.body}`}
                  </span>
                  {group.unreadCount > 0 && (
                    <span className="badge" data-testid="unread" aria-label={`${group.unreadCount} unread`}>
                      {group.unreadCount}
                    </span>
                  )}
                </span>
              </span>
            </button>
          </li>
        ))}
      </ul>
    </nav>
  );
}
