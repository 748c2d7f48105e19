/**
 * Every code snippet of the README's "Build a client" section runs here, as a user would run
 * it, against a real server: the codegen config and command generate typed documents from the
 * live schema, the 20-line client runs under Node, the React component renders, and all of it
 * type-checks under the repository's strict settings. A snippet added to the section without
 * a run here fails the first test. The Quick start's GraphQL block runs here too, line by line, as
 * a user pastes it into GraphiQL; its shell lines (`npm start`, `npm run token`) run in
 * test/config.test.ts, the benchmark's in test/bench-fanout.test.ts, the refresh snippet in
 * test/sessions.test.ts, and the compose file the deployment section runs is read in
 * test/deploy.test.ts.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, ok, startServer, wsClient, type TestServer } from './support/server.ts';
import { waitFor } from './support/wait.ts';
import { disposeAll, onDispose } from './support/dispose.ts';

afterAll(disposeAll);

const root = join(import.meta.dirname, '..');

interface Snippet {
  readonly lang: string;
  readonly code: string;
}

/** The fenced code blocks of the README section that starts with `heading`. */
function snippetsOf(heading: string): Snippet[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README.md has no section ${heading}`);
  const end = readme.indexOf('\n## ', start + heading.length + 2);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((match) => ({ lang: match[1] as string, code: match[2] as string }));
}

/** Replaces `from` in a snippet, insisting it is there exactly once (so README edits fail loudly). */
function replaceOnce(code: string, from: string, to: string): string {
  expect(code.split(from)).toHaveLength(2);
  return code.replace(from, to);
}

function run(command: string, args: readonly string[], cwd: string, env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const [codegenConfig, codegenCommand, chatScript, reactComponent] = snippetsOf('## Build a client');

describe('README: Build a client', () => {
  let server: TestServer;
  let project: string;
  let alice: string;

  beforeAll(async () => {
    server = await startServer();
    alice = await server.token('alice');
    // Inside the repository, so `groupchat/client` resolves as the package's own export.
    project = await mkdtemp(join(root, '.readme-'));
    onDispose(() => rm(project, { recursive: true, force: true }));
    await mkdir(join(project, 'src'));
  });

  it('has exactly the snippets this file runs', () => {
    expect(snippetsOf('## Build a client').map((s) => [s.lang, s.code.split('\n')[0]])).toEqual([
      ['ts', '// codegen.ts'],
      ['sh', 'npx graphql-codegen --config codegen.ts'],
      ['ts', '// src/chat.ts'],
      ['tsx', '// src/Conversation.tsx'],
    ]);
  });

  it('generates typed documents with the codegen config and command, from the running server', async () => {
    const config = replaceOnce(codegenConfig?.code as string, "'http://localhost:4000/graphql'", JSON.stringify(server.url));
    await writeFile(join(project, 'codegen.ts'), config);
    await writeFile(join(project, 'src', 'chat.ts'), chatScript?.code as string);
    const [command, ...args] = (codegenCommand?.code as string).trim().split(/\s+/);
    const result = await run(command as string, args, project);
    expect(result.code, result.stderr + result.stdout).toBe(0);
    const generated = await readFile(join(project, 'src', 'gql', 'graphql.ts'), 'utf8');
    expect(generated).toContain('export const MembersDocument = new TypedDocumentString(');
    expect(generated).toMatch(/export type MembersQuery = \{ group: \{ members: \{ nodes: Array<\{ id: string \}> \} \} \| null \};/);
  }, 120_000);

  it('runs the 20-line client under Node: creates, sends, pages, marks read and queries, typed', async () => {
    // The snippet's two stand-ins for the app's own sign-in, defined before it runs.
    const prelude = 'const savedToken = process.env["README_TOKEN"] as string;\nconst signInAgain = async () => savedToken;\n';
    const script = replaceOnce(chatScript?.code as string, "'http://localhost:4000/graphql'", JSON.stringify(server.url));
    // Let the last updates reach the listeners, then stop; the process must exit by itself.
    const postlude = '\nawait new Promise((resolve) => setTimeout(resolve, 300));\nchat.dispose();\n';
    await writeFile(join(project, 'src', 'chat.ts'), prelude + script + postlude);
    const result = await run(process.execPath, ['--import', 'tsx', 'src/chat.ts'], project, { README_TOKEN: alice });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('general: 0 unread');
    expect(result.stdout).toContain("[ '1 hello' ]");
    expect(result.stdout).toContain("[ { id: 'alice' }, { id: 'bob' } ]");
    // Stored once, as the server sees it.
    const groups = await ok<{ groups: { nodes: { id: string; name: string; lastSeq: number }[] } }, unknown>(
      server.url,
      alice,
      'query ReadmeGroups { groups(first: 10) { nodes { id name lastSeq } } }',
    );
    expect(groups.groups.nodes.map((g) => [g.name, g.lastSeq])).toEqual([['general', 1]]);
  }, 120_000);

  it('renders the React component with the kit’s hooks', async () => {
    await writeFile(join(project, 'src', 'Conversation.tsx'), reactComponent?.code as string);
    const groups = await ok<{ groups: { nodes: { id: string }[] } }, unknown>(server.url, alice, 'query ReadmeGroupIds { groups(first: 1) { nodes { id } } }');
    const groupId = groups.groups.nodes[0]?.id as string;
    await writeFile(
      join(project, 'src', 'render.tsx'),
      `import { renderToString } from 'react-dom/server';
import WebSocket from 'ws';
import { createChatClient } from 'groupchat/client';
import { ChatProvider } from 'groupchat/client/react';
import { Conversation } from './Conversation.tsx';

const chat = createChatClient({ url: ${JSON.stringify(server.url)}, token: () => ${JSON.stringify(alice)}, webSocketImpl: WebSocket, connect: false });
await chat.refreshGroups();
await chat.loadOlder(${JSON.stringify(groupId)});
console.log(renderToString(<ChatProvider client={chat}><Conversation groupId={${JSON.stringify(groupId)}} /></ChatProvider>));
chat.dispose();
`,
    );
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        extends: '../tsconfig.json',
        compilerOptions: { jsx: 'react-jsx', lib: ['ES2023', 'DOM'] },
        include: ['src', 'codegen.ts'],
      }),
    );
    const result = await run(process.execPath, ['--import', 'tsx', 'src/render.tsx'], project);
    expect(result.code, result.stderr).toBe(0);
    const html = result.stdout.replaceAll('<!-- -->', '');
    expect(html).toContain('<p>alice: hello</p>');
    expect(html).toContain('Say hi');
  }, 120_000);

  it('type-checks every snippet under the repository’s strict settings', async () => {
    const result = await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', 'tsconfig.json'], project);
    expect(result.code, result.stdout + result.stderr).toBe(0);
  }, 120_000);
});

describe('README: Quick start', () => {
  it('runs the GraphQL block as written: create, send, the subscription receives, the list counts', async () => {
    const [block] = snippetsOf('## Quick start').filter((snippet) => snippet.lang === 'graphql');
    const [create, send, subscription, list] = (block?.code ?? '').trim().split('\n');
    expect([create, send, subscription, list].map((line) => line?.split(' ')[0])).toEqual(['mutation', 'mutation', 'subscription', 'query']);
    const server = await startServer();
    const alice = await server.token('alice', 'Alice');
    const bob = await server.token('bob');
    const created = await ok<{ createGroup: { group: { id: string } } }, Record<string, never>>(server.url, alice, create as string);
    const groupId = created.createGroup.group.id;
    const live = collect(wsClient(server, bob), subscription as string);
    let sent = 0;
    await waitFor('the subscription to receive the message', async () => {
      // The subscription opens asynchronously: send (with a new clientMessageId) until it arrives.
      sent += 1;
      const text = replaceOnce(send as string, '"g_…"', JSON.stringify(groupId)).replace('clientMessageId: "1"', `clientMessageId: "${sent}"`);
      await ok(server.url, alice, text);
      return live.results.length > 0;
    });
    expect(live.results[0]?.data).toMatchObject({ messageAdded: { body: 'hello', sender: { id: 'alice', name: 'Alice' }, group: { name: 'general' } } });
    const groups = await ok<{ groups: { edges: { node: { name: string; unreadCount: number; lastMessage: { body: string } } }[] } }, Record<string, never>>(
      server.url,
      bob,
      list as string,
    );
    expect(groups.groups.edges[0]?.node).toEqual({ name: 'general', unreadCount: sent, lastMessage: { body: 'hello' } });
  });
});
