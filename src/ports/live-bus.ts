import type { Interval } from '../domain/interval.ts';
import type { EventsMessage, LiveMessageText, LiveTopic, SeriesMessage } from '../domain/live-messages.ts';

export type Unsubscribe = () => Promise<void>;

/**
 * Fire-and-forget fan-out of live updates between the processor and subscribers, on any
 * instance. Messages are serialised once by the publisher and shared by every subscriber.
 * Delivery is at most once: subscribers that need completeness read the stores.
 */
export interface LiveBus {
  /** A message goes on a topic of its own type (see domain/live-messages.ts). */
  publish<M>(topic: LiveTopic<M>, message: LiveMessageText<M>): Promise<void>;
  /** Resolves once the subscription is active, so no later publish is missed. */
  subscribe<M>(topic: LiveTopic<M>, onMessage: (message: LiveMessageText<M>) => void): Promise<Unsubscribe>;
  checkHealth(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Topic names, each bound to the type of its messages. Every topic carries the tenant, so one
 * tenant never hears another's updates.
 */
export const liveTopics = {
  events: (tenant: string): LiveTopic<EventsMessage> => `streamlens:events:${tenant}`,
  series: (tenant: string, interval: Interval, type: string): LiveTopic<SeriesMessage> => `streamlens:series:${tenant}:${interval}:${type}`,
};
