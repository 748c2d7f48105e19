/**
 * The embedded store's "new outbox commits" signal between processes, over one Redis channel.
 * Gateways commit sends; the relay, in another process, follows the outbox. Without this the
 * relay only learns of a commit at its next poll, which was most of the delivery latency.
 *
 * The payload is empty: the relay re-reads the outbox, so a signal that is lost (Redis down,
 * a reconnect) costs latency until the next poll, never a message.
 */
import type { Redis } from 'ioredis';
import type { CommitSignal } from '../storage/port.ts';
import { reportListenerError } from './listeners.ts';

export interface RedisCommitSignalOptions {
  /** A connected client for PUBLISH. */
  readonly publishClient: Redis;
  /** A client in subscriber mode (it may carry other channels); subscribed on first listener. */
  readonly subscribeClient: Redis;
  readonly channel: string;
  /** Told about a failed PUBLISH or SUBSCRIBE (the poll covers for it). @default ignores it */
  readonly onError?: (error: unknown) => void;
}

export function createRedisCommitSignal({
  publishClient,
  subscribeClient,
  channel,
  onError = () => {},
}: RedisCommitSignalOptions): CommitSignal & { close(): void } {
  const listeners = new Set<() => void>();
  // One PUBLISH in flight at a time; commits meanwhile fold into one more. The relay reads
  // everything committed when it wakes, so one signal stands for any number of commits.
  let publishing = false;
  let again = false;
  let subscribed = false;

  const wake = (): void => {
    for (const listener of [...listeners]) {
      try {
        listener();
      } catch (error) {
        reportListenerError(error);
      }
    }
  };
  const onMessage = (from: string): void => {
    if (from === channel) wake();
  };
  // Signals sent while the connection was down are gone: look once the channel is back.
  const onReady = (): void => {
    if (subscribed) wake();
  };

  const publish = (): void => {
    publishing = true;
    again = false;
    publishClient.publish(channel, '').then(
      () => {
        publishing = false;
        if (again) publish();
      },
      (error: unknown) => {
        publishing = false;
        onError(error);
      },
    );
  };

  return {
    notify() {
      if (publishing) again = true;
      else publish();
    },
    onNotified(listener) {
      listeners.add(listener);
      if (!subscribed) {
        subscribed = true;
        subscribeClient.on('message', onMessage);
        subscribeClient.on('ready', onReady);
        subscribeClient.subscribe(channel).catch(onError);
      }
      return () => {
        listeners.delete(listener);
      };
    },
    close() {
      listeners.clear();
      if (!subscribed) return;
      subscribeClient.off('message', onMessage);
      subscribeClient.off('ready', onReady);
      if (subscribeClient.status === 'ready') subscribeClient.unsubscribe(channel).catch(onError);
    },
  };
}
