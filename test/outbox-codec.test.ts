/**
 * The one JSON form of an outbox event, used by the embedded store's outbox column, the MongoDB
 * outbox document and Redis pub/sub: round trips through JSON, and refuses what it did not write.
 */
import { describe, expect, it } from 'vitest';
import { outboxEventFromJson, outboxEventToJson } from '../src/storage/outbox-codec.ts';
import type { OutboxEvent } from '../src/storage/port.ts';

const message = {
  id: 'm1',
  groupId: 'g1',
  seq: 7,
  senderId: 'u1',
  body: 'héllo 👋',
  clientMessageId: 'c1',
  createdAt: new Date('2025-01-01T00:00:42.123Z'),
};
const events: OutboxEvent[] = [
  { type: 'message', message },
  { type: 'membersAdded', groupId: 'g1', userIds: ['a', 'b'], seq: 0 },
  { type: 'memberRemoved', groupId: 'g1', userId: 'a', seq: 3 },
];
const viaJson = (event: OutboxEvent): unknown => JSON.parse(JSON.stringify(outboxEventToJson(event)));

describe('outbox event codec', () => {
  it('round-trips every event type through JSON, the date as epoch ms', () => {
    for (const event of events) expect(outboxEventFromJson(viaJson(event))).toEqual(event);
    expect(outboxEventToJson({ type: 'message', message })).toMatchObject({ message: { createdAt: message.createdAt.getTime() } });
  });

  it('reads what the embedded store wrote before the codec (same form)', () => {
    const stored = '{"type":"message","message":{"id":"m1","groupId":"g1","seq":7,"senderId":"u1","body":"héllo 👋","clientMessageId":"c1","createdAt":1735689642123}}';
    expect(outboxEventFromJson(JSON.parse(stored))).toEqual({ type: 'message', message });
  });

  it('keeps only the event fields and copies arrays', () => {
    const userIds = ['a'];
    const json = outboxEventToJson({ type: 'membersAdded', groupId: 'g1', userIds, seq: 1, extra: true } as OutboxEvent);
    expect(Object.keys(json).sort()).toEqual(['groupId', 'seq', 'type', 'userIds']);
    expect(json.type === 'membersAdded' && json.userIds).not.toBe(userIds);
  });

  it('refuses shapes it did not write, with a TypeError', () => {
    const bad: unknown[] = [
      null,
      [],
      'message',
      { type: 'groupRenamed', groupId: 'g1' },
      { type: 'message' },
      { type: 'message', message: { ...(viaJson(events[0]!) as { message: object }).message, createdAt: '2025-01-01' } },
      { type: 'message', message: { ...(viaJson(events[0]!) as { message: object }).message, seq: '7' } },
      { type: 'membersAdded', groupId: 'g1', userIds: 'a', seq: 0 },
      { type: 'membersAdded', groupId: 'g1', userIds: ['a', 1], seq: 0 },
      { type: 'memberRemoved', groupId: 'g1', userId: 'a', seq: -1 },
      { type: 'memberRemoved', groupId: 'g1', userId: 'a', seq: 1.5 },
      { type: 'memberRemoved', groupId: 7, userId: 'a', seq: 1 },
    ];
    for (const json of bad) expect(() => outboxEventFromJson(json), JSON.stringify(json)).toThrow(TypeError);
  });
});
