/**
 * Live-bus topics are bound to the type of their messages. The lines marked @ts-expect-error are
 * the point of this file: `npx tsc -p tsconfig.json` fails if any of them type-checks. At run
 * time the messages are the same JSON text as before, so the adapters' wire format is unchanged.
 */
import { describe, expect, it } from 'vitest';
import { createEmbeddedLiveBus } from '../../src/adapters/embedded/embedded-live-bus.ts';
import {
  decodeEventsMessage,
  decodeSeriesMessage,
  encodeLiveMessage,
  type EventsMessage,
  type SeriesMessage,
} from '../../src/domain/live-messages.ts';
import { liveTopics, type LiveBus } from '../../src/ports/live-bus.ts';

const seriesMessage: SeriesMessage = { watermark: 60_000, buckets: [{ start: 0, dimensions: { country: 'NL' } }] };
const eventsMessage: EventsMessage = { partition: 0, from: -1, to: 4, events: [] };

/** Never called: it only has to type-check as marked. */
function misuses(bus: LiveBus): void {
  const events = liveTopics.events('acme');
  const series = liveTopics.series('acme', 'MINUTE', 'purchase');
  // @ts-expect-error a series message on an events topic
  void bus.publish(events, encodeLiveMessage(seriesMessage));
  // @ts-expect-error an events message on a series topic
  void bus.publish(series, encodeLiveMessage(eventsMessage));
  // @ts-expect-error a series topic's messages read as events
  void bus.subscribe(series, (text) => decodeEventsMessage(text));
  // @ts-expect-error an events topic's messages read as series
  void bus.subscribe(events, (text) => decodeSeriesMessage(text));
  // @ts-expect-error a topic of one kind where the other is expected
  const wrongKind: typeof events = series;
  void wrongKind;
}

describe('live topics and their messages', () => {
  it('carry each message as its JSON text, and read it back on the topic of its type', async () => {
    expect(typeof misuses).toBe('function');
    const bus = createEmbeddedLiveBus();
    const received: { events: EventsMessage[]; series: SeriesMessage[] } = { events: [], series: [] };
    await bus.subscribe(liveTopics.events('acme'), (text) => received.events.push(decodeEventsMessage(text)));
    await bus.subscribe(liveTopics.series('acme', 'MINUTE', 'purchase'), (text) => received.series.push(decodeSeriesMessage(text)));

    expect(encodeLiveMessage(seriesMessage)).toBe(JSON.stringify(seriesMessage));
    expect(liveTopics.events('acme')).toBe('streamlens:events:acme');
    expect(liveTopics.series('acme', 'MINUTE', 'purchase')).toBe('streamlens:series:acme:MINUTE:purchase');
    await bus.publish(liveTopics.events('acme'), encodeLiveMessage(eventsMessage));
    await bus.publish(liveTopics.series('acme', 'MINUTE', 'purchase'), encodeLiveMessage(seriesMessage));

    expect(received).toEqual({ events: [eventsMessage], series: [seriesMessage] });
    await bus.close();
  });
});
