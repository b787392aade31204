import type { Interval } from '../domain/interval.ts';

export type Unsubscribe = () => Promise<void>;

/**
 * Fire-and-forget fan-out of live updates between the processor and subscribers, on any
 * instance. Messages are serialised once by the publisher and shared by every subscriber.
 * Delivery is at most once: subscribers that need completeness read the stores.
 */
export interface LiveBus {
  publish(topic: string, message: string): Promise<void>;
  /** Resolves once the subscription is active, so no later publish is missed. */
  subscribe(topic: string, onMessage: (message: string) => void): Promise<Unsubscribe>;
  checkHealth(): Promise<void>;
  close(): Promise<void>;
}

/** Topic names. Every topic carries the tenant, so one tenant never hears another's updates. */
export const liveTopics = {
  events: (tenant: string) => `streamlens:events:${tenant}`,
  series: (tenant: string, interval: Interval, type: string) => `streamlens:series:${tenant}:${interval}:${type}`,
};
