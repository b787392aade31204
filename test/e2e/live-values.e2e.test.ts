/**
 * Live series updates carry their values (src/domain/live-messages.ts, src/live/live-series.ts):
 * a feed with many subscribers reads a bucket from the series store when it first changes, then
 * merges the rows each message carries, so further updates read nothing, whatever the number of
 * subscribers; and every subscriber ends on the series query's answer.
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

  /** Until every subscriber's latest update counts `count` events. */
  async function everyoneAt(subscribers: Collected<LiveSeriesSubscription>[], count: number) {
    await expect
      .poll(() => subscribers.filter((s) => s.items.at(-1)?.series.point.count === count).length, { timeout: 20_000 })
      .toBe(subscribers.length);
  }

  /**
   * A stored interval, FIVE_MINUTES (MINUTE rows), and calendar buckets (bucket-plan.ts): a New
   * York day is made of HOUR rows, a UTC week of DAY rows, each carried on its own topic; a
   * Kolkata day (from 18:30 UTC) of HOUR rows between two half hours of MINUTE rows, so its first
   * read is three readRollups calls (one per block), the others' one.
   */
  it.each([
    { name: 'MINUTE', type: 'lv_fan', interval: 'MINUTE' as const, timeZone: null, firstReads: 1 },
    { name: 'FIVE_MINUTES', type: 'lv_five', interval: 'FIVE_MINUTES' as const, timeZone: null, firstReads: 1 },
    { name: 'DAY in America/New_York', type: 'lv_day', interval: 'DAY' as const, timeZone: 'America/New_York', firstReads: 1 },
    { name: 'DAY in Asia/Kolkata', type: 'lv_kolkata', interval: 'DAY' as const, timeZone: 'Asia/Kolkata', firstReads: 3 },
    { name: 'WEEK', type: 'lv_week', interval: 'WEEK' as const, timeZone: null, firstReads: 1 },
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
        const total = (last * (last + 1)) / 2;
        expect(answer.series.map((series) => series.points.map((point) => [point.count, point.sum]))).toEqual([[[last, total]]]);
        const bucketStart = answer.series[0]!.points[0]!.start;
        for (const subscriber of subscribers) {
          expect(subscriber.errors).toEqual([]);
          expect(subscriber.items.at(-1)!.series.point).toEqual(answer.series[0]!.points[0]);
          expect(subscriber.items.at(-1)!.series.point).toMatchObject({ start: bucketStart, count: last, sum: total });
        }
      } finally {
        for (const subscriber of subscribers) subscriber.stop();
      }
    },
  );
});
