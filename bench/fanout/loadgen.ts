/**
 * The load generator: C subscriber sockets (bench/fanout/wsclient.ts) spread over the nodes, an open-loop sender that
 * follows a timetable, and per-message bookkeeping that finds a delivery's message index in
 * the frame without parsing it.
 *
 * Every system's frames carry the message body, which starts with `bench#<index>#`; the index
 * gives the message's intended send time and group from typed arrays, so a delivery costs one
 * `Buffer.indexOf`, a few byte reads, a clock read and a histogram update. Latency is counted
 * from the INTENDED send time: when the sender (or an HTTP connection pool in front of a slow
 * server) falls behind, that delay is part of the latency, as it would be for a user.
 *
 * Long on purpose: the subscriber sockets, the sender's timetable and the per-message arrays
 * are one hot loop's data; keeping them in one module keeps the delivery path free of calls across
 * module state.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import { cpuPressure, cpuSeconds, cpuTimes, type CpuTimes } from './procstat.ts';
import { connectWebSocket, type MiniWebSocket } from './wsclient.ts';

const MARKER = Buffer.from('bench#');
const MARKER_LENGTH = MARKER.length;

/** The message index in a frame's body, or -1 when the frame carries no benchmark message. */
export function messageIndexOf(frame: Buffer): number {
  const at = frame.indexOf(MARKER);
  if (at < 0) return -1;
  let i = at + MARKER_LENGTH;
  let index = 0;
  for (; i < frame.length; i += 1) {
    const c = frame[i] as number;
    if (c < 48 || c > 57) break;
    index = index * 10 + (c - 48);
  }
  return i === at + MARKER_LENGTH ? -1 : index;
}

/** A message body of `length` characters that starts with `bench#<index>#`. */
export function bodyFor(index: number, length: number): string {
  const head = `bench#${index}#`;
  return head.length >= length ? head : head + FILLER.slice(0, length - head.length);
}
const FILLER = ' the quick brown fox jumps over the lazy dog'.repeat(200);

/** One subscriber socket. The system's `Wire` drives its handshake. */
export class Connection {
  readonly index: number;
  /** Which node (0 or 1) it connects to. */
  readonly node: number;
  /** Index of its group. */
  readonly group: number;
  readonly groupId: string;
  readonly userId: string;
  readonly token: string;
  socket: MiniWebSocket | null = null;
  /** Why it stopped working, or null. */
  failure: string | null = null;
  private resolveReady: () => void = () => {};
  private rejectReady: (error: Error) => void = () => {};
  readonly ready: Promise<void>;

  constructor(init: { index: number; node: number; group: number; groupId: string; userId: string; token: string }) {
    this.index = init.index;
    this.node = init.node;
    this.group = init.group;
    this.groupId = init.groupId;
    this.userId = init.userId;
    this.token = init.token;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {});
  }

  write(frame: string): void {
    this.socket?.send(frame);
  }

  /** The subscription request went out (the system acknowledged what it acknowledges). */
  subscribed(): void {
    this.resolveReady();
  }

  fail(reason: string): void {
    if (this.failure !== null) return;
    this.failure = reason;
    this.rejectReady(new Error(`connection ${this.index} (${this.userId}): ${reason}`));
  }
}

/** How a system's subscribers talk: URL, subprotocol, handshake and control frames. */
export interface Wire {
  url(node: number, connection: Connection): string;
  readonly subprotocol?: string;
  /** The socket is open. */
  open(connection: Connection): void;
  /** A frame without a benchmark message: handshake steps, pings, errors, send responses. */
  control(connection: Connection, frame: Buffer): void;
}

/** Sends one message; failures are reported to `SendErrors`. */
export interface Sender {
  send(index: number, from: Connection, groupId: string, body: string): void;
  close(): void;
}

export interface SendErrors {
  report(index: number, error: string): void;
}

