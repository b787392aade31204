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
import { encodeAggregate, type Aggregate, type EncodedAggregate } from './rollup.ts';

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

/** A changed bucket of one dimension combination, named only: read its rows from the series store. */
export interface SeriesDoorbell {
  start: number;
  dimensions: Record<string, string>;
}

/**
 * A changed rollup row as the message carries it: the whole row as stored (its aggregate in the
 * storage form, parsed), so that a feed holding the bucket's other rows merges it in memory
 * instead of reading the bucket again. Rows of one (bucket, dimensions, partition) are ordered by
 * `appliedOffset`, as in the store: a feed keeps the highest it has seen.
 */
export interface CarriedRollupRow {
  start: number;
  dimensions: Record<string, string>;
  partition: number;
  appliedOffset: number;
  aggregate: EncodedAggregate;
}

/**
 * What a batch changed in one (tenant, interval, type): the changed rows it could carry
 * (`rows`), and the buckets it names only (`buckets`, doorbells: a row too large to carry, or a
 * message kept for a retry). Every changed row is in one of the two.
 */
export interface SeriesMessage {
  watermark: number | null;
  buckets: SeriesDoorbell[];
  /** Absent: none carried (a message kept for a retry, or from an instance that carries none). */
  rows?: CarriedRollupRow[];
}

/**
 * The largest row a message carries, as JSON. A row's aggregate is a few hundred bytes while its
 * sketches are sparse; a dense distinct sketch alone is 16 KiB (distinct-sketch.ts), which every
 * feed of the topic would parse per message: such a row rings a doorbell instead.
 */
export const MAX_CARRIED_ROW_CHARS = 4_096;
/**
 * The most row text one message carries; the rows past it ring doorbells. A batch changes a row
 * per (bucket, combination, partition): 256 KiB is some hundreds of small rows, and bounds what
 * the bus holds per message and what each feed parses.
 */
export const MAX_CARRIED_MESSAGE_CHARS = 256 * 1_024;

/** A changed row as the publisher hands it over. */
export interface ChangedRollupRow {
  bucketStart: number;
  dimensions: Record<string, string>;
  partition: number;
  appliedOffset: number;
  aggregate: Aggregate;
}

/**
 * The series message of a batch's changed rows of one topic: each row carried when it fits the
 * bounds above, else named as a doorbell. Each row is serialised once, here, whatever the number
 * of feeds and subscribers; the doorbells are returned too, for a retry of a refused message.
 */
export function encodeSeriesRows(
  watermark: number | null,
  changed: readonly ChangedRollupRow[],
): { text: LiveMessageText<SeriesMessage>; doorbells: SeriesDoorbell[] } {
  const doorbells: SeriesDoorbell[] = [];
  const rowTexts: string[] = [];
  let carried = 0;
  for (const row of changed) {
    // JSON.stringify of a CarriedRollupRow, with the aggregate's storage text set in as it is:
    // the store has just encoded it (encodeAggregate keeps it), so it is not encoded again.
    const text =
      `{"start":${JSON.stringify(row.bucketStart)},"dimensions":${JSON.stringify(row.dimensions)},` +
      `"partition":${JSON.stringify(row.partition)},"appliedOffset":${JSON.stringify(row.appliedOffset)},` +
      `"aggregate":${encodeAggregate(row.aggregate)}}`;
    // The row and the comma that follows it in the list.
    const cost = text.length + 1;
    if (text.length > MAX_CARRIED_ROW_CHARS || carried + cost > MAX_CARRIED_MESSAGE_CHARS) {
      doorbells.push({ start: row.bucketStart, dimensions: row.dimensions });
      continue;
    }
    carried += cost;
    rowTexts.push(text);
  }
  const text = `{"watermark":${JSON.stringify(watermark)},"buckets":${JSON.stringify(doorbells)},"rows":[${rowTexts.join(',')}]}`;
  return { text, doorbells };
}

/**
 * One message saying what two refused messages of the same topic said, for the retry: two
 * doorbells of a partition ring for the union of their ranges; two series messages name the
 * buckets of both (their carried rows as doorbells too), with the later watermark.
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
  for (const bucket of [...a.buckets, ...(a.rows ?? []), ...b.buckets, ...(b.rows ?? [])]) {
    const key = JSON.stringify([bucket.start, bucket.dimensions]);
    if (seen.has(key)) continue;
    seen.add(key);
    buckets.push({ start: bucket.start, dimensions: bucket.dimensions });
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

let lastSeriesText: string | null = null;
let lastSeriesMessage: SeriesMessage | null = null;

/**
 * Decodes a series message once for all the feeds it is handed to (as decodeEventsMessage):
 * feeds only read it, and decode the carried aggregates they need from it themselves.
 */
export function decodeSeriesMessage(text: LiveMessageText<SeriesMessage>): SeriesMessage {
  if (text !== lastSeriesText) {
    lastSeriesMessage = JSON.parse(text) as SeriesMessage;
    lastSeriesText = text;
  }
  return lastSeriesMessage!;
}
