/**
 * The gateway's keep-alive (src/delivery/ws-server.ts): every socket is pinged once per period,
 * a socket that has not answered its previous ping is terminated, and the pings of one period
 * are spread over many ticks instead of going out to every socket at once (which stalled a
 * gateway with thousands of sockets long enough to show in the p99 of deliveries).
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { schema } from '../src/schema/index.ts';
import { serveGraphQLWs } from '../src/delivery/ws-server.ts';
import { disposeAll, onDispose } from './support/dispose.ts';
import { waitFor } from './support/wait.ts';

afterEach(disposeAll);

async function start(keepAliveMs: number): Promise<string> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  const server = serveGraphQLWs({ schema }, wss, { keepAliveMs });
  onDispose(() => server.dispose());
  return `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
}

function connect(url: string, options: { readonly autoPong?: boolean } = {}): Promise<WebSocket> {
  const socket = new WebSocket(url, 'graphql-transport-ws', options);
  onDispose(() => socket.terminate());
  return once(socket, 'open').then(() => socket);
}

describe('keep-alive', () => {
  it('pings every socket once per period, spread over the period, and keeps those that answer', async () => {
    const keepAliveMs = 960;
    const url = await start(keepAliveMs);
    const sockets = await Promise.all(Array.from({ length: 48 }, () => connect(url)));
    const pings: number[][] = sockets.map(() => []);
    sockets.forEach((socket, index) => socket.on('ping', () => pings[index]?.push(performance.now())));
    await waitFor('two pings on every socket', () => pings.every((times) => times.length >= 2), { timeoutMs: 10_000 });
    // Each socket's pings are one period apart.
    for (const times of pings) expect((times[1] as number) - (times[0] as number)).toBeGreaterThan(keepAliveMs / 2);
    // The first pings of the 48 sockets went out in many ticks, not one.
    const firstTicks = new Set(pings.map((times) => Math.round((times[0] as number) / 10)));
    expect(firstTicks.size).toBeGreaterThanOrEqual(12);
    expect(sockets.every((socket) => socket.readyState === WebSocket.OPEN)).toBe(true);
  });

  it('terminates a socket that does not answer its ping within a period', async () => {
    const url = await start(480);
    const silent = await connect(url, { autoPong: false });
    const answering = await connect(url);
    let answeringPings = 0;
    answering.on('ping', () => (answeringPings += 1));
    const [code] = (await once(silent, 'close')) as [number];
    expect(code).toBe(1006);
    await waitFor('the answering socket to be pinged again', () => answeringPings >= 3, { timeoutMs: 10_000 });
    expect(answering.readyState).toBe(WebSocket.OPEN);
  });
});
