/**
 * A live series feed merges the rows the bus carries (src/live/live-series.ts): whatever the
 * order in which the messages of the saved rows arrive, and however often each arrives, the last
 * update of every point is the total of the rows the store holds at the end, and no point's
 * count ever goes down on the way. The store here is the truth the processor writes: each row
 * version is saved before its message is published, and a read sees what is saved by then.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { wholeTenantAccess } from '../../src/auth/tenant-access.ts';
import { encodeSeriesRows, type LiveMessageText, type SeriesMessage } from '../../src/domain/live-messages.ts';
import {
  addEvent,
  cloneAggregate,
  decodeAggregate,
  emptyAggregate,
  encodeAggregate,
  valueSum,
  type Aggregate,
} from '../../src/domain/rollup.ts';
import { createSeriesFeeds, type SeriesUpdateView } from '../../src/live/live-series.ts';
import { createSubscriptionRegistry } from '../../src/live/subscription-registry.ts';
import { liveTopics, type LiveBus } from '../../src/ports/live-bus.ts';
import { INTERVAL_MS, type Interval } from '../../src/domain/interval.ts';
import type { RollupRow, SeriesStore } from '../../src/ports/series-store.ts';
import { fuzzSettings } from './fuzz-settings.ts';

const settings = fuzzSettings('live-series-rows.property', { seed: 1313, runs: 60 });
const SECOND = 1_000;
/** A whole minute an hour ago: the two buckets of these runs are its first two seconds. */
const BASE = Math.floor((Date.now() - 3_600_000) / 60_000) * 60_000;

interface Counted {
  partition: number;
  country: string;
  second: number;
  amount: number;
}

const countedEvent = fc.record({
  partition: fc.integer({ min: 0, max: 2 }),
  country: fc.constantFrom('NL', 'DE'),
  second: fc.integer({ min: 0, max: 1 }),
  amount: fc.integer({ min: 1, max: 100 }),
});

/** Every version of every row, in the order the processor saves them: one per counted event. */
function rowVersions(events: readonly Counted[]): RollupRow[] {
  const latest = new Map<string, RollupRow>();
  const nextOffset = [0, 0, 0];
  const versions: RollupRow[] = [];
  for (const event of events) {
    const offset = nextOffset[event.partition]!++;
    const key = `${event.partition}:${event.country}:${event.second}`;
    const before = latest.get(key);
    const aggregate: Aggregate = before ? cloneAggregate(before.aggregate) : emptyAggregate();
    addEvent(aggregate, { amount: event.amount });
    const row: RollupRow = {
      tenant: 'acme',
      type: 'purchase',
      interval: 'SECOND',
      bucketStart: BASE + event.second * SECOND,
      dimensionsKey: JSON.stringify([['country', event.country]]),
      partition: event.partition,
      dimensions: { country: event.country },
      appliedOffset: offset,
      aggregate,
    };
    latest.set(key, row);
    versions.push(row);
  }
  return versions;
}

const nextMacrotask = () => new Promise((resolve) => setImmediate(resolve));

