/**
 * The faults of issue 12, one at a time, each with the window it disturbed (from its start to
 * the moment everything it broke is back), so that latency can be told apart inside and outside
 * fault windows.
 */
import WebSocket from 'ws';
import { GATEWAYS, RELAYS, type Cluster, type ProcessName } from './cluster.ts';
import type { StreamObserver } from './observe.ts';
import type { SoakUser } from './clients.ts';
import { sleep, waitFor } from '../test/support/wait.ts';

export const FaultKinds = [
  'kill-gateway',
  'kill-active-relay',
  'kill-standby-relay',
  'sigstop-gateway',
  'redis-restart',
  'client-kill-pubsub',
  'client-pause',
  'init-burst',
  'reconnect-storm',
  'slow-consumer',
] as const;
export type FaultKind = (typeof FaultKinds)[number];

export interface FaultWindow {
  readonly kind: FaultKind;
  /** What exactly: which process, how long. */
  readonly detail: string;
  readonly start: number;
  /** When the fault was over (process back, pause over, sockets closed). */
  end: number;
  /** When every client was connected again after it. */
  recovered: number;
}

export interface FaultContext {
  readonly cluster: Cluster;
  readonly observer: StreamObserver;
  readonly users: readonly SoakUser[];
  readonly random: () => number;
  /** Sockets of the init burst the server did not close within the bound: a leak. */
  leakedInitSockets: number;
  /** A slow consumer the server did not cut off: reported, not a failure (it stopped reading for less than two ping periods). */
  slowConsumers: { readonly userId: string; readonly pausedMs: number; readonly closedByServer: boolean; readonly framesRead: number }[];
  /** Subscribes a hog connection as a user (since 0 on every group): the slow consumer. */
  readonly hog: (gatewayUrl: string) => { readonly socket: WebSocket; readonly userId: string };
}

const between = (random: () => number, min: number, max: number): number => Math.round(min + random() * (max - min));
const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;

/** Closing bound for never-initialised sockets: the server's init timeout is 3 s (graphql-ws). */
export const INIT_BURST_CLOSE_BOUND_MS = 30_000;
export const INIT_BURST_SIZE = 2000;

export async function injectFault(kind: FaultKind, ctx: FaultContext): Promise<FaultWindow> {
  const { cluster, random } = ctx;
  const window: FaultWindow = { kind, detail: '', start: Date.now(), end: 0, recovered: 0 };
  const set = (detail: string): void => {
    (window as { detail: string }).detail = detail;
  };
  switch (kind) {
    case 'kill-gateway': {
      const name = pick(random, GATEWAYS);
      const downMs = between(random, 500, 3000);
      set(`${name}, down ${downMs} ms`);
      await cluster.kill9(name);
      await sleep(downMs);
      await cluster.start(name);
      break;
    }
    case 'kill-active-relay':
    case 'kill-standby-relay': {
      const active = await cluster.activeRelay();
      const name: ProcessName =
        kind === 'kill-active-relay' ? (active ?? pick(random, RELAYS)) : (RELAYS.find((r) => r !== active) ?? pick(random, RELAYS));
      const downMs = between(random, 500, 3000);
      set(`${name}${active === null ? ' (no relay answered as active)' : ''}, down ${downMs} ms`);
      await cluster.kill9(name);
      await sleep(downMs);
      await cluster.start(name);
      break;
    }
    case 'sigstop-gateway': {
      const name = pick(random, GATEWAYS);
      const stopMs = between(random, 5000, 30_000);
      set(`${name}, stopped ${stopMs} ms`);
      cluster.stop(name);
      await sleep(stopMs);
      cluster.cont(name);
      break;
    }
    case 'redis-restart': {
      set('kill -9 and start again on the same port, empty');
      await cluster.redis.restart();
      break;
    }
    case 'client-kill-pubsub': {
      const killed = await cluster.redis.client.client('KILL', 'TYPE', 'pubsub');
      set(`${String(killed)} pub/sub connections`);
      break;
    }
    case 'client-pause': {
      const pauseMs = between(random, 1000, 5000);
      set(`ALL, ${pauseMs} ms`);
      await cluster.redis.client.client('PAUSE', pauseMs, 'ALL');
      await sleep(pauseMs);
      break;
    }
    case 'init-burst': {
      const name = pick(random, GATEWAYS);
      set(`${INIT_BURST_SIZE} sockets to ${name} that never send connection_init`);
      const url = cluster.url(name).replace(/^http/, 'ws');
      const sockets: WebSocket[] = [];
      let closed = 0;
      for (let i = 0; i < INIT_BURST_SIZE; i += 1) {
        const socket = new WebSocket(url, 'graphql-transport-ws');
        socket.on('error', () => {});
        socket.once('close', () => {
          closed += 1;
        });
        sockets.push(socket);
        // Opened in batches, as a burst from many hosts would arrive.
        if (i % 200 === 199) await sleep(20);
      }
      try {
        await waitFor('the init burst to be closed by the server', () => closed === sockets.length, {
          timeoutMs: INIT_BURST_CLOSE_BOUND_MS,
          intervalMs: 200,
        });
      } catch {
        ctx.leakedInitSockets += sockets.length - closed;
        set(`${window.detail}; ${sockets.length - closed} still open after ${INIT_BURST_CLOSE_BOUND_MS} ms`);
      }
      for (const socket of sockets) socket.terminate();
      break;
    }
    case 'reconnect-storm': {
      const sockets = [...ctx.observer.sockets];
      set(`${sockets.length} client sockets dropped at once`);
      for (const socket of sockets) socket.terminate();
      break;
    }
    case 'slow-consumer': {
      const gateway = pick(random, GATEWAYS);
      const pausedMs = between(random, 5000, 30_000);
      const { socket, userId } = ctx.hog(cluster.url(gateway));
      let framesRead = 0;
      let closedByServer = false;
      socket.on('message', () => {
        framesRead += 1;
      });
      socket.once('close', () => {
        closedByServer = true;
      });
      // Let it subscribe (the replay of every group starts), then stop reading.
      await waitFor('the slow consumer to get its first frames', () => framesRead > 1 || socket.readyState > WebSocket.OPEN, {
        timeoutMs: 10_000,
      }).catch(() => {});
      socket.pause();
      set(`${userId} on ${gateway}, replaying from seq 0, stopped reading for ${pausedMs} ms`);
      await sleep(pausedMs);
      // A socket that is not read does not see its close either: read again, briefly, to learn
      // whether the server had cut it off (it pings every 12 s and ends a socket that missed a pong).
      socket.resume();
      await waitFor('the slow consumer to be seen closed', () => closedByServer, { timeoutMs: 3000 }).catch(() => {});
      ctx.slowConsumers.push({ userId, pausedMs, closedByServer, framesRead });
      socket.terminate();
      break;
    }
  }
  window.end = Date.now();
  await waitFor('every client to be connected again', () => ctx.users.every((user) => user.connected()), {
    timeoutMs: 60_000,
    intervalMs: 100,
  }).catch(() => {});
  window.recovered = Date.now();
  return window;
}
