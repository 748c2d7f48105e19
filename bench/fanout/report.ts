/**
 * The results of `npm run bench:fanout`: their JSON shape, the markdown table (the issue's
 * table, one per configuration, plus every step) and an SVG chart of deliveries/s against
 * p99 latency, drawn by hand so it needs nothing from the network.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StepMeasurement } from './loadgen.ts';
import type { SystemName } from './options.ts';

export type Verdict = 'pass' | 'fail' | 'discarded';

export interface StepResult extends StepMeasurement {
  readonly verdict: Verdict;
  /** Why it failed or was discarded; empty for a pass. */
  readonly reasons: readonly string[];
  /** A bisection step between the highest pass and the first failure. */
  readonly refinement: boolean;
}

export interface RunResult {
  readonly system: SystemName;
  readonly label: string;
  readonly connections: number;
  readonly members: number;
  readonly groups: number;
  readonly settings: Readonly<Record<string, string>>;
  /** Set when the run could not complete (start-up, subscriptions never live...). */
  readonly error: string | null;
  /** From starting Redis to every subscription proven live. */
  readonly setupSeconds: number | null;
  /** Seconds per setup phase: processes, groups, connections, probes. */
  readonly setupPhasesSeconds: Readonly<Record<string, number>>;
  /** Server CPU per process with every subscription live and nothing sent, in cores. */
  readonly idleServerCores: Readonly<Record<string, number>> | null;
  readonly idleRss: {
    /** RSS of the two nodes clients connect to, summed, before the C connections. */
    readonly beforeKiB: number;
    /** ...and once all C subscriptions are live. */
    readonly afterKiB: number;
    /** (after − before) / C over the two nodes. */
    readonly perConnectionKiB: number;
    /** The same over every server process, relay and Redis included (their garbage collection makes it noisier). */
    readonly perConnectionKiBAllProcesses: number;
    readonly byProcessKiB: Readonly<Record<string, { readonly before: number; readonly after: number }>>;
  } | null;
  readonly warmup: StepResult | null;
  readonly steps: readonly StepResult[];
  readonly best: {
    /** Highest target rate (deliveries/s) with p99 ≤ bound and nothing lost; null when none passed. */
    readonly deliveriesPerSecond: number | null;
    /**
     * What ended the climb: a failed step, a step discarded three times running (the
     * generator saturated or held up, or other processes on the server CPU), the top of the ladder, a system that could
     * not carry the setup (subscriptions dropped), or an error of the harness.
     */
    readonly stoppedBy: 'latency or loss' | 'discarded' | 'end of the rate ladder' | 'setup' | 'error';
    readonly step: StepResult | null;
  };
}

export interface Machine {
  readonly cpuModel: string;
  readonly cores: number;
  readonly node: string;
  readonly redis: string;
  readonly kernel: string;
  readonly date: string;
  readonly pinning: { readonly generator: string; readonly servers: string } | null;
  readonly line: string;
}

export interface FanoutResults {
  readonly benchmark: 'fanout';
  readonly version: 1;
  readonly command: string;
  readonly machine: Machine;
  readonly method: Readonly<Record<string, unknown>>;
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly runs: readonly RunResult[];
}

const SYSTEM_ORDER: readonly SystemName[] = ['socketio', 'raw-ws', 'yoga-redis', 'platform'];
const SHORT: Readonly<Record<SystemName, string>> = {
  platform: 'this platform',
  socketio: 'Socket.IO 4 + redis-adapter',
  'yoga-redis': 'yoga + redis-event-target',
  'raw-ws': 'raw ws + ioredis',
};
const COLOURS: Readonly<Record<SystemName, string>> = {
  platform: '#d62728',
  socketio: '#1f77b4',
  'yoga-redis': '#9467bd',
  'raw-ws': '#2ca02c',
};

const fmtInt = (value: number): string => Math.round(value).toLocaleString('en-US');
const fmtMs = (value: number): string => (Number.isNaN(value) ? '–' : value >= 100 ? fmtInt(value) : value >= 10 ? value.toFixed(1) : value.toFixed(2));

const configurations = (runs: readonly RunResult[]): { connections: number; members: number; runs: RunResult[] }[] => {
  const byKey = new Map<string, { connections: number; members: number; runs: RunResult[] }>();
  for (const run of runs) {
    const key = `${run.connections}/${run.members}`;
    const entry = byKey.get(key) ?? { connections: run.connections, members: run.members, runs: [] };
    entry.runs.push(run);
    byKey.set(key, entry);
  }
  for (const entry of byKey.values()) entry.runs.sort((a, b) => SYSTEM_ORDER.indexOf(a.system) - SYSTEM_ORDER.indexOf(b.system));
  return [...byKey.values()];
};

