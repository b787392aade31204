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
  });

  const minute = Math.floor(Date.now() / 60_000) * 60_000 - 5 * 60_000;

  async function ingestOne(n: number) {
    const result = await query(server.url, IngestDocument, {
      events: [{ id: `lv-${n}`, type: 'lv_fan', timestamp: new Date(minute + n * 1_000).toISOString(), values: { amount: n } }],
    });
    expect(result.ingest.accepted).toBe(1);
  }

  /** Until every subscriber's latest update counts `count` events. */
  async function everyoneAt(subscribers: Collected<LiveSeriesSubscription>[], count: number) {
    await expect
      .poll(() => subscribers.filter((s) => s.items.at(-1)?.series.point.count === count).length, { timeout: 20_000 })
      .toBe(subscribers.length);
  }

  it('reads a changed bucket once for all its subscribers, then updates them from the rows the messages carry', async () => {
    const variables = { query: { type: 'lv_fan', value: 'amount', interval: 'MINUTE' as const } };
    const subscribers = await Promise.all(Array.from({ length: SUBSCRIBERS }, () => subscribe(ws, LiveSeriesDocument, variables)));
    await waitForLiveSubscriptions(server.url, SUBSCRIBERS);

    const readsBeforeFirst = await rollupReads(server.url);
    await ingestOne(1);
    await everyoneAt(subscribers, 1);
    const readsAfterFirst = await rollupReads(server.url);
    // The feed did not hold the bucket: one read, for the hundred subscribers.
    expect(readsAfterFirst - readsBeforeFirst).toBe(1);

    for (let n = 2; n <= 1 + LATER_UPDATES; n++) {
      await ingestOne(n);
      await everyoneAt(subscribers, n);
    }
    await waitForProcessing(server.url);
    // Held: not one read more, whatever the number of updates and subscribers.
    expect((await rollupReads(server.url)) - readsAfterFirst).toBe(0);

    const last = 1 + LATER_UPDATES;
    const total = (last * (last + 1)) / 2;
    for (const subscriber of subscribers) {
      expect(subscriber.errors).toEqual([]);
      expect(subscriber.items.at(-1)!.series.point).toMatchObject({ start: new Date(minute).toISOString(), count: last, sum: total });
    }
    // The very answer of the series query over the same minute (SeriesUpdate.point is a SeriesPoint).
    const answer = await query(server.url, ReadSeriesDocument, {
      query: { ...variables.query, from: new Date(minute).toISOString(), to: new Date(minute + 60_000).toISOString() },
    });
    expect(answer.series.map((series) => series.points)).toEqual([[subscribers[0]!.items.at(-1)!.series.point]]);
    for (const subscriber of subscribers) subscriber.stop();
  });
});
