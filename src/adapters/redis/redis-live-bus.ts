/**
 * The live bus on Redis pub/sub: what any instance publishes reaches subscribers on every
 * instance. One connection publishes, one subscribes (Redis puts a subscribing connection in
 * a mode where it can do nothing else); topics are subscribed in Redis only while this process
 * has listeners for them.
 *
 * Redis pub/sub keeps nothing: what is published while the subscribing connection is down (a
 * Redis restart, a network cut, Redis closing it at its pub/sub output-buffer limit) is gone.
 * So every drop of that connection is reported to the topic's subscribers as a possible loss,
 * once when it drops and once more when every topic is subscribed again, so that they re-read
 * the stores (the port's `onPossibleLoss`).
 *
 * Why not @graphql-yoga/redis-event-target: the port promises that subscribe() resolves once
 * the subscription is active (so no later publish is missed), and an EventTarget's
 * addEventListener cannot say when Redis has confirmed SUBSCRIBE.
 */
import { Redis } from 'ioredis';
import type { LiveBus } from '../../ports/live-bus.ts';
import { unavailable } from '../../errors.ts';

/** Health checks must answer quickly even while Redis hangs. */
const PING_TIMEOUT_MS = 2_000;

export interface RedisLiveBusOptions {
  url: string;
  onError?: (error: unknown) => void;
}

export async function createRedisLiveBus(options: RedisLiveBusOptions): Promise<LiveBus> {
  const connectionOptions = {
    // Updates are best effort and re-readable from the stores: while Redis is down, publishing
    // fails at once instead of queueing without bound in this process.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    // Many publishes per tick (one per topic per batch) share one round trip.
    enableAutoPipelining: true,
  };
  const publisher = new Redis(options.url, { ...connectionOptions, connectionName: 'streamlens-publisher' });
  // The subscriber keeps its offline queue: SUBSCRIBE issued while reconnecting must not be
  // lost. It re-subscribes its topics itself after a reconnect (not ioredis's autoResubscribe),
  // so that it knows when they are active again and can say so.
  const subscriber = new Redis(options.url, { lazyConnect: true, connectionName: 'streamlens-subscriber', autoResubscribe: false });
  for (const connection of [publisher, subscriber]) connection.on('error', (error) => options.onError?.(error));
  try {
    await Promise.all([publisher.connect(), subscriber.connect()]);
  } catch (error) {
    publisher.disconnect();
    subscriber.disconnect();
    throw unavailable(`the Redis live bus could not connect to ${redactedUrl(options.url)}`, error);
  }

  const listeners = new Map<string, Set<(message: string) => void>>();
  /** Per topic, what to call when its messages may have been lost. */
  const lossListeners = new Map<string, Set<() => void>>();
  /** Topics whose SUBSCRIBE is in flight, so concurrent subscribers share one round trip. */
  const subscribing = new Map<string, Promise<unknown>>();

  subscriber.on('message', (topic: string, message: string) => {
    for (const listener of listeners.get(topic) ?? []) {
      try {
        listener(message);
      } catch (error) {
        options.onError?.(error);
      }
    }
  });

  let closed = false;
  /** Whether the subscribing connection has dropped since it was last ready with every topic subscribed. */
  let dropped = false;

  function reportPossibleLoss(): void {
    for (const set of lossListeners.values()) {
      for (const listener of set) {
        try {
          listener();
        } catch (error) {
          options.onError?.(error);
        }
      }
    }
  }

  function onDrop(): void {
    if (closed || dropped) return;
    dropped = true;
    reportPossibleLoss();
  }
  subscriber.on('close', onDrop);
  subscriber.on('end', onDrop);
  subscriber.on('error', onDrop);
  subscriber.on('ready', () => {
    if (closed || !dropped) return;
    const topics = [...listeners.keys()];
    const resubscribed = topics.length > 0 ? subscriber.subscribe(...topics) : Promise.resolve();
    resubscribed.then(
      () => {
        dropped = false;
        // Active again: a re-read of the stores now, plus what arrives from here on, is complete.
        reportPossibleLoss();
      },
      // The connection dropped again before the topics were back: the next 'ready' retries.
      (error: unknown) => options.onError?.(error),
    );
  });

  return {
    async publish(topic, message) {
      try {
        await publisher.publish(topic, message);
      } catch (error) {
        throw unavailable('the Redis live bus could not publish', error);
      }
    },

    async subscribe(topic, onMessage, onPossibleLoss) {
      let set = listeners.get(topic);
      if (!set) listeners.set(topic, (set = new Set()));
      const listener = (message: string) => onMessage(message);
      set.add(listener);
      let lossSet = lossListeners.get(topic);
      if (!lossSet) lossListeners.set(topic, (lossSet = new Set()));
      // Wrapped, like the listener, so that the same function given twice is two registrations.
      const lossListener = () => onPossibleLoss?.();
      lossSet.add(lossListener);
      const forgetLossListener = () => {
        lossSet.delete(lossListener);
        if (lossSet.size === 0 && lossListeners.get(topic) === lossSet) lossListeners.delete(topic);
      };
      let pending = subscribing.get(topic);
      if (!pending && set.size === 1) {
        pending = subscriber.subscribe(topic).finally(() => subscribing.delete(topic));
        subscribing.set(topic, pending);
      }
      try {
        await pending;
      } catch (error) {
        set.delete(listener);
        forgetLossListener();
        throw unavailable('the Redis live bus could not subscribe', error);
      }
      return async () => {
        set.delete(listener);
        forgetLossListener();
        if (set.size === 0 && listeners.get(topic) === set) {
          listeners.delete(topic);
          if (!closed) await subscriber.unsubscribe(topic).catch((error: unknown) => options.onError?.(error));
        }
      };
    },

    async checkHealth() {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          publisher.ping(),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
          }),
        ]);
      } catch (error) {
        throw unavailable('the Redis live bus is unreachable', error);
      } finally {
        clearTimeout(timer);
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      listeners.clear();
      lossListeners.clear();
      await Promise.allSettled([publisher.quit(), subscriber.quit()]);
    },
  };
}

/** Connection URLs may carry a password: never put one in a message. */
function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured REDIS_URL';
  }
}
