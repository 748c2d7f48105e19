/**
 * `npm run bench:fanout`: the fan-out benchmark of issue 8, side by side. For each C
 * (connections), M (group size) and system it starts a bench-owned Redis and the system's
 * 2 nodes pinned to the server CPUs, opens C subscriptions from this process (pinned to the
 * generator CPU), proves every subscription live, then climbs a ladder of open-loop rates until
 * p99 > bound or a delivery is lost. Results go to bench/results/ as JSON, markdown and SVG.
 * `--help` lists the options; see bench/fanout/options.ts.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { SignJWT } from 'jose';
import { LoadGenerator, sleep, type SendErrors } from './fanout/loadgen.ts';
import { parseOptions, usage, UsageError, type FanoutOptions, type SystemName } from './fanout/options.ts';
import { pinSelf, redisVersion, startRedis, tasksetAvailable, type Pinning, type ServerProcess } from './fanout/processes.ts';
import { cpuIndexes, procAvailable, rssKiB } from './fanout/procstat.ts';
import { writeResults, type FanoutResults, type Machine, type RunResult, type StepResult } from './fanout/report.ts';
import { deploy, systemLabels } from './fanout/systems.ts';

const root = join(import.meta.dirname, '..');

/** The system ran but could not carry the setup load (e.g. its sockets were dropped): it passes no rate. */
class SetupError extends Error {
  override readonly name = 'SetupError';
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function machine(pinning: Pinning): Machine {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    cpuModel = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpuModel;
  } catch {
    // not Linux: os.cpus() has it
  }
  // Not availableParallelism(): that is the affinity mask, 1 once this process is pinned.
  const cores = cpus().length;
  const node = process.version;
  const redis = redisVersion();
  const date = new Date().toISOString();
  const pin = pinning.enabled ? { generator: pinning.generatorCpus, servers: pinning.serverCpus } : null;
  const line =
    `${cpuModel}, ${cores} cores, Linux ${release()}, Node ${node}, Redis ${redis}, ${date}` +
    (pin === null ? ', not pinned' : `; servers + Redis on CPU ${pin.servers}, generator on CPU ${pin.generator}`);
  return { cpuModel, cores, node, redis, kernel: release(), date, pinning: pin, line };
}

/** HS256 tokens for u0 … u(C-1), signed once per C. */
async function signTokens(secret: string, count: number): Promise<string[]> {
  const key = new TextEncoder().encode(secret);
  const tokens: string[] = [];
  for (let i = 0; i < count; i += 1) {
    tokens.push(await new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(`u${i}`).setIssuedAt().setExpirationTime('1d').sign(key));
  }
  return tokens;
}

const rssOf = (processes: readonly ServerProcess[]): Record<string, number> =>
  Object.fromEntries(processes.map((p) => [p.name, p.pids.reduce((sum, pid) => sum + rssKiB(pid), 0)]));
const sum = (values: Record<string, number>): number => Object.values(values).reduce((a, b) => a + b, 0);

/** Two significant digits: the rate between a pass and a failure. */
const roundRate = (value: number): number => {
  const magnitude = 10 ** Math.max(0, Math.floor(Math.log10(value)) - 1);
  return Math.round(value / magnitude) * magnitude;
};

