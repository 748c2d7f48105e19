/**
 * CPU time and resident memory of processes, read from Linux's /proc: utime + stime of
 * /proc/<pid>/stat (summed over all of a process's threads by the kernel) and VmRSS of
 * /proc/<pid>/status.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

function clockTicks(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/** Kernel clock ticks per second (the unit of utime/stime). */
export const CLOCK_TICKS = clockTicks();

/** Fields of /proc/<pid>/stat after the command name, which may itself hold spaces and ')'. */
function statFields(pid: number): string[] | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** CPU seconds (user + system) the process has used so far; 0 when it is gone. */
export function cpuSeconds(pid: number): number {
  const fields = statFields(pid);
  // After "pid (comm) ": state is field 3 of stat(5), utime 14, stime 15 → indexes 11 and 12 here.
  if (fields === null) return 0;
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Resident set size in KiB; 0 when the process is gone. */
export function rssKiB(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? 0 : Number(match[1]);
  } catch {
    return 0;
  }
}

/** The process and all its descendants (a command started through a wrapper such as npm). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (fields === null) continue;
    const parent = Number(fields[1]);
    const list = children.get(parent) ?? [];
    list.push(Number(entry));
    children.set(parent, list);
  }
  const tree: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

export const procAvailable = (): boolean => {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
};

/** The CPU indexes of a taskset list such as `0`, `1-3` or `0,2`. */
export function cpuIndexes(list: string): number[] {
  return list.split(',').flatMap((part) => {
    const [from, to] = part.split('-').map(Number) as [number, number | undefined];
    return Array.from({ length: (to ?? from) - from + 1 }, (_, i) => from + i);
  });
}

/** Seconds one CPU has spent, by kind, since boot (from /proc/stat). */
export interface CpuTimes {
  /** Running processes: user + nice + system. */
  readonly tasks: number;
  /** Hard and soft interrupts, charged to no process: on loopback, most of TCP's work. */
  readonly interrupts: number;
  /** Taken by the hypervisor. */
  readonly steal: number;
}

export function cpuTimes(): Map<number, CpuTimes> {
  const times = new Map<number, CpuTimes>();
  let text = '';
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return times;
  }
  for (const line of text.split('\n')) {
    const match = /^cpu(\d+) (\d+) (\d+) (\d+) \d+ \d+ (\d+) (\d+) (\d+)/.exec(line);
    if (match === null) continue;
    const n = match.slice(2).map(Number) as [number, number, number, number, number, number];
    times.set(Number(match[1]), {
      tasks: (n[0] + n[1] + n[2]) / CLOCK_TICKS,
      interrupts: (n[3] + n[4]) / CLOCK_TICKS,
      steal: n[5] / CLOCK_TICKS,
    });
  }
  return times;
}

/** `some avg10` of /proc/pressure/cpu: % of the last 10 s some runnable task waited for a CPU. */
export function cpuPressure(): number | null {
  try {
    const match = /^some avg10=([\d.]+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return match === null ? null : Number(match[1]);
  } catch {
    return null;
  }
}
