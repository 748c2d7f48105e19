/**
 * Vitest global setup: builds what `npm start` builds, once per test run, so that tests that
 * start the compiled server, run `npm run token` or serve the browser chat find it current:
 * dist/ (tsc, incremental) and web/dist (only when older than its sources).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { buildWebIfStale } from '../../web/build-if-stale.mjs';

export default function setup(): void {
  const root = join(import.meta.dirname, '..', '..');
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  buildWebIfStale({ quiet: true });
}