function bestCell(run: RunResult, reference: RunResult | undefined): string {
  if (run.error !== null) {
    const reason = run.error.split('\n')[0]?.slice(0, 160);
    return run.best.stoppedBy === 'setup' ? `none (${reason})` : `error: ${reason}`;
  }
  const best = run.best.deliveriesPerSecond;
  if (best === null) {
    const first = fmtInt(run.steps[0]?.targetDeliveriesPerSecond ?? 0);
    return run.best.stoppedBy === 'discarded' ? `none measured (discarded at ${first})` : `none (fails at ${first})`;
  }
  let cell = fmtInt(best);
  if (run.best.stoppedBy === 'discarded') cell = `≥ ${cell} (next step discarded)`;
  if (run.best.stoppedBy === 'end of the rate ladder') cell = `≥ ${cell} (end of ladder)`;
  const referenceBest = reference?.best.deliveriesPerSecond;
  if (reference !== undefined && reference !== run && referenceBest != null && referenceBest > 0) {
    // A lower bound on either side makes the ratio a bound too.
    const bound = (r: RunResult): boolean => r.best.stoppedBy === 'discarded' || r.best.stoppedBy === 'end of the rate ladder';
    const prefix = bound(run) && !bound(reference) ? '≥ ' : !bound(run) && bound(reference) ? '≤ ' : bound(run) ? '~' : '';
    cell += ` (${prefix}${(best / referenceBest).toFixed(2)}× Socket.IO)`;
  }
  return cell;
}

function cpuCell(run: RunResult, reference: RunResult | undefined): string {
  const cpu = run.best.step?.cpuSecondsPer1000Deliveries;
  if (cpu == null) return '–';
  let cell = cpu.toFixed(3);
  const referenceCpu = reference?.best.step?.cpuSecondsPer1000Deliveries;
  if (reference !== undefined && reference !== run && referenceCpu != null && referenceCpu > 0) cell += ` (${(cpu / referenceCpu).toFixed(1)}×)`;
  return cell;
}

/** A step that delivered every message to every member (whatever its latency). */
const completed = (step: StepResult): boolean => step.missingAfterGrace === 0 && step.sendErrors === 0 && step.connectionsFailed === 0;

/** The completed step at `rate`, a passing one first. */
const completedAt = (run: RunResult, rate: number): StepResult | undefined => {
  const at = run.steps.filter((step) => step.targetDeliveriesPerSecond === rate && completed(step));
  return at.find((step) => step.verdict === 'pass') ?? at.at(-1);
};

/** The highest rate every run with a completed step completed; null when fewer than two runs did. */
function commonCompletedRate(runs: readonly RunResult[]): number | null {
  const rates = runs
    .map((run) => new Set(run.steps.filter(completed).map((step) => step.targetDeliveriesPerSecond)))
    .filter((set) => set.size > 0);
  if (rates.length < 2) return null;
  const shared = [...(rates[0] as Set<number>)].filter((rate) => rates.every((set) => set.has(rate)));
  return shared.length === 0 ? null : Math.max(...shared);
}

function latencyAt(run: RunResult, rate: number | null): string {
  const step = rate === null ? run.best.step : run.steps.find((s) => s.targetDeliveriesPerSecond === rate && s.verdict !== 'discarded');
  if (step == null) return '–';
  const l = step.latencyMs;
  return `${fmtMs(l.p50)} / ${fmtMs(l.p99)} ms`;
}

