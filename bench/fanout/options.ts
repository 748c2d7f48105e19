/**
 * Command-line options of `npm run bench:fanout`. `--quick` picks smaller defaults; any flag
 * given explicitly wins over them.
 */
import { parseArgs } from 'node:util';

export const systemNames = ['platform', 'socketio', 'yoga-redis', 'raw-ws'] as const;
export type SystemName = (typeof systemNames)[number];

export interface FanoutOptions {
  readonly systems: readonly SystemName[];
  /** Subscribed connections, C (one run per value). @default [1000, 10000]; --quick [10000] */
  readonly connections: readonly number[];
  /** Group size, M (one run per value); every group spans both nodes. @default [10, 100]; --quick [10] */
  readonly members: readonly number[];
  /** The rate ladder in deliveries per second (sends/s × M), climbed in order. @default 1000 … 128000 (×1.5 or ×1.33); --quick 1000 … 64000 (×2) */
  readonly rates: readonly number[];
  /** How long each rate is held, in seconds. @default 15; --quick 3 */
  readonly stepSeconds: number;
  /** Seconds of unmeasured load at the first rate before the first step (JIT, caches, connection pools). @default 3; --quick 1 */
  readonly warmupSeconds: number;
  /** Seconds after a step's last send that a missing delivery may still arrive before it counts as lost. @default 5; --quick 2 */
  readonly graceSeconds: number;
  /** Bisection steps between the highest passing and the first failing rate. @default 2; --quick 1 */
  readonly refine: number;
  /** The latency bound in ms: a step passes when p99 ≤ this and nothing is lost. @default 100 */
  readonly p99BoundMs: number;
  /** How the GraphQL systems (platform, yoga-redis) send: the HTTP mutation or a graphql-ws mutation. @default 'http' */
  readonly sendVia: 'http' | 'ws';
  /** Message body length in characters (a typical chat line). @default 64 */
  readonly bodyLength: number;
  /** Pin the generator and the servers to separate CPUs with taskset. @default true */
  readonly pin: boolean;
  /** CPU list (taskset -c syntax) for the load generator. @default '0' */
  readonly generatorCpus: string;
  /** CPU list for every server process and Redis. @default '1' */
  readonly serverCpus: string;
  /** A step is discarded when the generator used more than this fraction of its core... @default 0.9 */
  readonly maxGeneratorCpu: number;
  /** ...or when its sends left more than this many ms behind the timetable (p99). @default 25 */
  readonly maxSendLagMs: number;
  /**
   * A step that did not pass is discarded, not counted as the system's failure, when processes
   * outside the benchmark took more than this many cores of the server CPUs during it.
   * @default 0.25
   */
  readonly maxOtherLoad: number;
  readonly quick: boolean;
  /** Directory for the JSON, markdown and SVG. @default 'bench/results' */
  readonly out: string;
  /** File name stem: `<out>/<name>.json` etc. @default 'fanout'; --quick 'fanout-quick' */
  readonly name: string;
  /** Only re-render the markdown and SVG next to this results JSON; run nothing. @default null */
  readonly render: string | null;
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const usage = `Usage: npm run bench:fanout -- [options]

  --systems LIST        platform,socketio,yoga-redis,raw-ws (default: all)
  --connections LIST    subscribed connections C (default 1000,10000)
  --members LIST        group size M (default 10,100)
  --rates LIST          deliveries/s ladder (default 1000,1500,2000,3000,... up to 128000)
  --step-seconds N      seconds per rate (default 15; --quick 3)
  --warmup-seconds N    unmeasured load before the first step (default 3; --quick 1)
  --grace-seconds N     wait for late deliveries before counting them lost (default 5; --quick 2)
  --refine N            bisection steps after the first failure (default 2; --quick 1)
  --p99-bound-ms N      latency bound (default 100)
  --send-via http|ws    how platform and yoga-redis send (default http: the HTTP mutation)
  --body-length N       message body characters (default 64)
  --no-pin              do not pin with taskset
  --generator-cpus L    taskset CPU list of the load generator (default 0)
  --server-cpus L       taskset CPU list of servers and Redis (default 1)
  --max-generator-cpu F discard a step when the generator used more of its core (default 0.9)
  --max-send-lag-ms N   discard a step when sends fell further behind schedule, p99 (default 25)
  --max-other-load F    discard a failed step when other processes took more of the server
                        CPUs, in cores (default 0.25)
  --quick               C=10000, M=10, short steps, coarse ladder: under 4 minutes
  --out DIR             results directory (default bench/results)
  --name STEM           file name stem (default fanout, or fanout-quick with --quick)
  --render FILE.json    only re-render FILE.md and FILE.svg from a results JSON
`;

const fullRates = [1000, 1500, 2000, 3000, 4000, 6000, 8000, 12_000, 16_000, 24_000, 32_000, 48_000, 64_000, 96_000, 128_000];
const quickRates = [1000, 2000, 4000, 8000, 16_000, 32_000, 64_000];

function list(raw: string, what: string): string[] {
  const items = raw.split(',').map((item) => item.trim()).filter((item) => item !== '');
  if (items.length === 0) throw new UsageError(`--${what} needs at least one value`);
  return items;
}

function positive(raw: string, what: string, { integer = true } = {}): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new UsageError(`--${what} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

const cpuList = (raw: string, what: string): string => {
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(raw)) throw new UsageError(`--${what} must be a taskset CPU list such as 0 or 1-3, got ${JSON.stringify(raw)}`);
  return raw;
};

export function parseOptions(argv: readonly string[]): FanoutOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        systems: { type: 'string' },
        connections: { type: 'string' },
        members: { type: 'string' },
        rates: { type: 'string' },
        'step-seconds': { type: 'string' },
        'warmup-seconds': { type: 'string' },
        'grace-seconds': { type: 'string' },
        refine: { type: 'string' },
        'p99-bound-ms': { type: 'string' },
        'send-via': { type: 'string' },
        'body-length': { type: 'string' },
        'no-pin': { type: 'boolean' },
        'generator-cpus': { type: 'string' },
        'server-cpus': { type: 'string' },
        'max-generator-cpu': { type: 'string' },
        'max-send-lag-ms': { type: 'string' },
        'max-other-load': { type: 'string' },
        quick: { type: 'boolean' },
        out: { type: 'string' },
        name: { type: 'string' },
        render: { type: 'string' },
        help: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const v = parsed.values;
  if (v.help === true) throw new UsageError('');
  const quick = v.quick === true;

  const systems = v.systems === undefined ? [...systemNames] : list(v.systems, 'systems');
  for (const system of systems) {
    if (!(systemNames as readonly string[]).includes(system)) {
      throw new UsageError(`--systems: unknown system ${JSON.stringify(system)}; known: ${systemNames.join(', ')}`);
    }
  }
  const connections = v.connections === undefined ? (quick ? [10_000] : [1000, 10_000]) : list(v.connections, 'connections').map((c) => positive(c, 'connections'));
  const members = v.members === undefined ? (quick ? [10] : [10, 100]) : list(v.members, 'members').map((m) => positive(m, 'members'));
  for (const m of members) {
    if (m < 2) throw new UsageError('--members: a group needs at least 2 members to span both nodes');
    for (const c of connections) {
      if (c % m !== 0) throw new UsageError(`--connections ${c} is not a multiple of --members ${m}: every group has exactly M members`);
    }
  }
  const rates = v.rates === undefined ? (quick ? quickRates : fullRates) : list(v.rates, 'rates').map((r) => positive(r, 'rates'));
  for (let i = 1; i < rates.length; i += 1) {
    if ((rates[i] as number) <= (rates[i - 1] as number)) throw new UsageError('--rates must increase');
  }
  const sendVia = v['send-via'] ?? 'http';
  if (sendVia !== 'http' && sendVia !== 'ws') throw new UsageError(`--send-via must be http or ws, got ${JSON.stringify(sendVia)}`);
  const maxGeneratorCpu = v['max-generator-cpu'] === undefined ? 0.9 : positive(v['max-generator-cpu'], 'max-generator-cpu', { integer: false });
  if (maxGeneratorCpu > 1) throw new UsageError('--max-generator-cpu is a fraction of one core, at most 1');
  const warmupSeconds = v['warmup-seconds'] === undefined ? (quick ? 1 : 3) : Number(v['warmup-seconds']);
  if (!Number.isFinite(warmupSeconds) || warmupSeconds < 0) throw new UsageError(`--warmup-seconds must be 0 or more, got ${JSON.stringify(v['warmup-seconds'])}`);
  const bodyLength = v['body-length'] === undefined ? 64 : positive(v['body-length'], 'body-length');
  // The body starts with the marker the generator looks for, bench#<index>#.
  if (bodyLength < 24) throw new UsageError('--body-length must be at least 24');
  const refine = v.refine === undefined ? (quick ? 1 : 2) : Number(v.refine);
  if (!Number.isInteger(refine) || refine < 0) throw new UsageError(`--refine must be 0 or a positive integer, got ${JSON.stringify(v.refine)}`);

  return {
    systems: systems as SystemName[],
    connections,
    members,
    rates,
    stepSeconds: v['step-seconds'] === undefined ? (quick ? 3 : 15) : positive(v['step-seconds'], 'step-seconds', { integer: false }),
    warmupSeconds,
    graceSeconds: v['grace-seconds'] === undefined ? (quick ? 2 : 5) : positive(v['grace-seconds'], 'grace-seconds', { integer: false }),
    refine,
    p99BoundMs: v['p99-bound-ms'] === undefined ? 100 : positive(v['p99-bound-ms'], 'p99-bound-ms', { integer: false }),
    sendVia,
    bodyLength,
    pin: v['no-pin'] !== true,
    generatorCpus: cpuList(v['generator-cpus'] ?? '0', 'generator-cpus'),
    serverCpus: cpuList(v['server-cpus'] ?? '1', 'server-cpus'),
    maxGeneratorCpu,
    maxSendLagMs: v['max-send-lag-ms'] === undefined ? 25 : positive(v['max-send-lag-ms'], 'max-send-lag-ms', { integer: false }),
    maxOtherLoad: v['max-other-load'] === undefined ? 0.25 : positive(v['max-other-load'], 'max-other-load', { integer: false }),
    quick,
    out: v.out ?? 'bench/results',
    name: v.name ?? (quick ? 'fanout-quick' : 'fanout'),
    render: v.render ?? null,
  };
}
