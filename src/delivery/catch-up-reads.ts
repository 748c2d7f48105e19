/**
 * The store reads of a node's catch-ups, shared. A reconnect storm (a gateway restarted, every
 * client resubscribing with `since`) asks for one page per subscription and group, each after a
 * slightly different seq; read one by one, that is one store query per subscriber, and on the
 * embedded store each runs on the event loop before any socket is served again.
 *
 * Pages asked for during one turn of the event loop are read together after it, one read per
 * group and span: asks within `pageSize` seqs of each other share a read of at most twice that
 * many messages, and each gets its own page cut from it. A group has one read in flight at a
 * time; asks that arrive meanwhile wait for the next. A shared read starts after every ask it
 * answers, so it is never staler than a read of the ask's own would have been.
 *
 * Pages are handed out at most `pagesPerTurn` per turn of the event loop. Each page handed out
 * runs its subscriber's replay (frames written to its socket) before the loop moves on; 10,000
 * of them in one turn kept a gateway from answering anything else, its own health check
 * included, for seconds.
 */
import type { MessageRecord, Store } from '../storage/port.ts';

export interface CatchUpReaderOptions {
  readonly store: Pick<Store, 'listMessages'>;
  /** Most messages in one page. */
  readonly pageSize: number;
  /** Called for each page asked for. @default does nothing */
  readonly onPage?: () => void;
  /** Called for each store read made. @default does nothing */
  readonly onRead?: () => void;
  /** Most pages handed out in one turn of the event loop; the rest wait for the next turns. @default 100 */
  readonly pagesPerTurn?: number;
}

export interface CatchUpReader {
  /** Up to `pageSize` messages of the group with seq > `afterSeq`, in seq order. */
  read(groupId: string, afterSeq: number): Promise<MessageRecord[]>;
}

interface Ask {
  readonly afterSeq: number;
  readonly resolve: (page: MessageRecord[]) => void;
  readonly reject: (error: unknown) => void;
}

/** The index of the first message with seq > `seq` (messages in seq order). */
function firstAfter(messages: readonly MessageRecord[], seq: number): number {
  let low = 0;
  let high = messages.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((messages[middle] as MessageRecord).seq <= seq) low = middle + 1;
    else high = middle;
  }
  return low;
}

export function createCatchUpReader({
  store,
  pageSize,
  onPage = () => {},
  onRead = () => {},
  pagesPerTurn = 100,
}: CatchUpReaderOptions): CatchUpReader {
  /** Asks per group waiting for that group's next read. */
  const waiting = new Map<string, Ask[]>();
  const reading = new Set<string>();
  let scheduled = false;
  /** Pages read and not yet handed out, in the order their reads finished, from `head` on. */
  let ready: { readonly ask: Ask; readonly page: MessageRecord[] }[] = [];
  let head = 0;
  let handing = false;

  function handOut(): void {
    // An index, not slices: a storm's 20,000 pages were copied again on each of 200 turns.
    const end = Math.min(head + pagesPerTurn, ready.length);
    for (; head < end; head += 1) {
      const { ask, page } = ready[head] as (typeof ready)[number];
      ask.resolve(page);
    }
    if (head < ready.length) {
      setImmediate(handOut);
      return;
    }
    ready = [];
    head = 0;
    handing = false;
  }

  function deliver(ask: Ask, page: MessageRecord[]): void {
    ready.push({ ask, page });
    if (handing) return;
    handing = true;
    setImmediate(handOut);
  }

  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    // After the I/O of this turn: every ask that arrived with it shares the reads.
    setImmediate(flush);
  };

  function flush(): void {
    scheduled = false;
    for (const [groupId, asks] of waiting) {
      if (reading.has(groupId)) continue;
      waiting.delete(groupId);
      void readGroup(groupId, asks);
    }
  }

  async function readGroup(groupId: string, asks: Ask[]): Promise<void> {
    reading.add(groupId);
    asks.sort((a, b) => a.afterSeq - b.afterSeq);
    let next = 0;
    try {
      while (next < asks.length) {
        // One span: every ask within pageSize seqs of the first; one read covers all their pages.
        const from = (asks[next] as Ask).afterSeq;
        let end = next;
        while (end < asks.length && (asks[end] as Ask).afterSeq <= from + pageSize) end += 1;
        const to = (asks[end - 1] as Ask).afterSeq;
        onRead();
        const messages = await store.listMessages({ groupId, afterSeq: from, limit: to - from + pageSize, order: 'asc' });
        for (; next < end; next += 1) {
          const ask = asks[next] as Ask;
          // Seqs have no gaps: the read holds (from, to + pageSize] (less at the group's head), so
          // each ask's page is a slice of it.
          const start = firstAfter(messages, ask.afterSeq);
          deliver(ask, messages.slice(start, start + pageSize));
        }
      }
    } catch (error) {
      for (; next < asks.length; next += 1) (asks[next] as Ask).reject(error);
    } finally {
      reading.delete(groupId);
      if (waiting.has(groupId)) schedule();
    }
  }

  return {
    read(groupId, afterSeq) {
      onPage();
      return new Promise((resolve, reject) => {
        const asks = waiting.get(groupId);
        if (asks === undefined) waiting.set(groupId, [{ afterSeq, resolve, reject }]);
        else asks.push({ afterSeq, resolve, reject });
        schedule();
      });
    },
  };
}
