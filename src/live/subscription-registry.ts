/**
 * The subscriptions this instance serves: whose each one is, and the queue it delivers through.
 * Only the live service (live-service.ts) holds a registry; the subscription kinds see one slot.
 *
 * A subscription first reserves a slot, which checks the tenant's limit and takes the slot in
 * one synchronous step: concurrent subscribes each see the others, so together they can never
 * overshoot the limit, whatever they await afterwards.
 */
import { createLiveQueue, type LiveQueue } from './live-queue.ts';
import type { TenantAccess } from '../auth/tenant-access.ts';

/** Whose a live subscription is and what it may see: revoking the key or a tenant limit applies to it. */
export interface LiveSubscriber extends TenantAccess {
  keyId: string | null;
}

/** The place of one subscription in the registry, from its reservation until its queue closes. */
export interface SubscriptionSlot {
  /**
   * The subscription's queue, held by this slot: ending the key's subscriptions fails it, a
   * shutdown waits for it to drain, and closing it frees the slot. Open it before the first
   * await, so that nothing can end the subscription before it has a queue to end.
   */
  openQueue<T>(options: { limit: number; overflowError: () => Error; onClose: () => void | Promise<void> }): LiveQueue<T>;
  /** Frees the slot of a subscription that failed to open (no-op once freed). */
  release(): void;
}

export interface SubscriptionRegistry {
  /** Takes a slot for the subscriber, or throws what `checkLimit` throws when its tenant is at the limit. */
  reserve(subscriber: LiveSubscriber): SubscriptionSlot;
  /** Subscriptions held open, of every tenant or of one. */
  openCount(tenant?: string): number;
  /** The queues of the open subscriptions, with their subscribers. */
  queues(): { queue: LiveQueue<unknown>; subscriber: LiveSubscriber }[];
}

interface Entry {
  subscriber: LiveSubscriber;
  queue: LiveQueue<unknown> | null;
}

export function createSubscriptionRegistry(checkLimit: (tenant: string, open: number) => void): SubscriptionRegistry {
  const entries = new Set<Entry>();

  function openCount(tenant?: string): number {
    if (tenant === undefined) return entries.size;
    let open = 0;
    for (const entry of entries) if (entry.subscriber.tenant === tenant) open += 1;
    return open;
  }

  return {
    reserve(subscriber) {
      checkLimit(subscriber.tenant, openCount(subscriber.tenant));
      const entry: Entry = { subscriber, queue: null };
      entries.add(entry);
      const release = () => {
        entries.delete(entry);
      };
      return {
        openQueue<T>(options: { limit: number; overflowError: () => Error; onClose: () => void | Promise<void> }) {
          const queue = createLiveQueue<T>({
            ...options,
            onClose: () => {
              release();
              return options.onClose();
            },
          });
          entry.queue = queue as LiveQueue<unknown>;
          return queue;
        },
        release,
      };
    },
    openCount,
    queues() {
      const open: { queue: LiveQueue<unknown>; subscriber: LiveSubscriber }[] = [];
      for (const { queue, subscriber } of entries) if (queue) open.push({ queue, subscriber });
      return open;
    },
  };
}
