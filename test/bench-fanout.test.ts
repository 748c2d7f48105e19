/**
 * The fan-out benchmark harness (`npm run bench:fanout`), run for real in a tiny
 * configuration: the platform in its multi-node layout (relay + 2 gateways on a bench-owned
 * Redis) and the raw-ws peer, 40 subscribers in groups of 10, one short step. It checks the
 * shape of the JSON it writes and that every message reached every member. The latency bound
 * is set out of reach so that a loaded machine cannot turn the step into an early abort: no
 * assertion here depends on timing. The README's commands are parsed with the harness's own
 * option parser, and the tiny run goes through the same npm script.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { bodyFor, messageIndexOf } from '../bench/fanout/loadgen.ts';
import { connectWebSocket } from '../bench/fanout/wsclient.ts';
import { parseOptions, UsageError } from '../bench/fanout/options.ts';
import type { FanoutResults } from '../bench/fanout/report.ts';

const root = join(import.meta.dirname, '..');
const cleanup: string[] = [];
afterAll(async () => {
  for (const dir of cleanup) await rm(dir, { recursive: true, force: true });
});

/** Environment variables the README's benchmark commands set. */
const environment = new Set<string>();

/** The `npm run bench:fanout` command lines of the README's "Fan-out benchmark" section. */
async function readmeCommands(): Promise<string[][]> {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((part) => part.startsWith('Fan-out benchmark'));
  if (section === undefined) throw new Error('README has no "Fan-out benchmark" section');
  // A command may start with environment assignments (VAR=value or VAR="a b"), which the harness reads.
  const assignments = /^(?:[A-Z_]+=(?:"[^"]*"|\S+)\s+)*/;
  const lines = section.split('\n').filter((line) => line.replace(assignments, '').startsWith('npm run bench:fanout'));
  for (const line of lines) {
    for (const [, name] of (assignments.exec(line)?.[0] ?? '').matchAll(/([A-Z_]+)=/g)) environment.add(name as string);
  }
  return lines.map((line) => {
    const words = line.replace(assignments, '').replace(/#.*$/, '').trim().split(/\s+/);
    const dashes = words.indexOf('--');
    return dashes < 0 ? [] : words.slice(dashes + 1);
  });
}

describe('fan-out benchmark options', () => {
  it('accepts every command the README shows', async () => {
    const commands = await readmeCommands();
    expect(commands.length).toBeGreaterThanOrEqual(3);
    for (const args of commands) expect(() => parseOptions(args)).not.toThrow();
    expect(parseOptions(commands[0] as string[]).quick).toBe(true);
    // Every variable a command sets is one the harness reads.
    const sources = (await Promise.all(['fanout.ts', 'fanout/systems.ts', 'fanout/processes.ts'].map((file) => readFile(join(root, 'bench', file), 'utf8')))).join('\n');
    for (const name of environment) expect(sources).toContain(`'${name}'`);
    expect([...environment].sort()).toEqual(['BENCH_STOP_GRACE_MS', 'PLATFORM_CMD']);
  });

  it('rejects what would make a run meaningless', () => {
    expect(() => parseOptions(['--connections', '1005', '--members', '10'])).toThrow(UsageError);
    expect(() => parseOptions(['--members', '1'])).toThrow(UsageError);
    expect(() => parseOptions(['--systems', 'platform,nope'])).toThrow(/unknown system "nope"/);
    expect(() => parseOptions(['--rates', '2000,1000'])).toThrow(/increase/);
    expect(() => parseOptions(['--max-generator-cpu', '1.5'])).toThrow(UsageError);
    expect(() => parseOptions(['--body-length', '23'])).toThrow(UsageError);
    expect(parseOptions(['--body-length', '24']).bodyLength).toBe(24);
  });

  it('--quick picks the quick sweep, explicit flags still win', () => {
    const quick = parseOptions(['--quick']);
    expect(quick).toMatchObject({ connections: [10_000], members: [10], name: 'fanout-quick' });
    expect(parseOptions(['--quick', '--connections', '1000']).connections).toEqual([1000]);
    expect(parseOptions([])).toMatchObject({ connections: [1000, 10_000], members: [10, 100], name: 'fanout' });
  });
});

describe('the body marker', () => {
  it('is found in any protocol frame without parsing it', () => {
    const body = bodyFor(123_456, 64);
    expect(body).toHaveLength(64);
    const frames = [
      `{"id":"s","type":"next","payload":{"data":{"messageAdded":{"id":"m1","groupId":"g1","seq":7,"body":"${body}","sender":{"id":"u1"}}}}}`,
      `42["message",{"id":"n:1","groupId":"g1","seq":1,"body":"${body}","sender":{"id":"u1"}}]`,
    ];
    for (const frame of frames) expect(messageIndexOf(Buffer.from(frame))).toBe(123_456);
    expect(messageIndexOf(Buffer.from('{"type":"connection_ack"}'))).toBe(-1);
    expect(messageIndexOf(Buffer.from('{"body":"bench#x"}'))).toBe(-1);
  });
});

describe("the generator's WebSocket client", () => {
  it('speaks RFC 6455 with a ws server: lengths, fragments, masking, ping, close code', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (protocols) => [...protocols][0] ?? false });
    await new Promise((resolve) => server.once('listening', resolve));
    const port = (server.address() as AddressInfo).port;
    const long = 'x'.repeat(70_000); // a 64-bit length on the wire
    const medium = 'm'.repeat(300); // a 16-bit length
    const serverSide = new Promise<{ socket: WebSocket; protocol: string; received: string[]; pong: Promise<string> }>((resolve) => {
      server.once('connection', (socket) => {
        const received: string[] = [];
        socket.on('message', (data: Buffer) => received.push(data.toString()));
        const pong = new Promise<string>((done) => socket.once('pong', (data: Buffer) => done(data.toString())));
        resolve({ socket, protocol: socket.protocol, received, pong });
      });
    });
    const messages: string[] = [];
    let opened = false;
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      const client = connectWebSocket(`ws://127.0.0.1:${port}/path?x=1`, 'graphql-transport-ws', {
        onOpen: () => {
          opened = true;
          client.send(medium);
          client.send(long);
        },
        onMessage: (data) => messages.push(data.toString()),
        onClose: (code, reason) => resolve({ code, reason }),
      });
    });
    const { socket, protocol, received, pong } = await serverSide;
    expect(protocol).toBe('graphql-transport-ws');
    socket.send('short');
    socket.send(medium);
    socket.send(long);
    socket.send('frag', { fin: false });
    socket.send('ment', { fin: true });
    socket.ping('are you there');
    expect(await pong).toBe('are you there');
    while (received.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(received).toEqual([medium, long]);
    socket.close(4403, 'Forbidden');
    expect(await closed).toEqual({ code: 4403, reason: 'Forbidden' });
    expect(opened).toBe(true);
    expect(messages).toEqual(['short', medium, long, 'fragment']);
    server.close();
  });
});

