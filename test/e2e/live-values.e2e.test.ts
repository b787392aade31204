/**
 * Live series updates carry their values (src/domain/live-messages.ts, src/live/live-series.ts):
 * a feed with many subscribers reads a bucket from the series store when it first changes, then
 * merges the rows each message carries, so further updates read nothing, whatever the number of
 * subscribers; every subscriber is sent each total in turn and ends on the series query's answer,
 * for stored intervals and for calendar buckets in zones whose days do not start at UTC midnight.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Client as WsClient } from 'graphql-ws';
import { BACKENDS, startServer, type TestServer } from '../support/server.ts';
import { query, subscribe, waitForLiveSubscriptions, waitForProcessing, wsClient, type Collected } from '../support/clients.ts';
import { IngestDocument, LiveSeriesDocument, ReadSeriesDocument, type LiveSeriesSubscription } from '../generated/operations.ts';

/** Many subscribers of one series on one instance: they share one feed. */
const SUBSCRIBERS = 100;
/** The rate limiter's window: a key's operations per second (the server's default limit). */
const RATE_LIMIT_WINDOW_MS = 1_000;
/** Updates after the first: each one a batch of its own, pushed before the next is ingested. */
const LATER_UPDATES = 6;

/**
 * The totals (count/sum) a subscriber was sent in order, a total sent again in a row kept once:
 * the contract allows re-sending an unchanged point (a sweep of the feed may).
 */
function totalsSent(subscriber: Collected<LiveSeriesSubscription>): string[] {
  const totals: string[] = [];
  for (const { series } of subscriber.items) {
    const total = `${series.point.count}/${series.point.sum}`;
    if (totals.at(-1) !== total) totals.push(total);
  }
  return totals;
}

/** The wall clock of `instant` in `timeZone`, as Intl tells it (independent of the service's calendar code). */
function wallClock(instant: number, timeZone: string) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    weekday: 'short',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  }).formatToParts(instant);
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)!.value;
  return {
    weekday: part('weekday'),
    month: `${part('year')}-${part('month')}`,
    date: `${part('year')}-${part('month')}-${part('day')}`,
    time: `${part('hour')}:${part('minute')}`,
  };
}

/**
 * A calendar bucket holding `event` starts at midnight of the zone: on its day (DAY), on the
 * Monday of its week (WEEK: at most a week and an hour of daylight-saving change before it), or
 * on the 1st of its month (MONTH).
 */
function expectCalendarStart(start: number, event: number, interval: 'DAY' | 'WEEK' | 'MONTH', timeZone: string) {
  const bucket = wallClock(start, timeZone);
  const of = wallClock(event, timeZone);
  expect(bucket.time).toBe('00:00');
  if (interval === 'DAY') expect(bucket.date).toBe(of.date);
  if (interval === 'MONTH') expect([bucket.month, bucket.date.slice(-2)]).toEqual([of.month, '01']);
  if (interval === 'WEEK') {
    expect(bucket.weekday).toBe('Mon');
    expect(event - start).toBeGreaterThanOrEqual(0);
    expect(event - start).toBeLessThan(7 * 86_400_000 + 3_600_000);
  }
}

