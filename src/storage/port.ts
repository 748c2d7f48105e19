/**
 * The storage port. Domain code (resolvers, relay, gateway) talks to storage only through
 * these interfaces; the embedded adapter (better-sqlite3) and the MongoDB adapter implement
 * them, and `test/store.contract.test.ts` runs the same suite against each.
 *
 * Conventions every adapter keeps:
 * - Times are `Date`s, ids are strings chosen by the domain (the adapter never invents ids
 *   except where a method says so).
 * - Sequence numbers are per group: 1, 2, 3, ... in commit order, without gaps.
 * - Methods that write are atomic: either everything they describe happened, or nothing.
 */

export interface UserRecord {
  readonly id: string;
  readonly name: string | null;
}

export interface GroupRecord {
  readonly id: string;
  readonly name: string;
  readonly ownerId: string;
  readonly memberCount: number;
  /** Seq of the newest message; 0 while the group has none. */
  readonly lastSeq: number;
  readonly createdAt: Date;
  /** Time of the newest message, or `createdAt` while there is none. Orders `groups`. */
  readonly lastActivityAt: Date;
}

export interface MembershipRecord {
  readonly groupId: string;
  readonly userId: string;
  /** The member's read position; never moves back. */
  readonly lastReadSeq: number;
  /** The group's lastSeq when the member joined. */
  readonly joinedSeq: number;
  readonly joinedAt: Date;
}

export interface MessageRecord {
  readonly id: string;
  readonly groupId: string;
  readonly seq: number;
  readonly senderId: string;
  readonly body: string;
  readonly clientMessageId: string;
  readonly createdAt: Date;
}

/** A group of the user's, with the user's own read position, as listed by `groups`. */
export interface UserGroupRecord {
  readonly group: GroupRecord;
  readonly membership: MembershipRecord;
}

/**
 * What the relay publishes. Appended to the outbox in the same transaction as the change it
 * describes, so the relay sees exactly the committed changes, each group's in commit order.
 * The JSON form is `outbox-codec.ts`.
 */
export type OutboxEvent =
  | { readonly type: 'message'; readonly message: MessageRecord }
  | {
      readonly type: 'membersAdded';
      readonly groupId: string;
      readonly userIds: readonly string[];
      /** The group's lastSeq when they joined: live delivery to them starts after it. */
      readonly seq: number;
    }
  | {
      readonly type: 'memberRemoved';
      readonly groupId: string;
      readonly userId: string;
      readonly seq: number;
    };

export interface OutboxRecord {
  /**
   * Where this record sits in the outbox, as an opaque string the adapter can resume after
   * (`OutboxFeed.follow(after)`): following from it yields what this follower had not yet
   * yielded (see `follow` for when some records may come again).
   */
  readonly position: string;
  readonly event: OutboxEvent;
}

/**
 * An outbox record the adapter could not decode (a "poison" record: a hand-edited row, a writer
 * of another version, corruption). It is never relayed; `OutboxFeed.quarantine` moves it aside.
 */
export interface PoisonRecord {
  /** The adapter's identity of the stored record, for `quarantine`. */
  readonly id: string;
  /** Why it could not be decoded. */
  readonly reason: string;
  /** The start of its stored form, for logs (`outbox-codec.ts` poisonRecord). */
  readonly excerpt: string;
}

export interface FollowOptions {
  /**
   * Told about each record that fails to decode; that record is not yielded. The follower waits
   * for the returned promise before reading on, and fails with its error when it rejects.
   * @default none: the follower fails with the decode error (a TypeError)
   */
  readonly onPoison?: ((poison: PoisonRecord) => Promise<void>) | undefined;
}

/** A keyset page request over an ordered list. */
export interface PageRequest {
  /** At most this many items. */
  readonly limit: number;
  /** Opaque key of the item to start after (exclusive), as returned in `PageItem.key`. */
  readonly after?: string | undefined;
}

export interface PageItem<T> {
  readonly key: string;
  readonly node: T;
}

export interface Page<T> {
  readonly items: readonly PageItem<T>[];
  /** Whether items exist past the last one returned. */
  readonly hasMore: boolean;
}