export interface Latency {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export interface StepMeasurement {
  /** Deliveries per second asked for (sends/s × M). */
  readonly targetDeliveriesPerSecond: number;
  readonly sendsPerSecond: number;
  readonly seconds: number;
  readonly messagesPlanned: number;
  readonly messagesSent: number;
  readonly expectedDeliveries: number;
  readonly delivered: number;
  /** Deliveries still missing after the grace period; null when the step was aborted early (not judged). */
  readonly lost: number | null;
  /** Deliveries still missing after the grace period, aborted step or not. */
  readonly missingAfterGrace: number;
  readonly duplicates: number;
  /** Deliveries to a connection outside the message's group. */
  readonly misrouted: number;
  readonly sendErrors: number;
  readonly firstSendError: string | null;
  readonly connectionsFailed: number;
  /** Deliveries per second from the first intended send to the last delivery (what the target turned into). */
  readonly achievedDeliveriesPerSecond: number;
  /** Latency from the intended send time, in ms. */
  readonly latencyMs: Latency;
  /** Stopped early: more than 1% of the planned deliveries were already later than the bound. */
  readonly abortedEarly: boolean;
  readonly generator: {
    /** Fraction of one core the generator used while sending. */
    readonly cpu: number;
    /** How far sends fell behind the timetable, ms. */
    readonly sendLagP99Ms: number;
    readonly sendLagMaxMs: number;
    readonly eventLoopDelayP99Ms: number;
  };
  /** CPU seconds per server process over the step, from its start to its last delivery. */
  readonly serverCpuSeconds: Readonly<Record<string, number>>;
  readonly serverCpuSecondsTotal: number;
  /** Server CPU seconds over the step / its wall time: 1.0 is one busy core. */
  readonly serverCores: number;
  readonly cpuSecondsPer1000Deliveries: number | null;
  /**
   * What the CPUs did besides the benchmark's processes during the step, in cores. Kernel
   * interrupt work (TCP over loopback, mostly charged to the CPU of the process that
   * writes) is nobody's utime/stime; other processes are noise from a shared machine.
   */
  readonly cpus: {
    readonly server: CpuShare | null;
    readonly generator: CpuShare | null;
    /** /proc/pressure/cpu `some avg10` at the end of the step, %. */
    readonly pressureAvg10: number | null;
  };
}

export interface CpuShare {
  /** Interrupt (mostly network softirq) time on these CPUs, in cores. */
  readonly interrupts: number;
  /** Processes outside the benchmark on these CPUs, in cores. */
  readonly otherProcesses: number;
  /** Time the hypervisor took, in cores. */
  readonly steal: number;
}

export interface MeasuredProcess {
  readonly name: string;
  readonly pids: readonly number[];
}

const processCpu = (process: MeasuredProcess): number => process.pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);

function newHistogram(): hdr.Histogram {
  // Microseconds, 3 significant digits, grows as needed.
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
}

const latencyOf = (histogram: hdr.Histogram): Latency => {
  const ms = (us: number): number => Math.round(us) / 1000;
  if (histogram.totalCount === 0) return { p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN };
  return {
    p50: ms(histogram.getValueAtPercentile(50)),
    p90: ms(histogram.getValueAtPercentile(90)),
    p99: ms(histogram.getValueAtPercentile(99)),
    p999: ms(histogram.getValueAtPercentile(99.9)),
    max: ms(histogram.maxValue),
    mean: ms(histogram.mean),
  };
};

interface ActiveStep {
  readonly first: number;
  end: number;
  delivered: number;
  duplicates: number;
  misrouted: number;
  late: number;
  /** performance.now() of the latest delivery. */
  lastAt: number;
  readonly histogram: hdr.Histogram;
}

export interface GeneratorOptions {
  readonly members: number;
  readonly groupIds: readonly string[];
  readonly bodyLength: number;
  readonly boundMs: number;
  readonly servers: readonly MeasuredProcess[];
  /** CPU indexes the servers and the generator are pinned to; null when not pinned. */
  readonly pinned: { readonly servers: readonly number[]; readonly generator: readonly number[] } | null;
}

/**
 * Holds the connections of one run and measures steps. One instance per (system, C, M).
 */
