/**
 * React bindings of the kit: a provider and hooks over its stores with `useSyncExternalStore`,
 * so every component re-renders from one consistent snapshot (React 18+, React Native alike).
 * No logic lives here: everything is the kit's.
 */
import { createContext, createElement, useCallback, useContext, useEffect, useSyncExternalStore, type ReactNode } from 'react';
import type { ChatClient, ChatGroup, ChatMessage, ChatViewer, ConnectionState, GroupMessages, GroupsState, ReadableStore } from './index.ts';

const ChatContext = createContext<ChatClient | null>(null);

export interface ChatProviderProps {
  readonly client: ChatClient;
  readonly children?: ReactNode;
}

/** Makes `client` available to the hooks below it. */
export function ChatProvider({ client, children }: ChatProviderProps): ReactNode {
  return createElement(ChatContext.Provider, { value: client }, children);
}

/** The client of the nearest ChatProvider. */
export function useChatClient(): ChatClient {
  const client = useContext(ChatContext);
  if (client === null) throw new Error('useChatClient and the chat hooks need a <ChatProvider client={…}> above them.');
  return client;
}

/** The current value of a kit store. */
export function useStore<T>(store: ReadableStore<T>): T {
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/** The viewer's groups, most recently active first, with unread counts and last messages. */
export function useGroups(): GroupsState {
  return useStore(useChatClient().groups);
}

/** One group as the list shows it, or null while it is unknown. */
export function useGroup(groupId: string | null): ChatGroup | null {
  const { groups } = useGroups();
  return groupId === null ? null : (groups.find((group) => group.id === groupId) ?? null);
}

const NO_GROUP: GroupMessages = {
  groupId: '',
  messages: [],
  pending: [],
  hasOlder: false,
  canLoadOlder: false,
  loadingOlder: false,
  repairing: false,
};
const noGroupStore: ReadableStore<GroupMessages> = { subscribe: () => () => {}, getSnapshot: () => NO_GROUP };

export interface UseMessagesResult extends GroupMessages {
  /** Pages older history in (for infinite scroll upwards). */
  loadOlder(): Promise<void>;
  /** Moves the read position to `seq` (default: the newest message held). */
  markRead(seq?: number): Promise<void>;
}

/**
 * A group's messages (confirmed, gapless, in seq order) and its pending sends. When the group
 * holds no messages yet, its newest page is loaded.
 */
export function useMessages(groupId: string | null): UseMessagesResult {
  const client = useChatClient();
  const state = useStore(groupId === null ? noGroupStore : client.messages(groupId));
  const empty = state.messages.length === 0 && state.hasOlder && !state.loadingOlder;
  useEffect(() => {
    if (groupId !== null && empty) client.loadOlder(groupId).catch(() => {});
  }, [client, groupId, empty]);
  const loadOlder = useCallback(() => (groupId === null ? Promise.resolve() : client.loadOlder(groupId)), [client, groupId]);
  const markRead = useCallback(
    (seq?: number) => (groupId === null ? Promise.resolve() : client.markGroupRead(groupId, seq)),
    [client, groupId],
  );
  return { ...state, loadOlder, markRead };
}

/** A function that sends to `groupId` through the outbox; resolves once the server stored it. */
export function useSend(groupId: string | null): (body: string) => Promise<ChatMessage> {
  const client = useChatClient();
  return useCallback(
    (body: string) => (groupId === null ? Promise.reject(new Error('No group to send to.')) : client.send(groupId, body)),
    [client, groupId],
  );
}

/** Whether the live stream is up, and when the next attempt is when it is not. */
export function useConnection(): ConnectionState {
  return useStore(useChatClient().connection);
}

/** The signed-in user, once the server named them. */
export function useViewer(): ChatViewer | null {
  return useStore(useChatClient().viewer);
}
