/**
 * The systems under test, each as 2 nodes on one Redis: how to start their processes, create
 * groups, subscribe and send. Every node listens on 127.0.0.1 and is pinned with the servers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SystemName } from './options.ts';
import { startServer, type Pinning, type ServerProcess } from './processes.ts';
import { type Connection, type SendErrors, type Sender, type Wire } from './loadgen.ts';
import {
  graphqlWsSender,
  graphqlWsWire,
  httpGraphqlSender,
  rawWsSender,
  rawWsWire,
  socketIoSender,
  socketIoWire,
} from './protocols.ts';

/**
 * How the platform is started, split on spaces and run from the repository root. The one
 * place to change when `npm start` runs compiled JavaScript (e.g. `node dist/main.js`).
 */
/** The compiled server, as `npm start` runs it; the harness builds dist/ first (`npm run build`'s tsc step). */
export const DEFAULT_PLATFORM_CMD = 'node dist/main.js';

/**
 * Platform limits that would throttle the benchmark rather than measure it, raised unless the
 * environment sets them. The per-user send bucket (20/s) would refuse most sends of a group
 * member sending for the whole load; the per-connection operation cap only matters when
 * mutations ride the subscribers' sockets (`--send-via ws`).
 */
export const PLATFORM_RAISED_LIMITS: Readonly<Record<string, string>> = {
  LIMIT_SEND_RATE_PER_SECOND: '1000000',
  LIMIT_SEND_BURST: '1000000',
  // Setup creates C / M groups (up to 1,000) within seconds; the group-write throttle is for people.
  LIMIT_GROUP_WRITES_PER_MINUTE: '1000000',
  LIMIT_GROUP_WRITE_BURST: '1000000',
};
const PLATFORM_RAISED_LIMITS_WS_SEND: Readonly<Record<string, string>> = {
  LIMIT_MAX_SUBSCRIPTIONS_PER_CONNECTION: '100000',
};

/** Platform settings a user may pass through the environment to the benchmarked processes. */
const PLATFORM_ENV_PASSTHROUGH = /^(LIMIT_|SQLITE_SYNCHRONOUS$|OUTBOX_POLL_MS$|PRESENCE_|RELAY_LEASE_|LOG_LEVEL$)/;

export const systemLabels: Readonly<Record<SystemName, string>> = {
  platform: 'this platform (relay + 2 gateways, embedded store)',
  socketio: 'Socket.IO 4 + redis-adapter (rooms, no persistence)',
  'yoga-redis': 'graphql-yoga + redis-event-target (one topic, filter per subscription)',
  'raw-ws': 'raw ws + ioredis (channel per node, group index)',
};

/**
 * Keep-alive HTTP connections the generator opens per node for sends; more requests queue in
 * the agent and their wait counts in latency, as it would for a client.
 */
const HTTP_SOCKETS_PER_NODE = 64;

export const SUBSCRIPTION_QUERY = 'subscription { messageAdded { id groupId seq body sender { id } } }';

export interface DeployContext {
  readonly root: string;
  readonly pinning: Pinning;
  readonly redisUrl: string;
  readonly jwtSecret: string;
  readonly sendVia: 'http' | 'ws';
  readonly errors: SendErrors;
}

export interface GroupPlan {
  readonly groups: number;
  readonly members: number;
  /** User id of connection i. */
  readonly userId: (connection: number) => string;
  readonly token: (connection: number) => string;
}

export interface Deployment {
  /** Every server process except Redis. */
  readonly servers: readonly ServerProcess[];
  /** The two processes clients connect to (the platform's gateways, the peers' nodes). */
  readonly nodes: readonly ServerProcess[];
  /** Settings worth printing next to the results (raised limits, commands). */
  readonly settings: Readonly<Record<string, string>>;
  readonly wire: Wire;
  readonly sender: Sender;
  /** Creates the groups, through the system's API where it has one; returns their ids. */
  createGroups(plan: GroupPlan): Promise<string[]>;
  stop(): Promise<void>;
}

const peerCommand = (name: string): string[] => [process.execPath, '--import', 'tsx', join('bench', 'peers', name, 'server.ts')];

const baseEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {};
  for (const key of ['PATH', 'HOME', 'TMPDIR', 'LANG']) if (process.env[key] !== undefined) env[key] = process.env[key];
  return env;
};

