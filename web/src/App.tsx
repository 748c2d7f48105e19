/** The chat: header with the connection state, the group list, the open conversation. */
import { useConnection, useGroups, useViewer } from '../../client/react.ts';
import { ConnectionBadge } from './ConnectionBadge.tsx';
import { Conversation } from './Conversation.tsx';
import { displayName } from './format.ts';
import { GroupList } from './GroupList.tsx';
import { NewGroup } from './NewGroup.tsx';
import { useOpenGroup } from './route.ts';

export function App({ canSignOut, onSignOut }: { canSignOut: boolean; onSignOut: () => void }) {
  const viewer = useViewer();
  const connection = useConnection();
  const { groups, status } = useGroups();
  const [openGroupId, openGroup] = useOpenGroup();
  const totalUnread = groups.reduce((sum, group) => sum + group.unreadCount, 0);

  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          Group chat{totalUnread > 0 && <span className="badge total" aria-label={`${totalUnread} unread`}>{totalUnread}</span>}
        </div>
        <ConnectionBadge connection={connection} />
        <div className="me">
          {viewer !== null && (
            <span className="viewer" data-testid="viewer">
              {displayName(viewer)}
            </span>
          )}
          {canSignOut && (
            <button type="button" className="link" onClick={onSignOut}>
              Sign out
            </button>
          )}
        </div>
      </header>
      <aside className="sidebar">
        <NewGroup onCreated={(group) => openGroup(group.id)} />
        {status === 'loading' && groups.length === 0 ? (
          <p className="muted pad">Loading groups…</p>
        ) : (
          <GroupList groups={groups} openGroupId={openGroupId} onOpen={openGroup} />
        )}
      </aside>
      <main className="main">
        {openGroupId === null ? (
          <div className="centered muted">Pick a group, or create one.</div>
        ) : (
          <Conversation key={openGroupId} groupId={openGroupId} />
        )}
      </main>
    </div>
  );
}