/** The series store's rollup reads so far, from /metrics (every readRollups call is counted). */
async function rollupReads(url: string): Promise<number> {
  const text = await (await fetch(new URL('/metrics', url))).text();
  let reads = 0;
  for (const line of text.split('\n')) {
    if (
      line.startsWith('streamlens_store_operation_duration_seconds_count{') &&
      line.includes('port="series_store"') &&
      line.includes('operation="readRollups"')
    ) {
      reads += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return reads;
}

describe.each(BACKENDS)('live series values on %s', (backend) => {
  let server: TestServer;
  let ws: WsClient;

  beforeAll(async () => {
    server = await startServer({ backend });
    ws = wsClient(server.wsUrl);
  });
  afterAll(async () => {
    await ws?.dispose();
    await server?.stop();
  });
  afterEach(async () => {
    await waitForLiveSubscriptions(server.url, 0);
    // A key may start 100 operations per second (RATE_LIMITED past it): each case's hundred
    // subscriptions start in a second of their own.
    await new Promise((resolve) => setTimeout(resolve, RATE_LIMIT_WINDOW_MS));
  });

  const minute = Math.floor(Date.now() / 60_000) * 60_000 - 5 * 60_000;

  async function ingestOne(type: string, n: number) {
    const result = await query(server.url, IngestDocument, {
      events: [{ id: `${type}-${n}`, type, timestamp: new Date(minute + n * 1_000).toISOString(), values: { amount: n } }],
    });
    expect(result.ingest.accepted).toBe(1);
  }

  /** The sum of the amounts 1 … n: the bucket's sum once the first n events are counted. */
  const sumThrough = (n: number) => (n * (n + 1)) / 2;

  /** Until every subscriber's latest update counts the first `count` events (and sums their amounts). */
  async function everyoneAt(subscribers: Collected<LiveSeriesSubscription>[], count: number) {
    await expect
      .poll(() => subscribers.filter((s) => s.items.at(-1)?.series.point.count === count).length, { timeout: 20_000 })
      .toBe(subscribers.length);
    for (const subscriber of subscribers) expect(subscriber.items.at(-1)!.series.point.sum).toBe(sumThrough(count));
  }

  /**
   * A stored interval, FIVE_MINUTES (MINUTE rows), and calendar buckets (bucket-plan.ts), each
   * block of stored rows carried on its own topic and read by one readRollups call: a New York
   * day is made of HOUR rows, a UTC week of DAY rows (one read each); a Kolkata day (from 18:30
   * UTC) of HOUR rows between two half hours of MINUTE rows (three reads); a New York week (from
   * Monday 04:00 or 05:00 UTC) of DAY rows between two runs of HOUR rows (three reads); a Kolkata
   * month (from 18:30 UTC on the eve of the 1st) of DAY rows between HOUR rows and, at each end,
   * a half hour of MINUTE rows (five reads).
   */
  it.each([
    { name: 'MINUTE', type: 'lv_fan', interval: 'MINUTE' as const, timeZone: null, firstReads: 1 },
    { name: 'FIVE_MINUTES', type: 'lv_five', interval: 'FIVE_MINUTES' as const, timeZone: null, firstReads: 1 },
    { name: 'DAY in America/New_York', type: 'lv_day', interval: 'DAY' as const, timeZone: 'America/New_York', firstReads: 1 },
    { name: 'DAY in Asia/Kolkata', type: 'lv_kolkata', interval: 'DAY' as const, timeZone: 'Asia/Kolkata', firstReads: 3 },
    { name: 'WEEK', type: 'lv_week', interval: 'WEEK' as const, timeZone: null, firstReads: 1 },
    { name: 'WEEK in America/New_York', type: 'lv_week_ny', interval: 'WEEK' as const, timeZone: 'America/New_York', firstReads: 3 },
    { name: 'MONTH in Asia/Kolkata', type: 'lv_month_kolkata', interval: 'MONTH' as const, timeZone: 'Asia/Kolkata', firstReads: 5 },
  ])(
    '$name: reads a changed bucket once for all its subscribers, then updates them from the rows the messages carry',
    async ({ type, interval, timeZone, firstReads }) => {
      const variables = { query: { type, value: 'amount', interval, timeZone } };
      const subscribers = await Promise.all(Array.from({ length: SUBSCRIBERS }, () => subscribe(ws, LiveSeriesDocument, variables)));
      // Stopped however the test ends: the next test starts with no subscription left open.
      try {
        await waitForLiveSubscriptions(server.url, SUBSCRIBERS);

        const readsBeforeFirst = await rollupReads(server.url);
        await ingestOne(type, 1);
        await everyoneAt(subscribers, 1);
        const readsAfterFirst = await rollupReads(server.url);
        // The feed did not hold the bucket: one read (of each stored block), for the hundred subscribers.
        expect(readsAfterFirst - readsBeforeFirst).toBe(firstReads);

        for (let n = 2; n <= 1 + LATER_UPDATES; n++) {
          await ingestOne(type, n);
          await everyoneAt(subscribers, n);
        }
        await waitForProcessing(server.url);
        // Held: not one read more, whatever the number of updates and subscribers.
        expect((await rollupReads(server.url)) - readsAfterFirst).toBe(0);

        // The very answer of the series query over the bucket (SeriesUpdate.point is a SeriesPoint).
        const answer = await query(server.url, ReadSeriesDocument, {
          query: { ...variables.query, from: new Date(minute).toISOString(), to: new Date(minute + 60_000).toISOString() },
        });
        const last = 1 + LATER_UPDATES;
        const total = sumThrough(last);
        expect(answer.series.map((series) => series.points.map((point) => [point.count, point.sum]))).toEqual([[[last, total]]]);
        const bucketStart = answer.series[0]!.points[0]!.start;
        // Each subscriber was sent every total in turn (1 event, 2, …), none skipped, none going back.
        const everyTotal = Array.from({ length: last }, (_, index) => `${index + 1}/${sumThrough(index + 1)}`);
        for (const subscriber of subscribers) {
          expect(subscriber.errors).toEqual([]);
          expect(totalsSent(subscriber)).toEqual(everyTotal);
          expect(subscriber.items.at(-1)!.series.point).toEqual(answer.series[0]!.points[0]);
          expect(subscriber.items.at(-1)!.series.point).toMatchObject({ start: bucketStart, count: last, sum: total });
        }
        if (interval === 'DAY' || interval === 'WEEK' || interval === 'MONTH') {
          expectCalendarStart(new Date(bucketStart).getTime(), minute + 1_000, interval, timeZone ?? 'UTC');
        }
      } finally {
        for (const subscriber of subscribers) subscriber.stop();
      }
    },
  );
});
