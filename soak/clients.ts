/**
 * The soak's users. Most are client-kit users (`client/index.ts`): one stream without
 * `groupId` that follows membership, reconnects with `since`, dedupes by (groupId, seq), repairs
 * gaps, and sends through its outbox (a clientMessageId per message, retried until stored). The
 * app around the kit pages each group's history back to seq 1, as a chat screen scrolled to the
 * top would, so that what the kit holds can be compared with the whole history.
 *
 * The others subscribe with `groupId` and are written the way the README tells a hand-written
 * graphql-ws client to be: resubscribe with `since` after every close, drop seqs already held,
 * fetch a gap with `messages(afterSeq:)` before going on, notice a dead link by its missing pong,
 * and retry a send with the same clientMessageId until the server answers.
 */
import { createClient, type Client as WsClient } from 'graphql-ws';
import { createChatClient, ConnectionStatus, OutboxStatus, type ChatClient, type ChatMessage, type TypedDocument } from '../client/index.ts';
import { ChatRequestError, errorFromGraphQL, postGraphQL, RequestErrorKind, type GraphQLErrorLike } from '../client/http.ts';
import type { StreamObserver } from './observe.ts';

/** A typed document from a query string (the kit sends a document's text as it is). */
export const doc = <TResult, TVariables>(query: string): TypedDocument<TResult, TVariables> =>
  ({ toString: () => query }) as TypedDocument<TResult, TVariables>;

/** Everything the soak reads about a message. */
export interface SeenMessage {
  readonly groupId: string;
  readonly seq: number;
  readonly clientMessageId: string;
  readonly senderId: string;
  readonly createdAt: number;
}

/** What one user's client ended up holding of one group. */
export class GroupRecord {
  /** Every seq the client showed (appended to its consecutive window), over its whole life. */
  readonly seen = new Set<number>();
  /** Highest seq shown. */
  maxSeen = 0;
  /** A window that was not ascending and consecutive, or a seq shown twice in one window. */
  orderViolations = 0;

  /** Takes the client's current window of the group (ascending, consecutive by the kit's promise). */
  observeWindow(seqs: readonly number[]): void {
    for (let i = 1; i < seqs.length; i += 1) {
      if ((seqs[i] as number) !== (seqs[i - 1] as number) + 1) {
        this.orderViolations += 1;
        break;
      }
    }
    for (const seq of seqs) this.add(seq);
  }

  add(seq: number): void {
    if (this.seen.has(seq)) return;
    this.seen.add(seq);
    if (seq > this.maxSeen) this.maxSeen = seq;
  }
}

export interface SendOutcome {
  readonly userId: string;
  readonly groupId: string;
  readonly clientMessageId: string;
  readonly seq: number;
  readonly sentAt: number;
  readonly ackedAt: number;
}

export interface SoakUser {
  readonly id: string;
  readonly kind: 'kit' | 'fixed';
  readonly url: string;
  readonly records: Map<string, GroupRecord>;
  record(groupId: string): GroupRecord;
  /** Queues a message; resolves when the server stored it, rejects when it was refused for good. */
  send(groupId: string, body: string): Promise<SendOutcome>;
  /** Sends are queued or under way. */
  pendingSends(): number;
  /** The live stream is up. */
  connected(): boolean;
  /** Highest seq held of a group with nothing missing before it. */
  head(groupId: string): number;
  /** History paged back to seq 1 (or nothing to page). */
  historyComplete(groupId: string): boolean;
  dispose(): void;
}

const SendMutation = `mutation SoakSend($input: SendGroupMessageInput!) {
  sendGroupMessage(input: $input) { created message { seq groupId clientMessageId createdAt sender { id } } }
}`;

interface SendAnswer {
  readonly sendGroupMessage: {
    readonly created: boolean;
    readonly message: { readonly seq: number; readonly groupId: string; readonly clientMessageId: string; readonly createdAt: string };
  };
}

/** One POST with the user's token; ChatRequestError (network, server, rejected, …) on failure. */
export async function request<T>(url: string, token: string, query: string, variables: unknown, timeoutMs = 5000): Promise<T> {
  const response = await postGraphQL<T>({ fetch: globalThis.fetch, url, token, query, variables, timeoutMs });
  if (response.errors !== undefined && response.errors.length > 0) throw errorFromGraphQL(response.errors as GraphQLErrorLike[]);
  if (response.data == null) throw new ChatRequestError('No data.', RequestErrorKind.server, null);
  return response.data;
}

/** Sends the same clientMessageId again (a client whose answer was lost); answers what the server said. */
export async function resend(
  url: string,
  token: string,
  groupId: string,
  body: string,
  clientMessageId: string,
): Promise<{ created: boolean; seq: number }> {
  const data = await request<SendAnswer>(url, token, SendMutation, { input: { groupId, body, clientMessageId } });
  return { created: data.sendGroupMessage.created, seq: data.sendGroupMessage.message.seq };
}

