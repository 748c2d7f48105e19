/**
 * `npm run soak -- --minutes N [--seed S] [--clients C] [--rate R] [--out DIR] [--name STEM]`:
 * the random-fault soak of issue 12. Prints the report, writes `<out>/<name>.json` and
 * `<out>/<name>.svg`, and exits 1 when anything was lost or leaked (or another promise broke).
 */
import { runSoak, type SoakOptions } from './soak.ts';

const usage = `Usage: npm run soak -- [--minutes 10] [--seed 12] [--clients 200] [--rate 25] [--out soak/results] [--name soak] [--no-build]`;

function parse(argv: readonly string[]): Partial<SoakOptions> {
  const options: { -readonly [K in keyof SoakOptions]?: SoakOptions[K] } = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    const value = (): string => {
      const next = argv[i + 1];
      if (next === undefined) throw new Error(`${arg} needs a value.\n${usage}`);
      i += 1;
      return next;
    };
    const number = (): number => {
      const parsed = Number(value());
      if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`${arg} needs a positive number.\n${usage}`);
      return parsed;
    };
    if (arg === '--minutes') options.minutes = number();
    else if (arg === '--seed') options.seed = Math.floor(number());
    else if (arg === '--clients') options.clients = Math.max(4, Math.floor(number()));
    else if (arg === '--rate') options.sendRate = number();
    else if (arg === '--out') options.outDir = value();
    else if (arg === '--name') options.name = value();
    else if (arg === '--rss-bound-mib') options.rssBoundMiB = number();
    else if (arg === '--no-build') options.build = false;
    else if (arg === '--help') {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    } else throw new Error(`Unknown option ${arg}.\n${usage}`);
  }
  return options;
}

const options = parse(process.argv.slice(2));
const report = await runSoak(options);
const mib = Object.entries(report.peakRssMiB).map(([name, value]) => `${name} ${value}`).join(', ');
const latency = report.latencyMs.outsideFaultWindows;
process.stdout.write(
  [
    '',
    `soak: ${report.minutes} min, seed ${report.seed}, ${report.clients.kit + report.clients.fixedGroup} clients in ${report.clients.groups} groups`,
    `sent ${report.sent}, acknowledged ${report.acknowledged}, refused ${JSON.stringify(report.refused)}`,
    `delivered ${report.delivered} (stream frames), duplicates dropped ${report.duplicatesDropped}`,
    `lost ${report.lost} (owed ${report.check.owed}; excused by removal ${report.check.excusedByRemoval}, uncertain ${report.check.uncertain})`,
    `leaks ${report.leaks.total} ${JSON.stringify(report.leaks)}`,
    `deliveries to non-members ${report.check.nonMemberDeliveries}, stream gaps repaired ${report.check.streamGaps}, stream duplicates ${report.check.streamDuplicates}`,
    `history: gaps ${report.check.historyGaps}, duplicates ${report.check.historyDuplicates}, acknowledged missing ${report.check.acknowledgedMissing}; resends ${JSON.stringify(report.resends)}`,
    `membership changes ${JSON.stringify(report.membership)}`,
    `faults ${JSON.stringify(report.faults.counts)}`,
    `peak RSS MiB: ${mib}; restarts ${JSON.stringify(report.restarts)}`,
    `p99 delivery latency outside fault windows: ${latency.p99} ms (p50 ${latency.p50} ms, ${latency.samples} samples); all: p99 ${report.latencyMs.all.p99} ms, max ${report.latencyMs.all.max} ms`,
    report.ok ? 'OK' : `FAILED: ${report.failures.join('; ')}`,
    '',
  ].join('\n'),
);
if (!report.ok) process.stdout.write(`${JSON.stringify(report.check.examples, null, 2)}\n`);
process.exit(report.ok ? 0 : 1);
