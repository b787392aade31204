/**
 * Subscriptions end to end, over graphql-ws and over SSE: subscribers receive exactly the
 * matching events and every changed bucket as a new total, corrections of earlier buckets included.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Client as WsClient } from 'graphql-ws';
import { parse } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { BACKENDS, startServer, type TestServer } from '../support/server.ts';
import { query, sseClient, subscribe, waitForLiveSubscriptions, waitForProcessing, wsClient } from '../support/clients.ts';
import {
  IngestDocument,
  LiveEventsDocument,
  LiveSeriesCountsDocument,
  LiveSeriesDocument,
  type EventFilter,
  type EventInput,
} from '../generated/operations.ts';

/** Each delivered event with its type's catalog entry, as it stands when the event is delivered. */
const LiveEventsWithTypeInfo = parse(
  'subscription LiveEventsWithTypeInfo($filter: EventFilter) { events(filter: $filter) { node { id typeInfo { count lastSeen } } } }',
) as TypedDocumentNode<{ events: { node: { id: string; typeInfo: { count: number; lastSeen: string } | null } } }, { filter: EventFilter }>;

describe.each(BACKENDS)('subscriptions on %s', (backend) => {
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

  const minute = Math.floor(Date.now() / 60_000) * 60_000 - 5 * 60_000;
  const at = (ms: number) => new Date(minute + ms).toISOString();

  async function ingest(events: EventInput[]) {
    const result = (await query(server.url, IngestDocument, { events })).ingest;
    expect(result.accepted).toBe(events.length);
  }

  afterEach(async () => {
    // Every test stops its subscriptions; the server must release them all.
    await waitForLiveSubscriptions(server.url, 0);
  });

  describe('events subscription', () => {
    it('pushes exactly the matching events over graphql-ws', async () => {
      const live = await subscribe(ws, LiveEventsDocument, { filter: { types: ['ws_click'], dimensions: { country: 'NL' } } });
      await waitForLiveSubscriptions(server.url, 1);
      await ingest([
        { id: 'ws-1', type: 'ws_click', dimensions: { country: 'NL' }, values: { ms: 5 } },
        { id: 'ws-2', type: 'ws_click', dimensions: { country: 'DE' } },
        { id: 'ws-3', type: 'ws_other', dimensions: { country: 'NL' } },
        { id: 'ws-4', type: 'ws_click', dimensions: { country: 'NL', extra: true } },
      ]);
      const received = await live.waitFor(2);
      await waitForProcessing(server.url);
      expect(live.items.map((item) => item.events.node.id)).toEqual(['ws-1', 'ws-4']);
      expect(received[0]!.events.node).toMatchObject({ type: 'ws_click', dimensions: { country: 'NL' }, values: { ms: 5 } });
      expect(received[0]!.events.cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      live.stop();
    });

    it('pushes matching events over SSE', async () => {
      const sse = sseClient(server.url);
      const live = await subscribe(sse, LiveEventsDocument, { filter: { types: ['sse_view'] } });
      await waitForLiveSubscriptions(server.url, 1);
      await ingest([
        { id: 'sse-1', type: 'sse_view' },
        { id: 'sse-x', type: 'sse_other' },
        { id: 'sse-2', type: 'sse_view' },
      ]);
      await live.waitFor(2);
      await waitForProcessing(server.url);
      expect(live.items.map((item) => item.events.node.id)).toEqual(['sse-1', 'sse-2']);
      live.stop();
      sse.dispose();
    });

    it('does not push a duplicate of an event already counted', async () => {
      const live = await subscribe(ws, LiveEventsDocument, { filter: { types: ['dup_push'] } });
      await waitForLiveSubscriptions(server.url, 1);
      await ingest([{ id: 'dup-1', type: 'dup_push' }]);
      await live.waitFor(1);
      await ingest([
        { id: 'dup-1', type: 'dup_push' },
        { id: 'dup-2', type: 'dup_push' },
      ]);
      await live.waitFor(2);
      await waitForProcessing(server.url);
      expect(live.items.map((item) => item.events.node.id)).toEqual(['dup-1', 'dup-2']);
      live.stop();
    });

    it("resolves each delivered event's typeInfo as the catalog stands then, not as it stood when the subscription opened", async () => {
      const live = await subscribe(ws, LiveEventsWithTypeInfo, { filter: { types: ['ti_tick'] } });
      await waitForLiveSubscriptions(server.url, 1);
      // One at a time: the catalog counts each event before the event is published.
      for (const n of [1, 2, 3]) {
        await ingest([{ id: `ti-${n}`, type: 'ti_tick', timestamp: at(n * 1_000) }]);
        await live.waitFor(n);
      }
      expect(live.items.map((item) => item.events.node)).toEqual([
        { id: 'ti-1', typeInfo: { count: 1, lastSeen: at(1_000) } },
        { id: 'ti-2', typeInfo: { count: 2, lastSeen: at(2_000) } },
        { id: 'ti-3', typeInfo: { count: 3, lastSeen: at(3_000) } },
      ]);
      live.stop();
    });

    it('closes the subscription when the filter is invalid, with BAD_USER_INPUT', async () => {
      const live = await subscribe(ws, LiveEventsDocument, { filter: { dimensions: { country: { $ne: 'x' } } } });
      await expect(live.waitFor(1, 5_000)).rejects.toThrow('BAD_USER_INPUT');
    });
  });

  describe('series subscription', () => {
    it('pushes every changed bucket as its new total, per group, including a late correction', async () => {
      const live = await subscribe(ws, LiveSeriesDocument, {
        query: { type: 'live_purchase', value: 'amount', interval: 'MINUTE', groupBy: 'country' },
      });
      const other = await subscribe(ws, LiveSeriesDocument, {
        query: { type: 'live_purchase', interval: 'MINUTE', dimensions: { country: 'FR' } },
      });
      await waitForLiveSubscriptions(server.url, 2);

      await ingest([
        { id: 'lp-1', type: 'live_purchase', timestamp: at(61_000), dimensions: { country: 'NL' }, values: { amount: 10 } },
        { id: 'lp-2', type: 'live_purchase', timestamp: at(62_000), dimensions: { country: 'NL' }, values: { amount: 20 } },
        { id: 'lp-3', type: 'live_purchase', timestamp: at(63_000), dimensions: { country: 'DE' }, values: { amount: 7 } },
      ]);
      await waitForProcessing(server.url);
      const latest = () => {
        const byKey = new Map<string, (typeof live.items)[number]['series']>();
        for (const item of live.items) byKey.set(`${item.series.group}@${item.series.point.start}`, item.series);
        return byKey;
      };
      await expect.poll(() => latest().get(`NL@${at(60_000)}`)?.point.count, { timeout: 10_000 }).toBe(2);
      expect(latest().get(`NL@${at(60_000)}`)!.point).toMatchObject({ count: 2, sum: 30, min: 10, max: 20, avg: 15, final: false });
      expect(latest().get(`DE@${at(60_000)}`)!.point).toMatchObject({ count: 1, sum: 7 });

      // A late event for the earlier minute: subscribers receive the corrected total of that bucket.
      await ingest([{ id: 'lp-late', type: 'live_purchase', timestamp: at(1_000), dimensions: { country: 'NL' }, values: { amount: 4 } }]);
      await waitForProcessing(server.url);
      await expect.poll(() => latest().get(`NL@${at(0)}`)?.point.count, { timeout: 10_000 }).toBe(1);
      await ingest([
        { id: 'lp-late-2', type: 'live_purchase', timestamp: at(2_000), dimensions: { country: 'NL' }, values: { amount: 6 } },
      ]);
      await expect.poll(() => latest().get(`NL@${at(0)}`)?.point.sum, { timeout: 10_000 }).toBe(10);
      expect(latest().get(`NL@${at(0)}`)!.point.count).toBe(2);
      expect(latest().get(`NL@${at(0)}`)!.watermark).not.toBeNull();

      // Every update was for a bucket that changed, and nothing reached the FR-only subscriber.
      expect(new Set(live.items.map((item) => item.series.group))).toEqual(new Set(['NL', 'DE']));
      expect(other.items).toEqual([]);
      live.stop();
      other.stop();
    });

    it('serves identical series subscriptions from one feed, each with its own stream', async () => {
      const query1 = { query: { type: 'shared_feed', value: 'v', interval: 'HOUR' as const } };
      const first = await subscribe(ws, LiveSeriesDocument, query1);
      const second = await subscribe(ws, LiveSeriesDocument, query1);
      const countsOnly = await subscribe(ws, LiveSeriesCountsDocument, query1);
      await waitForLiveSubscriptions(server.url, 3);
      await ingest([{ id: 'sf-1', type: 'shared_feed', timestamp: at(0), values: { v: 2 } }]);
      await expect.poll(() => second.items.at(-1)?.series.point.sum, { timeout: 10_000 }).toBe(2);
      await expect.poll(() => first.items.at(-1)?.series.point.sum, { timeout: 10_000 }).toBe(2);
      // Executed once per operation, not once for all: each shape is its own.
      await expect.poll(() => countsOnly.items.at(-1), { timeout: 10_000 }).toEqual({ series: { point: { count: 1 } } });
      expect(first.items.at(-1)).toEqual(second.items.at(-1));
      countsOnly.stop();
      // One leaves; the feed goes on for the other.
      first.stop();
      await waitForLiveSubscriptions(server.url, 1);
      await ingest([{ id: 'sf-2', type: 'shared_feed', timestamp: at(1), values: { v: 3 } }]);
      await expect.poll(() => second.items.at(-1)?.series.point.sum, { timeout: 10_000 }).toBe(5);
      expect(second.items.at(-1)!.series.point.count).toBe(2);
      second.stop();
      await waitForLiveSubscriptions(server.url, 0);
      // And a new subscriber after the feed closed gets a new one.
      const third = await subscribe(ws, LiveSeriesDocument, query1);
      await waitForLiveSubscriptions(server.url, 1);
      await ingest([{ id: 'sf-3', type: 'shared_feed', timestamp: at(2), values: { v: 4 } }]);
      await expect.poll(() => third.items.at(-1)?.series.point.sum, { timeout: 10_000 }).toBe(9);
      third.stop();
    });

    it('pushes series updates over SSE too', async () => {
      const sse = sseClient(server.url);
      const live = await subscribe(sse, LiveSeriesDocument, { query: { type: 'sse_series', interval: 'HOUR' } });
      await waitForLiveSubscriptions(server.url, 1);
      await ingest([
        { id: 'ss-1', type: 'sse_series', timestamp: at(0) },
        { id: 'ss-2', type: 'sse_series', timestamp: at(1) },
      ]);
      await waitForProcessing(server.url);
      await expect.poll(() => live.items.at(-1)?.series.point.count, { timeout: 10_000 }).toBe(2);
      expect(live.items.at(-1)!.series.group).toBeNull();
      expect(live.items.at(-1)!.series.point.start).toBe(new Date(Math.floor(minute / 3_600_000) * 3_600_000).toISOString());
      live.stop();
      sse.dispose();
    });
  });
});

describe('series subscription finality', () => {
  let server: TestServer;
  let ws: WsClient;

  beforeAll(async () => {
    // A lateness of a second and no out-of-orderness: a bucket becomes final as soon as an event
    // a few seconds later is counted.
    server = await startServer({ env: { ALLOWED_LATENESS: '1s', OUT_OF_ORDERNESS: '0s' } });
    ws = wsClient(server.wsUrl);
  });
  afterAll(async () => {
    await ws?.dispose();
    await server?.stop();
  });

  it('item 11: pushes a point once more, with final: true, when the watermark passes its end plus the allowed lateness', async () => {
    const second = Math.floor(Date.now() / 1_000) * 1_000 - 30_000;
    const live = await subscribe(ws, LiveSeriesDocument, { query: { type: 'final_push', interval: 'SECOND', value: 'v' } });
    await waitForLiveSubscriptions(server.url, 1);
    const ingest = async (events: EventInput[]) =>
      expect((await query(server.url, IngestDocument, { events })).ingest.accepted).toBe(events.length);
    await ingest([
      { id: 'fp-1', type: 'final_push', timestamp: new Date(second + 100).toISOString(), values: { v: 2 } },
      { id: 'fp-2', type: 'final_push', timestamp: new Date(second + 200).toISOString(), values: { v: 3 } },
    ]);
    const start = new Date(second).toISOString();
    await expect
      .poll(() => live.items.some((item) => item.series.point.start === start && item.series.point.count === 2), { timeout: 10_000 })
      .toBe(true);
    expect(live.items.every((item) => !item.series.point.final)).toBe(true);
    // Ten seconds later in event time: the watermark passes the first bucket's end plus a second.
    await ingest([{ id: 'fp-3', type: 'final_push', timestamp: new Date(second + 10_000).toISOString(), values: { v: 1 } }]);
    await expect.poll(() => live.items.filter((item) => item.series.point.final).length, { timeout: 15_000 }).toBe(1);
    const final = live.items.find((item) => item.series.point.final)!;
    expect(final.series.point).toMatchObject({ start, count: 2, sum: 5, final: true });
    live.stop();
  });
});
