/**
 * One group's conversation: history that pages in as you scroll up, live messages, your own
 * messages shown at once (pending → sent), and the read position following what you see.
 */
import { memo, useCallback, useEffect, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import type { ChatMessage, OutboxItem } from '../../client/index.ts';
import { useChatClient, useConnection, useGroup, useMessages, useSend, useViewer } from '../../client/react.ts';
import { displayName, shortTime } from './format.ts';
import { Members } from './Members.tsx';

/** Closer than this to the top, older history is loaded; to the bottom, the view follows new messages. */
const EDGE_PX = 160;

export function Conversation({ groupId }: { groupId: string }) {
  const client = useChatClient();
  const group = useGroup(groupId);
  const viewer = useViewer();
  const connection = useConnection();
  const { messages, pending, hasOlder, canLoadOlder, loadingOlder, repairing, loadOlder, markRead } = useMessages(groupId);
  const send = useSend(groupId);
  const [showMembers, setShowMembers] = useState(false);
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  /** Scroll height and top before older messages were prepended, to keep the view still. */
  const anchor = useRef<{ height: number; top: number } | null>(null);
  /** Where "new messages" starts: the read position when the conversation was opened. */
  const [unreadFrom, setUnreadFrom] = useState<number | null>(null);
  useEffect(() => {
    if (unreadFrom === null && group !== null) setUnreadFrom(group.unreadCount > 0 ? group.lastReadSeq + 1 : Number.POSITIVE_INFINITY);
  }, [group, unreadFrom]);

  const loadMore = () => {
    const element = scroller.current;
    if (element === null || !canLoadOlder || loadingOlder) return;
    anchor.current = { height: element.scrollHeight, top: element.scrollTop };
    loadOlder().catch(() => {
      anchor.current = null;
    });
  };

  // Keep the view where it was when history is prepended; follow the end when already there.
  const firstSeq = messages[0]?.seq ?? 0;
  useLayoutEffect(() => {
    const element = scroller.current;
    if (element === null) return;
    if (anchor.current !== null) {
      element.scrollTop = anchor.current.top + (element.scrollHeight - anchor.current.height);
      anchor.current = null;
    } else if (atBottom.current) {
      element.scrollTop = element.scrollHeight;
    }
  }, [firstSeq, messages.length, pending.length]);

  // A short history that does not fill the view cannot be scrolled: keep loading until it does.
  useEffect(() => {
    const element = scroller.current;
    if (element !== null && canLoadOlder && !loadingOlder && element.scrollTop < EDGE_PX) loadMore();
  });

  // The read position follows the newest message on screen while the tab is visible. One
  // observer for the conversation; rows join and leave it as they mount and unmount.
  const observer = useRef<IntersectionObserver | null>(null);
  const seen = useRef(0);
  useEffect(() => {
    const element = scroller.current;
    if (element === null) return;
    const markSeen = () => {
      if (seen.current > 0 && document.visibilityState === 'visible') markRead(seen.current).catch(() => {});
    };
    const created = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          const seq = Number((entry.target as HTMLElement).dataset['seq']);
          if (entry.isIntersecting && seq > seen.current) seen.current = seq;
        }
        markSeen();
      },
      { root: element, threshold: 0.6 },
    );
    for (const row of element.querySelectorAll('[data-testid=message][data-seq]')) created.observe(row);
    observer.current = created;
    document.addEventListener('visibilitychange', markSeen);
    return () => {
      created.disconnect();
      observer.current = null;
      document.removeEventListener('visibilitychange', markSeen);
    };
    // The list (and so the scroller) exists only once the group is known.
  }, [markRead, group !== null]);
  const register = useCallback((element: HTMLElement | null) => {
    if (element !== null) observer.current?.observe(element);
  }, []);

  const onScroll = () => {
    const element = scroller.current;
    if (element === null) return;
    atBottom.current = element.scrollHeight - element.scrollTop - element.clientHeight < EDGE_PX;
    if (element.scrollTop < EDGE_PX) loadMore();
  };

  if (group === null) {
    return <div className="centered muted">{client.groups.getSnapshot().status === 'loading' ? 'Loading…' : 'This group is not one of yours.'}</div>;
  }

  return (
    <section className="conversation" aria-label={`Conversation ${group.name}`}>
      <header className="conversation-header">
        <div>
          <h2>{group.name}</h2>
          <button type="button" className="link" onClick={() => setShowMembers((shown) => !shown)}>
            {group.memberCount} member{group.memberCount === 1 ? '' : 's'} {showMembers ? '▴' : '▾'}
          </button>
        </div>
        {repairing && <span className="muted small">Catching up…</span>}
      </header>
      {showMembers && <Members groupId={groupId} memberCount={group.memberCount} />}
      <div className="messages" ref={scroller} onScroll={onScroll} data-testid="messages">
        <div className="history-edge muted small">
          {loadingOlder ? 'Loading older messages…' : hasOlder ? (canLoadOlder ? 'Scroll up for older messages' : 'Older messages are not kept in this tab') : 'Start of the conversation'}
        </div>
        {messages.map((message, index) => (
          <MessageRow
            key={message.id}
            message={message}
            previous={messages[index - 1] ?? null}
            mine={message.sender.id === viewer?.id}
            unreadDivider={message.seq === unreadFrom && message.sender.id !== viewer?.id}
            register={register}
          />
        ))}
        {pending
          .filter((item) => item.status !== 'sent' || !messages.some((m) => m.clientMessageId === item.clientMessageId))
          .map((item) => (
            <PendingRow key={item.clientMessageId} item={item} online={connection.status === 'connected'} />
          ))}
      </div>
      <Composer onSend={(body) => void send(body).catch(() => {})} />
    </section>
  );
}