function judge(step: Awaited<ReturnType<LoadGenerator['runStep']>>, options: FanoutOptions, refinement: boolean): StepResult {
  const reasons: string[] = [];
  const generatorReasons: string[] = [];
  if (step.generator.cpu > options.maxGeneratorCpu) generatorReasons.push(`generator saturated: ${Math.round(step.generator.cpu * 100)}% of its core`);
  if (step.generator.sendLagP99Ms > options.maxSendLagMs) {
    const other = step.cpus.generator?.otherProcesses ?? null;
    generatorReasons.push(
      `generator behind schedule: send lag p99 ${step.generator.sendLagP99Ms.toFixed(1)} ms` +
        (other === null ? '' : ` (other processes took ${other} cores of its CPU)`),
    );
  }
  if (step.abortedEarly) reasons.push(`p99 > ${options.p99BoundMs} ms (stopped early: over 1% of deliveries late)`);
  else if (!(step.latencyMs.p99 <= options.p99BoundMs)) reasons.push(`p99 ${step.latencyMs.p99} ms > ${options.p99BoundMs} ms`);
  if (step.lost !== null && step.lost > 0) reasons.push(`${step.lost} of ${step.expectedDeliveries} deliveries lost`);
  if (step.sendErrors > 0) reasons.push(`${step.sendErrors} sends failed (${step.firstSendError})`);
  if (step.connectionsFailed > 0) reasons.push(`${step.connectionsFailed} connections failed`);
  if (step.duplicates > 0) reasons.push(`${step.duplicates} duplicate deliveries`);
  if (step.misrouted > 0) reasons.push(`${step.misrouted} deliveries outside the message's group`);
  if (generatorReasons.length > 0) return { ...step, verdict: 'discarded', reasons: [...generatorReasons, ...reasons], refinement };
  const other = step.cpus.server?.otherProcesses ?? 0;
  // Other work can only make a step worse: it spoils a failure, never a pass.
  if (reasons.length > 0 && other > options.maxOtherLoad) {
    return { ...step, verdict: 'discarded', reasons: [`other processes took ${other} cores of the server CPU`, ...reasons], refinement };
  }
  return { ...step, verdict: reasons.length === 0 ? 'pass' : 'fail', reasons, refinement };
}

function describe(step: StepResult): string {
  const l = step.latencyMs;
  return (
    `${step.targetDeliveriesPerSecond.toLocaleString('en-US')} deliveries/s${step.refinement ? ' (refine)' : ''}: ` +
    `p50 ${l.p50} ms, p99 ${l.p99} ms, lost ${step.lost ?? 'n/j'}, server ${step.serverCores.toFixed(2)} cores, ` +
    `${step.cpuSecondsPer1000Deliveries ?? '–'} CPU-s/1k, generator ${Math.round(step.generator.cpu * 100)}%, ` +
    `server CPU interrupts ${step.cpus.server?.interrupts ?? '–'}, other processes ${step.cpus.server?.otherProcesses ?? '–'} cores → ${step.verdict}` +
    (step.reasons.length > 0 ? ` (${step.reasons.join('; ')})` : '')
  );
}

