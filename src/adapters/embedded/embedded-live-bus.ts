/**
 * The single-process live bus: topics are in-memory sets of listeners. A publish calls every
 * listener before it resolves, so nothing is ever lost and `onPossibleLoss` is never called.
 */
import type { LiveBus } from '../../ports/live-bus.ts';

export function createEmbeddedLiveBus(options: { onError?: (error: unknown) => void } = {}): LiveBus {
  const listeners = new Map<string, Set<(message: string) => void>>();
  return {
    async publish(topic, message) {
      for (const listener of listeners.get(topic) ?? []) {
        // One subscriber's failure must not keep the message from the others.
        try {
          listener(message);
        } catch (error) {
          options.onError?.(error);
        }
      }
    },
    async subscribe(topic, onMessage) {
      let set = listeners.get(topic);
      if (!set) listeners.set(topic, (set = new Set()));
      // Wrapped so that the same function subscribed twice is two subscriptions.
      const listener = (message: string) => onMessage(message);
      set.add(listener);
      return async () => {
        set.delete(listener);
        if (set.size === 0 && listeners.get(topic) === set) listeners.delete(topic);
      };
    },
    async checkHealth() {},
    async close() {
      listeners.clear();
    },
  };
}
