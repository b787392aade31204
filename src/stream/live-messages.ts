/**
 * What the processor publishes on the live bus, and how subscribers read it back.
 * Serialised once per batch and topic, whatever the number of subscribers.
 */
import type { StoredEvent } from '../domain/event.ts';

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

export function decodeEventsMessage(text: string): EventsMessage {
  return JSON.parse(text) as EventsMessage;
}

export function decodeSeriesMessage(text: string): SeriesMessage {
  return JSON.parse(text) as SeriesMessage;
}