describe('live series rows carried by the bus', () => {
  it('end on the stored totals, never going back, in any order of arrival and with duplicates', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(countedEvent, { minLength: 1, maxLength: 25 }),
        fc.array(fc.nat(), { minLength: 50, maxLength: 200 }),
        async (events, randomness) => {
          let draw = 0;
          const random = () => randomness[draw++ % randomness.length]!;
          /** The store: the latest saved version of each row (saved as text, read back decoded). */
          const stored = new Map<string, { row: RollupRow; text: string }>();
          const store = {
            async readRollups(range) {
              await nextMacrotask();
              return [...stored.values()]
                .filter(({ row }) => row.interval === range.interval && row.bucketStart >= range.from && row.bucketStart < range.to)
                .map(({ row, text }) => ({ ...row, aggregate: decodeAggregate(text, range.valueKey) }));
            },
            loadProgress: async () => new Map(),
          } as Partial<SeriesStore> as SeriesStore;
          let deliver: ((text: LiveMessageText<SeriesMessage>) => void) | null = null;
          const bus = {
            async subscribe(_topic: string, onMessage: (text: string) => void) {
              deliver = onMessage;
              return async () => {};
            },
          } as Partial<LiveBus> as LiveBus;
          const feeds = createSeriesFeeds({
            liveBus: bus,
            seriesStore: store,
            queries: { finality: async () => ({ watermark: null, allowedLatenessMs: 86_400_000 }) },
            queryLimits: { maxRowsRead: 10_000, maxSeriesGroups: 100, maxSeriesPoints: 10_000 },
            maxPendingSeriesUpdates: 1_000,
          });
          const registry = createSubscriptionRegistry(() => {});
          const access = wholeTenantAccess('acme');
          const subscription = await feeds.subscribe(registry.reserve({ ...access, keyId: null }), access, {
            type: 'purchase',
            value: 'amount',
            interval: 'SECOND',
            groupBy: 'country',
          });
          const iterator = subscription[Symbol.asyncIterator]();
          const received: SeriesUpdateView[] = [];
          const reading = (async () => {
            for (;;) {
              const step = await iterator.next();
              if (step.done) return;
              received.push(step.value);
            }
          })();

          /** Messages published and not yet delivered (a delivered one may stay, to arrive again). */
          const inFlight: LiveMessageText<SeriesMessage>[] = [];
          const deliverOne = () => {
            const index = random() % inFlight.length;
            deliver!(inFlight[index]!);
            if (random() % 4 !== 0) inFlight.splice(index, 1);
          };
          for (const version of rowVersions(events)) {
            stored.set(`${version.partition}:${version.dimensionsKey}:${version.bucketStart}`, {
              row: version,
              text: encodeAggregate(version.aggregate),
            });
            inFlight.push(encodeSeriesRows(null, [version]).text);
            for (let deliveries = random() % 3; deliveries > 0 && inFlight.length > 0; deliveries--) deliverOne();
            if (random() % 2 === 0) await nextMacrotask();
          }
          while (inFlight.length > 0) {
            deliverOne();
            if (random() % 3 === 0) await nextMacrotask();
          }
          // Every read and push the deliveries started has run.
          for (let round = 0; round < 20; round++) await nextMacrotask();

          const expected = new Map<string, { count: number; sum: number }>();
          for (const { row } of stored.values()) {
            const key = `${row.dimensions.country}@${row.bucketStart}`;
            const total = expected.get(key) ?? { count: 0, sum: 0 };
            total.count += row.aggregate.count;
            total.sum += valueSum(row.aggregate.values.get('amount')!);
            expected.set(key, total);
          }
          const last = new Map<string, { count: number; sum: number | null }>();
          for (const update of received) {
            const key = `${update.group}@${update.point.start}`;
            const before = last.get(key);
            if (before) expect(update.point.count).toBeGreaterThanOrEqual(before.count);
            last.set(key, { count: update.point.count, sum: update.point.sum });
          }
          expect(Object.fromEntries(last)).toEqual(Object.fromEntries(expected));
          await iterator.return!();
          await reading;
          feeds.close();
        },
      ),
      settings,
    );
  });
});

/** A UTC midnight two days ago; in Asia/Kolkata (UTC+5:30) its days start at 18:30 UTC. */
const DAY_MS = 86_400_000;
const UTC_DAY = Math.floor((Date.now() - 2 * DAY_MS) / DAY_MS) * DAY_MS;
const KOLKATA_DAY_START = UTC_DAY + 18.5 * 3_600_000;
/**
 * Instants on both sides of the Kolkata day boundary and of the UTC midnight inside a Kolkata
 * day, so that buckets merge MINUTE and HOUR rows and a DAY row straddles them (bucket-plan.ts).
 */
const CALENDAR_INSTANTS = [-3_600_000, -30_000, 0, 10_000, 30 * 60_000, 5.5 * 3_600_000 - 1, 5.5 * 3_600_000 + 1, 23.5 * 3_600_000 + 5_000];
const ROW_INTERVALS = ['DAY', 'HOUR', 'MINUTE'] as const;

const calendarEvent = fc.record({
  partition: fc.integer({ min: 0, max: 2 }),
  country: fc.constantFrom('NL', 'DE'),
  at: fc.constantFrom(...CALENDAR_INSTANTS.map((offset) => KOLKATA_DAY_START + offset)),
  amount: fc.integer({ min: 1, max: 100 }),
});