export function markdown(results: FanoutResults): string {
  const lines: string[] = [];
  const bound = results.method['p99BoundMs'] as number;
  lines.push(`# Fan-out benchmark`, '');
  lines.push(`\`${results.command}\``, '');
  lines.push(`${results.machine.line}`, '');
  for (const config of configurations(results.runs)) {
    const reference = config.runs.find((run) => run.system === 'socketio');
    const firstRate = (results.method['rates'] as number[] | undefined)?.[0] ?? 1000;
    lines.push(`## C = ${fmtInt(config.connections)} connections, groups of M = ${config.members}`, '');
    lines.push(`| | ${config.runs.map((run) => SHORT[run.system]).join(' | ')} |`);
    lines.push(`|---|${config.runs.map(() => '---').join('|')}|`);
    const row = (title: string, cell: (run: RunResult) => string): void => {
      lines.push(`| ${title} | ${config.runs.map(cell).join(' | ')} |`);
    };
    row(`deliveries/s at the bound (p99 ≤ ${bound} ms, nothing lost)`, (run) => bestCell(run, reference));
    row('CPU-seconds per 1,000 deliveries (all server processes + Redis)', (run) => cpuCell(run, reference));
    // The same rate for every system compares CPU like for like, and CPU time is what a busy
    // machine disturbs least: any step that delivered everything counts, discarded or not.
    const common = commonCompletedRate(config.runs);
    if (common !== null) {
      const at = (run: RunResult): StepResult | undefined => completedAt(run, common);
      const referenceCpu = reference === undefined ? undefined : at(reference)?.cpuSecondsPer1000Deliveries;
      row(`CPU-seconds per 1,000 deliveries at ${fmtInt(common)} deliveries/s (the highest rate every system delivered completely)`, (run) => {
        const cpu = at(run)?.cpuSecondsPer1000Deliveries;
        if (cpu == null) return '–';
        return run !== reference && referenceCpu != null && referenceCpu > 0 ? `${cpu.toFixed(3)} (${(cpu / referenceCpu).toFixed(1)}×)` : cpu.toFixed(3);
      });
    }
    row('latency p50 / p99 at the highest passing rate', (run) => latencyAt(run, null));
    row(`latency p50 / p99 at ${fmtInt(firstRate)} deliveries/s`, (run) => latencyAt(run, firstRate));
    row('server CPU busy at the highest passing rate: processes + kernel interrupts, cores', (run) => {
      const step = run.best.step;
      return step == null ? '–' : `${step.serverCores.toFixed(2)} + ${step.cpus.server?.interrupts.toFixed(2) ?? '?'}`;
    });
    row('server CPU with every subscription live and nothing sent, cores', (run) =>
      run.idleServerCores === null ? '–' : Object.values(run.idleServerCores).reduce((a, b) => a + b, 0).toFixed(3),
    );
    row('idle RSS per subscribed connection (both nodes)', (run) => (run.idleRss === null ? '–' : `${run.idleRss.perConnectionKiB.toFixed(1)} KiB`));
    row('what ended the climb', (run) => {
      const failed = run.steps.filter((step) => step.verdict !== 'pass' && !step.refinement).at(-1);
      return failed === undefined ? '–' : `${fmtInt(failed.targetDeliveriesPerSecond)}/s: ${failed.reasons.join('; ')}`;
    });
    lines.push('');
  }
  lines.push('![deliveries/s against p99 latency](./' + `${results.method['name'] as string}.svg)`, '');
  lines.push('## Every step', '');
  lines.push(
    '| system | C | M | target deliveries/s | achieved | p50 ms | p99 ms | max ms | lost | server CPU: processes / interrupts / others, cores | CPU-s / 1k deliveries | generator CPU | send lag p99 ms | verdict |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const run of results.runs) {
    if (run.error !== null) {
      lines.push(`| ${SHORT[run.system]} | ${run.connections} | ${run.members} | | | | | | | | | | | error: ${run.error.split('\n')[0]} |`);
      continue;
    }
    for (const step of run.steps) {
      const l = step.latencyMs;
      lines.push(
        `| ${SHORT[run.system]} | ${run.connections} | ${run.members} | ${fmtInt(step.targetDeliveriesPerSecond)}${step.refinement ? ' (refine)' : ''} | ${fmtInt(step.achievedDeliveriesPerSecond)} | ${fmtMs(l.p50)} | ${fmtMs(l.p99)} | ${fmtMs(l.max)} | ${step.lost ?? 'n/j'} | ${step.serverCores.toFixed(2)} / ${step.cpus.server?.interrupts.toFixed(2) ?? '–'} / ${step.cpus.server?.otherProcesses.toFixed(2) ?? '–'} | ${step.cpuSecondsPer1000Deliveries?.toFixed(3) ?? '–'} | ${Math.round(step.generator.cpu * 100)}% | ${step.generator.sendLagP99Ms.toFixed(1)} | ${step.verdict}${step.reasons.length > 0 ? `: ${step.reasons.join('; ')}` : ''} |`,
      );
    }
  }
  lines.push('', '"n/j": not judged, the step stopped early once more than 1% of its deliveries were already late.', '');
  lines.push('## Method', '');
  const m = results.method;
  lines.push(
    `Each system runs as 2 nodes on one bench-owned Redis (no persistence); every group has M members, half on each node, and every connection holds one subscription. ` +
      `Sends are open-loop at stepped rates (deliveries/s = sends/s × M), ${m['stepSeconds']} s per step after ${m['warmupSeconds']} s of warm-up, ` +
      `a ${m['graceSeconds']} s grace for late deliveries, ${m['refine']} bisection step(s) after the first failure. ` +
      `Latency runs from each message's intended send time to its arrival at the subscriber. ` +
      `A step is discarded (and run again, twice at most) when the generator used more than ${Math.round((m['maxGeneratorCpu'] as number) * 100)}% of its core or its sends fell more than ${m['maxSendLagMs']} ms (p99) behind the timetable, ` +
      `and a step that did not pass is discarded when other processes took more than ${m['maxOtherLoad']} cores of the server CPU. ` +
      `CPU is utime + stime from /proc over every server process and Redis; kernel interrupt time on the server CPU (TCP over loopback, charged to no process) and other processes' time there are shown beside it. ` +
      `Idle RSS per connection is the growth of the two nodes' RSS from before connecting to once every subscription is live, divided by C.`,
    '',
  );
  for (const run of results.runs) {
    if (run.system !== 'platform') continue;
    lines.push(`Platform settings (C=${run.connections}, M=${run.members}):`, '');
    for (const [key, value] of Object.entries(run.settings)) lines.push(`- \`${key}\`: ${value}`);
    lines.push('');
    break;
  }
  return `${lines.join('\n')}\n`;
}

