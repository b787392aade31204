import type { Interval } from '../domain/interval.ts';
import type { EventsMessage, LiveMessageText, LiveTopic, SeriesMessage } from '../domain/live-messages.ts';

export type Unsubscribe = () => Promise<void>;

/**
 * Fire-and-forget fan-out of live updates between the processor and subscribers, on any
 * instance. Messages are serialised once by the publisher and shared by every subscriber.
 * Delivery is at most once: subscribers that need completeness read the stores. A bus that can
 * lose messages says when it may have (`onPossibleLoss`), so that subscribers re-read the
 * stores then instead of waiting for the next message to reveal the gap.
 */
export interface LiveBus {
  /** A message goes on a topic of its own type (see domain/live-messages.ts). */
  publish<M>(topic: LiveTopic<M>, message: LiveMessageText<M>): Promise<void>;
  /**
   * Resolves once the subscription is active, so no later publish is missed while the bus
   * stays connected. `onPossibleLoss` is called when messages of the topic may have been lost
   * (the bus's connection dropped); when it is called after a reconnect, the subscription is
   * active again, so whatever a subscriber reads from the stores then plus what the bus
   * delivers afterwards misses nothing. A bus that never loses a message never calls it.
   */
  subscribe<M>(topic: LiveTopic<M>, onMessage: (message: LiveMessageText<M>) => void, onPossibleLoss?: () => void): Promise<Unsubscribe>;
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
