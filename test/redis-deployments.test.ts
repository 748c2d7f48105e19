/**
 * The app on each kind of Redis deployment it accepts besides a single server (covered by
 * multinode.test.ts) and Redis Cluster (multinode-cluster.test.ts): a primary found through
 * Redis Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_NAME). One process, real Sentinel, a
 * message sent and received over the Redis adapters.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { seqRange, seqsIn, untilSeq, type SeqMessage } from './support/redis.ts';
import { disposeAll } from './support/dispose.ts';
import { waitFor } from './support/wait.ts';
import { startRedisSentinel } from './support/redis-sentinel.ts';
import { collect, ok, startServer, wsClient } from './support/server.ts';

afterAll(disposeAll);

const CREATE_GROUP = 'mutation ($input: CreateGroupInput!) { createGroup(input: $input) { group { id } } }';
const SEND = 'mutation ($input: SendGroupMessageInput!) { sendGroupMessage(input: $input) { message { seq } } }';
const MESSAGE_ADDED = 'subscription ($groupId: ID) { messageAdded(groupId: $groupId) { groupId seq } }';

describe('Redis Sentinel', () => {
  it('finds the primary through the sentinels and delivers through it', async () => {
    const sentinel = await startRedisSentinel();
    const prefix = `sentinel:${randomUUID().slice(0, 8)}:`;
    const server = await startServer({
      settings: {
        redis: { mode: 'sentinel', sentinels: sentinel.sentinels, name: sentinel.name, password: null, sentinelPassword: null },
        redisKeyPrefix: prefix,
      },
    });
    const [alice, bob] = await Promise.all([server.token('alice'), server.token('bob')]);
    const created = await ok<{ createGroup: { group: { id: string } } }, Record<string, unknown>>(server.url, alice, CREATE_GROUP, {
      input: { name: 'sentinel', memberIds: ['bob'] },
    });
    const groupId = created.createGroup.group.id;
    const subscriber = collect<{ readonly messageAdded: SeqMessage }, Record<string, unknown>>(wsClient(server, bob), MESSAGE_ADDED, { groupId });
    // The gateway registered its interest in the primary the sentinel named.
    await waitFor('presence on the primary', async () => (await sentinel.primary.exists(`${prefix}presence:group:${groupId}`)) === 1);
    for (let i = 0; i < 3; i += 1) {
      await ok(server.url, alice, SEND, { input: { groupId, body: `hi ${i}`, clientMessageId: `c${i}` } });
    }
    await untilSeq(subscriber, groupId, 3, { who: 'bob' });
    expect(seqsIn(subscriber.results, groupId)).toEqual(seqRange(1, 3));
    expect(await sentinel.primary.exists(`${prefix}{relay}:fence`)).toBe(1);
    expect((await fetch(`http://127.0.0.1:${server.port}/ready`)).status).toBe(200);
  });
});
