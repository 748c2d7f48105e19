/**
 * What reaches a gateway twice: the relay and the stores promise that repeats come as one
 * contiguous run of a group's events in commit order (a relay restarted from its checkpoint,
 * MongoDB's collection read after a lost resume point, the overlap between that read and its
 * change stream), never as one stale event on its own (fencing rules that out). This checks
 * the gateway side of that promise: such a run, replayed after the originals, delivers no
 * message twice and does not let a removed member follow the group again.
 *
 * Real embedded store, in-process pub/sub and presence; the test publishes on the node's
 * channel itself, as a relay would, so it decides what repeats.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway } from '../src/delivery/gateway.ts';
import { nodeChannel, type DeliveryEvent } from '../src/delivery/ports.ts';
import { createMemoryPresence } from '../src/delivery/presence/memory.ts';
import { createMemoryPubSub } from '../src/delivery/pubsub/memory.ts';
import type { LiveSubscription } from '../src/delivery/subscription.ts';
import type { MessageRecord, OutboxEvent } from '../src/storage/port.ts';
import { createSqliteStore } from '../src/storage/sqlite/store.ts';
import { disposeAll, onDispose } from './support/dispose.ts';
import { waitFor } from './support/wait.ts';

afterEach(disposeAll);

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'chat-replay-'));
  const store = createSqliteStore({ dataDir: dir, synchronous: 'NORMAL' });
  const pubsub = createMemoryPubSub();
  const presence = createMemoryPresence();
  const nodeId = `node-${randomUUID().slice(0, 8)}`;
  const errors: unknown[] = [];
  const gateway = createGateway({
    nodeId,
    store,
    pubsub,
    presence: presence.forNode(nodeId),
    queueLength: 100,
    replayPageSize: 50,
    onError: (error) => errors.push(error),
  });
  await gateway.start();
  onDispose(async () => {
    await gateway.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
    expect(errors).toEqual([]);
  });
  /** Every outbox event committed so far, oldest first (the embedded store keeps them all here). */
  const outbox = async (): Promise<OutboxEvent[]> => {
    const controller = new AbortController();
    const events: OutboxEvent[] = [];
    const total = await store.outbox.backlog(null);
    for await (const batch of store.outbox.follow(null, controller.signal)) {
      events.push(...batch.map((record) => record.event));
      if (events.length >= total) break;
    }
    controller.abort();
    return events;
  };
  const publish = async (events: readonly DeliveryEvent[]): Promise<void> => {
    for (const event of events) await pubsub.publish(nodeChannel(nodeId), event, { fence: 1 });
  };
  let counter = 0;
  const commit = async (groupId: string, senderId: string): Promise<MessageRecord> => {
    counter += 1;
    const outcome = await store.appendMessage({
      id: `m-${randomUUID()}`,
      groupId,
      senderId,
      body: `body ${counter}`,
      clientMessageId: `c-${counter}`,
      now: new Date(),
    });
    if (!outcome.ok) throw new Error(outcome.reason);
    return outcome.message;
  };
  return { store, presence, nodeId, gateway, outbox, publish, commit };
}

/** Collects what a subscription yields, as `groupId:seq`. */
function drain(subscription: LiveSubscription): string[] {
  const seen: string[] = [];
  void (async () => {
    for await (const item of subscription) if (!(item instanceof Error)) seen.push(`${item.groupId}:${item.seq}`);
  })();
  return seen;
}

describe('a contiguous replay of a group\'s events reaching a gateway again', () => {
  it('delivers each message once', async () => {
    const { store, gateway, outbox, publish, commit } = await setup();
    const g = `g-${randomUUID()}`;
    await store.createGroup({ id: g, name: 'g', ownerId: 'alice', memberIds: ['carol'], now: new Date() });
    const carol = drain(await gateway.open({ userId: 'carol', groupId: null, since: new Map() }));
    const already = (await outbox()).length;
    for (let i = 0; i < 3; i += 1) await commit(g, 'alice');
    const originals = (await outbox()).slice(already);
    await publish(originals);
    await waitFor('carol to have seqs 1..3', () => carol.length === 3);
    // The relay restarted from an older checkpoint: the run again, then what is new.
    await publish(originals);
    const next = await commit(g, 'alice');
    await publish([{ type: 'message', message: next }]);
    await waitFor('carol to have seq 4', () => carol.includes(`${g}:4`));
    expect(carol).toEqual([`${g}:1`, `${g}:2`, `${g}:3`, `${g}:4`]);
  });

  it('leaves a removed member removed: the replayed join comes with the removal behind it', async () => {
    const { store, gateway, outbox, publish, commit } = await setup();
    const g = `g-${randomUUID()}`;
    const other = `h-${randomUUID()}`;
    await store.createGroup({ id: g, name: 'g', ownerId: 'alice', memberIds: ['carol'], now: new Date() });
    await store.createGroup({ id: other, name: 'h', ownerId: 'alice', memberIds: ['bob'], now: new Date() });
    const bob = drain(await gateway.open({ userId: 'bob', groupId: null, since: new Map() }));
    await commit(g, 'alice');
    await commit(g, 'alice');
    // Bob joins at seq 2 and is removed again before anything else is sent to g.
    const already = (await outbox()).length;
    await store.addMembers(g, ['bob'], { now: new Date(), maxMembers: 10 });
    await store.removeMember(g, 'bob');
    const run = (await outbox()).slice(already);
    expect(run.map((event) => event.type)).toEqual(['membersAdded', 'memberRemoved']);
    const barrier = async (n: number): Promise<void> => {
      const message = await commit(other, 'alice');
      await publish([{ type: 'message', message }]);
      await waitFor(`bob to have seq ${n} of the other group`, () => bob.includes(`${other}:${n}`));
      // The follow a join starts reads the store asynchronously: give it turns to finish.
      await new Promise((resolve) => setTimeout(resolve, 100));
    };
    await publish(run);
    await barrier(1);
    // The same run again (the relay restarted, or a fallback read's overlap), then a message.
    await publish(run);
    await barrier(2);
    const after = await commit(g, 'alice');
    await publish([{ type: 'message', message: after }]);
    await barrier(3);
    // Had the join come alone, bob would follow g again from seq 2 and receive seq 3.
    expect(bob).toEqual([`${other}:1`, `${other}:2`, `${other}:3`]);
  });
});
