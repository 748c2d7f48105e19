/**
 * Reads the environment and runs the app; SIGTERM/SIGINT drain it within DRAIN_TIMEOUT_MS.
 */
import { pino } from 'pino';
import { buildApp } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { armFailpoints, FailpointSpecError } from './util/failpoints.ts';

/** A drain that takes longer than this ends the process anyway. */
const DRAIN_TIMEOUT_MS = 10_000;

let config;
let failpoints;
try {
  config = loadConfig(process.env);
  // Tests and diagnosis only (util/failpoints.ts): makes this process fail at a named step.
  failpoints = armFailpoints(process.env['FAILPOINTS']);
} catch (error) {
  if (error instanceof ConfigError || error instanceof FailpointSpecError) {
    process.stderr.write(`Cannot start: ${error.message}\n`);
    process.exit(1);
  }
  throw error;
}

const logger = pino({ base: { pid: process.pid, nodeId: config.nodeId, role: config.role }, level: process.env['LOG_LEVEL'] ?? 'info' });
if (failpoints.length > 0) logger.warn({ failpoints }, 'FAILPOINTS are armed: this process will fail on purpose at those points (tests and diagnosis only)');
const app = buildApp(config, { logger });

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'draining');
  const timer = setTimeout(() => {
    logger.error('drain timed out; exiting');
    process.exit(1);
  }, DRAIN_TIMEOUT_MS);
  timer.unref();
  try {
    await app.stop();
    logger.info('stopped');
    process.exit(0);
  } catch (error) {
    logger.error({ err: error }, 'drain failed');
    process.exit(1);
  }
}

process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

try {
  await app.start();
} catch (error) {
  logger.fatal({ err: error }, 'failed to start');
  await app.stop().catch(() => {});
  process.exit(1);
}