export interface NewGroup {
  readonly id: string;
  readonly name: string;
  readonly ownerId: string;
  /** Members besides the owner; duplicates and the owner are ignored. */
  readonly memberIds: readonly string[];
  readonly now: Date;
}

export interface NewMessage {
  /** Id for the message if it is created; unused when the clientMessageId was seen. */
  readonly id: string;
  readonly groupId: string;
  readonly senderId: string;
  readonly body: string;
  readonly clientMessageId: string;
  readonly now: Date;
}

export interface AppendResult {
  readonly message: MessageRecord;
  /** False when (groupId, senderId, clientMessageId) existed: the original is returned. */
  readonly created: boolean;
}

export type AppendOutcome =
  | ({ readonly ok: true } & AppendResult)
  | { readonly ok: false; readonly reason: 'GROUP_NOT_FOUND' | 'NOT_A_MEMBER' };

export type MembershipChangeOutcome =
  | { readonly ok: true; readonly group: GroupRecord; readonly changed: readonly string[] }
  | { readonly ok: false; readonly reason: 'GROUP_NOT_FOUND' | 'TOO_MANY_MEMBERS' };

/** A range of one group's messages, by seq. */
export interface MessageRange {
  readonly groupId: string;
  /** Only seq > afterSeq. */
  readonly afterSeq: number;
  /** Only seq < beforeSeq; unbounded when omitted. */
  readonly beforeSeq?: number | undefined;
  readonly limit: number;
  /** 'asc' returns the oldest of the range first; 'desc' the newest of the range first. */
  readonly order: 'asc' | 'desc';
}

export interface Store {
  // --- users -------------------------------------------------------------------------
  /** Creates the user or updates the name (a null name leaves a known name unchanged). */
  upsertUser(user: UserRecord): Promise<void>;
  getUsers(ids: readonly string[]): Promise<UserRecord[]>;

  // --- groups and membership ------------------------------------------------------------
  /**
   * Creates the group with the owner and members, in one transaction, and appends one
   * `membersAdded` outbox event naming everyone (owner included) with seq 0. Users that
   * do not exist yet are created with a null name.
   */
  createGroup(group: NewGroup): Promise<GroupRecord>;
  getGroup(id: string): Promise<GroupRecord | null>;
  /** The groups with these ids that exist, in any order. */
  getGroups(ids: readonly string[]): Promise<GroupRecord[]>;
  getMembership(groupId: string, userId: string): Promise<MembershipRecord | null>;
  /**
   * Adds the users who are not members yet (lastReadSeq = joinedSeq = the group's lastSeq),
   * creating unknown users, and appends one `membersAdded` event naming only the new ones
   * (none when nobody was new). Fails with TOO_MANY_MEMBERS, changing nothing, when the
   * group would exceed `maxMembers`.
   */
  addMembers(
    groupId: string,
    userIds: readonly string[],
    options: { readonly now: Date; readonly maxMembers: number },
  ): Promise<MembershipChangeOutcome>;
  /**
   * Removes the membership if it exists and appends a `memberRemoved` event; `changed` is
   * `[userId]` or empty when the user was not a member. The owner stays the owner.
   */
  removeMember(groupId: string, userId: string): Promise<MembershipChangeOutcome>;
  /** Members ordered by user id. Keys are user ids. */
  listMembers(groupId: string, page: PageRequest): Promise<Page<UserRecord>>;
  /** The user's groups, most recently active first (lastActivityAt desc, id desc). */
  listUserGroups(userId: string, page: PageRequest): Promise<Page<UserGroupRecord>>;
  /** Every group the user is a member of, with lastSeq (subscriptions start from these). */
  listAllUserGroups(userId: string): Promise<GroupRecord[]>;

