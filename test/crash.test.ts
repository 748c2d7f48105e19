/**
 * Durability of the embedded default: a server process killed with SIGKILL right after
 * mutations return keeps every acknowledged message, and after restart the relay resumes
 * from its checkpoint so subscribers replay and receive everything.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../src/auth/jwt.ts';
import { graphql } from './gql/index.ts';
import { startProcess } from './support/process.ts';
import { collect, ok, wsClient } from './support/server.ts';
import { disposeAll, onDispose } from './support/dispose.ts';

afterAll(disposeAll);

const CreateGroup = graphql(`
  mutation CrashCreateGroup($name: String!, $memberIds: [ID!]) {
    createGroup(input: { name: $name, memberIds: $memberIds }) { group { id } }
  }
`);
const Send = graphql(`
  mutation CrashSend($groupId: ID!, $body: String!, $clientMessageId: String!) {
    sendGroupMessage(input: { groupId: $groupId, body: $body, clientMessageId: $clientMessageId }) {
      created
      message { id seq body }
    }
  }
`);
const History = graphql(`
  query CrashHistory($groupId: ID!) {
    group(id: $groupId) { lastSeq }
    messages(groupId: $groupId, first: 100) { edges { node { id seq body } } }
  }
`);
const Replay = graphql(`
  subscription CrashReplay($groupId: ID!) {
    messageAdded(groupId: $groupId, since: [{ groupId: $groupId, seq: 0 }]) { seq body }
  }
`);


describe('kill -9 of the embedded default', () => {
  it('keeps every acknowledged message and relays it after restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'chat-crash-'));
    onDispose(() => rm(dataDir, { recursive: true, force: true }));
    const secret = randomBytes(32).toString('base64url');
    // No SQLITE_SYNCHRONOUS: the process runs with the shipped default.
    const env = { DATA_DIR: dataDir, JWT_SECRET: secret };
    const tokens = createTokenVerifier(secret);
    const alice = await tokens.sign({ id: 'alice' });
    const bob = await tokens.sign({ id: 'bob' });

    const first = await startProcess(env);
    const created = await ok(first.url, alice, CreateGroup, {
      name: 'durable',
      memberIds: ['bob'],
    });
    const groupId = created.createGroup.group.id;
    // Concurrent senders, then the kill as soon as the last acknowledgement arrives.
    const acknowledged = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        ok(first.url, alice, Send, { groupId, body: `m${i}`, clientMessageId: `c${i}` }),
      ),
    );
    const last = await ok(first.url, alice, Send, { groupId, body: 'last', clientMessageId: 'last' });
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    const second = await startProcess(env);
    const history = await ok(second.url, bob, History, { groupId });
    const stored = new Map(history.messages.edges.map((edge) => [edge.node.id, edge.node]));
    for (const { sendGroupMessage } of [...acknowledged, last]) {
      expect(stored.get(sendGroupMessage.message.id)).toEqual(sendGroupMessage.message);
    }
    expect(history.group?.lastSeq).toBe(21);
    expect(history.messages.edges.map((edge) => edge.node.seq)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));

    // A retry of an acknowledged send after the crash is recognised, not stored twice.
    const retry = await ok(second.url, alice, Send, { groupId, body: 'last', clientMessageId: 'last' });
    expect(retry.sendGroupMessage).toEqual({ created: false, message: last.sendGroupMessage.message });

    // Delivery works after the restart: replay from 0, then live.
    const subscription = collect(wsClient(second, bob), Replay, { groupId });
    await subscription.until((results) => results.length >= 21);
    await ok(second.url, alice, Send, { groupId, body: 'after restart', clientMessageId: 'after' });
    await subscription.until((results) => results.length >= 22);
    expect(subscription.results.map((result) => result.data?.messageAdded.seq)).toEqual(
      Array.from({ length: 22 }, (_, i) => i + 1),
    );
  }, 60_000);
});
