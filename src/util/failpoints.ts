/**
 * Failpoints: named steps in the server where a process can be made to fail on purpose, so a
 * test (or someone diagnosing a fault) hits an exact point of a protocol instead of killing the
 * process at a random moment and hoping. The idea and the `FAILPOINTS` variable follow TiKV's
 * fail-rs (`FAILPOINTS="name=action;name=action"`) and FoundationDB's simulation failpoints.
 *
 * A test and diagnostic facility only: nothing arms a failpoint but the `FAILPOINTS` environment
 * variable, read once at startup by `main.ts`, and a process with one armed says so in a warning
 * log line. Unset (the normal case), `failpoint(name)` is one comparison with null.
 *
 * Actions:
 * - `kill`: the process sends itself SIGKILL at that point (as `kill -9` would: no handler,
 *   no drain, no flush), so whatever was done before the point is done and nothing after it is.
 * - `off`: nothing (lets a spec be switched off without removing it).
 */

/** Every failpoint the code has, with where it sits. A name not listed here is refused. */
export const FAILPOINTS = {
  /** The relay published a batch to the gateways and has not checkpointed it. */
  'relay.afterPublish': 'relay.ts: after a batch is published, before its checkpoint is written',
  /** The relay's checkpoint is durable and the outbox records up to it are not acknowledged. */
  'relay.afterCheckpoint': 'relay.ts: after a checkpoint is written, before the outbox is acknowledged up to it',
} as const;

export type FailpointName = keyof typeof FAILPOINTS;

export const FailpointActions = { off: 'off', kill: 'kill' } as const;
export type FailpointAction = (typeof FailpointActions)[keyof typeof FailpointActions];

/** A `FAILPOINTS` value that names an unknown failpoint or action. */
export class FailpointSpecError extends Error {
  override readonly name = 'FailpointSpecError';
}

const isName = (name: string): name is FailpointName => Object.hasOwn(FAILPOINTS, name);
const isAction = (action: string): action is FailpointAction => Object.hasOwn(FailpointActions, action);

/** Parses `name=action;name=action` (whitespace and empty entries ignored). */
export function parseFailpoints(spec: string): Map<FailpointName, FailpointAction> {
  const parsed = new Map<FailpointName, FailpointAction>();
  for (const entry of spec.split(';').map((part) => part.trim()).filter((part) => part !== '')) {
    const equals = entry.indexOf('=');
    const name = (equals < 0 ? entry : entry.slice(0, equals)).trim();
    const action = equals < 0 ? '' : entry.slice(equals + 1).trim();
    if (!isName(name)) {
      throw new FailpointSpecError(`FAILPOINTS names an unknown failpoint ${JSON.stringify(name)}; known: ${Object.keys(FAILPOINTS).join(', ')}`);
    }
    if (!isAction(action)) {
      throw new FailpointSpecError(`FAILPOINTS gives ${name} the unknown action ${JSON.stringify(action)}; known: ${Object.keys(FailpointActions).join(', ')}`);
    }
    parsed.set(name, action);
  }
  return parsed;
}

/** The armed failpoints; null while none is (the cost of `failpoint` is then this check). */
let armed: ReadonlyMap<FailpointName, FailpointAction> | null = null;

/**
 * Arms the failpoints of `spec` (the `FAILPOINTS` variable) for this process, replacing any
 * armed before; returns the names armed with an action other than `off`. Throws
 * FailpointSpecError, arming nothing, on an unknown name or action.
 */
export function armFailpoints(spec: string | undefined): FailpointName[] {
  const parsed = parseFailpoints(spec ?? '');
  const active = [...parsed].filter(([, action]) => action !== FailpointActions.off);
  armed = active.length === 0 ? null : new Map(active);
  return active.map(([name]) => name);
}

/** Marks the point `name` in the code: does what `FAILPOINTS` armed there, nothing otherwise. */
export function failpoint(name: FailpointName): void {
  if (armed === null) return;
  if (armed.get(name) === FailpointActions.kill) process.kill(process.pid, 'SIGKILL');
}
