/**
 * What the benchmark's peer servers share: the environment the harness gives every node
 * (PORT, HOST, NODE_ID, REDIS_URL, JWT_SECRET), HS256 token checks, the message shape every
 * system delivers, and the `started` log line the harness waits for (the platform prints the
 * same line). Peers keep nothing on disk: they are the "no persistence" baselines.
 */
import { jwtVerify } from 'jose';
import { Redis } from 'ioredis';

export interface PeerEnv {
  readonly port: number;
  readonly host: string;
  readonly nodeId: string;
  readonly redisUrl: string;
  readonly jwtSecret: string;
}

export function readPeerEnv(env: NodeJS.ProcessEnv = process.env): PeerEnv {
  const need = (name: string): string => {
    const value = env[name];
    if (value === undefined || value === '') throw new Error(`${name} is required`);
    return value;
  };
  return {
    port: Number(env['PORT'] ?? 0),
    host: env['HOST'] || '127.0.0.1',
    nodeId: env['NODE_ID'] || `peer-${process.pid}`,
    redisUrl: need('REDIS_URL'),
    jwtSecret: need('JWT_SECRET'),
  };
}

/** Verifies an HS256 token and returns its subject, as the platform does at connection time. */
export function createVerifier(secret: string): (token: unknown) => Promise<string> {
  const key = new TextEncoder().encode(secret);
  return async (token) => {
    if (typeof token !== 'string' || token === '') throw new Error('no token');
    const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'] });
    if (typeof payload.sub !== 'string' || payload.sub === '') throw new Error('token without subject');
    return payload.sub;
  };
}

/** The message every system delivers: the fields of the platform's benchmark selection. */
export interface PeerMessage {
  readonly id: string;
  readonly groupId: string;
  readonly seq: number;
  readonly body: string;
  readonly sender: { readonly id: string };
}

/** Longest body a peer accepts, as the platform's LIMIT_MAX_BODY_LENGTH default. */
export const MAX_BODY_LENGTH = 4000;
/** Longest group id a peer accepts. */
export const MAX_GROUP_ID_LENGTH = 256;

/**
 * Numbers messages per group on this node. Peers have no store, so `seq` is node-local; it
 * exists so that every system puts the same fields on the wire.
 */
export function createSequencer(nodeId: string): (groupId: string) => { id: string; seq: number } {
  const seqs = new Map<string, number>();
  let counter = 0;
  return (groupId) => {
    const seq = (seqs.get(groupId) ?? 0) + 1;
    seqs.set(groupId, seq);
    counter += 1;
    return { id: `${nodeId}:${counter}`, seq };
  };
}

export function redisClient(url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: null });
  client.on('error', (error: Error) => process.stderr.write(`redis: ${error.message}\n`));
  return client;
}

/** The line the harness (and the platform's own tests) wait for. */
export function announceStarted(port: number, role: string): void {
  process.stdout.write(`${JSON.stringify({ msg: 'started', port, role })}\n`);
}

/** Ends the process on SIGTERM/SIGINT after `stop`, or after 3 s whatever happens. */
export function exitOnSignal(stop: () => Promise<void>): void {
  const handler = (): void => {
    setTimeout(() => process.exit(0), 3000).unref();
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', handler);
  process.once('SIGINT', handler);
}
