/**
 * A test-owned Redis Sentinel deployment: one primary (`redis-server` on a free port) and one
 * sentinel (`redis-server <conf> --sentinel`, quorum 1) monitoring it as `mymaster`, each in a
 * temporary directory, killed and removed by `disposeAll`. Ready once the sentinel names the
 * primary.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './redis.ts';
import { onDispose } from './dispose.ts';
import { waitFor } from './wait.ts';

export interface TestSentinel {
  readonly name: string;
  readonly sentinels: readonly { readonly host: string; readonly port: number }[];
  /** A client straight to the primary, for the test's own inspection. */
  readonly primary: Redis;
}

function start(args: readonly string[], dir: string): { child: ChildProcess; output: () => string } {
  const child = spawn('redis-server', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  onDispose(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, output: () => output };
}

export async function startRedisSentinel({ name = 'mymaster' } = {}): Promise<TestSentinel> {
  const dir = await mkdtemp(join(tmpdir(), 'chat-sentinel-'));
  onDispose(() => rm(dir, { recursive: true, force: true }));
  const primaryPort = await freePort();
  let sentinelPort = await freePort();
  while (sentinelPort === primaryPort) sentinelPort = await freePort();
  start(['--port', String(primaryPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], dir);
  // Sentinel rewrites its configuration file, so it gets one of its own.
  const conf = join(dir, 'sentinel.conf');
  await writeFile(
    conf,
    [`port ${sentinelPort}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 1`, ''].join('\n'),
  );
  const sentinel = start([conf, '--sentinel'], dir);
  const probe = new Redis({ port: sentinelPort, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  probe.on('error', () => {});
  onDispose(() => probe.disconnect());
  await waitFor(`the sentinel on ${sentinelPort} to name the primary`, async () => {
    if (sentinel.child.exitCode !== null) throw new Error(`sentinel exited: ${sentinel.output()}`);
    if (probe.status === 'wait') await probe.connect();
    const address = (await probe.call('SENTINEL', 'get-master-addr-by-name', name)) as [string, string] | null;
    return address !== null && Number(address[1]) === primaryPort;
  });
  const primary = new Redis({ port: primaryPort, host: '127.0.0.1' });
  primary.on('error', () => {});
  onDispose(() => primary.disconnect());
  return { name, sentinels: [{ host: '127.0.0.1', port: sentinelPort }], primary };
}
