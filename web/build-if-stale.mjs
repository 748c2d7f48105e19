/**
 * Builds the browser chat (`npm run build:web`) unless web/dist is newer than every source
 * it is built from. `npm start` runs it first (prestart) and the tests run it in their global
 * setup, so a fresh clone works with no extra step. Plain JavaScript: it runs before anything
 * else is compiled.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** What the bundle is made of: a change to any of these rebuilds it. */
const SOURCES = ['web/src', 'web/public', 'web/index.html', 'web/vite.config.ts', 'web/tsconfig.json', 'client', 'package-lock.json'];
const OUTPUT = join(root, 'web', 'dist', 'index.html');

function newest(path) {
  let info;
  try {
    info = statSync(path);
  } catch {
    return 0;
  }
  if (!info.isDirectory()) return info.mtimeMs;
  let latest = info.mtimeMs;
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

/** Whether web/dist is missing or older than a source. */
export function webBuildIsStale() {
  const built = newest(OUTPUT);
  return built === 0 || SOURCES.some((source) => newest(join(root, source)) > built);
}

/** Runs `npm run build:web` when stale; throws when the build fails. */
export function buildWebIfStale({ quiet = false } = {}) {
  if (!webBuildIsStale()) return false;
  if (!quiet) process.stdout.write('Building the browser chat (npm run build:web)…\n');
  const result = spawnSync('npm', ['run', '--silent', 'build:web'], {
    cwd: root,
    // Vitest sets NODE_ENV=test, and Vite would then bundle React's development build.
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: quiet ? 'pipe' : 'inherit',
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new Error(`npm run build:web failed (exit ${result.status}).\n${result.stdout ?? ''}${result.stderr ?? ''}`);
  }
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    buildWebIfStale();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
