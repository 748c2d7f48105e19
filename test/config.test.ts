/**
 * Configuration, secrets and the token command: named limits from the environment, the
 * production refusal without JWT_SECRET, the dev secret kept in DATA_DIR, and the rate limiter
 * at its edges.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createTokenVerifier, InvalidTokenError, resolveSecret } from '../src/auth/jwt.ts';
import { ConfigError, defaultLimits, limitEnvName, loadConfig } from '../src/config.ts';
import { createRateLimiter } from '../src/resolvers/rate-limit.ts';
import { startProcess } from './support/process.ts';
import { ok } from './support/server.ts';
import { disposeAll, onDispose } from './support/dispose.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

afterAll(disposeAll);

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'chat-config-'));
  onDispose(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ role: 'all', port: 4000, dataDir: './data', production: false, jwtSecret: null, outboxPollMs: 250 });
    expect(config.limits).toEqual(defaultLimits);
    expect(config.limits.maxBodyLength).toBe(4000);
    expect(config.limits.maxClientMessageIdLength).toBe(64);
    expect(config.limits.maxPageSize).toBe(100);
  });

  it('reads every limit from its named variable and rejects values that are not positive integers', () => {
    expect(limitEnvName('maxBodyLength')).toBe('LIMIT_MAX_BODY_LENGTH');
    for (const key of Object.keys(defaultLimits) as (keyof typeof defaultLimits)[]) {
      expect(loadConfig({ [limitEnvName(key)]: '7' }).limits[key]).toBe(7);
      expect(() => loadConfig({ [limitEnvName(key)]: '0' })).toThrow(ConfigError);
      expect(() => loadConfig({ [limitEnvName(key)]: '1.5' })).toThrow(ConfigError);
    }
  });

  it('rejects an unknown role, a bad port and a bad SQLITE_SYNCHRONOUS', () => {
    expect(() => loadConfig({ ROLE: 'worker' })).toThrow(ConfigError);
    expect(() => loadConfig({ PORT: '70000' })).toThrow(ConfigError);
    expect(() => loadConfig({ SQLITE_SYNCHRONOUS: 'OFF' })).toThrow(ConfigError);
    expect(() => loadConfig({ ROLE: 'gateway' })).toThrow(/needs REDIS_URL/);
    expect(loadConfig({ ROLE: 'relay', REDIS_URL: 'redis://127.0.0.1:6379', PORT: '0', SQLITE_SYNCHRONOUS: 'normal' })).toMatchObject({
      role: 'relay',
      port: 0,
      sqliteSynchronous: 'NORMAL',
    });
  });

  it('reads SQLITE_MAX_BYTES as a positive byte count, no cap when unset', () => {
    expect(loadConfig({}).sqliteMaxBytes).toBeNull();
    expect(loadConfig({ SQLITE_MAX_BYTES: '1048576' }).sqliteMaxBytes).toBe(1_048_576);
    expect(() => loadConfig({ SQLITE_MAX_BYTES: '0' })).toThrow(ConfigError);
    expect(() => loadConfig({ SQLITE_MAX_BYTES: '1.5' })).toThrow(ConfigError);
  });

  it('refuses production without JWT_SECRET, with a message that says what to do', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET is not set/);
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: 's3cret' }).jwtSecret).toBe('s3cret');
  });

  it('reads presence and lease timings and rejects a heartbeat that cannot keep up', () => {
    expect(loadConfig({}).presence).toEqual({ ttlSeconds: 30, heartbeatMs: 10_000 });
    expect(loadConfig({}).lease).toEqual({ ttlMs: 5000, renewMs: 1500 });
    expect(loadConfig({ PRESENCE_TTL_SECONDS: '3', PRESENCE_HEARTBEAT_MS: '1000' }).presence).toEqual({ ttlSeconds: 3, heartbeatMs: 1000 });
    expect(() => loadConfig({ PRESENCE_TTL_SECONDS: '3', PRESENCE_HEARTBEAT_MS: '3000' })).toThrow(ConfigError);
    expect(() => loadConfig({ RELAY_LEASE_TTL_MS: '1000', RELAY_LEASE_RENEW_MS: '1000' })).toThrow(ConfigError);
  });

  it('gives each process a distinct node id unless NODE_ID is set', () => {
    expect(loadConfig({}).nodeId).not.toBe(loadConfig({}).nodeId);
    expect(loadConfig({ NODE_ID: 'gateway-a' }).nodeId).toBe('gateway-a');
  });
});

describe('loadConfig: backends', () => {
  it('reads one Redis deployment: a URL, cluster nodes, or sentinels with the primary name', () => {
    expect(loadConfig({}).redis).toBeNull();
    expect(loadConfig({ REDIS_URL: 'redis://r:6379' }).redis).toEqual({ mode: 'single', url: 'redis://r:6379' });
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'a:7000, b:7001,[::1]:7002', REDIS_PASSWORD: 'pw' }).redis).toEqual({
      mode: 'cluster',
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      password: 'pw',
      refreshMs: 5000,
    });
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_CLUSTER_REFRESH_MS: '1' }).redis).toMatchObject({ refreshMs: 1 });
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_CLUSTER_REFRESH_MS: '0' })).toThrow(ConfigError);
    expect(loadConfig({ REDIS_SENTINELS: 's1:26379,s2:26379', REDIS_SENTINEL_NAME: 'mymaster', REDIS_SENTINEL_PASSWORD: 'spw' }).redis).toEqual({
      mode: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
      ],
      name: 'mymaster',
      password: null,
      sentinelPassword: 'spw',
    });
    // Any of the three serves the multi-process roles.
    expect(loadConfig({ ROLE: 'gateway', REDIS_CLUSTER_NODES: 'a:7000' }).role).toBe('gateway');
    expect(loadConfig({ ROLE: 'relay', REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_NAME: 'm' }).role).toBe('relay');
  });

  it('refuses two deployments at once, unnamed sentinels, bad host:port lists and braces in the key prefix', () => {
    expect(() => loadConfig({ REDIS_URL: 'redis://r', REDIS_CLUSTER_NODES: 'a:7000' })).toThrow(/only one of REDIS_URL, REDIS_CLUSTER_NODES/);
    expect(() => loadConfig({ REDIS_SENTINELS: 's:26379' })).toThrow(/REDIS_SENTINEL_NAME/);
    for (const nodes of [',', 'a', 'a:', 'a:0', 'a:65536', ':7000', 'a:7000:1']) {
      expect(() => loadConfig({ REDIS_CLUSTER_NODES: nodes }), nodes).toThrow(ConfigError);
    }
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'a:65535' }).redis).toMatchObject({ nodes: [{ host: 'a', port: 65535 }] });
    expect(() => loadConfig({ REDIS_KEY_PREFIX: '{chat}:' })).toThrow(/REDIS_KEY_PREFIX/);
    expect(loadConfig({ REDIS_KEY_PREFIX: 'tenant-1:' }).redisKeyPrefix).toBe('tenant-1:');
  });

  it('chooses the MongoDB database: the URI path, else MONGODB_DB, else chat', () => {
    expect(loadConfig({}).mongodbDb).toBe('chat');
    expect(loadConfig({ MONGODB_URI: 'mongodb://m:27017/?replicaSet=rs0' }).mongodbDb).toBe('chat');
    expect(loadConfig({ MONGODB_URI: 'mongodb://m:27017/?replicaSet=rs0', MONGODB_DB: 'prod' }).mongodbDb).toBe('prod');
    expect(loadConfig({ MONGODB_URI: 'mongodb://m:27017/app?replicaSet=rs0' }).mongodbDb).toBe('app');
    expect(() => loadConfig({ MONGODB_URI: 'mongodb://m:27017/app', MONGODB_DB: 'prod' })).toThrow(ConfigError);
    expect(() => loadConfig({ MONGODB_DB: 'a.b' })).toThrow(ConfigError);
  });

  it('reads outbox retention, rescan overlap and the readiness bound, each a positive integer', () => {
    expect(loadConfig({})).toMatchObject({ outboxRetentionSeconds: 604_800, outboxRescanOverlapSeconds: 300, readyTimeoutMs: 2000 });
    expect(loadConfig({ OUTBOX_RETENTION_SECONDS: '86400', OUTBOX_RESCAN_OVERLAP_SECONDS: '600', READY_TIMEOUT_MS: '1' })).toMatchObject({
      outboxRetentionSeconds: 86_400,
      outboxRescanOverlapSeconds: 600,
      readyTimeoutMs: 1,
    });
    for (const name of ['OUTBOX_RETENTION_SECONDS', 'OUTBOX_RESCAN_OVERLAP_SECONDS', 'READY_TIMEOUT_MS']) {
      expect(() => loadConfig({ [name]: '0' }), name).toThrow(ConfigError);
      expect(() => loadConfig({ [name]: '2.5' }), name).toThrow(ConfigError);
    }
  });
});

describe('secrets and tokens', () => {
  it('generates the dev secret once, keeps it in DATA_DIR readable by the owner only', async () => {
    const dataDir = join(await tempDir(), 'nested');
    const secret = resolveSecret({ jwtSecret: null, dataDir });
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(resolveSecret({ jwtSecret: null, dataDir })).toBe(secret);
    expect((await stat(join(dataDir, 'dev-jwt-secret'))).mode & 0o777).toBe(0o600);
    expect(resolveSecret({ jwtSecret: 'given', dataDir })).toBe('given');
  });

  it('verifies sub and name, and rejects expired, foreign and subject-less tokens', async () => {
    const tokens = createTokenVerifier('one secret');
    const token = await tokens.sign({ id: 'auth0|x:1/é', name: 'X' });
    await expect(tokens.verify(token)).resolves.toEqual({ id: 'auth0|x:1/é', name: 'X' });
    await expect(tokens.verify(await tokens.sign({ id: 'u' }, { expiresIn: '-1s' }))).rejects.toThrow(/expired/);
    await expect(createTokenVerifier('another secret').verify(token)).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(tokens.verify('not.a.token')).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it('remembers a verified token only until it expires', async () => {
    let clock = Date.now();
    const tokens = createTokenVerifier('cache secret', { now: () => clock });
    const token = await tokens.sign({ id: 'u' }, { expiresIn: '2s' });
    await expect(tokens.verify(token)).resolves.toEqual({ id: 'u', name: null });
    await expect(tokens.verify(token)).resolves.toEqual({ id: 'u', name: null });
    clock += 3000;
    // jose checks expiry against the real clock, so move past it for real too.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    await expect(tokens.verify(token)).rejects.toThrow(/expired/);
  });

  it('npm run token prints a token the server started on the same DATA_DIR accepts', async () => {
    const dataDir = await tempDir();
    const env = { PATH: process.env['PATH'] ?? '', DATA_DIR: dataDir };
    const { stdout } = await run('npm', ['run', '--silent', 'token', '--', 'alice', 'Alice'], { cwd: root, env });
    const token = stdout.trim();
    const server = await startProcess({ DATA_DIR: dataDir });
    const data = await ok<{ viewer: { id: string; name: string | null } }, Record<string, never>>(
      server.url,
      token,
      'query ConfigViewer { viewer { id name } }',
    );
    expect(data.viewer).toEqual({ id: 'alice', name: 'Alice' });
  }, 60_000);

  it('npm start runs the compiled server: node dist/main.js, no transpiler', async () => {
    const dataDir = await tempDir();
    const child = spawn('npm', ['start'], {
      cwd: root,
      env: { PATH: process.env['PATH'] ?? '', DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    try {
      const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('npm start did not log "started" within 60 s')), 60_000);
        createInterface({ input: child.stdout }).on('line', (line) => {
          if (!line.startsWith('{')) return;
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (parsed['msg'] === 'started') {
            clearTimeout(timer);
            resolve(parsed);
          }
        });
        child.once('exit', (code) => reject(new Error(`npm start exited with ${code}`)));
      });
      // The process that logged is the one serving: its pid's command line says what runs.
      const commandLine = readFileSync(`/proc/${String(started['pid'])}/cmdline`, 'utf8').split('\0').filter(Boolean);
      expect(commandLine.slice(1)).toEqual(['dist/main.js']);
      expect(commandLine.join(' ')).not.toContain('tsx');
      const health = await fetch(`http://127.0.0.1:${String(started['port'])}/health`);
      expect(health.status).toBe(200);
    } finally {
      // npm, its shell and node share the process group started above.
      process.kill(-(child.pid as number), 'SIGTERM');
    }
  }, 90_000);

  it('npm run token without a user id prints usage and fails', async () => {
    const env = { PATH: process.env['PATH'] ?? '', DATA_DIR: await tempDir() };
    await expect(run('npm', ['run', '--silent', 'token'], { cwd: root, env })).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('usage: npm run token -- <userId> [name]'),
    });
  });

  it('the server refuses to start in production without JWT_SECRET', async () => {
    const env = { PATH: process.env['PATH'] ?? '', NODE_ENV: 'production', DATA_DIR: await tempDir() };
    const failure = await run(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: root, env }).catch(
      (error: unknown) => error as { code: number; stderr: string },
    );
    expect(failure).toMatchObject({ code: 1, stderr: expect.stringContaining('JWT_SECRET is not set') });
  });
});

describe('send rate limiter', () => {
  it('allows exactly the burst, then refills at the rate', () => {
    let now = 0;
    const limiter = createRateLimiter({ ratePerSecond: 2, burst: 3, now: () => now });
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0]);
    expect(limiter.take('a')).toBe(500);
    expect(limiter.take('b')).toBe(0);
    now = 499;
    expect(limiter.take('a')).toBeGreaterThan(0);
    now = 1000;
    expect(limiter.take('a')).toBe(0);
  });

  it('forgets full buckets once it tracks too many keys', () => {
    let now = 0;
    const limiter = createRateLimiter({ ratePerSecond: 1, burst: 1, maxTrackedKeys: 2, now: () => now });
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('b')).toBe(0);
    now = 5000;
    // Both buckets have refilled: tracking a third key prunes them, so 'a' starts full again.
    expect(limiter.take('c')).toBe(0);
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBeGreaterThan(0);
  });
});
