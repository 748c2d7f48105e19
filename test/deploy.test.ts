/**
 * The Compose file's handling of JWT_SECRET, checked without Docker (none runs here): no
 * variable is required at interpolation, which Compose does for every command (so `down`,
 * `logs` and `ps` work without the secret), and the gateways wait for a one-shot check that
 * stops `up` with a message when the secret is missing. The check script itself is run.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

describe('docker-compose.yml and JWT_SECRET', () => {
  it('requires no variable at interpolation, and passes JWT_SECRET through, empty when unset', async () => {
    const compose = await readFile(join(root, 'docker-compose.yml'), 'utf8');
    // ${VAR:?message} and ${VAR?message} fail every compose command when VAR is unset.
    expect(compose).not.toMatch(/\$\{[A-Z_]+:?\?/);
    expect(compose).toMatch(/^ {2}JWT_SECRET: \$\{JWT_SECRET:-\}$/m);
  });

  it('starts each gateway only after the secret check completed successfully', async () => {
    const compose = await readFile(join(root, 'docker-compose.yml'), 'utf8');
    expect(compose).toMatch(/^ {2}require-jwt-secret:\n(?: {4}.*\n)*? {4}command: \["sh", "docker\/require-jwt-secret\.sh"\]/m);
    expect(compose).toMatch(/ {6}require-jwt-secret:\n {8}condition: service_completed_successfully/);
    for (const gateway of ['gateway-a', 'gateway-b']) {
      expect(compose).toMatch(new RegExp(`^  ${gateway}:\\n    <<: \\*app\\n    depends_on: (?:&gateway-depends-on|\\*gateway-depends-on)`, 'm'));
    }
  });

  it('the check fails with what to do when JWT_SECRET is empty, and passes when it is set', async () => {
    const script = join(root, 'docker', 'require-jwt-secret.sh');
    const failed = await run('sh', [script], { env: { PATH: process.env['PATH'] ?? '', JWT_SECRET: '' } }).then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(/JWT_SECRET is not set/);
    const passed = await run('sh', [script], { env: { PATH: process.env['PATH'] ?? '', JWT_SECRET: 's3cret' } });
    expect(passed.stdout).toMatch(/JWT_SECRET is set/);
  });
});
