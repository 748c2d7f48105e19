/**
 * The chat client kit: the client side of the server's promise (each group's messages in seq
 * order, no gap, no duplicate, across reconnects). Framework-free; runs in browsers, React
 * Native and Node, on graphql-ws for the live stream and `fetch` for everything else.
 *
 * - It owns reconnecting: graphql-ws never retries on its own here (a graphql-ws retry re-sends
 *   the original variables, so `since` would be stale); the kit opens a fresh connection after
 *   a jittered, capped backoff, asks the token provider for a token on every connect, and
 *   always resubscribes with `since` built from the last seq it holds per group.
 * - It drops duplicates by (groupId, seq) and repairs a gap from `messages(afterSeq:)` before
 *   showing anything newer.
 * - Sends go through an outbox: a clientMessageId generated once per message, retried safely
 *   until the server confirms, kept across reconnects (and reloads, with a storage).
 * - State is exposed as plain stores (`subscribe` / `getSnapshot`); `client/react.ts` adds hooks.
 *
 * Long on purpose: the connection, the per-group timelines, the outbox and the stores share one
 * state machine (a reconnect touches all four in one step), so `createChatClient` keeps them in one
 * closure; the parts without that state live beside it (backoff, timeline, outbox, store, http).
 */
import { createClient, type Client as WebSocketClient } from 'graphql-ws';
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
import { backoffDelay, defaultBackoff, type BackoffOptions } from './backoff.ts';
import {
  ChatAddMembersMutation,
  ChatCreateGroupMutation,
  ChatGroupsQuery,
  ChatLeaveGroupMutation,
  ChatMarkReadMutation,
  ChatMessageAddedSubscription,
  ChatMessagesAfterQuery,
  ChatNodesQuery,
  ChatOlderMessagesQuery,
  ChatSendMutation,
} from './documents.ts';
import type {
  ChatGroupFieldsFragment,
  ChatGroupsQuery as ChatGroupsQueryResult,
  ChatMessageAddedSubscription as MessageAddedResult,
} from './gql/graphql.ts';
import { ChatRequestError, errorFromGraphQL, postGraphQL, RequestErrorKind, type GraphQLErrorLike, type GraphQLResponse } from './http.ts';
import { Outbox, OutboxStatus, type KeyValueStorage, type OutboxItem } from './outbox.ts';
import { createComputedStore, createStore, type ComputedStore, type ReadableStore } from './store.ts';
import { GroupTimeline, type ChatMessage } from './timeline.ts';

export type { ChatMessage } from './timeline.ts';
export type { OutboxItem, KeyValueStorage } from './outbox.ts';
export { OutboxFullError, OutboxStatus } from './outbox.ts';
export type { ReadableStore } from './store.ts';
export { ChatRequestError, RequestErrorKind } from './http.ts';
export type { BackoffOptions } from './backoff.ts';

// --- public types ----------------------------------------------------------------------------------

/** What the token provider is asked for. */
export interface TokenRequest {
  /**
   * True when the server refused the last token (it expired or was revoked): answer a new one,
   * not a cached one.
   */
  readonly refresh: boolean;
}

/** Answers the bearer token to connect with, or null when the user is signed out. */
export type TokenProvider = (request: TokenRequest) => string | null | Promise<string | null>;

/** The bounds of everything the kit holds or repeats. */
export interface ChatClientLimits {
  /** Messages kept in memory per group; beyond, the oldest are dropped (page them in again). @default 1000 */
  readonly maxMessagesPerGroup: number;
  /** Messages held per group while a gap before them is repaired. @default 1000 */
  readonly maxAheadPerGroup: number;
  /** Groups tracked; the least recently active beyond are forgotten. @default 1000 */
  readonly maxGroups: number;
  /** Unsent messages the outbox holds; `send` throws OutboxFullError beyond. @default 100 */
  readonly maxOutbox: number;
  /** Messages per history or gap-repair request (the server allows up to LIMIT_MAX_PAGE_SIZE, 100). @default 50 */
  readonly pageSize: number;
  /** Groups listed in `since` on resubscribe (the server's LIMIT_MAX_SINCE_GROUPS). @default 1000 */
  readonly maxSinceGroups: number;
  /** Ids per `nodes(ids:)` request (the server's LIMIT_MAX_NODE_IDS). @default 100 */
  readonly maxNodeIds: number;
  /** Consecutive refused connects (close 4403) after which the kit stops and reports `unauthorized`. @default 3 */
  readonly maxAuthFailures: number;
  /** Attempts at a send the server fails without explanation before it is marked failed. @default 5 */
  readonly maxSendAttempts: number;
}

export const defaultClientLimits: ChatClientLimits = {
  maxMessagesPerGroup: 1000,
  maxAheadPerGroup: 1000,
  maxGroups: 1000,
  maxOutbox: 100,
  pageSize: 50,
  maxSinceGroups: 1000,
  maxNodeIds: 100,
  maxAuthFailures: 3,
  maxSendAttempts: 5,
};

export interface ChatClientOptions {
  /** The HTTP GraphQL endpoint, e.g. `https://chat.example.com/graphql`. */
  readonly url: string;
  /** The WebSocket endpoint. @default `url` with http(s) replaced by ws(s) */
  readonly wsUrl?: string;
  /** Called on every connect, and with `refresh: true` after the server refused the token. */
  readonly token: TokenProvider;
  /** The WebSocket class; in Node pass `ws`'s. @default globalThis.WebSocket */
  readonly webSocketImpl?: unknown;
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** Keeps the outbox across reloads (localStorage, AsyncStorage…). @default null (memory only) */
  readonly storage?: KeyValueStorage | null;
  /** Prefix of the storage keys; the outbox is kept per user under `<prefix>outbox:<userId>`. @default 'groupchat:' */
  readonly storageKeyPrefix?: string;
  readonly limits?: Partial<ChatClientLimits>;
  /** Reconnect and resend delays. @default { baseMs: 500, capMs: 30000 } */
  readonly backoff?: Partial<BackoffOptions>;
  /** A ping is sent this long after the last pong, in ms. @default 10000 */
  readonly keepAliveMs?: number;
  /** A connection whose ping gets no pong within this is dropped and replaced, in ms. @default 5000 */
  readonly pongTimeoutMs?: number;
  /** A connection not acknowledged within this is dropped, in ms. @default 10000 */
  readonly connectTimeoutMs?: number;
  /** An HTTP request not answered within this is aborted and counts as a network failure, in ms. @default 15000 */
  readonly requestTimeoutMs?: number;
  /** After this long connected, the reconnect backoff starts over from its first step, in ms. @default 5000 */
  readonly healthyAfterMs?: number;
  /** How often the group list is re-read while connected (groups joined, reads on other devices), in ms; 0: never. @default 60000 */
  readonly groupsRefreshMs?: number;
  /** Told about errors the kit handled itself (a failed repair it will retry, a listener that threw). @default does nothing */
  readonly onError?: (error: unknown) => void;
  /** Starts connecting at once. @default true */
  readonly connect?: boolean;
  /** For tests: randomness of the backoff jitter. @default Math.random */
  readonly random?: () => number;
}

