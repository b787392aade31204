/**
 * What the processor publishes on the live bus, and how subscribers read it back.
 * Serialised once per batch and topic, whatever the number of subscribers.
 *
 * Each topic is bound to the type of its messages: a topic name from `liveTopics` (ports/live-bus.ts)
 * is a `LiveTopic<M>`, and a message serialised here is a `LiveMessageText<M>`, so publishing a
 * series message on an events topic, or reading an events topic's text as a series message, does
 * not type-check. Both are plain strings on the wire; the binding exists for the compiler only. A
 * plain string is an unbound topic or message, accepted anywhere (the bus itself moves text).
 */
import type { StoredEvent } from './event.ts';

declare const topicMessage: unique symbol;
declare const textMessage: unique symbol;

/** A live-bus topic name whose messages are of type M. */
export type LiveTopic<M> = string & { readonly [topicMessage]?: M };

/** A message of type M as it travels on the bus: serialised once, shared by every subscriber. */
export type LiveMessageText<M> = string & { readonly [textMessage]?: M };

export interface EventsMessage {
  events: StoredEvent[];
}

/** The buckets of one (tenant, interval, type) that a batch changed. */
export interface SeriesMessage {
  watermark: number | null;
  buckets: { start: number; dimensions: Record<string, string> }[];
}

export function encodeLiveMessage(message: EventsMessage): LiveMessageText<EventsMessage>;
export function encodeLiveMessage(message: SeriesMessage): LiveMessageText<SeriesMessage>;
export function encodeLiveMessage(message: EventsMessage | SeriesMessage): string {
  return JSON.stringify(message);
}

/** The last message decoded: the bus hands the same text to every events subscriber in turn. */
let lastEventsText: string | null = null;
let lastEventsMessage: EventsMessage | null = null;

/**
 * Decodes an events message once for all the subscribers it is handed to, instead of once
 * each. Subscribers only read the result, so sharing it is safe.
 */
export function decodeEventsMessage(text: LiveMessageText<EventsMessage>): EventsMessage {
  if (text !== lastEventsText) {
    lastEventsMessage = JSON.parse(text) as EventsMessage;
    lastEventsText = text;
  }
  return lastEventsMessage!;
}

export function decodeSeriesMessage(text: LiveMessageText<SeriesMessage>): SeriesMessage {
  return JSON.parse(text) as SeriesMessage;
}