// --- SVG ---------------------------------------------------------------------------------------------

const escapeXml = (text: string): string => text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] as string);

/** deliveries/s (x, log) against p99 latency (y, log), one panel per configuration, one line per system. */
export function chart(results: FanoutResults): string {
  const configs = configurations(results.runs);
  const bound = results.method['p99BoundMs'] as number;
  const panelWidth = 520;
  const panelHeight = 340;
  const margin = { left: 64, right: 16, top: 40, bottom: 48 };
  const width = panelWidth * Math.max(1, configs.length);
  const systems = [...new Set(results.runs.map((run) => run.system))].sort((a, b) => SYSTEM_ORDER.indexOf(a) - SYSTEM_ORDER.indexOf(b));
  // Legend entries flow into rows as wide as the chart.
  const legend: { system: SystemName | null; x: number; row: number }[] = [];
  {
    let x = 20;
    let row = 0;
    const entryWidth = (label: string): number => 40 + label.length * 6.5;
    for (const label of [...systems.map((system) => SHORT[system]), 'filled: passed, hollow: failed']) {
      if (x + entryWidth(label) > width - 10 && x > 20) {
        x = 20;
        row += 1;
      }
      legend.push({ system: systems.find((system) => SHORT[system] === label) ?? null, x, row });
      x += entryWidth(label) + 10;
    }
  }
  const legendRows = (legend.at(-1)?.row ?? 0) + 1;
  const height = panelHeight + 30 + legendRows * 18 + 34;
  const allSteps = results.runs.flatMap((run) => run.steps.filter((step) => step.verdict !== 'discarded' && !Number.isNaN(step.latencyMs.p99)));
  const xs = allSteps.map((step) => step.targetDeliveriesPerSecond);
  const xMin = 10 ** Math.floor(Math.log10(Math.min(1000, ...xs)));
  const xMax = 10 ** Math.ceil(Math.log10(Math.max(10_000, ...xs)));
  const yMin = 0.1;
  const yMax = 10_000;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">Fan-out: deliveries/s against p99 latency (lower right is better)</text>`,
  );
  configs.forEach((config, panel) => {
    const x0 = panel * panelWidth + margin.left;
    const y0 = 30 + margin.top;
    const w = panelWidth - margin.left - margin.right;
    const h = panelHeight - margin.top - margin.bottom;
    const px = (value: number): number => x0 + ((Math.log10(value) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * w;
    const py = (value: number): number => {
      const clamped = Math.min(yMax, Math.max(yMin, value));
      return y0 + h - ((Math.log10(clamped) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * h;
    };
    parts.push(`<text x="${x0 + w / 2}" y="${y0 - 12}" text-anchor="middle" font-weight="bold">C = ${fmtInt(config.connections)}, M = ${config.members}</text>`);
    parts.push(`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="none" stroke="#888"/>`);
    for (let decade = xMin; decade <= xMax; decade *= 10) {
      parts.push(`<line x1="${px(decade)}" y1="${y0}" x2="${px(decade)}" y2="${y0 + h}" stroke="#ddd"/>`);
      parts.push(`<text x="${px(decade)}" y="${y0 + h + 16}" text-anchor="middle">${decade >= 1000 ? `${decade / 1000}k` : decade}</text>`);
    }
    for (let decade = yMin; decade <= yMax * 1.001; decade *= 10) {
      parts.push(`<line x1="${x0}" y1="${py(decade)}" x2="${x0 + w}" y2="${py(decade)}" stroke="#ddd"/>`);
      parts.push(`<text x="${x0 - 6}" y="${py(decade) + 4}" text-anchor="end">${decade < 1 ? decade : fmtInt(decade)}</text>`);
    }
    parts.push(`<line x1="${x0}" y1="${py(bound)}" x2="${x0 + w}" y2="${py(bound)}" stroke="#000" stroke-dasharray="6,4"/>`);
    parts.push(`<text x="${x0 + w - 4}" y="${py(bound) - 4}" text-anchor="end">p99 bound ${bound} ms</text>`);
    parts.push(`<text x="${x0 + w / 2}" y="${y0 + h + 34}" text-anchor="middle">deliveries/s (log)</text>`);
    parts.push(`<text transform="translate(${x0 - 48},${y0 + h / 2}) rotate(-90)" text-anchor="middle">p99 latency, ms (log)</text>`);
    for (const run of config.runs) {
      const steps = run.steps.filter((step) => step.verdict !== 'discarded' && !Number.isNaN(step.latencyMs.p99)).sort((a, b) => a.targetDeliveriesPerSecond - b.targetDeliveriesPerSecond);
      if (steps.length === 0) continue;
      const colour = COLOURS[run.system];
      const points = steps.map((step) => `${px(step.targetDeliveriesPerSecond).toFixed(1)},${py(step.latencyMs.p99).toFixed(1)}`);
      parts.push(`<polyline points="${points.join(' ')}" fill="none" stroke="${colour}" stroke-width="2"/>`);
      for (const step of steps) {
        const filled = step.verdict === 'pass';
        parts.push(
          `<circle cx="${px(step.targetDeliveriesPerSecond).toFixed(1)}" cy="${py(step.latencyMs.p99).toFixed(1)}" r="4" fill="${filled ? colour : 'white'}" stroke="${colour}" stroke-width="2"><title>${escapeXml(`${SHORT[run.system]}: ${fmtInt(step.targetDeliveriesPerSecond)}/s, p99 ${fmtMs(step.latencyMs.p99)} ms, ${step.verdict}`)}</title></circle>`,
        );
      }
    }
  });
  const legendTop = panelHeight + 40;
  for (const entry of legend) {
    const y = legendTop + entry.row * 18;
    if (entry.system === null) {
      parts.push(`<text x="${entry.x}" y="${y + 4}" fill="#555">filled: passed, hollow: failed</text>`);
      continue;
    }
    parts.push(`<line x1="${entry.x}" y1="${y}" x2="${entry.x + 24}" y2="${y}" stroke="${COLOURS[entry.system]}" stroke-width="3"/>`);
    parts.push(`<text x="${entry.x + 30}" y="${y + 4}">${escapeXml(SHORT[entry.system])}</text>`);
  }
  // The machine line, split where it would run off a one-panel chart.
  const [hardware, ...rest] = results.machine.line.split('; ');
  parts.push(`<text x="20" y="${height - 20}" fill="#555" font-size="10">${escapeXml(hardware ?? '')}</text>`);
  parts.push(`<text x="20" y="${height - 7}" fill="#555" font-size="10">${escapeXml(rest.join('; '))}</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export async function writeResults(results: FanoutResults, directory: string, name: string): Promise<{ json: string; markdown: string; svg: string }> {
  await mkdir(directory, { recursive: true });
  const files = { json: join(directory, `${name}.json`), markdown: join(directory, `${name}.md`), svg: join(directory, `${name}.svg`) };
  await writeFile(files.json, `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(files.markdown, markdown(results));
  await writeFile(files.svg, chart(results));
  return files;
}