describe('npm run bench:fanout, tiny configuration', () => {
  it('runs the platform and the raw-ws peer and loses nothing', { timeout: 180_000 }, async () => {
    const out = await mkdtemp(join(tmpdir(), 'bench-fanout-test-'));
    cleanup.push(out);
    const args = [
      '--systems', 'platform,raw-ws',
      '--connections', '40',
      '--members', '10',
      '--rates', '200',
      '--step-seconds', '1',
      '--warmup-seconds', '0',
      '--refine', '0',
      // Out of reach: this test checks delivery, not speed.
      '--p99-bound-ms', '60000',
      '--max-send-lag-ms', '60000',
      '--out', out,
      '--name', 'tiny',
    ];
    const child = spawn('npm', ['run', '--silent', 'bench:fanout', '--', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, output).toBe(0);

    const results = JSON.parse(await readFile(join(out, 'tiny.json'), 'utf8')) as FanoutResults;
    expect(results).toMatchObject({ benchmark: 'fanout', version: 1, method: { p99BoundMs: 60_000, rates: [200] } });
    expect(results.command).toContain('npm run bench:fanout -- --systems platform,raw-ws');
    expect(results.machine.line).toContain(`Node ${process.version}`);
    expect(results.machine.redis).toMatch(/^\d+\.\d+/);
    expect(results.runs.map((run) => run.system)).toEqual(['platform', 'raw-ws']);
    for (const run of results.runs) {
      expect(run.error, `${run.system}: ${run.error}`).toBeNull();
      expect(run).toMatchObject({ connections: 40, members: 10, groups: 4 });
      expect(run.idleRss?.perConnectionKiB).toEqual(expect.any(Number));
      const processes = run.system === 'platform' ? ['gateway-a', 'gateway-b', 'redis', 'relay'] : ['raw-ws-a', 'raw-ws-b', 'redis'];
      expect(Object.keys(run.idleServerCores ?? {}).sort()).toEqual(processes);
      expect(run.steps.length).toBeGreaterThanOrEqual(1);
      for (const step of run.steps) {
        // 200 deliveries/s = 20 sends/s for 1 s, each to all 10 members.
        expect(step).toMatchObject({ targetDeliveriesPerSecond: 200, messagesPlanned: 20, messagesSent: 20, expectedDeliveries: 200 });
        expect(step.abortedEarly).toBe(false);
        expect(step.delivered).toBe(200);
        expect(step.lost).toBe(0);
        expect(step.missingAfterGrace).toBe(0);
        expect(step.duplicates).toBe(0);
        expect(step.misrouted).toBe(0);
        expect(step.sendErrors).toBe(0);
        expect(step.latencyMs.p99).toBeGreaterThan(0);
        expect(step.cpuSecondsPer1000Deliveries).toEqual(expect.any(Number));
        expect(Object.keys(step.serverCpuSeconds).sort()).toEqual(processes);
      }
    }
    const platform = results.runs[0];
    expect(platform?.settings['LIMIT_SEND_RATE_PER_SECOND']).toContain('raised by the benchmark');

    const markdown = await readFile(join(out, 'tiny.md'), 'utf8');
    expect(markdown).toContain('## C = 40 connections, groups of M = 10');
    expect(markdown).toContain('| | raw ws + ioredis | this platform |');
    const svg = await readFile(join(out, 'tiny.svg'), 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('this platform');
  });
});