export interface KitUserOptions {
  readonly id: string;
  readonly url: string;
  readonly token: string;
  readonly observer: StreamObserver;
  readonly random: () => number;
  readonly onError?: (error: unknown) => void;
}

/** A client-kit user with the app around it: history paged to the start, every window recorded. */
export function createKitUser({ id, url, token, observer, random, onError = () => {} }: KitUserOptions): SoakUser & { readonly chat: ChatClient } {
  const chat = createChatClient({
    url,
    token: () => token,
    webSocketImpl: observer.webSocketFor(id),
    // Holds every message of every group (the soak compares whole histories), and keeps the
    // soak's recovery inside its fault windows: shorter backoff cap and keep-alive than the
    // defaults (30 s, 10 s).
    limits: { maxMessagesPerGroup: 1_000_000, maxAheadPerGroup: 100_000 },
    backoff: { baseMs: 250, capMs: 4000 },
    keepAliveMs: 4000,
    pongTimeoutMs: 3000,
    connectTimeoutMs: 8000,
    requestTimeoutMs: 5000,
    groupsRefreshMs: 15_000,
    random,
    onError,
  });
  const records = new Map<string, GroupRecord>();
  const watched = new Set<string>();
  const retryOlderAt = new Map<string, number>();
  let disposed = false;

  const record = (groupId: string): GroupRecord => {
    let found = records.get(groupId);
    if (found === undefined) {
      found = new GroupRecord();
      records.set(groupId, found);
    }
    return found;
  };

  const loadOlder = (groupId: string): void => {
    const waitUntil = retryOlderAt.get(groupId) ?? 0;
    if (disposed || Date.now() < waitUntil) return;
    chat.loadOlder(groupId).catch(() => {
      // Offline or the gateway is down: try again a little later, not in a tight loop.
      retryOlderAt.set(groupId, Date.now() + 1000);
      setTimeout(() => check(groupId), 1100).unref();
    });
  };

  const check = (groupId: string): void => {
    if (disposed) return;
    const snapshot = chat.messages(groupId).getSnapshot();
    if (snapshot.messages.length > 0) record(groupId).observeWindow(snapshot.messages.map((m) => m.seq));
    if (snapshot.canLoadOlder && !snapshot.loadingOlder) loadOlder(groupId);
  };

  const watch = (groupId: string): void => {
    if (watched.has(groupId)) return;
    watched.add(groupId);
    chat.messages(groupId).subscribe(() => check(groupId));
    check(groupId);
  };
  chat.groups.subscribe(() => {
    for (const group of chat.groups.getSnapshot().groups) watch(group.id);
  });

  return {
    id,
    kind: 'kit',
    url,
    chat,
    records,
    record: (groupId) => {
      watch(groupId);
      return record(groupId);
    },
    async send(groupId, body) {
      watch(groupId);
      const sentAt = Date.now();
      const message: ChatMessage = await chat.send(groupId, body);
      return { userId: id, groupId, clientMessageId: message.clientMessageId, seq: message.seq, sentAt, ackedAt: Date.now() };
    },
    pendingSends: () =>
      chat.outbox.getSnapshot().filter((item) => item.status === OutboxStatus.queued || item.status === OutboxStatus.sending).length,
    connected: () => chat.connection.getSnapshot().status === ConnectionStatus.connected,
    head: (groupId) => chat.messages(groupId).getSnapshot().messages.at(-1)?.seq ?? 0,
    historyComplete: (groupId) => {
      const snapshot = chat.messages(groupId).getSnapshot();
      return !snapshot.hasOlder;
    },
    dispose() {
      disposed = true;
      chat.dispose();
    },
  };
}

const SubscribeFixed = `subscription SoakFixed($groupId: ID!, $since: [GroupSeqInput!]) {
  messageAdded(groupId: $groupId, since: $since) { groupId seq clientMessageId createdAt sender { id } }
}`;
const MessagesAfter = `query SoakAfter($groupId: ID!, $afterSeq: Int!) {
  messages(groupId: $groupId, afterSeq: $afterSeq, first: 100) { nodes { groupId seq clientMessageId createdAt sender { id } } }
}`;

interface WireMessage {
  readonly groupId: string;
  readonly seq: number;
}

export interface FixedUserOptions extends Omit<KitUserOptions, 'random'> {
  readonly groupId: string;
  readonly random: () => number;
}

/**
 * A user with one `messageAdded(groupId:)` stream, written as the README's pattern made correct.
 * It follows one group it never leaves.
 */
