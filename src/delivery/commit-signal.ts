/**
 * The embedded store's "new outbox commits" signal between processes, over one Redis channel.
 * Gateways commit sends; the relay, in another process, follows the outbox. Without this the
 * relay only learns of a commit at its next poll, which was most of the delivery latency.
 *
 * The payload is empty: the relay re-reads the outbox, so a signal that is lost (Redis down,
 * a reconnect, a slot moved on a cluster) costs latency until the next poll, never a message.
 * On Redis Cluster it is a sharded channel (SPUBLISH/SSUBSCRIBE), like the node channels.
 */
import type { CommitSignal } from '../storage/port.ts';
import { callEach } from './listeners.ts';
import { isCluster, type RedisClient } from './redis/support.ts';

export interface RedisCommitSignalOptions {
  /** A connected client for PUBLISH (SPUBLISH on a cluster). */
  readonly publishClient: RedisClient;
  /**
   * The client in subscriber mode that the pub/sub adapter also uses (a cluster's has sharded
   * subscribers); subscribed on the first listener.
   */
  readonly subscribeClient: RedisClient;
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

  const wake = (): void => callEach(listeners, undefined);
  const sharded = isCluster(subscribeClient);
  const messageEvent = sharded ? 'smessage' : 'message';
  const readyEvent = sharded ? 'subscribersReady' : 'ready';
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
    (isCluster(publishClient) ? publishClient.spublish(channel, '') : publishClient.publish(channel, '')).then(
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
        subscribeClient.on(messageEvent, onMessage);
        subscribeClient.on(readyEvent, onReady);
        (sharded ? subscribeClient.ssubscribe(channel) : subscribeClient.subscribe(channel)).catch(onError);
      }
      return () => {
        listeners.delete(listener);
      };
    },
    close() {
      listeners.clear();
      if (!subscribed) return;
      subscribeClient.off(messageEvent, onMessage);
      subscribeClient.off(readyEvent, onReady);
      if (subscribeClient.status === 'ready') {
        (sharded ? subscribeClient.sunsubscribe(channel) : subscribeClient.unsubscribe(channel)).catch(onError);
      }
    },
  };
}