export class LoadGenerator implements SendErrors {
  readonly connections: Connection[] = [];
  private readonly members: number;
  private readonly groupIds: readonly string[];
  private readonly bodyLength: number;
  private readonly boundMs: number;
  private readonly servers: readonly MeasuredProcess[];
  private readonly pinned: GeneratorOptions['pinned'];
  // Per message, by index.
  private intended = new Float64Array(1 << 16);
  private groupOf = new Int32Array(1 << 16);
  private received = new Uint16Array(1 << 16);
  private nextIndex = 0;
  /** Messages sent to each group so far; picks the sending member in turn. */
  private readonly groupSends: Uint32Array;
  private step: ActiveStep | null = null;
  private sendErrors = 0;
  private firstSendError: string | null = null;
  private failedConnections = 0;
  private closing = false;
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });
  /** Deliveries of messages that belonged to no running step (probes, late arrivals). */
  private stray = 0;
  private unexpected = 0;
  sender: Sender | null = null;

  constructor(options: GeneratorOptions) {
    this.members = options.members;
    this.groupIds = options.groupIds;
    this.bodyLength = options.bodyLength;
    this.boundMs = options.boundMs;
    this.servers = options.servers;
    this.pinned = options.pinned;
    this.groupSends = new Uint32Array(options.groupIds.length);
    this.loopDelay.enable();
  }

  report(index: number, error: string): void {
    this.sendErrors += 1;
    if (this.firstSendError === null) this.firstSendError = `message ${index}: ${error}`;
  }

  /**
   * Opens every connection (at most `concurrency` handshakes at a time) and waits until each
   * has subscribed; the first connection that fails or takes longer than `timeoutMs` stops it.
   */
  async connect(
    plans: readonly { node: number; group: number; userId: string; token: string }[],
    wire: Wire,
    { concurrency = 500, timeoutMs = 60_000 } = {},
  ): Promise<void> {
    let next = 0;
    const openOne = async (): Promise<void> => {
      while (next < plans.length && !this.closing) {
        const plan = plans[next] as (typeof plans)[number];
        const connection = new Connection({ index: next, ...plan, groupId: this.groupIds[plan.group] as string });
        next += 1;
        this.connections.push(connection);
        this.open(connection, wire);
        const timer = setTimeout(() => connection.fail(`not subscribed within ${timeoutMs} ms`), timeoutMs);
        try {
          await connection.ready;
        } catch (error) {
          next = plans.length;
          throw error;
        } finally {
          clearTimeout(timer);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, plans.length) }, openOne));
  }

  private open(connection: Connection, wire: Wire): void {
    connection.socket = connectWebSocket(wire.url(connection.node, connection), wire.subprotocol, {
      onOpen: () => wire.open(connection),
      onMessage: (data) => {
        const index = messageIndexOf(data);
        if (index >= 0) this.delivered(connection, index);
        else wire.control(connection, data);
      },
      onClose: (code, reason) => {
        if (this.closing) return;
        if (connection.failure === null) this.failedConnections += 1;
        connection.fail(`closed: ${code} ${reason}`);
      },
    });
  }

  private delivered(connection: Connection, index: number): void {
    const now = performance.now();
    if (index >= this.nextIndex) {
      this.unexpected += 1;
      return;
    }
    const count = (this.received[index] as number) + 1;
    this.received[index] = count;
    const step = this.step;
    if (step === null || index < step.first || index >= step.end) {
      this.stray += 1;
      return;
    }
    if (this.groupOf[index] !== connection.group) {
      step.misrouted += 1;
      return;
    }
    if (count > this.members) {
      step.duplicates += 1;
      return;
    }
    step.delivered += 1;
    step.lastAt = now;
    const latencyMs = now - (this.intended[index] as number);
    if (latencyMs > this.boundMs) step.late += 1;
    step.histogram.recordValue(latencyMs <= 0 ? 1 : Math.round(latencyMs * 1000));
  }

  private reserve(count: number): number {
    const first = this.nextIndex;
    const needed = first + count;
    if (needed > this.intended.length) {
      let size = this.intended.length;
      while (size < needed) size *= 2;
      const grow = <T extends Float64Array | Int32Array | Uint16Array>(old: T, make: (n: number) => T): T => {
        const bigger = make(size);
        bigger.set(old);
        return bigger;
      };
      this.intended = grow(this.intended, (n) => new Float64Array(n));
      this.groupOf = grow(this.groupOf, (n) => new Int32Array(n));
      this.received = grow(this.received, (n) => new Uint16Array(n));
    }
    this.nextIndex = needed;
    return first;
  }

  private sendOne(index: number, group: number): void {
    const member = (this.groupSends[group] as number) % this.members;
    this.groupSends[group] = (this.groupSends[group] as number) + 1;
    const from = this.connections[group * this.members + member] as Connection;
    (this.sender as Sender).send(index, from, this.groupIds[group] as string, bodyFor(index, this.bodyLength));
  }

  /**
   * Sends one message to each group in `groups` (paced at `perSecond`) until every group has
   * had one message reach all its members, which proves every subscription is live.
   */
  async probe({ perSecond = 1000, roundMs = 3000, timeoutMs }: { perSecond?: number; roundMs?: number; timeoutMs?: number } = {}): Promise<void> {
    // Three rounds of probes, at least 30 s: a system that needs longer cannot carry this rate.
    const deadline = Date.now() + (timeoutMs ?? Math.max(30_000, 3 * ((this.groupIds.length / perSecond) * 1000 + roundMs)));
    let pending = Array.from(this.groupIds, (_, group) => group);
    while (pending.length > 0) {
      const failed = this.connections.find((c) => c.failure !== null);
      if (failed !== undefined) throw new Error(`connection ${failed.index} (${failed.userId}) failed: ${failed.failure}`);
      if (Date.now() > deadline) throw new Error(`${pending.length} of ${this.groupIds.length} groups never had a probe reach all members`);
      const probes = new Map<number, number>();
      const first = this.reserve(pending.length);
      for (let i = 0; i < pending.length; i += 1) {
        const group = pending[i] as number;
        const index = first + i;
        this.groupOf[index] = group;
        this.intended[index] = performance.now();
        probes.set(group, index);
        this.sendOne(index, group);
        if ((i + 1) % Math.max(1, Math.round(perSecond / 20)) === 0) await sleep(50);
      }
      const roundEnd = Date.now() + roundMs;
      const arrived = (group: number): boolean => (this.received[probes.get(group) as number] as number) >= this.members;
      while (Date.now() < roundEnd && !pending.every(arrived)) await sleep(50);
      pending = pending.filter((group) => !arrived(group));
    }
  }

  private serverCpu(): Record<string, number> {
    return Object.fromEntries(this.servers.map((server) => [server.name, processCpu(server)]));
  }

  /**
   * Server CPU with every subscription live and nothing sent, in cores per process: the
   * keep-alives, heartbeats and polls that a per-delivery figure at a low rate also carries.
   */
  async idleCpu(seconds: number): Promise<Record<string, number>> {
    const start = this.serverCpu();
    const started = performance.now();
    await sleep(seconds * 1000);
    const end = this.serverCpu();
    const wall = (performance.now() - started) / 1000;
    return Object.fromEntries(Object.entries(end).map(([name, value]) => [name, round3((value - (start[name] ?? 0)) / wall)]));
  }

  /**
   * Runs one open-loop step: `rate` deliveries/s for `seconds`, then waits up to `graceMs`
   * for missing deliveries. Stops sending early once the step has certainly failed its bound.
   */
  async runStep(rate: number, seconds: number, graceMs: number): Promise<StepMeasurement> {
    const groups = this.groupIds.length;
    const sendsPerSecond = rate / this.members;
    const planned = Math.max(1, Math.round(sendsPerSecond * seconds));
    const intervalMs = 1000 / sendsPerSecond;
    const first = this.reserve(planned);
    const t0 = performance.now() + 5;
    for (let k = 0; k < planned; k += 1) {
      this.intended[first + k] = t0 + k * intervalMs;
      this.groupOf[first + k] = (first + k) % groups;
    }
    const step: ActiveStep = { first, end: first + planned, delivered: 0, duplicates: 0, misrouted: 0, late: 0, lastAt: 0, histogram: newHistogram() };
    this.step = step;
    const sendLag = newHistogram();
    const errorsBefore = this.sendErrors;
    this.firstSendError = null;
    const failedBefore = this.failedConnections;
    const cpuStart = this.serverCpu();
    const generatorStart = cpuSeconds(process.pid);
    const timesStart = cpuTimes();
    this.loopDelay.reset();
    const totalPlanned = planned * this.members;
    // p99 is over the bound once more than 1% of the planned deliveries are late.
    const lateLimit = Math.floor(totalPlanned * 0.01);

    let sent = 0;
    let abortedEarly = false;
    const sendEnd = await new Promise<number>((resolve) => {
      const check = setInterval(() => {
        const now = performance.now();
        // Deliveries due before now - bound that have not arrived are late whatever happens.
        const due = Math.min(sent, Math.max(0, Math.floor((now - this.boundMs - t0) / intervalMs) + 1));
        const missing = Math.max(0, due * this.members - step.delivered);
        if (step.late + missing > lateLimit || this.failedConnections > failedBefore) {
          abortedEarly = true;
          clearInterval(check);
          resolve(now);
        }
      }, 100);
      const tick = (): void => {
        if (abortedEarly) return;
        const now = performance.now();
        while (sent < planned) {
          const index = first + sent;
          const at = this.intended[index] as number;
          if (at > now) break;
          sendLag.recordValue(Math.max(1, Math.round((now - at) * 1000)));
          this.sendOne(index, this.groupOf[index] as number);
          sent += 1;
        }
        if (sent >= planned) {
          clearInterval(check);
          resolve(now);
          return;
        }
        setTimeout(tick, Math.max(0, (this.intended[first + sent] as number) - performance.now()));
      };
      setTimeout(tick, 5);
    });
    const generatorCpu = cpuSeconds(process.pid) - generatorStart;
    const loopDelayP99 = this.loopDelay.percentile(99) / 1e6;
    step.end = first + sent;
    const expected = sent * this.members;
    // Grace: wait for stragglers. After an early abort too: the step has failed, but its CPU
    // per delivery is only right once the deliveries in flight have arrived.
    const graceEnd = performance.now() + graceMs;
    while (step.delivered < expected && performance.now() < graceEnd && this.failedConnections === failedBefore) await sleep(20);
    const end = performance.now();
    this.step = null;
    const cpuEnd = this.serverCpu();
    const timesEnd = cpuTimes();
    const generatorTotal = cpuSeconds(process.pid) - generatorStart;
    const serverCpuSeconds = Object.fromEntries(Object.entries(cpuEnd).map(([name, value]) => [name, round3(value - (cpuStart[name] ?? 0))]));
    const serverCpuSecondsTotal = round3(Object.values(serverCpuSeconds).reduce((a, b) => a + b, 0));
    const sendingSeconds = Math.max(0.001, (sendEnd - t0) / 1000);
    const wallSeconds = (end - t0) / 1000;
    const share = (cpus: readonly number[], ours: number): CpuShare => {
      const delta = (key: keyof CpuTimes): number =>
        cpus.reduce((total, cpu) => total + ((timesEnd.get(cpu)?.[key] ?? 0) - (timesStart.get(cpu)?.[key] ?? 0)), 0);
      return {
        interrupts: round3(delta('interrupts') / wallSeconds),
        otherProcesses: round3(Math.max(0, delta('tasks') - ours) / wallSeconds),
        steal: round3(delta('steal') / wallSeconds),
      };
    };
    return {
      targetDeliveriesPerSecond: rate,
      sendsPerSecond: round3(sendsPerSecond),
      seconds,
      messagesPlanned: planned,
      messagesSent: sent,
      expectedDeliveries: expected,
      delivered: step.delivered,
      lost: abortedEarly ? null : expected - step.delivered,
      missingAfterGrace: expected - step.delivered,
      duplicates: step.duplicates,
      misrouted: step.misrouted,
      sendErrors: this.sendErrors - errorsBefore,
      firstSendError: this.firstSendError,
      connectionsFailed: this.failedConnections - failedBefore,
      achievedDeliveriesPerSecond: step.delivered === 0 ? 0 : Math.round(step.delivered / Math.max(sendingSeconds, (step.lastAt - t0) / 1000)),
      latencyMs: latencyOf(step.histogram),
      abortedEarly,
      generator: {
        cpu: round3(generatorCpu / sendingSeconds),
        sendLagP99Ms: sendLag.totalCount === 0 ? 0 : sendLag.getValueAtPercentile(99) / 1000,
        sendLagMaxMs: sendLag.totalCount === 0 ? 0 : sendLag.maxValue / 1000,
        eventLoopDelayP99Ms: round3(loopDelayP99),
      },
      serverCpuSeconds,
      serverCpuSecondsTotal,
      serverCores: round3(serverCpuSecondsTotal / ((end - t0) / 1000)),
      cpuSecondsPer1000Deliveries: step.delivered === 0 ? null : Math.round((serverCpuSecondsTotal / step.delivered) * 1000 * 10_000) / 10_000,
      cpus: {
        server: this.pinned === null ? null : share(this.pinned.servers, serverCpuSecondsTotal),
        generator: this.pinned === null ? null : share(this.pinned.generator, generatorTotal),
        pressureAvg10: cpuPressure(),
      },
    };
  }

  /** Waits until no delivery of an earlier step is outstanding (after a failed step), up to `timeoutMs`. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    let last = -1;
    let quietSince = performance.now();
    while (performance.now() < deadline) {
      const seen = this.stray;
      if (seen !== last) {
        last = seen;
        quietSince = performance.now();
      } else if (performance.now() - quietSince > 1000) {
        return true;
      }
      await sleep(100);
    }
    return false;
  }

  /** Counters outside steps, for the record. */
  totals(): { strayDeliveries: number; unexpectedFrames: number; failedConnections: number } {
    return { strayDeliveries: this.stray, unexpectedFrames: this.unexpected, failedConnections: this.failedConnections };
  }

  close(): void {
    this.closing = true;
    this.loopDelay.disable();
    this.sender?.close();
    for (const connection of this.connections) connection.socket?.terminate();
  }
}

const round3 = (value: number): number => Math.round(value * 1000) / 1000;
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
