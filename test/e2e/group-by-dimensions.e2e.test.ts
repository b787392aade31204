/**
 * groupByDimensions and groupKey end to end (issue 14), over real HTTP and graphql-ws, on the
 * embedded stack and on the real servers: series grouped by two and three dimensions, an absent
 * dimension as null in groupKey and as nothing in the group label, groupKey for groupBy and for
 * an ungrouped series, the order of groups, the groups limit counting combinations, and the live
 * series subscription grouped the same way.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Client as WsClient } from 'graphql-ws';
import { BACKENDS, startServer, type TestServer } from '../support/server.ts';
import { execute, query, subscribe, waitForLiveSubscriptions, waitForProcessing, wsClient } from '../support/clients.ts';
import {
  IngestDocument,
  LiveGroupedSeriesDocument,
  ReadGroupedSeriesDocument,
  type EventInput,
  type SeriesQuery,
} from '../generated/operations.ts';

/** Small enough that the seven combinations of three keys below pass it, and six do not. */
const MAX_SERIES_GROUPS = 6;

describe.each(BACKENDS)('groupByDimensions on %s', (backend) => {
  let server: TestServer;
  let ws: WsClient;

  /** A minute boundary ten minutes ago: recent enough to count, not final (24 h lateness). */
  const minute = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
  const at = (ms: number) => new Date(minute + ms).toISOString();
  const RANGE = { from: at(0), to: at(120_000) };

  async function ingest(events: EventInput[]) {
    const result = (await query(server.url, IngestDocument, { events })).ingest;
    expect(result).toMatchObject({ accepted: events.length, rejected: 0 });
  }

  /** The series of the `orders` type, as the client receives them. */
  async function orders(grouping: Partial<SeriesQuery>) {
    return (
      await query(server.url, ReadGroupedSeriesDocument, {
        query: { type: 'orders', value: 'amount', interval: 'MINUTE', ...RANGE, ...grouping },
      })
    ).series;
  }

  beforeAll(async () => {
    server = await startServer({ backend, env: { MAX_SERIES_GROUPS: String(MAX_SERIES_GROUPS) } });
    ws = wsClient(server.wsUrl);
    await ingest([
      {
        id: 'o-1',
        type: 'orders',
        timestamp: at(1_000),
        dimensions: { country: 'NL', plan: 'pro', device: 'ios' },
        values: { amount: 10 },
      },
      {
        id: 'o-2',
        type: 'orders',
        timestamp: at(2_000),
        dimensions: { country: 'NL', plan: 'pro', device: 'web' },
        values: { amount: 20 },
      },
      {
        id: 'o-3',
        type: 'orders',
        timestamp: at(61_000),
        dimensions: { country: 'NL', plan: 'free', device: 'ios' },
        values: { amount: 5 },
      },
      {
        id: 'o-4',
        type: 'orders',
        timestamp: at(62_000),
        dimensions: { country: 'DE', plan: 'pro', device: 'ios' },
        values: { amount: 7 },
      },
      { id: 'o-5', type: 'orders', timestamp: at(3_000), dimensions: { country: 'NL', device: 'web' }, values: { amount: 2 } },
      { id: 'o-6', type: 'orders', timestamp: at(63_000), dimensions: { plan: 'pro' }, values: { amount: 1 } },
      { id: 'o-7', type: 'orders', timestamp: at(64_000), values: { amount: 100 } },
    ]);
    await waitForProcessing(server.url);
  });
  afterAll(async () => {
    await ws?.dispose();
    await server?.stop();
  });

  it('groups by two dimensions: one series per combination, an absent dimension null in groupKey', async () => {
    expect(await orders({ groupByDimensions: ['country', 'plan'] })).toEqual([
      { group: 'DE, pro', groupKey: { country: 'DE', plan: 'pro' }, points: [{ start: at(60_000), count: 1, sum: 7 }] },
      { group: 'NL, free', groupKey: { country: 'NL', plan: 'free' }, points: [{ start: at(60_000), count: 1, sum: 5 }] },
      { group: 'NL, pro', groupKey: { country: 'NL', plan: 'pro' }, points: [{ start: at(0), count: 2, sum: 30 }] },
      { group: 'NL, ', groupKey: { country: 'NL', plan: null }, points: [{ start: at(0), count: 1, sum: 2 }] },
      { group: ', pro', groupKey: { country: null, plan: 'pro' }, points: [{ start: at(60_000), count: 1, sum: 1 }] },
      { group: null, groupKey: { country: null, plan: null }, points: [{ start: at(60_000), count: 1, sum: 100 }] },
    ]);
  });

  it('groups by three dimensions, with a dimensions filter and fill', async () => {
    expect(await orders({ groupByDimensions: ['country', 'plan', 'device'], dimensions: { country: 'NL' }, fill: true })).toEqual([
      {
        group: 'NL, free, ios',
        groupKey: { country: 'NL', plan: 'free', device: 'ios' },
        points: [
          { start: at(0), count: 0, sum: null },
          { start: at(60_000), count: 1, sum: 5 },
        ],
      },
      {
        group: 'NL, pro, ios',
        groupKey: { country: 'NL', plan: 'pro', device: 'ios' },
        points: [
          { start: at(0), count: 1, sum: 10 },
          { start: at(60_000), count: 0, sum: null },
        ],
      },
      {
        group: 'NL, pro, web',
        groupKey: { country: 'NL', plan: 'pro', device: 'web' },
        points: [
          { start: at(0), count: 1, sum: 20 },
          { start: at(60_000), count: 0, sum: null },
        ],
      },
      {
        group: 'NL, , web',
        groupKey: { country: 'NL', plan: null, device: 'web' },
        points: [
          { start: at(0), count: 1, sum: 2 },
          { start: at(60_000), count: 0, sum: null },
        ],
      },
    ]);
  });

  it('orders groups by the keys in the order asked, and writes groupKey in that order', async () => {
    const series = await orders({ groupByDimensions: ['plan', 'country'] });
    expect(series.map((s) => s.group)).toEqual(['free, NL', 'pro, DE', 'pro, NL', 'pro, ', ', NL', null]);
    expect(series.map((s) => s.points.reduce((n, p) => n + p.count, 0))).toEqual([1, 1, 2, 1, 1, 1]);
    for (const s of series) expect(Object.keys(s.groupKey)).toEqual(['plan', 'country']);
  });

  it('gives groupKey for groupBy (absent: null) and {} for an ungrouped series; one key groups as groupBy', async () => {
    const byCountry = [
      { group: 'DE', groupKey: { country: 'DE' }, points: [{ start: at(60_000), count: 1, sum: 7 }] },
      {
        group: 'NL',
        groupKey: { country: 'NL' },
        points: [
          { start: at(0), count: 3, sum: 32 },
          { start: at(60_000), count: 1, sum: 5 },
        ],
      },
      { group: null, groupKey: { country: null }, points: [{ start: at(60_000), count: 2, sum: 101 }] },
    ];
    expect(await orders({ groupBy: 'country' })).toEqual(byCountry);
    expect(await orders({ groupByDimensions: ['country'] })).toEqual(byCountry);
    expect(await orders({})).toEqual([
      {
        group: null,
        groupKey: {},
        points: [
          { start: at(0), count: 3, sum: 32 },
          { start: at(60_000), count: 4, sum: 113 },
        ],
      },
    ]);
  });

  it('refuses more combinations than MAX_SERIES_GROUPS with QUERY_TOO_LARGE, and answers them filtered', async () => {
    const answer = await execute(server.url, ReadGroupedSeriesDocument, {
      query: { type: 'orders', interval: 'MINUTE', ...RANGE, groupByDimensions: ['country', 'plan', 'device'] },
    });
    expect(answer.data).toBeNull();
    expect(answer.errors).toHaveLength(1);
    expect(answer.errors![0]!.extensions).toEqual({ code: 'QUERY_TOO_LARGE', measure: 'groups', limit: MAX_SERIES_GROUPS, actual: 7 });
    expect(answer.errors![0]!.message).toBe(
      'the series answer groups by country, plan, device: 7 groups, above the limit of 6; group by fewer dimensions or ones with fewer values, or filter with dimensions',
    );
    const filtered = await orders({ groupByDimensions: ['country', 'plan', 'device'], dimensions: { plan: 'pro' } });
    expect(filtered.map((s) => [s.group, s.points.map((p) => p.count)])).toEqual([
      ['DE, pro, ios', [1]],
      ['NL, pro, ios', [1]],
      ['NL, pro, web', [1]],
      [', pro, ', [1]],
    ]);
  });

  describe('live series', () => {
    afterEach(async () => {
      await waitForLiveSubscriptions(server.url, 0);
    });

    it('pushes each changed bucket per combination over graphql-ws, with group and groupKey', async () => {
      const byTwo = await subscribe(ws, LiveGroupedSeriesDocument, {
        query: { type: 'live_orders', value: 'amount', interval: 'MINUTE', groupByDimensions: ['country', 'plan'] },
      });
      const byCountry = await subscribe(ws, LiveGroupedSeriesDocument, {
        query: { type: 'live_orders', value: 'amount', interval: 'MINUTE', groupBy: 'country' },
      });
      const ungrouped = await subscribe(ws, LiveGroupedSeriesDocument, {
        query: { type: 'live_orders', value: 'amount', interval: 'MINUTE' },
      });
      await waitForLiveSubscriptions(server.url, 3);
      await ingest([
        { id: 'lo-1', type: 'live_orders', timestamp: at(1_000), dimensions: { country: 'NL', plan: 'pro' }, values: { amount: 10 } },
        { id: 'lo-2', type: 'live_orders', timestamp: at(2_000), dimensions: { country: 'NL', plan: 'pro' }, values: { amount: 20 } },
        { id: 'lo-3', type: 'live_orders', timestamp: at(3_000), dimensions: { country: 'DE' }, values: { amount: 7 } },
      ]);
      await waitForProcessing(server.url);

      /** The last update of each group (updates are totals), in the order of their groupKey's JSON. */
      const latest = (live: typeof byTwo) => {
        const byGroup = new Map<string, (typeof live.items)[number]['series']>();
        for (const item of live.items) byGroup.set(JSON.stringify(item.series.groupKey), item.series);
        return [...byGroup.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, series]) => series);
      };
      const point = (count: number, sum: number) => ({ start: at(0), count, sum, final: false });
      await expect
        .poll(() => latest(byTwo), { timeout: 15_000 })
        .toEqual([
          { group: 'DE, ', groupKey: { country: 'DE', plan: null }, point: point(1, 7) },
          { group: 'NL, pro', groupKey: { country: 'NL', plan: 'pro' }, point: point(2, 30) },
        ]);
      await expect
        .poll(() => latest(byCountry), { timeout: 15_000 })
        .toEqual([
          { group: 'DE', groupKey: { country: 'DE' }, point: point(1, 7) },
          { group: 'NL', groupKey: { country: 'NL' }, point: point(2, 30) },
        ]);
      await expect.poll(() => latest(ungrouped), { timeout: 15_000 }).toEqual([{ group: null, groupKey: {}, point: point(3, 37) }]);
      byTwo.stop();
      byCountry.stop();
      ungrouped.stop();
    });
  });
});
