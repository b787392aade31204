/**
 * `where` end to end, on both stacks: a real server process, real HTTP, graphql-ws and SSE, exact
 * answers. Each operator on `events`, `series` and `top`; `neq`, `notIn` and `exists: false`
 * keep events without the dimension; `where` is ANDed with `dimensions`; the `events` and
 * `series` subscriptions push only what passes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as WsClient } from 'graphql-ws';
import { BACKENDS, startServer, type TestServer } from '../support/server.ts';
import { query, sseClient, subscribe, waitForLiveSubscriptions, waitForProcessing, waitUntil, wsClient } from '../support/clients.ts';
import {
  IngestDocument,
  ListEventsDocument,
  LiveEventsDocument,
  LiveSeriesDocument,
  ReadSeriesDocument,
  ReadTopDocument,
  type DimensionCondition,
  type EventInput,
} from '../generated/operations.ts';

describe.each(BACKENDS)('where on %s', (backend) => {
  let server: TestServer;
  let ws: WsClient;

  /** A minute boundary ten minutes ago: recent enough to count, old enough to be stable. */
  const base = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
  const at = (ms: number) => new Date(base + ms).toISOString();

  /**
   * Seven purchases over three minutes. e4 has no plan, e6 no country; tier is 2 on e5 and "2" on
   * e6; e7 carries a dimension named after a prototype member.
   */
  const purchases: EventInput[] = [
    { id: 'w-e1', type: 'where_purchase', timestamp: at(0), dimensions: { country: 'NL', plan: 'pro' }, values: { amount: 10 } },
    { id: 'w-e2', type: 'where_purchase', timestamp: at(1_000), dimensions: { country: 'NL', plan: 'free' }, values: { amount: 5 } },
    { id: 'w-e3', type: 'where_purchase', timestamp: at(2_000), dimensions: { country: 'DE', plan: 'pro' }, values: { amount: 20 } },
    { id: 'w-e4', type: 'where_purchase', timestamp: at(60_000), dimensions: { country: 'DE' }, values: { amount: 7 } },
    {
      id: 'w-e5',
      type: 'where_purchase',
      timestamp: at(61_000),
      dimensions: { country: 'US', plan: 'team', tier: 2 },
      values: { amount: 30 },
    },
    { id: 'w-e6', type: 'where_purchase', timestamp: at(62_000), dimensions: { plan: 'pro', tier: '2' }, values: { amount: 1 } },
    {
      id: 'w-e7',
      type: 'where_purchase',
      timestamp: at(120_000),
      dimensions: { country: 'FR', plan: 'free', constructor: 'x' },
      values: { amount: 3 },
    },
  ];

  beforeAll(async () => {
    server = await startServer({ backend });
    ws = wsClient(server.wsUrl);
    const { ingest } = await query(server.url, IngestDocument, { events: purchases, sentAt: null });
    expect(ingest.accepted).toBe(purchases.length);
    await waitForProcessing(server.url);
  });
  afterAll(async () => {
    await ws?.dispose();
    await server?.stop();
  });

  async function eventIds(where: DimensionCondition[], dimensions: Record<string, unknown> | null = null): Promise<string[]> {
    const { events } = await query(server.url, ListEventsDocument, {
      filter: { types: ['where_purchase'], dimensions, where },
      first: 100,
      after: null,
    });
    expect(events.pageInfo.hasNextPage).toBe(false);
    return events.edges.map((edge) => edge.node.id);
  }

  describe('events', () => {
    it('eq and in keep events whose dimension has one of the values, compared as text', async () => {
      expect(await eventIds([{ key: 'country', eq: 'NL' }])).toEqual(['w-e2', 'w-e1']);
      expect(await eventIds([{ key: 'country', in: ['NL', 'DE'] }])).toEqual(['w-e4', 'w-e3', 'w-e2', 'w-e1']);
      expect(await eventIds([{ key: 'tier', eq: 2 }])).toEqual(['w-e6', 'w-e5']);
      expect(await eventIds([{ key: 'tier', in: ['2'] }])).toEqual(['w-e6', 'w-e5']);
      expect(await eventIds([{ key: 'country', in: [] }])).toEqual([]);
    });

    it('neq, notIn and exists: false keep events without the dimension', async () => {
      expect(await eventIds([{ key: 'plan', neq: 'free' }])).toEqual(['w-e6', 'w-e5', 'w-e4', 'w-e3', 'w-e1']);
      expect(await eventIds([{ key: 'country', notIn: ['NL', 'DE'] }])).toEqual(['w-e7', 'w-e6', 'w-e5']);
      expect(await eventIds([{ key: 'plan', exists: false }])).toEqual(['w-e4']);
      expect(await eventIds([{ key: 'tier', exists: true }])).toEqual(['w-e6', 'w-e5']);
    });

    it('ANDs the conditions of a list and the dimensions filter', async () => {
      expect(
        await eventIds([
          { key: 'country', neq: 'NL' },
          { key: 'country', neq: 'DE' },
        ]),
      ).toEqual(['w-e7', 'w-e6', 'w-e5']);
      expect(await eventIds([{ key: 'country', notIn: ['DE'] }], { plan: 'pro' })).toEqual(['w-e6', 'w-e1']);
      expect(
        await eventIds(
          [
            { key: 'plan', in: ['pro', 'team'] },
            { key: 'tier', exists: false },
          ],
          { country: 'DE' },
        ),
      ).toEqual(['w-e3']);
    });

    it('treats keys named after prototype members as ordinary keys', async () => {
      expect(await eventIds([{ key: 'constructor', exists: true }])).toEqual(['w-e7']);
      expect(await eventIds([{ key: 'constructor', eq: 'x' }])).toEqual(['w-e7']);
      expect(await eventIds([{ key: 'constructor', exists: false }])).toEqual(['w-e6', 'w-e5', 'w-e4', 'w-e3', 'w-e2', 'w-e1']);
      expect(await eventIds([{ key: 'toString', neq: 'x' }])).toHaveLength(7);
      expect(await eventIds([{ key: 'hasOwnProperty', in: ['x'] }])).toEqual([]);
    });
  });

  describe('series', () => {
    const series = async (where: DimensionCondition[], extra: { groupBy?: string; dimensions?: Record<string, unknown> } = {}) =>
      (
        await query(server.url, ReadSeriesDocument, {
          query: { type: 'where_purchase', value: 'amount', interval: 'MINUTE', from: at(0), to: at(180_000), where, ...extra },
        })
      ).series.map((s) => [s.group, s.points.map((p) => [p.start, p.count, p.sum])]);

    it('counts and sums only the rows that pass, absent dimensions included for notIn and exists: false', async () => {
      expect(await series([{ key: 'plan', notIn: ['free'] }])).toEqual([
        [
          null,
          [
            [at(0), 2, 30],
            [at(60_000), 3, 38],
          ],
        ],
      ]);
      expect(await series([{ key: 'plan', exists: false }])).toEqual([[null, [[at(60_000), 1, 7]]]]);
      expect(await series([{ key: 'tier', eq: 2 }])).toEqual([[null, [[at(60_000), 2, 31]]]]);
      expect(await series([{ key: 'constructor', neq: 'x' }])).toEqual([
        [
          null,
          [
            [at(0), 3, 35],
            [at(60_000), 3, 38],
          ],
        ],
      ]);
    });

    it('groups what passes, ANDed with the dimensions filter', async () => {
      expect(await series([{ key: 'country', in: ['NL', 'US'] }], { groupBy: 'plan' })).toEqual([
        ['free', [[at(0), 1, 5]]],
        ['pro', [[at(0), 1, 10]]],
        ['team', [[at(60_000), 1, 30]]],
      ]);
      expect(await series([{ key: 'country', neq: 'DE' }], { groupBy: 'country', dimensions: { plan: 'pro' } })).toEqual([
        ['NL', [[at(0), 1, 10]]],
        [null, [[at(60_000), 1, 1]]],
      ]);
    });
  });

  describe('top', () => {
    const top = async (by: string, where: DimensionCondition[], extra: { value?: string; dimensions?: Record<string, unknown> } = {}) =>
      (await query(server.url, ReadTopDocument, { query: { type: 'where_purchase', by, from: at(0), to: at(180_000), where, ...extra } }))
        .top;

    it('ranks only what passes', async () => {
      expect(await top('country', [{ key: 'plan', neq: 'pro' }], { value: 'amount' })).toEqual([
        { key: 'US', count: 1, sum: 30 },
        { key: 'DE', count: 1, sum: 7 },
        { key: 'NL', count: 1, sum: 5 },
        { key: 'FR', count: 1, sum: 3 },
      ]);
      expect(await top('plan', [{ key: 'country', notIn: ['NL'] }])).toEqual([
        { key: 'pro', count: 2, sum: null },
        { key: 'free', count: 1, sum: null },
        { key: 'team', count: 1, sum: null },
      ]);
      expect(await top('plan', [{ key: 'country', in: ['NL'] }])).toEqual([
        { key: 'free', count: 1, sum: null },
        { key: 'pro', count: 1, sum: null },
      ]);
      expect(await top('country', [{ key: 'plan', exists: false }])).toEqual([{ key: 'DE', count: 1, sum: null }]);
      expect(await top('country', [{ key: 'plan', eq: 'pro' }], { dimensions: { country: 'DE' } })).toEqual([
        { key: 'DE', count: 1, sum: null },
      ]);
    });
  });

  describe('subscriptions', () => {
    /** Five events of a type: the second (country DE) and the fourth (plan free) do not pass `where`; the third and fifth lack a dimension. */
    const live = (type: string): EventInput[] => [
      { id: `${type}-1`, type, dimensions: { country: 'NL', plan: 'pro' }, values: { amount: 1 } },
      { id: `${type}-2`, type, dimensions: { country: 'DE', plan: 'pro' }, values: { amount: 2 } },
      { id: `${type}-3`, type, dimensions: { plan: 'team' }, values: { amount: 4 } },
      { id: `${type}-4`, type, dimensions: { country: 'NL', plan: 'free' }, values: { amount: 8 } },
      { id: `${type}-5`, type, dimensions: { country: 'US' }, values: { amount: 16 } },
    ];
    const where: DimensionCondition[] = [
      { key: 'country', notIn: ['DE'] },
      { key: 'plan', neq: 'free' },
    ];

    it('the events subscription pushes exactly what passes, over graphql-ws and over SSE', async () => {
      const sse = sseClient(server.url);
      const overWs = await subscribe(ws, LiveEventsDocument, { filter: { types: ['where_live_ws'], where }, after: null });
      const overSse = await subscribe(sse, LiveEventsDocument, { filter: { types: ['where_live_sse'], where }, after: null });
      await waitForLiveSubscriptions(server.url, 2);
      await query(server.url, IngestDocument, { events: [...live('where_live_ws'), ...live('where_live_sse')], sentAt: null });
      // The last event passes: one type is one log partition, delivered in log order, so
      // anything wrongly pushed would come before it.
      await overWs.waitFor(3);
      await overSse.waitFor(3);
      await waitForProcessing(server.url);
      expect(overWs.items.map((item) => item.events.node.id)).toEqual(['where_live_ws-1', 'where_live_ws-3', 'where_live_ws-5']);
      expect(overSse.items.map((item) => item.events.node.id)).toEqual(['where_live_sse-1', 'where_live_sse-3', 'where_live_sse-5']);
      overWs.stop();
      overSse.stop();
      sse.dispose();
      await waitForLiveSubscriptions(server.url, 0);
    });

    it('the series subscription totals only what passes', async () => {
      const type = 'where_live_series';
      const minute = Math.floor(Date.now() / 60_000) * 60_000;
      const updates = await subscribe(ws, LiveSeriesDocument, { query: { type, value: 'amount', interval: 'DAY', where } });
      await waitForLiveSubscriptions(server.url, 1);
      await query(server.url, IngestDocument, {
        events: live(type).map((event) => ({ ...event, timestamp: new Date(minute).toISOString() })),
        sentAt: null,
      });
      await waitForProcessing(server.url);
      // Updates are totals of the bucket: the last one holds every event that passes, and none ever held more.
      await waitUntil(async () => updates.items.some((u) => u.series.point.count === 3), 15_000, 'the total of the passing events');
      expect(updates.errors).toEqual([]);
      expect(Math.max(...updates.items.map((u) => u.series.point.count))).toBe(3);
      expect(updates.items.at(-1)!.series).toMatchObject({ group: null, point: { count: 3, sum: 21 } });
      updates.stop();
      await waitForLiveSubscriptions(server.url, 0);
    });
  });
});