async function runOne(
  system: SystemName,
  connections: number,
  members: number,
  tokens: readonly string[],
  secret: string,
  options: FanoutOptions,
  pinning: Pinning,
): Promise<RunResult> {
  const groups = connections / members;
  const tag = `[${system} C=${connections} M=${members}]`;
  const steps: StepResult[] = [];
  let warmup: StepResult | null = null;
  let idleRss: RunResult['idleRss'] = null;
  let settings: Record<string, string> = {};
  let setupSeconds: number | null = null;
  const phases: Record<string, number> = {};
  let idleCores: Record<string, number> | null = null;
  let generator: LoadGenerator | null = null;
  const errors: SendErrors = { report: (index, error) => generator?.report(index, error) };
  const base = { system, label: systemLabels[system], connections, members, groups };
  const setupStart = performance.now();
  const graceMs = options.graceSeconds * 1000;
  const first = options.rates[0] as number;
  const redis = await startRedis(pinning);
  let deployment: Awaited<ReturnType<typeof deploy>> | null = null;
  try {
    deployment = await deploy(system, { root, pinning, redisUrl: redis.url, jwtSecret: secret, sendVia: options.sendVia, errors });
    settings = { ...deployment.settings };
    const measured = [...deployment.servers, redis];
    // Seconds each setup phase took, for the record (a slow setup is a finding too).
    const phaseEnds: [string, number][] = [];
    const phase = (what: string): void => {
      const last = phaseEnds.at(-1)?.[1] ?? setupStart;
      const now = performance.now();
      phaseEnds.push([what, now]);
      phases[what] = Math.round((now - last) / 100) / 10;
    };
    phase('processes');
    const groupIds = await deployment.createGroups({ groups, members, userId: (i) => `u${i}`, token: (i) => tokens[i] as string });
    phase('groups');
    await sleep(500);
    const before = rssOf(measured);
    generator = new LoadGenerator({
      members,
      groupIds,
      bodyLength: options.bodyLength,
      boundMs: options.p99BoundMs,
      servers: measured,
      pinned: pinning.enabled ? { servers: cpuIndexes(pinning.serverCpus), generator: cpuIndexes(pinning.generatorCpus) } : null,
    });
    generator.sender = deployment.sender;
    const plans = Array.from({ length: connections }, (_, i) => ({
      // Members of a group alternate between the nodes: every group spans both.
      node: i % 2,
      group: Math.floor(i / members),
      userId: `u${i}`,
      token: tokens[i] as string,
    }));
    try {
      await generator.connect(plans, deployment.wire);
    } catch (error) {
      throw new SetupError(`could not subscribe all ${connections} connections: ${(error as Error).message}`);
    }
    phase('connections');
    log(`${tag} ${connections} subscriptions requested; probing until every group's members all receive`);
    // Probes go out at the first rate of the ladder: faster, they would be a load step of their own.
    try {
      await generator.probe({ perSecond: first / members });
    } catch (error) {
      throw new SetupError(`subscriptions never all live at ${first} deliveries/s: ${(error as Error).message}`);
    }
    phase('probes');
    await sleep(1000);
    const after = rssOf(measured);
    const nodeNames = deployment.nodes.map((node) => node.name);
    const nodesOnly = (rss: Record<string, number>): number => sum(Object.fromEntries(nodeNames.map((name) => [name, rss[name] ?? 0])));
    const perConnection = (grown: number): number => Math.round((grown / connections) * 100) / 100;
    idleRss = {
      beforeKiB: nodesOnly(before),
      afterKiB: nodesOnly(after),
      perConnectionKiB: perConnection(nodesOnly(after) - nodesOnly(before)),
      perConnectionKiBAllProcesses: perConnection(sum(after) - sum(before)),
      byProcessKiB: Object.fromEntries(Object.keys(after).map((name) => [name, { before: before[name] ?? 0, after: after[name] ?? 0 }])),
    };
    setupSeconds = Math.round((performance.now() - setupStart) / 100) / 10;
    const took = Object.entries(phases).map(([what, seconds]) => `${what} ${seconds} s`).join(', ');
    log(`${tag} live after ${setupSeconds} s (${took}); idle RSS ${idleRss.perConnectionKiB} KiB per connection`);

    idleCores = await generator.idleCpu(options.quick ? 2 : 5);
    log(`${tag} idle server CPU ${sum(idleCores).toFixed(3)} cores (${Object.entries(idleCores).map(([name, cores]) => `${name} ${cores}`).join(', ')})`);

    if (options.warmupSeconds > 0) {
      warmup = judge(await generator.runStep(first, options.warmupSeconds, graceMs), options, false);
      log(`${tag} warm-up ${describe(warmup)}`);
      await generator.drain(10_000);
    }
    let pass: number | null = null;
    let fail: number | null = null;
    let stoppedBy: RunResult['best']['stoppedBy'] = 'end of the rate ladder';
    for (const rate of options.rates) {
      let step = judge(await generator.runStep(rate, options.stepSeconds, graceMs), options, false);
      steps.push(step);
      log(`${tag} ${describe(step)}`);
      // A discarded step is run again (twice at most): on a shared machine a burst of other
      // work can hold up the generator for a moment.
      for (let retry = 0; retry < 2 && step.verdict === 'discarded'; retry += 1) {
        await generator.drain(10_000);
        step = judge(await generator.runStep(rate, options.stepSeconds, graceMs), options, false);
        steps.push(step);
        log(`${tag} again: ${describe(step)}`);
      }
      if (step.verdict === 'pass') {
        pass = rate;
        await sleep(500);
        continue;
      }
      stoppedBy = step.verdict === 'discarded' ? 'discarded' : 'latency or loss';
      if (step.verdict === 'fail') fail = rate;
      break;
    }
    for (let round = 0; round < options.refine && pass !== null && fail !== null; round += 1) {
      if (generator.totals().failedConnections > 0) break;
      if (!(await generator.drain(15_000))) {
        log(`${tag} deliveries still arriving after 15 s; no refinement`);
        break;
      }
      const rate = roundRate(Math.sqrt(pass * fail));
      if (rate <= pass || rate >= fail) break;
      const step = judge(await generator.runStep(rate, options.stepSeconds, graceMs), options, true);
      steps.push(step);
      log(`${tag} ${describe(step)}`);
      if (step.verdict === 'pass') pass = rate;
      else if (step.verdict === 'fail') fail = rate;
      else break;
    }
    const bestStep = pass === null ? null : (steps.find((step) => step.verdict === 'pass' && step.targetDeliveriesPerSecond === pass) ?? null);
    return { ...base, settings, error: null, setupSeconds, setupPhasesSeconds: phases, idleServerCores: idleCores, idleRss, warmup, steps, best: { deliveriesPerSecond: pass, stoppedBy, step: bestStep } };
  } catch (error) {
    const crashed = [...(deployment?.servers ?? []), redis].filter((server) => server.exitStatus() !== null);
    const detail = crashed.map((server) => `${server.name} ended (${server.exitStatus()}): ${server.stderrTail().slice(-500)}`).join('\n');
    const message = `${(error as Error).message}${detail === '' ? '' : `\n${detail}`}`;
    log(`${tag} error: ${message}`);
    const stoppedBy = error instanceof SetupError ? 'setup' : 'error';
    return { ...base, settings, error: message, setupSeconds, setupPhasesSeconds: phases, idleServerCores: idleCores, idleRss, warmup, steps, best: { deliveriesPerSecond: null, stoppedBy, step: null } };
  } finally {
    generator?.close();
    await deployment?.stop();
    await redis.stop();
  }
}