async function startNodes(
  context: DeployContext,
  command: readonly string[],
  env: NodeJS.ProcessEnv,
  names: readonly string[],
): Promise<ServerProcess[]> {
  const started: ServerProcess[] = [];
  try {
    for (const name of names) {
      started.push(await startServer({ name, command, env: { ...env, NODE_ID: name }, cwd: context.root, pinning: context.pinning }));
    }
  } catch (error) {
    await Promise.all(started.map((server) => server.stop()));
    throw error;
  }
  return started;
}

const portsOf = (servers: readonly ServerProcess[]): number[] => servers.map((server) => server.port as number);

// --- this platform -----------------------------------------------------------------------------------

const SEND_MUTATION =
  'mutation BenchSend($input: SendGroupMessageInput!) { sendGroupMessage(input: $input) { message { seq } } }';
const CREATE_GROUP_MUTATION = 'mutation BenchGroup($input: CreateGroupInput!) { createGroup(input: $input) { group { id } } }';

async function postGraphql(port: number, token: string, query: string, variables: Record<string, unknown>): Promise<Record<string, unknown>> {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const result = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown };
  if (result.errors !== undefined || result.data === undefined) throw new Error(`GraphQL error: ${JSON.stringify(result.errors)}`);
  return result.data;
}

async function deployPlatform(context: DeployContext): Promise<Deployment> {
  const commandLine = process.env['PLATFORM_CMD'] || DEFAULT_PLATFORM_CMD;
  const command = commandLine.split(/\s+/).filter((part) => part !== '');
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-fanout-'));
  const raised = { ...PLATFORM_RAISED_LIMITS, ...(context.sendVia === 'ws' ? PLATFORM_RAISED_LIMITS_WS_SEND : {}) };
  const passedThrough = Object.fromEntries(Object.entries(process.env).filter(([key]) => PLATFORM_ENV_PASSTHROUGH.test(key))) as Record<string, string>;
  const env: NodeJS.ProcessEnv = {
    ...baseEnv(),
    ...raised,
    ...passedThrough,
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: '0',
    REDIS_URL: context.redisUrl,
    REDIS_KEY_PREFIX: 'bench:',
    DATA_DIR: dataDir,
    JWT_SECRET: context.jwtSecret,
  };
  let servers: ServerProcess[] = [];
  try {
    // gateway-a first creates the store's schema in DATA_DIR; the others open it.
    const [first] = await startNodes(context, command, { ...env, ROLE: 'gateway' }, ['gateway-a']);
    servers.push(first as ServerProcess);
    const rest = await Promise.all([
      startNodes(context, command, { ...env, ROLE: 'relay' }, ['relay']),
      startNodes(context, command, { ...env, ROLE: 'gateway' }, ['gateway-b']),
    ]);
    servers = [...servers, ...rest.flat()];
  } catch (error) {
    await Promise.all(servers.map((server) => server.stop()));
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const gateways = servers.filter((server) => server.name.startsWith('gateway')).sort((a, b) => a.name.localeCompare(b.name));
  const ports = portsOf(gateways);
  const operation = (groupId: string, body: string, index: number) => ({
    query: SEND_MUTATION,
    variables: { input: { groupId, body, clientMessageId: `b${index}` } },
  });
  const sender =
    context.sendVia === 'ws'
      ? graphqlWsSender(operation)
      : httpGraphqlSender({ ports, path: '/graphql', operation, errors: context.errors, maxSockets: HTTP_SOCKETS_PER_NODE });
  const settings: Record<string, string> = {
    command: commandLine,
    layout: 'ROLE=relay + 2 × ROLE=gateway, REDIS_URL, shared DATA_DIR (embedded store)',
    send:
      context.sendVia === 'ws'
        ? "sendGroupMessage over graphql-ws on the sender's socket"
        : `sendGroupMessage over HTTP, round-robin over both gateways (keep-alive, up to ${HTTP_SOCKETS_PER_NODE} connections per gateway)`,
    subscription: SUBSCRIPTION_QUERY,
    NODE_ENV: 'production',
    SQLITE_SYNCHRONOUS: env['SQLITE_SYNCHRONOUS'] ?? 'FULL (default)',
    DATA_DIR: `${tmpdir()}/bench-fanout-* (TMPDIR)`,
    ...Object.fromEntries(Object.keys({ ...raised, ...passedThrough }).map((key) => [key, `${env[key]}${key in passedThrough ? ' (from the environment)' : ' (raised by the benchmark)'}`])),
  };
  return {
    servers,
    nodes: gateways,
    settings,
    wire: graphqlWsWire({ ports, path: '/graphql', subscription: () => ({ query: SUBSCRIPTION_QUERY }), errors: context.errors }),
    sender,
    async createGroups(plan) {
      const ids: string[] = new Array<string>(plan.groups);
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < plan.groups) {
          const group = next;
          next += 1;
          const owner = group * plan.members;
          const memberIds = Array.from({ length: plan.members - 1 }, (_, j) => plan.userId(owner + j + 1));
          const data = await postGraphql(ports[group % ports.length] as number, plan.token(owner), CREATE_GROUP_MUTATION, {
            input: { name: `bench ${group}`, memberIds },
          });
          ids[group] = (data['createGroup'] as { group: { id: string } }).group.id;
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      return ids;
    },
    async stop() {
      sender.close();
      await Promise.all(servers.map((server) => server.stop()));
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

// --- peers -------------------------------------------------------------------------------------------

const syntheticGroups = async (plan: GroupPlan): Promise<string[]> => Array.from({ length: plan.groups }, (_, group) => `g${group}`);

async function deployPeer(
  context: DeployContext,
  name: 'socketio' | 'yoga-redis' | 'raw-ws',
  make: (ports: number[]) => { wire: Wire; sender: Sender; settings: Record<string, string> },
): Promise<Deployment> {
  const env: NodeJS.ProcessEnv = {
    ...baseEnv(),
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: '0',
    REDIS_URL: context.redisUrl,
    JWT_SECRET: context.jwtSecret,
  };
  const servers = await startNodes(context, peerCommand(name), env, [`${name}-a`, `${name}-b`]);
  const { wire, sender, settings } = make(portsOf(servers));
  return {
    servers,
    nodes: servers,
    settings: { command: ['node', ...peerCommand(name).slice(1)].join(' '), ...settings },
    wire,
    sender,
    createGroups: syntheticGroups,
    async stop() {
      sender.close();
      await Promise.all(servers.map((server) => server.stop()));
    },
  };
}

const YOGA_SUBSCRIPTION = 'subscription BenchPeer($g: ID!) { messageAdded(groupId: $g) { id groupId seq body sender { id } } }';
const YOGA_SEND = 'mutation BenchPeerSend($g: ID!, $b: String!) { sendGroupMessage(groupId: $g, body: $b) { id } }';

export function deploy(name: SystemName, context: DeployContext): Promise<Deployment> {
  switch (name) {
    case 'platform':
      return deployPlatform(context);
    case 'socketio':
      return deployPeer(context, name, (ports) => ({
        wire: socketIoWire(ports),
        sender: socketIoSender,
        settings: { send: 'socket.emit("send") on the sender\'s socket; io.to(room).emit', transports: 'websocket' },
      }));
    case 'raw-ws':
      return deployPeer(context, name, (ports) => ({
        wire: rawWsWire(ports),
        sender: rawWsSender,
        settings: { send: 'a JSON frame on the sender\'s socket' },
      }));
    case 'yoga-redis':
      return deployPeer(context, name, (ports) => {
        const operation = (groupId: string, body: string) => ({ query: YOGA_SEND, variables: { g: groupId, b: body } });
        const sender =
          context.sendVia === 'ws'
            ? graphqlWsSender(operation)
            : httpGraphqlSender({ ports, path: '/graphql', operation, errors: context.errors, maxSockets: HTTP_SOCKETS_PER_NODE });
        return {
          wire: graphqlWsWire({
            ports,
            path: '/graphql',
            subscription: (connection: Connection) => ({ query: YOGA_SUBSCRIPTION, variables: { g: connection.groupId } }),
            errors: context.errors,
          }),
          sender,
          settings: {
            send:
              context.sendVia === 'ws'
                ? "mutation over graphql-ws on the sender's socket"
                : `mutation over HTTP, round-robin over both nodes (keep-alive, up to ${HTTP_SOCKETS_PER_NODE} connections per node)`,
            subscription: YOGA_SUBSCRIPTION,
          },
        };
      });
  }
}