export const ConnectionStatus = {
  /** The first connection is being made. */
  connecting: 'connecting',
  /** The live stream is open. */
  connected: 'connected',
  /** The connection was lost; a new one is being made or waited for (`retryAt`). */
  reconnecting: 'reconnecting',
  /** The token provider answered null, or the server refused `maxAuthFailures` tokens in a row; call `reconnect()` after signing in. */
  unauthorized: 'unauthorized',
  /** `dispose()` was called. */
  disposed: 'disposed',
} as const;
export type ConnectionStatus = (typeof ConnectionStatus)[keyof typeof ConnectionStatus];

export interface ConnectionState {
  readonly status: ConnectionStatus;
  /** Failed attempts since the connection was last healthy. */
  readonly attempt: number;
  /** While waiting to reconnect: when the next attempt starts (epoch ms). */
  readonly retryAt: number | null;
  /** Since when the current connection is live (epoch ms). */
  readonly connectedAt: number | null;
  /** How the last connection ended: a WebSocket close code and reason, or an error. */
  readonly lastClose: { readonly code: number | null; readonly reason: string } | null;
}

export interface ChatViewer {
  readonly id: string;
  readonly name: string | null;
}

/** A group as the list shows it. */
export interface ChatGroup {
  readonly id: string;
  readonly name: string;
  readonly memberCount: number;
  readonly createdAt: string;
  /** Seq of the newest message known. */
  readonly lastSeq: number;
  /** The viewer's read position (moved by markGroupRead and by the viewer's own sends). */
  readonly lastReadSeq: number;
  /** lastSeq − lastReadSeq, as the server counts it. */
  readonly unreadCount: number;
  readonly lastMessage: ChatMessage | null;
  /** Its newest message's time, or its creation: the list is ordered by this, newest first. */
  readonly lastActivityAt: string;
}

export interface GroupsState {
  /** `loading` until the list was read once. */
  readonly status: 'loading' | 'ready';
  readonly groups: readonly ChatGroup[];
}

export interface GroupMessages {
  readonly groupId: string;
  /** Confirmed messages, ascending seq, consecutive: never a gap, never a duplicate. */
  readonly messages: readonly ChatMessage[];
  /** The viewer's messages not shown as confirmed yet (queued, sending, failed, or sent and on their way), oldest first. */
  readonly pending: readonly OutboxItem[];
  /** Older messages exist before `messages[0]`. */
  readonly hasOlder: boolean;
  /** `loadOlder` can add some (false when the window reached maxMessagesPerGroup). */
  readonly canLoadOlder: boolean;
  readonly loadingOlder: boolean;
  /** Newer messages arrived after a gap that is being fetched; they show once it is filled. */
  readonly repairing: boolean;
}

export interface ChatClient {
  readonly connection: ReadableStore<ConnectionState>;
  readonly viewer: ReadableStore<ChatViewer | null>;
  /** The viewer's groups, most recently active first. */
  readonly groups: ReadableStore<GroupsState>;
  /** Every unsent message, in the order written. */
  readonly outbox: ReadableStore<readonly OutboxItem[]>;
  /** One group's messages (the same store object for the same id). */
  messages(groupId: string): ReadableStore<GroupMessages>;
  /**
   * Queues a message and resolves with it once the server stored it. Shows at once in
   * `messages(groupId).pending`. Rejects with OutboxFullError when `maxOutbox` are unsent,
   * or with a ChatRequestError when the server refuses it for good.
   */
  send(groupId: string, body: string): Promise<ChatMessage>;
  /** Queues a failed message again, with the same clientMessageId. */
  retry(clientMessageId: string): void;
  /** Drops an unsent message. */
  discard(clientMessageId: string): void;
  /** Pages one page of older history into the group's messages. */
  loadOlder(groupId: string): Promise<void>;
  /** Moves the read position (default: the newest message held); resolves once the server has it. */
  markGroupRead(groupId: string, seq?: number): Promise<void>;
  createGroup(name: string, memberIds?: readonly string[]): Promise<ChatGroup>;
  addMembers(groupId: string, userIds: readonly string[]): Promise<ChatGroup>;
  leaveGroup(groupId: string): Promise<void>;
  /** Re-reads the group list now. */
  refreshGroups(): Promise<void>;
  /** Any typed document (codegen with documentMode: 'string'), over HTTP with the current token. */
  request<TResult, TVariables>(document: TypedDocument<TResult, TVariables>, variables: TVariables): Promise<TResult>;
  /** Connects now: after `unauthorized` (signed in again), or to skip a backoff wait (the device came online). */
  reconnect(): void;
  /** Closes the connection and stops every timer; unsent messages stay in the storage. */
  dispose(): void;
}

/** A document generated by codegen's client preset in string mode (or any object whose text is the query). */
export type TypedDocument<TResult, TVariables> = DocumentTypeDecoration<TResult, TVariables> & { toString(): string };

export class ChatClientDisposedError extends Error {
  override readonly name = 'ChatClientDisposedError';
  constructor() {
    super('The chat client was disposed.');
  }
}