  // --- messages -------------------------------------------------------------------------
  /**
   * In ONE transaction: checks the group exists and the sender is a member; returns the
   * original when (groupId, senderId, clientMessageId) exists; otherwise takes the group's
   * next seq, stores the message, appends a `message` outbox event, sets the sender's
   * lastReadSeq to the new seq and the group's lastActivityAt to `now`.
   * Resolves only after the commit is durable.
   */
  appendMessage(message: NewMessage): Promise<AppendOutcome>;
  getMessage(id: string): Promise<MessageRecord | null>;
  /** The newest message of each of these groups that has one. */
  getLastMessages(groupIds: readonly string[]): Promise<MessageRecord[]>;
  listMessages(range: MessageRange): Promise<MessageRecord[]>;
  /**
   * Moves lastReadSeq forward to `seq` (never back); returns the resulting membership, or
   * null when the user is not a member.
   */
  markRead(groupId: string, userId: string, seq: number): Promise<MembershipRecord | null>;

  // --- outbox and relay -----------------------------------------------------------------
  readonly outbox: OutboxFeed;
  /**
   * Durable named checkpoints (the relay's position in the outbox), fenced: each carries the
   * highest fencing token that claimed it, and a writer with a lower token is refused, so a
   * relay that lost its lease (paused, partitioned) can never move the checkpoint of the relay
   * that replaced it. Fences are positive safe integers (InvalidFenceError otherwise).
   */
  getCheckpoint(name: string): Promise<Checkpoint | null>;
  /**
   * Claims the checkpoint for the holder of `fence`: when `fence` is at least the stored fence
   * (or none is stored) it becomes the stored fence and the checkpoint is returned; otherwise
   * nothing changes and the result is null (a newer holder has claimed it).
   */
  claimCheckpoint(name: string, fence: number): Promise<Checkpoint | null>;
  /**
   * Writes `position` when `fence` is at least the stored fence (storing `fence`); resolves
   * false, writing nothing, when a higher fence holds the checkpoint.
   */
  setCheckpoint(name: string, position: string, fence: number): Promise<boolean>;

  /** Cheap round trip for readiness probes; rejects when the store is unreachable. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A fenced checkpoint (see `Store.getCheckpoint`). */
export interface Checkpoint {
  /** Null while claimed but not written yet. */
  readonly position: string | null;
  /** The highest fencing token that claimed or wrote it. */
  readonly fence: number;
}

export interface OutboxFeed {
  /**
   * Committed outbox records after `after` (from the oldest kept when null), until `signal`
   * aborts, at least once each. The iterator waits for new commits rather than ending. It
   * yields arrays so that a relay can publish and checkpoint in batches.
   *
   * Order: each group's records come in that group's commit order, always. Across groups the
   * embedded adapter keeps commit order too; the MongoDB adapter keeps it while following its
   * change stream, but when it reads the collection instead (starting from null, or after its
   * resume point left the oplog) it yields the records group by group. After such a loss it
   * re-reads a window that starts safely before `after`, so records up to `after` may come again
   * (each group's as one contiguous run in commit order); consumers drop them by identity
   * (gateways by message seq). See `mongo/outbox.ts`.
   */
  follow(after: string | null, signal: AbortSignal, options?: FollowOptions): AsyncIterable<readonly OutboxRecord[]>;
  /**
   * Moves a poison record out of the outbox into the store's dead-letter place (the embedded
   * adapter's `outbox_poison` table, MongoDB's `outbox_poison` collection), kept there as it was
   * stored, with the reason and the time, for someone to inspect; nothing relays it. Idempotent:
   * a record already moved (or gone) is left as it is.
   */
  quarantine(poison: PoisonRecord): Promise<void>;
  /**
   * Tells the store that every record up to and including `position` has been published, so
   * it may drop them (the embedded adapter deletes them; MongoDB relies on a TTL index).
   */
  acknowledge(position: string): Promise<void>;
  /** How many committed records lie after `position` (all kept records when null): relay lag. */
  backlog(after: string | null): Promise<number>;
}

/**
 * A signal between processes that share one embedded store: "the outbox has new commits". The
 * store raises it after each commit that appended to the outbox and wakes its followers when
 * another process raises it. Losing a signal costs latency only: followers still poll.
 */
export interface CommitSignal {
  notify(): void;
  /** Returns a function that removes the listener. */
  onNotified(listener: () => void): () => void;
}