/** Memoised: a new message re-renders its own row, not the whole history. */
const MessageRow = memo(function MessageRow({
  message,
  previous,
  mine,
  unreadDivider,
  register,
}: {
  message: ChatMessage;
  previous: ChatMessage | null;
  mine: boolean;
  unreadDivider: boolean;
  register: (element: HTMLElement | null) => void;
}) {
  const continued = previous !== null && previous.sender.id === message.sender.id;
  return (
    <>
      {unreadDivider && (
        <div className="divider" role="separator">
          New messages
        </div>
      )}
      <article
        ref={register}
        className={`message${mine ? ' mine' : ''}${continued ? ' continued' : ''}`}
        data-testid="message"
        data-seq={message.seq}
        data-status="sent"
      >
        {!continued && !mine && <div className="sender">{displayName(message.sender)}</div>}
        <div className="bubble">
          <p className="body">{message.body}</p>
          <span className="meta">
            {shortTime(message.createdAt)}
            {mine && (
              <span className="state" title="Sent">
                {' '}
                ✓
              </span>
            )}
          </span>
        </div>
      </article>
    </>
  );
});

function PendingRow({ item, online }: { item: OutboxItem; online: boolean }) {
  const client = useChatClient();
  const failed = item.status === 'failed';
  return (
    <article
      className={`message mine pending${failed ? ' failed' : ''}`}
      data-testid="message"
      data-status={failed ? 'failed' : 'pending'}
      data-client-id={item.clientMessageId}
    >
      <div className="bubble">
        <p className="body">{item.body}</p>
        <span className="meta">
          {failed ? (
            <>
              Not sent: {item.error}{' '}
              <button type="button" className="link" onClick={() => client.retry(item.clientMessageId)}>
                Retry
              </button>{' '}
              <button type="button" className="link" onClick={() => client.discard(item.clientMessageId)}>
                Discard
              </button>
            </>
          ) : item.status === 'sent' ? (
            'Sent ✓'
          ) : online || item.status === 'sending' ? (
            'Sending…'
          ) : (
            'Waiting for connection…'
          )}
        </span>
      </div>
    </article>
  );
}

function Composer({ onSend }: { onSend: (body: string) => void }) {
  const [text, setText] = useState('');
  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    if (text.trim() === '') return;
    onSend(text);
    setText('');
  };
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) submit(event);
  };
  return (
    <form className="composer" onSubmit={submit} aria-label="Send a message">
      <textarea
        name="body"
        rows={1}
        placeholder="Write a message…"
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
      />
      <button type="submit" disabled={text.trim() === ''}>
        Send
      </button>
    </form>
  );
}