/** The token provider answered null: there is nobody to connect as. */
class SignedOutError extends Error {
  override readonly name = 'SignedOutError';
}

// --- helpers -----------------------------------------------------------------------------------------

/** A clientMessageId: a random UUID where the platform has one, else 122 random bits. */
export function newClientMessageId(): string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string; getRandomValues?: <T extends Uint8Array>(array: T) => T } }).crypto;
  if (typeof crypto?.randomUUID === 'function') return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  if (typeof crypto?.getRandomValues === 'function') crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i += 1) bytes[i] = Math.floor(Math.random() * 256);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80;
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const isCloseEvent = (value: unknown): value is { code: number; reason: string } =>
  typeof value === 'object' && value !== null && 'code' in value && typeof (value as { code: unknown }).code === 'number';

const isGraphQLErrors = (value: unknown): value is readonly GraphQLErrorLike[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'object' && item !== null && 'message' in item);

/** graphql-ws close code when the server refuses the connection (bad or expired token). */
const FORBIDDEN_CLOSE = 4403;
/** Our own close code for a connection whose ping got no pong in time. */
const KEEP_ALIVE_TIMEOUT_CLOSE = 4408;

const EMPTY_MESSAGES: readonly ChatMessage[] = [];
const EMPTY_PENDING: readonly OutboxItem[] = [];

interface GroupEntry {
  readonly id: string;
  name: string;
  memberCount: number;
  createdAt: string;
  lastSeq: number;
  lastReadSeq: number;
  lastMessage: ChatMessage | null;
  /** Whether the server has described it (a group first seen through a message is not, yet). */
  described: boolean;
}

interface Session {
  readonly id: number;
  readonly ws: WebSocketClient;
  ended: boolean;
  pongTimer: ReturnType<typeof setTimeout> | undefined;
  healthyTimer: ReturnType<typeof setTimeout> | undefined;
}

/** Why a connection ended, as the reconnect policy sees it. */
type Ending =
  | { readonly type: 'closed'; readonly code: number; readonly reason: string }
  | { readonly type: 'errors'; readonly errors: readonly GraphQLErrorLike[] }
  | { readonly type: 'error'; readonly error: unknown }
  | { readonly type: 'completed' };

// --- the client ------------------------------------------------------------------------------------