describe('live series rows of calendar buckets carried on several topics', () => {
  it('end on the stored totals of each Kolkata day, never going back, in any order of arrival across the topics', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(calendarEvent, { minLength: 1, maxLength: 20 }),
        fc.array(fc.nat(), { minLength: 50, maxLength: 200 }),
        async (events, randomness) => {
          let draw = 0;
          const random = () => randomness[draw++ % randomness.length]!;
          const stored = new Map<string, { row: RollupRow; text: string }>();
          const store = {
            async readRollups(range) {
              await nextMacrotask();
              return [...stored.values()]
                .filter(({ row }) => row.interval === range.interval && row.bucketStart >= range.from && row.bucketStart < range.to)
                .map(({ row, text }) => ({ ...row, aggregate: decodeAggregate(text, range.valueKey) }));
            },
            loadProgress: async () => new Map(),
          } as Partial<SeriesStore> as SeriesStore;
          /** The feed's handler of each topic it follows. */
          const handlers = new Map<string, (text: string) => void>();
          const bus = {
            async subscribe(topic: string, onMessage: (text: string) => void) {
              handlers.set(topic, onMessage);
              return async () => {};
            },
          } as Partial<LiveBus> as LiveBus;
          const feeds = createSeriesFeeds({
            liveBus: bus,
            seriesStore: store,
            queries: { finality: async () => ({ watermark: null, allowedLatenessMs: 86_400_000 }) },
            queryLimits: { maxRowsRead: 10_000, maxSeriesGroups: 100, maxSeriesPoints: 10_000 },
            maxPendingSeriesUpdates: 1_000,
          });
          const registry = createSubscriptionRegistry(() => {});
          const access = wholeTenantAccess('acme');
          const subscription = await feeds.subscribe(registry.reserve({ ...access, keyId: null }), access, {
            type: 'purchase',
            value: 'amount',
            interval: 'DAY',
            timeZone: 'Asia/Kolkata',
            groupBy: 'country',
          });
          const iterator = subscription[Symbol.asyncIterator]();
          const received: SeriesUpdateView[] = [];
          const reading = (async () => {
            for (;;) {
              const step = await iterator.next();
              if (step.done) return;
              received.push(step.value);
            }
          })();
          const topicOf = (interval: Interval) => liveTopics.series('acme', interval, 'purchase');
          expect([...handlers.keys()].sort()).toEqual(ROW_INTERVALS.map(topicOf).sort());

          /** Messages published and not yet delivered, with their topic (a delivered one may stay, to arrive again). */
          const inFlight: { topic: string; text: LiveMessageText<SeriesMessage> }[] = [];
          const deliverOne = () => {
            const index = random() % inFlight.length;
            const { topic, text } = inFlight[index]!;
            handlers.get(topic)!(text);
            if (random() % 4 !== 0) inFlight.splice(index, 1);
          };
          const latest = new Map<string, RollupRow>();
          const nextOffset = [0, 0, 0];
          for (const event of events) {
            const offset = nextOffset[event.partition]!++;
            // Every counted event changes one row of every stored interval, each saved, then published on its topic.
            for (const interval of ROW_INTERVALS) {
              const size = INTERVAL_MS[interval];
              const bucketStart = Math.floor(event.at / size) * size;
              const key = `${interval}:${event.partition}:${event.country}:${bucketStart}`;
              const before = latest.get(key);
              const aggregate: Aggregate = before ? cloneAggregate(before.aggregate) : emptyAggregate();
              addEvent(aggregate, { amount: event.amount });
              const version: RollupRow = {
                tenant: 'acme',
                type: 'purchase',
                interval,
                bucketStart,
                dimensionsKey: JSON.stringify([['country', event.country]]),
                partition: event.partition,
                dimensions: { country: event.country },
                appliedOffset: offset,
                aggregate,
              };
              latest.set(key, version);
              stored.set(key, { row: version, text: encodeAggregate(aggregate) });
              inFlight.push({ topic: topicOf(interval), text: encodeSeriesRows(null, [version]).text });
            }
            for (let deliveries = random() % 4; deliveries > 0 && inFlight.length > 0; deliveries--) deliverOne();
            if (random() % 2 === 0) await nextMacrotask();
          }
          while (inFlight.length > 0) {
            deliverOne();
            if (random() % 3 === 0) await nextMacrotask();
          }
          for (let round = 0; round < 20; round++) await nextMacrotask();

          // The truth: each event counted once, in the Kolkata day that holds it.
          const expected = new Map<string, { count: number; sum: number }>();
          for (const event of events) {
            const day = event.at >= KOLKATA_DAY_START ? KOLKATA_DAY_START : KOLKATA_DAY_START - DAY_MS;
            const key = `${event.country}@${day}`;
            const total = expected.get(key) ?? { count: 0, sum: 0 };
            total.count += 1;
            total.sum += event.amount;
            expected.set(key, total);
          }
          const last = new Map<string, { count: number; sum: number | null }>();
          for (const update of received) {
            const key = `${update.group}@${update.point.start}`;
            const before = last.get(key);
            if (before) expect(update.point.count).toBeGreaterThanOrEqual(before.count);
            last.set(key, { count: update.point.count, sum: update.point.sum });
          }
          expect(Object.fromEntries(last)).toEqual(Object.fromEntries(expected));
          await iterator.return!();
          await reading;
          feeds.close();
        },
      ),
      settings,
    );
  });
});