export function createFixedUser({ id, url, token, observer, groupId, random, onError = () => {} }: FixedUserOptions): SoakUser {
  const wsUrl = url.replace(/^http/, 'ws');
  const records = new Map<string, GroupRecord>([[groupId, new GroupRecord()]]);
  const rec = records.get(groupId) as GroupRecord;
  let last = 0;
  const ahead = new Map<number, WireMessage>();
  let repairing = false;
  let disposed = false;
  let live = false;
  let client: WsClient | null = null;
  let pending = 0;
  let attempt = 0;

  const accept = (message: WireMessage): void => {
    if (message.seq <= last) return; // a duplicate: dropped by seq
    ahead.set(message.seq, message);
    for (let next = ahead.get(last + 1); next !== undefined; next = ahead.get(last + 1)) {
      ahead.delete(next.seq);
      last = next.seq;
      rec.add(next.seq);
    }
    if (ahead.size > 0) void repair();
  };

  const repair = async (): Promise<void> => {
    if (repairing || disposed) return;
    repairing = true;
    try {
      while (ahead.size > 0 && !disposed) {
        const data = await request<{ messages: { nodes: WireMessage[] } }>(url, token, MessagesAfter, { groupId, afterSeq: last });
        if (data.messages.nodes.length === 0) break;
        repairing = false;
        for (const message of data.messages.nodes) accept(message);
        repairing = true;
      }
    } catch (error) {
      onError(error);
      setTimeout(() => {
        repairing = false;
        void repair();
      }, 1000).unref();
      return;
    }
    repairing = false;
  };

  const connect = (): void => {
    if (disposed) return;
    let pongTimer: NodeJS.Timeout | undefined;
    const ws = createClient({
      url: wsUrl,
      webSocketImpl: observer.webSocketFor(id),
      lazy: true,
      retryAttempts: 0,
      keepAlive: 4000,
      connectionParams: { authorization: `Bearer ${token}` },
      on: {
        connected: () => {
          live = true;
          setTimeout(() => {
            if (live) attempt = 0;
          }, 5000).unref();
        },
        closed: () => {
          live = false;
          clearTimeout(pongTimer);
        },
        ping: (received) => {
          if (received) return;
          clearTimeout(pongTimer);
          pongTimer = setTimeout(() => ws.terminate(), 3000);
        },
        pong: (received) => {
          if (received) clearTimeout(pongTimer);
        },
      },
    });
    client = ws;
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      live = false;
      clearTimeout(pongTimer);
      void Promise.resolve(ws.dispose()).catch(() => {});
      if (disposed) return;
      // Always resume after the last seq held, with a jittered, capped backoff.
      const delay = Math.min(4000, 250 * 2 ** attempt) * (0.5 + random() / 2);
      attempt = Math.min(attempt + 1, 10);
      setTimeout(connect, delay).unref();
    };
    ws.subscribe<{ messageAdded: WireMessage }>(
      { query: SubscribeFixed, variables: { groupId, since: [{ groupId, seq: last }] } },
      {
        next: (result) => {
          const message = result.data?.messageAdded;
          if (message != null) accept(message);
        },
        error: end,
        complete: end,
      },
    );
  };
  connect();

  return {
    id,
    kind: 'fixed',
    url,
    records,
    record: (g) => {
      if (g !== groupId) throw new Error(`${id} follows ${groupId} only`);
      return rec;
    },
    async send(g, body) {
      const clientMessageId = `${id}-${Date.now().toString(36)}-${Math.floor(random() * 1e9).toString(36)}`;
      const sentAt = Date.now();
      pending += 1;
      try {
        for (let tries = 0; ; tries += 1) {
          if (disposed) throw new Error('disposed');
          try {
            const answer = await resend(url, token, g, body, clientMessageId);
            accept({ groupId: g, seq: answer.seq });
            return { userId: id, groupId: g, clientMessageId, seq: answer.seq, sentAt, ackedAt: Date.now() };
          } catch (error) {
            if (error instanceof ChatRequestError && error.kind === RequestErrorKind.rejected) throw error;
            // Timed out, gateway down, or an unexplained failure: the same clientMessageId again.
            const wait =
              error instanceof ChatRequestError && error.retryAfterMs !== null ? error.retryAfterMs : Math.min(4000, 250 * 2 ** Math.min(tries, 4));
            await new Promise((resolve) => setTimeout(resolve, wait * (0.5 + random() / 2)));
          }
        }
      } finally {
        pending -= 1;
      }
    },
    pendingSends: () => pending,
    connected: () => live,
    head: () => last,
    historyComplete: () => true,
    dispose() {
      disposed = true;
      if (client !== null) void Promise.resolve(client.dispose()).catch(() => {});
    },
  };
}
