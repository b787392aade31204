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

/**
 * One tenant's counted events of one log partition, over a range of the log. The range says
 * what the message covers, so that a subscriber can tell a lost message from a quiet stretch:
 * the tenant has no counted event in the partition at an offset in (from, to] other than those
 * in `events`. A subscriber complete through `from` (or further) is complete through `to` after
 * taking the message; one complete only through less than `from` has a gap, which it fills from
 * the event store first (src/live/event-coverage.ts).
 *
 * `events: null` is a doorbell: everything of the tenant in (from, to] is stored, read it from
 * the store (sent when a publish failed, instead of the events, which may be many).
 */
export interface EventsMessage {
  partition: number;
  from: number;
  to: number;
  events: StoredEvent[] | null;
}

/** The buckets of one (tenant, interval, type) that a batch changed. */
export interface SeriesMessage {
  watermark: number | null;
  buckets: { start: number; dimensions: Record<string, string> }[];
}

/**
 * One message saying what two refused messages of the same topic said, for the retry: two
 * doorbells of a partition ring for the union of their ranges; two series messages name the
 * buckets of both, with the later watermark.
 */
export function mergeUnpublished<M extends EventsMessage | SeriesMessage>(earlier: M, later: M): M;
export function mergeUnpublished(
  earlier: EventsMessage | SeriesMessage,
  later: EventsMessage | SeriesMessage,
): EventsMessage | SeriesMessage {
  if ('partition' in earlier && 'partition' in later) {
    return { partition: later.partition, from: Math.min(earlier.from, later.from), to: Math.max(earlier.to, later.to), events: null };
  }
  const a = earlier as SeriesMessage;
  const b = later as SeriesMessage;
  const seen = new Set<string>();
  const buckets: SeriesMessage['buckets'] = [];
  for (const bucket of [...a.buckets, ...b.buckets]) {
    const key = JSON.stringify([bucket.start, bucket.dimensions]);
    if (seen.has(key)) continue;
    seen.add(key);
    buckets.push(bucket);
  }
  const watermark = a.watermark === null ? b.watermark : b.watermark === null ? a.watermark : Math.max(a.watermark, b.watermark);
  return { watermark, buckets };
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