export function createChatClient(options: ChatClientOptions): ChatClient {
  const {
    url,
    wsUrl = url.replace(/^http/, 'ws'),
    token: tokenProvider,
    webSocketImpl,
    storage = null,
    storageKeyPrefix = 'groupchat:',
    keepAliveMs = 10_000,
    pongTimeoutMs = 5_000,
    connectTimeoutMs = 10_000,
    requestTimeoutMs = 15_000,
    healthyAfterMs = 5_000,
    groupsRefreshMs = 60_000,
    onError = () => {},
    random = Math.random,
  } = options;
  const fetchImpl: typeof fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const limits: ChatClientLimits = { ...defaultClientLimits, ...options.limits };
  const backoff: BackoffOptions = { ...defaultBackoff, ...options.backoff };
  const report = (error: unknown): void => {
    try {
      onError(error);
    } catch {
      // An onError that throws must not break the kit.
    }
  };

  let disposed = false;
  let viewerId: string | null = null;

  // --- stores ---
  const connection = createStore<ConnectionState>(
    { status: ConnectionStatus.connecting, attempt: 0, retryAt: null, connectedAt: null, lastClose: null },
    report,
  );
  const viewer = createStore<ChatViewer | null>(null, report);
  const outboxStore = createStore<readonly OutboxItem[]>([], report);
  const messageStores = new Map<string, ComputedStore<GroupMessages>>();

  const groups = new Map<string, GroupEntry>();
  const timelines = new Map<string, GroupTimeline>();
  const loadingOlder = new Map<string, Promise<void>>();
  const repairing = new Set<string>();

  const setConnection = (patch: Partial<ConnectionState>): void => connection.update((state) => ({ ...state, ...patch }));

  // --- snapshots ---
  const toGroup = (entry: GroupEntry): ChatGroup => ({
    id: entry.id,
    name: entry.name,
    memberCount: entry.memberCount,
    createdAt: entry.createdAt,
    lastSeq: entry.lastSeq,
    lastReadSeq: entry.lastReadSeq,
    unreadCount: Math.max(0, entry.lastSeq - entry.lastReadSeq),
    lastMessage: entry.lastMessage,
    lastActivityAt: entry.lastMessage?.createdAt ?? entry.createdAt,
  });
  const activity = (entry: GroupEntry): string => entry.lastMessage?.createdAt ?? entry.createdAt;
  let groupsReady = false;
  const groupsStore = createComputedStore<GroupsState>(
    () => ({
      status: groupsReady ? 'ready' : 'loading',
      groups: [...groups.values()]
        .filter((entry) => entry.described)
        .sort((a, b) => (activity(a) < activity(b) ? 1 : activity(a) > activity(b) ? -1 : a.id.localeCompare(b.id)))
        .map(toGroup),
    }),
    report,
  );
  const publishGroups = (): void => groupsStore.invalidate();

  const snapshotOf = (groupId: string): GroupMessages => {
    const timeline = timelines.get(groupId);
    const pending = outbox.items.filter((item) => item.groupId === groupId);
    return {
      groupId,
      messages: timeline === undefined ? EMPTY_MESSAGES : [...timeline.messages],
      pending: pending.length === 0 ? EMPTY_PENDING : pending,
      hasOlder: timeline?.hasOlder ?? false,
      canLoadOlder: timeline?.canLoadOlder ?? false,
      loadingOlder: loadingOlder.has(groupId),
      repairing: repairing.has(groupId),
    };
  };
  const messageStoreFor = (groupId: string): ComputedStore<GroupMessages> => {
    let store = messageStores.get(groupId);
    if (store === undefined) {
      store = createComputedStore(() => snapshotOf(groupId), report);
      messageStores.set(groupId, store);
    }
    return store;
  };
  const publishMessages = (groupId: string): void => messageStores.get(groupId)?.invalidate();

  // --- outbox ---
  const sendWaiters = new Map<string, { resolve: (message: ChatMessage) => void; reject: (error: unknown) => void }>();
  const outbox = new Outbox({
    maxItems: limits.maxOutbox,
    storage,
    onChange: (items) => {
      // Each group's `pending` is a filter of the outbox: the groups in it before or now changed.
      const affected = new Set([...outboxStore.getSnapshot(), ...items].map((item) => item.groupId));
      outboxStore.set(items);
      for (const groupId of affected) publishMessages(groupId);
    },
    onError: report,
  });

  // --- tokens and requests ---
  let currentToken: string | null = null;
  /** The server refused the current token: the next provider call asks for a fresh one. */
  let tokenRefused = false;
  const getToken = async (): Promise<string> => {
    const refresh = tokenRefused;
    const token = await tokenProvider({ refresh });
    if (token === null) throw new SignedOutError('The token provider answered null: no user is signed in.');
    currentToken = token;
    if (refresh) tokenRefused = false;
    return token;
  };

  /** One request with the current token; an UNAUTHENTICATED answer gets one retry with a fresh token. */
  const execute = async <TResult, TVariables>(
    document: TypedDocument<TResult, TVariables>,
    variables: TVariables,
  ): Promise<GraphQLResponse<TResult>> => {
    if (disposed) throw new ChatClientDisposedError();
    const query = document.toString();
    const post = (token: string) =>
      postGraphQL<TResult>({ fetch: fetchImpl, url, token, query, variables, timeoutMs: requestTimeoutMs });
    const first = await post(currentToken ?? (await getToken()));
    const firstError = first.errors?.[0];
    if (firstError?.extensions?.['code'] !== 'UNAUTHENTICATED') return first;
    tokenRefused = true;
    return post(await getToken());
  };

  const request = async <TResult, TVariables>(document: TypedDocument<TResult, TVariables>, variables: TVariables): Promise<TResult> => {
    const response = await execute(document, variables);
    if (response.errors !== undefined && response.errors.length > 0) throw errorFromGraphQL(response.errors);
    if (response.data == null) throw new ChatRequestError('The server answered no data.', RequestErrorKind.server, null);
    return response.data;
  };

  // --- groups ---
  const timelineFor = (groupId: string, head: number | null): GroupTimeline => {
    let timeline = timelines.get(groupId);
    if (timeline === undefined) {
      timeline = new GroupTimeline(groupId, { maxMessages: limits.maxMessagesPerGroup, maxAhead: limits.maxAheadPerGroup }, head);
      timelines.set(groupId, timeline);
      // A store asked for before the group was known showed it empty: it has history now.
      publishMessages(groupId);
    }
    return timeline;
  };

  /** Forgets the least recently active groups beyond maxGroups, except ones on screen. */
  const enforceMaxGroups = (): void => {
    if (groups.size <= limits.maxGroups) return;
    const evictable = [...groups.values()]
      .filter((entry) => messageStores.get(entry.id)?.watched !== true)
      .sort((a, b) => (activity(a) < activity(b) ? -1 : 1));
    for (const entry of evictable.slice(0, groups.size - limits.maxGroups)) forgetGroup(entry.id);
  };

  const forgetGroup = (groupId: string): void => {
    groups.delete(groupId);
    timelines.delete(groupId);
    publishMessages(groupId);
    if (messageStores.get(groupId)?.watched !== true) messageStores.delete(groupId);
    outbox.removeWhere((item) => item.groupId === groupId && item.status === OutboxStatus.sent);
  };

  /** Takes what the server says about a group; counters only move forward. */
  const describeGroup = (fields: ChatGroupFieldsFragment): void => {
    const timeline = timelineFor(fields.id, fields.lastSeq);
    if (timeline.catchUpTo(fields.lastSeq)) {
      settleSent(fields.id);
      publishMessages(fields.id);
    } else if (timeline.gap !== null) {
      // The server has newer messages than this client holds: fetch them rather than wait for a
      // live one to reveal the gap (none may come).
      void repair(fields.id);
    }
    const entry = groups.get(fields.id);
    const newest = (a: ChatMessage | null, b: ChatMessage | null): ChatMessage | null =>
      a === null ? b : b === null ? a : b.seq > a.seq ? b : a;
    groups.set(fields.id, {
      id: fields.id,
      name: fields.name,
      memberCount: fields.memberCount,
      createdAt: fields.createdAt,
      lastSeq: Math.max(entry?.lastSeq ?? 0, fields.lastSeq),
      lastReadSeq: Math.max(entry?.lastReadSeq ?? 0, fields.lastReadSeq),
      lastMessage: newest(entry?.lastMessage ?? null, fields.lastMessage),
      described: true,
    });
  };

  /** Reads the group list (up to maxGroups); groups no longer listed are gone when it was read to its end. */
  const loadGroups = async ({ all }: { all: boolean }): Promise<void> => {
    const knownBefore = new Set(groups.keys());
    const listed = new Set<string>();
    let after: string | null = null;
    let complete = false;
    for (;;) {
      const first = Math.min(100, limits.maxGroups - listed.size);
      if (first <= 0) break;
      const data: ChatGroupsQueryResult = await request(ChatGroupsQuery, { first, after });
      if (viewerId !== null && data.viewer.id !== viewerId) {
        // Another user's token: nothing held belongs to them.
        throw new ChatRequestError('The token names another user than this client was started for.', RequestErrorKind.auth, null);
      }
      setViewer(data.viewer);
      for (const fields of data.groups.nodes) {
        listed.add(fields.id);
        describeGroup(fields);
      }
      if (!data.groups.pageInfo.hasNextPage) {
        complete = true;
        break;
      }
      after = data.groups.pageInfo.endCursor;
      if (!all) break;
    }
    if (complete) for (const id of knownBefore) if (!listed.has(id)) forgetGroup(id);
    groupsReady = true;
    enforceMaxGroups();
    publishGroups();
  };

  const setViewer = (next: ChatViewer): void => {
    if (viewerId === null) {
      viewerId = next.id;
      void outbox.restore(`${storageKeyPrefix}outbox:${next.id}`).then(() => pumpOutbox());
    }
    const current = viewer.getSnapshot();
    if (current === null || current.id !== next.id || current.name !== next.name) viewer.set(next);
  };

  /** Groups first seen through a message: described in batches with nodes(ids:). */
  const undescribed = new Set<string>();
  let describing = false;
  const describeLater = (groupId: string): void => {
    undescribed.add(groupId);
    if (describing) return;
    describing = true;
    queueMicrotask(() => void describeBatch());
  };
  const describeBatch = async (): Promise<void> => {
    try {
      while (undescribed.size > 0 && !disposed) {
        const ids = [...undescribed].slice(0, limits.maxNodeIds);
        for (const id of ids) undescribed.delete(id);
        const { gone } = await lookUpGroups(ids);
        for (const id of gone) forgetGroup(id);
      }
      enforceMaxGroups();
      publishGroups();
    } catch (error) {
      report(error);
    } finally {
      describing = false;
    }
  };

  /** Describes the groups named; answers the ones the viewer is no longer in (or that do not exist). */
  const lookUpGroups = async (ids: readonly string[]): Promise<{ gone: string[] }> => {
    const gone: string[] = [];
    for (let start = 0; start < ids.length; start += limits.maxNodeIds) {
      const chunk = ids.slice(start, start + limits.maxNodeIds);
      const response = await execute(ChatNodesQuery, { ids: chunk });
      const nodes = response.data?.nodes;
      if (nodes == null) throw errorFromGraphQL(response.errors ?? []);
      const failed = new Map<number, string | null>();
      for (const error of response.errors ?? []) {
        const index = error.path?.[1];
        const code = error.extensions?.['code'];
        if (typeof index === 'number') failed.set(index, typeof code === 'string' ? code : null);
      }
      nodes.forEach((node, index) => {
        const id = chunk[index] as string;
        if (node !== null && node.__typename === 'Group') describeGroup(node);
        else if (failed.get(index) === 'FORBIDDEN' || (node === null && !failed.has(index))) gone.push(id);
        // Any other error leaves the group as it was, to be described later.
      });
      if ([...failed.values()].some((code) => code !== 'FORBIDDEN')) throw errorFromGraphQL(response.errors ?? []);
    }
    return { gone };
  };

  // --- receiving ---
  /** Everything that arrives (stream, replay, repair, a send's answer, history) comes through here. */
  const receive = (message: ChatMessage): void => {
    if (disposed) return;
    const entry = groups.get(message.groupId);
    const timeline = timelineFor(message.groupId, null);
    const offer = timeline.offer(message);
    if (offer.type === 'appended') {
      applyAppended(message.groupId, offer.messages);
    } else if (offer.type === 'gap') {
      void repair(message.groupId);
    }
    if (entry === undefined) {
      groups.set(message.groupId, {
        id: message.groupId,
        name: '',
        memberCount: 0,
        createdAt: message.createdAt,
        lastSeq: timeline.head ?? 0,
        lastReadSeq: 0,
        lastMessage: offer.type === 'appended' ? (offer.messages.at(-1) as ChatMessage) : null,
        described: false,
      });
      describeLater(message.groupId);
    }
    publishMessages(message.groupId);
  };

  const applyAppended = (groupId: string, appended: readonly ChatMessage[]): void => {
    const entry = groups.get(groupId);
    for (const message of appended) {
      if (entry !== undefined && message.seq > entry.lastSeq) entry.lastSeq = message.seq;
      if (entry !== undefined && (entry.lastMessage === null || message.seq > entry.lastMessage.seq)) entry.lastMessage = message;
      if (message.sender.id === viewerId) {
        // Sending moves the sender's read position on the server: mirror it.
        if (entry !== undefined) entry.lastReadSeq = Math.max(entry.lastReadSeq, message.seq);
        const item = outbox.get(message.clientMessageId);
        if (item !== null && item.groupId === groupId) {
          outbox.remove(item.clientMessageId);
          sendWaiters.get(item.clientMessageId)?.resolve(message);
          sendWaiters.delete(item.clientMessageId);
        }
      }
    }
    if (appended.length > 0) publishGroups();
  };

  /** Sent messages the window moved past without showing (it jumped): nothing more to wait for. */
  const settleSent = (groupId: string): void => {
    const head = timelines.get(groupId)?.head ?? 0;
    outbox.removeWhere((item) => item.groupId === groupId && item.status === OutboxStatus.sent && (item.seq ?? 0) <= head);
  };

  /** Fills a group's gap from history, one request at a time, until the held messages can show. */
  const repair = async (groupId: string, attempt = 0): Promise<void> => {
    if (repairing.has(groupId) || disposed) return;
    repairing.add(groupId);
    publishMessages(groupId);
    let retryIn: number | null = null;
    try {
      for (let gap = timelines.get(groupId)?.gap; gap != null && !disposed; gap = timelines.get(groupId)?.gap) {
        const first = Math.min(limits.pageSize, gap.upTo - gap.afterSeq);
        const data = await request(ChatMessagesAfterQuery, { groupId, afterSeq: gap.afterSeq, first });
        // Seqs have no gaps, so an empty page means the server has not committed them: retry later.
        if (data.messages.nodes.length === 0) throw new Error(`Messages after seq ${gap.afterSeq} of ${groupId} are not readable yet.`);
        for (const message of data.messages.nodes) receive(message);
      }
    } catch (error) {
      if (error instanceof ChatRequestError && error.kind === RequestErrorKind.rejected) {
        // FORBIDDEN or NOT_FOUND: the viewer left the group, or it is gone.
        forgetGroup(groupId);
        publishGroups();
      } else if (!(error instanceof ChatClientDisposedError)) {
        report(error);
        retryIn = backoffDelay(attempt, backoff, random);
      }
    } finally {
      repairing.delete(groupId);
      publishMessages(groupId);
    }
    if (retryIn !== null) later(() => void repair(groupId, attempt + 1), retryIn);
  };

  // --- the live connection ---
  const timers = new Set<ReturnType<typeof setTimeout>>();
  /** A retry later; forgotten once it ran, cancelled by dispose. */
  const later = (run: () => void, ms: number): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, ms);
    timers.add(timer);
  };
  let sessionCount = 0;
  let session: Session | null = null;
  let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  let refreshTimer: ReturnType<typeof setInterval> | undefined;
  /** The id of the last connection whose end was handled (each end is handled once). */
  let lastEnded = 0;
  let attempt = 0;
  let authFailures = 0;
  let everConnected = false;
  /** Set while a connect is under way (groups read, socket opening): the session id it will use. */
  let connecting: number | null = null;

  const sinceList = (): { groupId: string; seq: number }[] =>
    [...timelines.values()]
      .filter((timeline) => timeline.head !== null)
      .map((timeline) => ({ timeline, entry: groups.get(timeline.groupId) }))
      .sort((a, b) => {
        const left = a.entry === undefined ? '' : activity(a.entry);
        const right = b.entry === undefined ? '' : activity(b.entry);
        return left < right ? 1 : left > right ? -1 : 0;
      })
      // Groups past the limit still stream live; a message after a gap is repaired from history.
      .slice(0, limits.maxSinceGroups)
      .map(({ timeline }) => ({ groupId: timeline.groupId, seq: timeline.head as number }));

  const connect = async (): Promise<void> => {
    if (disposed || session !== null || connecting !== null) return;
    const id = ++sessionCount;
    connecting = id;
    clearTimeout(reconnectTimer);
    setConnection({
      status: everConnected ? ConnectionStatus.reconnecting : ConnectionStatus.connecting,
      retryAt: null,
      connectedAt: null,
    });
    try {
      // Groups first: new groups, groups left, read positions from other devices, and each
      // group's lastSeq, from which a group with nothing held resumes.
      await loadGroups({ all: true });
    } catch (error) {
      connecting = null;
      if (id === sessionCount) ended(id, { type: 'error', error });
      return;
    }
    connecting = null;
    if (disposed || id !== sessionCount) return;
    open(id);
  };

  const open = (id: number): void => {
    const ws = createClient({
      url: wsUrl,
      ...(webSocketImpl === undefined ? {} : { webSocketImpl }),
      lazy: true,
      // The kit owns retries: graphql-ws would resubscribe with the original variables.
      retryAttempts: 0,
      shouldRetry: () => false,
      keepAlive: keepAliveMs,
      connectionAckWaitTimeout: connectTimeoutMs,
      connectionParams: async () => ({ authorization: `Bearer ${await getToken()}` }),
      on: {
        connected: () => onConnected(id),
        closed: (event) => {
          const { code, reason } = isCloseEvent(event) ? event : { code: 1006, reason: '' };
          ended(id, { type: 'closed', code, reason });
        },
        ping: (received) => {
          if (received || session?.id !== id) return;
          // graphql-ws sends the pings; a dead link is noticed by the missing pong.
          clearTimeout(session.pongTimer);
          session.pongTimer = setTimeout(() => {
            ended(id, { type: 'closed', code: KEEP_ALIVE_TIMEOUT_CLOSE, reason: `No pong within ${pongTimeoutMs} ms` });
          }, pongTimeoutMs);
        },
        pong: (received) => {
          if (received && session?.id === id) clearTimeout(session.pongTimer);
        },
      },
    });
    session = { id, ws, ended: false, pongTimer: undefined, healthyTimer: undefined };
    /** Errors of the stream's last result: why the server ended it (e.g. RATE_LIMITED when it fell behind). */
    let finalErrors: readonly GraphQLErrorLike[] | null = null;
    ws.subscribe<MessageAddedResult>(
      { query: ChatMessageAddedSubscription.toString(), operationName: 'ChatMessageAdded', variables: { since: sinceList() } },
      {
        next: (result) => {
          if (session?.id !== id) return;
          const message = result.data?.messageAdded;
          if (message != null) receive(message);
          else if (result.errors !== undefined) {
            finalErrors = result.errors as readonly GraphQLErrorLike[];
            report(errorFromGraphQL(finalErrors));
          }
        },
        error: (error) => {
          if (isCloseEvent(error)) ended(id, { type: 'closed', code: error.code, reason: error.reason });
          else if (isGraphQLErrors(error)) ended(id, { type: 'errors', errors: error });
          else ended(id, { type: 'error', error });
        },
        complete: () => ended(id, finalErrors === null ? { type: 'completed' } : { type: 'errors', errors: finalErrors }),
      },
    );
  };

  const onConnected = (id: number): void => {
    const current = session;
    if (current?.id !== id || current.ended) return;
    everConnected = true;
    authFailures = 0;
    setConnection({ status: ConnectionStatus.connected, retryAt: null, connectedAt: Date.now() });
    current.healthyTimer = setTimeout(() => {
      attempt = 0;
      setConnection({ attempt: 0 });
    }, healthyAfterMs);
    clearInterval(refreshTimer);
    if (groupsRefreshMs > 0) {
      refreshTimer = setInterval(() => void loadGroups({ all: false }).catch(report), groupsRefreshMs);
    }
    kickOutbox();
  };

  /** A connection ended (or never came up): decide when and how to make the next one. */
  const ended = (id: number, ending: Ending): void => {
    if (id !== sessionCount || id === lastEnded) return;
    lastEnded = id;
    const current = session;
    if (current !== null && current.id === id) {
      current.ended = true;
      clearTimeout(current.pongTimer);
      clearTimeout(current.healthyTimer);
      session = null;
      // A link that stopped answering pings is cut at once: a polite close would wait for a
      // reply that never comes. Otherwise the socket (if still open) is closed normally.
      if (ending.type === 'closed' && ending.code === KEEP_ALIVE_TIMEOUT_CLOSE) current.ws.terminate();
      Promise.resolve(current.ws.dispose()).catch(() => {});
    }
    clearInterval(refreshTimer);
    if (disposed) return;
    const lastClose =
      ending.type === 'closed'
        ? { code: ending.code, reason: ending.reason }
        : ending.type === 'errors'
          ? { code: null, reason: ending.errors.map((error) => error.message).join('; ') }
          : ending.type === 'error'
            ? { code: null, reason: ending.error instanceof Error ? ending.error.message : String(ending.error) }
            : { code: null, reason: 'The server ended the stream.' };

    const refused =
      (ending.type === 'closed' && ending.code === FORBIDDEN_CLOSE) ||
      (ending.type === 'error' && ending.error instanceof ChatRequestError && ending.error.kind === RequestErrorKind.auth) ||
      (ending.type === 'errors' && ending.errors.some((error) => error.extensions?.['code'] === 'UNAUTHENTICATED'));
    if (ending.type === 'error' && ending.error instanceof SignedOutError) {
      setConnection({ status: ConnectionStatus.unauthorized, retryAt: null, connectedAt: null, lastClose });
      return;
    }
    if (refused) {
      // An expired or revoked token: ask the provider for a fresh one, at once the first time.
      tokenRefused = true;
      authFailures += 1;
      if (authFailures >= limits.maxAuthFailures) {
        setConnection({ status: ConnectionStatus.unauthorized, retryAt: null, connectedAt: null, lastClose });
        return;
      }
      scheduleReconnect(authFailures === 1 ? 0 : backoffDelay(authFailures - 1, backoff, random), lastClose);
      return;
    }
    if (ending.type === 'errors') {
      const codes = ending.errors.map((error) => error.extensions?.['code']);
      if (codes.includes('FORBIDDEN') || codes.includes('NOT_FOUND')) {
        // A group in `since` was left or deleted: find which, drop them, and resubscribe.
        const delayMs = backoffDelay(attempt, backoff, random);
        attempt += 1;
        setConnection({ status: ConnectionStatus.reconnecting, connectedAt: null, lastClose });
        void lookUpGroups(sinceList().map((entry) => entry.groupId))
          .then(({ gone }) => {
            for (const groupId of gone) forgetGroup(groupId);
            publishGroups();
          })
          .catch(report)
          .finally(() => {
            if (id === sessionCount && !disposed) scheduleReconnect(delayMs, lastClose);
          });
        return;
      }
      if (codes.includes('RATE_LIMITED')) {
        // The stream fell behind and was ended: resubscribing with since loses nothing.
        scheduleReconnect(0, lastClose);
        return;
      }
    }
    scheduleReconnect(backoffDelay(attempt, backoff, random), lastClose);
    attempt += 1;
  };

  const scheduleReconnect = (delayMs: number, lastClose: ConnectionState['lastClose']): void => {
    clearTimeout(reconnectTimer);
    setConnection({
      status: everConnected ? ConnectionStatus.reconnecting : ConnectionStatus.connecting,
      attempt,
      retryAt: Date.now() + delayMs,
      connectedAt: null,
      lastClose,
    });
    reconnectTimer = setTimeout(() => void connect(), delayMs);
  };

  // --- sending ---
  let pumping = false;
  let wake: (() => void) | null = null;
  const kickOutbox = (): void => {
    if (wake !== null) wake();
    else void pumpOutbox();
  };
  /** Waits `ms`, or less if the connection comes back or the kit is disposed. */
  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        wake = null;
        resolve();
      }
      wake = done;
    });

  const pumpOutbox = async (): Promise<void> => {
    if (pumping || disposed) return;
    pumping = true;
    let failures = 0;
    try {
      for (let item = outbox.next(); item !== null && !disposed; item = outbox.next()) {
        const { clientMessageId, groupId, body } = item;
        const attempts = item.attempts + 1;
        outbox.update(clientMessageId, { status: OutboxStatus.sending, attempts });
        try {
          const data = await request(ChatSendMutation, { input: { groupId, body, clientMessageId } });
          failures = 0;
          const message = data.sendGroupMessage.message;
          outbox.update(clientMessageId, { status: OutboxStatus.sent, seq: message.seq, error: null });
          receive(message);
          // Shown already, or waiting behind a gap: either way the server has it.
          sendWaiters.get(clientMessageId)?.resolve(message);
          sendWaiters.delete(clientMessageId);
          if ((timelines.get(groupId)?.head ?? 0) >= message.seq) outbox.remove(clientMessageId);
        } catch (error) {
          if (disposed || error instanceof ChatClientDisposedError) break;
          const reason = error instanceof Error ? error.message : String(error);
          const kind = error instanceof ChatRequestError ? error.kind : RequestErrorKind.server;
          if (error instanceof SignedOutError) {
            // Nobody to send as: it waits, queued, until reconnect() after a new sign-in.
            outbox.update(clientMessageId, { status: OutboxStatus.queued, error: reason });
            break;
          }
          const giveUp = kind === RequestErrorKind.rejected || (kind === RequestErrorKind.server && attempts >= limits.maxSendAttempts);
          if (giveUp) {
            outbox.update(clientMessageId, { status: OutboxStatus.failed, error: reason });
            sendWaiters.get(clientMessageId)?.reject(error);
            sendWaiters.delete(clientMessageId);
            continue;
          }
          // Transient: the same message (same clientMessageId) goes again, after a pause; the
          // ones behind it wait, so the order they were written in is kept.
          outbox.update(clientMessageId, { status: OutboxStatus.queued, error: reason });
          const waitMs =
            error instanceof ChatRequestError && error.retryAfterMs !== null
              ? error.retryAfterMs + random() * backoff.baseMs
              : backoffDelay(failures, backoff, random);
          failures += 1;
          await pause(waitMs);
        }
      }
    } finally {
      pumping = false;
    }
  };

  // --- reads ---
  const wantedRead = new Map<string, { seq: number; waiters: (() => void)[] }>();
  const readsInFlight = new Set<string>();
  const flushRead = async (groupId: string, attempt2 = 0): Promise<void> => {
    if (readsInFlight.has(groupId) || disposed) return;
    readsInFlight.add(groupId);
    let retryIn: number | null = null;
    try {
      for (let wanted = wantedRead.get(groupId); wanted !== undefined && !disposed; wanted = wantedRead.get(groupId)) {
        const { seq } = wanted;
        const data = await request(ChatMarkReadMutation, { input: { groupId, seq } });
        const entry = groups.get(groupId);
        if (entry !== undefined) entry.lastReadSeq = Math.max(entry.lastReadSeq, data.markGroupRead.group.lastReadSeq);
        const current = wantedRead.get(groupId);
        if (current !== undefined && current.seq <= seq) {
          wantedRead.delete(groupId);
          for (const waiter of current.waiters) waiter();
        }
        publishGroups();
      }
    } catch (error) {
      if (error instanceof ChatRequestError && error.kind === RequestErrorKind.rejected) {
        const current = wantedRead.get(groupId);
        wantedRead.delete(groupId);
        for (const waiter of current?.waiters ?? []) waiter();
        report(error);
      } else if (!(error instanceof ChatClientDisposedError)) {
        retryIn = backoffDelay(attempt2, backoff, random);
      }
    } finally {
      readsInFlight.delete(groupId);
    }
    if (retryIn !== null) later(() => void flushRead(groupId, attempt2 + 1), retryIn);
  };

  // --- the public object ---
  const client: ChatClient = {
    connection,
    viewer,
    groups: groupsStore,
    outbox: outboxStore,
    messages: (groupId) => messageStoreFor(groupId),

    send(groupId, body) {
      if (disposed) return Promise.reject(new ChatClientDisposedError());
      if (body.trim() === '') return Promise.reject(new ChatRequestError('A message needs some text.', RequestErrorKind.rejected, 'BAD_USER_INPUT'));
      let item: OutboxItem;
      try {
        item = outbox.add(groupId, body, newClientMessageId(), new Date());
      } catch (error) {
        return Promise.reject(error);
      }
      const sent = new Promise<ChatMessage>((resolve, reject) => sendWaiters.set(item.clientMessageId, { resolve, reject }));
      kickOutbox();
      return sent;
    },

    retry(clientMessageId) {
      const item = outbox.get(clientMessageId);
      if (item === null || item.status !== OutboxStatus.failed) return;
      outbox.update(clientMessageId, { status: OutboxStatus.queued, attempts: 0, error: null });
      kickOutbox();
    },

    discard(clientMessageId) {
      const item = outbox.get(clientMessageId);
      if (item === null || item.status === OutboxStatus.sending) return;
      outbox.remove(clientMessageId);
      sendWaiters.get(clientMessageId)?.reject(new Error('The message was discarded.'));
      sendWaiters.delete(clientMessageId);
    },

    loadOlder(groupId) {
      const running = loadingOlder.get(groupId);
      if (running !== undefined) return running;
      const timeline = timelines.get(groupId);
      if (timeline !== undefined && timeline.head !== null && !timeline.canLoadOlder) return Promise.resolve();
      const load = (async () => {
        try {
          const before = timelines.get(groupId)?.oldestCursor ?? null;
          const data = await request(ChatOlderMessagesQuery, { groupId, last: limits.pageSize, before });
          if (data.group === null) {
            forgetGroup(groupId);
            publishGroups();
            return;
          }
          const result = timelineFor(groupId, null).addOlder(data.group.messages.nodes);
          applyAppended(groupId, result.appended);
        } finally {
          loadingOlder.delete(groupId);
          publishMessages(groupId);
        }
      })();
      loadingOlder.set(groupId, load);
      publishMessages(groupId);
      return load;
    },

    markGroupRead(groupId, seq) {
      const entry = groups.get(groupId);
      const target = Math.min(seq ?? timelines.get(groupId)?.head ?? 0, entry?.lastSeq ?? 0);
      if (entry === undefined || target <= entry.lastReadSeq) return Promise.resolve();
      // Shown at once; the server is told in the background, one request per group at a time.
      entry.lastReadSeq = target;
      publishGroups();
      return new Promise<void>((resolve) => {
        const wanted = wantedRead.get(groupId);
        wantedRead.set(groupId, { seq: Math.max(target, wanted?.seq ?? 0), waiters: [...(wanted?.waiters ?? []), resolve] });
        void flushRead(groupId);
      });
    },

    async createGroup(name, memberIds = []) {
      const data = await request(ChatCreateGroupMutation, { input: { name, memberIds: [...memberIds] } });
      describeGroup(data.createGroup.group);
      publishGroups();
      return toGroup(groups.get(data.createGroup.group.id) as GroupEntry);
    },

    async addMembers(groupId, userIds) {
      const data = await request(ChatAddMembersMutation, { input: { groupId, userIds: [...userIds] } });
      describeGroup(data.addGroupMembers.group);
      publishGroups();
      return toGroup(groups.get(groupId) as GroupEntry);
    },

    async leaveGroup(groupId) {
      const me = viewerId ?? viewer.getSnapshot()?.id;
      if (me === undefined || me === null) throw new ChatRequestError('Not signed in yet.', RequestErrorKind.auth, null);
      await request(ChatLeaveGroupMutation, { input: { groupId, userId: me } });
      forgetGroup(groupId);
      publishGroups();
    },

    refreshGroups: () => loadGroups({ all: true }),

    request,

    reconnect() {
      if (disposed || session !== null || connecting !== null) return;
      authFailures = 0;
      attempt = 0;
      void connect();
      kickOutbox();
    },

    dispose() {
      if (disposed) return;
      disposed = true;
      clearTimeout(reconnectTimer);
      clearInterval(refreshTimer);
      for (const timer of timers) clearTimeout(timer);
      const current = session;
      session = null;
      if (current !== null) {
        current.ended = true;
        clearTimeout(current.pongTimer);
        clearTimeout(current.healthyTimer);
        Promise.resolve(current.ws.dispose()).catch(() => {});
      }
      wake?.();
      for (const waiter of sendWaiters.values()) waiter.reject(new ChatClientDisposedError());
      sendWaiters.clear();
      setConnection({ status: ConnectionStatus.disposed, retryAt: null, connectedAt: null });
    },
  };

  if (options.connect !== false) void connect();
  return client;
}
