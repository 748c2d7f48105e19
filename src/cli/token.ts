/**
 * `npm run token -- <userId> [name]`: prints a token signed with the secret the server uses
 * (JWT_SECRET, or outside production the dev secret kept in DATA_DIR).
 */
import { createTokenVerifier, resolveSecret } from '../auth/jwt.ts';
import { ConfigError, loadConfig } from '../config.ts';

const [userId, name] = process.argv.slice(2);
if (userId === undefined || userId === '') {
  process.stderr.write('usage: npm run token -- <userId> [name]\n');
  process.exit(2);
}
try {
  const config = loadConfig(process.env);
  const tokens = createTokenVerifier(resolveSecret({ jwtSecret: config.jwtSecret, dataDir: config.dataDir }));
  process.stdout.write(`${await tokens.sign({ id: userId, name: name ?? null })}\n`);
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  throw error;
}