async function main(): Promise<void> {
  let options: FanoutOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    if (error.message !== '') process.stderr.write(`${error.message}\n\n`);
    process.stderr.write(usage);
    process.exit(error.message === '' ? 0 : 2);
  }
  if (options.render !== null) {
    const results = JSON.parse(readFileSync(options.render, 'utf8')) as FanoutResults;
    const files = await writeResults(results, dirname(options.render), basename(options.render, '.json'));
    log(`wrote ${files.markdown}, ${files.svg}`);
    return;
  }
  if (!procAvailable()) throw new Error('The fan-out benchmark reads CPU and memory from /proc: it needs Linux.');
  let pinning: Pinning = { enabled: options.pin, generatorCpus: options.generatorCpus, serverCpus: options.serverCpus };
  if (pinning.enabled && !tasksetAvailable()) {
    log('taskset is not available (util-linux): running unpinned, results are less comparable');
    pinning = { ...pinning, enabled: false };
  }
  if (pinning.enabled) pinSelf(pinning.generatorCpus);
  if (options.systems.includes('platform') && !process.env['PLATFORM_CMD']) {
    // The default command runs the compiled server: compile it as `npm run build` does.
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  }
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const command = `npm run bench:fanout${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const host = machine(pinning);
  log(`${command}\n${host.line}`);
  const secret = randomBytes(32).toString('base64url');
  const runs: RunResult[] = [];
  for (const connections of options.connections) {
    const tokens = await signTokens(secret, connections);
    for (const members of options.members) {
      for (const system of options.systems) {
        runs.push(await runOne(system, connections, members, tokens, secret, options, pinning));
        // Let the sockets of the run just closed leave TIME_WAIT handling and GC settle.
        await sleep(1000);
      }
    }
  }
  const results: FanoutResults = {
    benchmark: 'fanout',
    version: 1,
    command,
    machine: host,
    method: {
      name: options.name,
      p99BoundMs: options.p99BoundMs,
      rates: options.rates,
      stepSeconds: options.stepSeconds,
      warmupSeconds: options.warmupSeconds,
      graceSeconds: options.graceSeconds,
      refine: options.refine,
      sendVia: options.sendVia,
      bodyLength: options.bodyLength,
      maxGeneratorCpu: options.maxGeneratorCpu,
      maxSendLagMs: options.maxSendLagMs,
      maxOtherLoad: options.maxOtherLoad,
      quick: options.quick,
    },
    startedAt,
    durationSeconds: Math.round((performance.now() - started) / 1000),
    runs,
  };
  const files = await writeResults(results, options.out, options.name);
  log(`\nwrote ${Object.values(files).map((file) => relative(process.cwd(), file)).join(', ')} in ${results.durationSeconds} s`);
}

await main();
