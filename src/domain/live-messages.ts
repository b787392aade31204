/**
 * What the processor publishes on the live bus, and how subscribers read it back.
 * Serialised once per batch and topic, whatever the number of subscribers.
 */
import type { StoredEvent } from './event.ts';

export interface EventsMessage {
  events: StoredEvent[];
}

/** The buckets of one (tenant, interval, type) that a batch changed. */
export interface SeriesMessage {
  watermark: number | null;
  buckets: { start: number; dimensions: Record<string, string> }[];
}

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
export function decodeEventsMessage(text: string): EventsMessage {
  if (text !== lastEventsText) {
    lastEventsMessage = JSON.parse(text) as EventsMessage;
    lastEventsText = text;
  }
  return lastEventsMessage!;
}

export function decodeSeriesMessage(text: string): SeriesMessage {
  return JSON.parse(text) as SeriesMessage;
}
