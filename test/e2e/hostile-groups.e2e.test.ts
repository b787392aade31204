/**
 * Hostile grouping arguments (issue 14), on the embedded stack and on the real servers:
 * groupBy together with groupByDimensions, an empty list, four keys, a huge list, a key named
 * twice, keys ingest would refuse (`__proto__`, dotted, a lone surrogate) are BAD_USER_INPUT
 * naming the argument, on the series query and on the live series subscription; keys and values
 * named after Object.prototype members group like any other. After each case /health answers
 * within 100 ms.
 */
import type { ExecutionResult } from 'graphql';
import type { Client as WsClient } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, expectHealthy, startServer, type TestServer } from '../support/server.ts';
import { query, subscribe, waitForLiveSubscriptions, waitForProcessing, wsClient } from '../support/clients.ts';
import { IngestDocument, LiveGroupedSeriesDocument, ReadGroupedSeriesDocument, type EventInput } from '../generated/operations.ts';

const SERIES = 'query Series($q: SeriesQuery!) { series(query: $q) { group groupKey points { start count sum } } }';

describe.each(BACKENDS)('hostile grouping arguments on %s', (backend) => {
  let server: TestServer;
  let ws: WsClient;

  /** A minute boundary ten minutes ago: recent enough to count. */
  const base = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
  const at = (ms: number) => new Date(base + ms).toISOString();
  const RANGE = { from: at(0), to: at(60_000) };

  /** Posts the series query with these grouping arguments as written (JSON escapes lone surrogates, the server reads them back). */
  async function postSeries(grouping: Record<string, unknown>, type = 'proto'): Promise<{ status: number; text: string }> {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ query: SERIES, variables: { q: { type, value: 'amount', interval: 'MINUTE', ...RANGE, ...grouping } } }),
      signal: AbortSignal.timeout(20_000),
    });
    return { status: response.status, text: await response.text() };
  }

  beforeAll(async () => {
    server = await startServer({ backend });
    ws = wsClient(server.wsUrl);
    const events: EventInput[] = [
      {
        id: 'p-1',
        type: 'proto',
        timestamp: at(1_000),
        dimensions: { constructor: 'toString', toString: '__proto__', valueOf: 'hasOwnProperty' },
        values: { amount: 1 },
      },
      {
        id: 'p-2',
        type: 'proto',
        timestamp: at(2_000),
        dimensions: { constructor: 'toString', toString: '__proto__' },
        values: { amount: 2 },
      },
      { id: 'p-3', type: 'proto', timestamp: at(3_000), dimensions: { constructor: 'valueOf' }, values: { amount: 4 } },
    ];
    expect((await query(server.url, IngestDocument, { events })).ingest).toMatchObject({ accepted: 3, rejected: 0 });
    await waitForProcessing(server.url);
  });
  afterAll(async () => {
    await ws?.dispose();
    await server?.stop();
  });

  const refused: { name: string; grouping: Record<string, unknown>; message: string }[] = [
    {
      name: 'groupBy and groupByDimensions both',
      grouping: { groupBy: 'country', groupByDimensions: ['plan'] },
      message: 'query: set groupBy or groupByDimensions, not both (groupByDimensions with one key groups as groupBy does)',
    },
    {
      name: 'an empty list',
      grouping: { groupByDimensions: [] },
      message: 'query.groupByDimensions: name 1 to 3 dimension keys (got 0); omit it to not group',
    },
    {
      name: 'four keys',
      grouping: { groupByDimensions: ['a', 'b', 'c', 'd'] },
      message: 'query.groupByDimensions: name 1 to 3 dimension keys (got 4); omit it to not group',
    },
    {
      name: 'a list of 50,000 keys',
      grouping: { groupByDimensions: Array.from({ length: 50_000 }, (_, i) => `k${i}`) },
      message: 'query.groupByDimensions: name 1 to 3 dimension keys (got 50000); omit it to not group',
    },
    {
      name: 'a key named twice',
      grouping: { groupByDimensions: ['country', 'plan', 'country'] },
      message: 'query.groupByDimensions[2]: "country" is named twice',
    },
    {
      name: '__proto__ as a key',
      grouping: { groupByDimensions: ['constructor', '__proto__'] },
      message: 'query.groupByDimensions[1]: "__proto__" is not a dimension or value key (1 to 64 characters of A-Z, a-z, 0-9, _ : -)',
    },
    {
      name: 'a lone surrogate as a key',
      grouping: { groupByDimensions: ['country', 'pl\ud800an'] },
      message: 'query.groupByDimensions[1]: "pl\ufffdan" is not a dimension or value key (1 to 64 characters of A-Z, a-z, 0-9, _ : -)',
    },
    {
      name: 'an operator as a key',
      grouping: { groupByDimensions: ['$regex'] },
      message: 'query.groupByDimensions[0]: "$regex" is not a dimension or value key (1 to 64 characters of A-Z, a-z, 0-9, _ : -)',
    },
  ];

  it.each(refused)('refuses $name on the series query with BAD_USER_INPUT', async ({ grouping, message }) => {
    const { status, text } = await postSeries(grouping);
    expect(status).toBe(200);
    const answer = JSON.parse(text) as ExecutionResult;
    expect(answer.data).toBeNull();
    expect(answer.errors!.map((e) => [e.message, e.path, e.extensions])).toEqual([[message, ['series'], { code: 'BAD_USER_INPUT' }]]);
    await expectHealthy(server);
  });

  describe('on the live series subscription', () => {
    afterEach(async () => {
      await waitForLiveSubscriptions(server.url, 0);
    });

    it.each(refused)('refuses $name over graphql-ws with BAD_USER_INPUT', async ({ grouping, message }) => {
      const live = await subscribe(ws, LiveGroupedSeriesDocument, {
        query: { type: 'proto', interval: 'MINUTE', ...grouping } as never,
      });
      await expect(live.waitFor(1, 10_000)).rejects.toThrow(/BAD_USER_INPUT/);
      const [errors] = live.errors as ExecutionResult['errors'][];
      expect(errors!.map((e) => [e.message, e.extensions])).toEqual([[message, { code: 'BAD_USER_INPUT' }]]);
      live.stop();
      await expectHealthy(server);
    });

    it('groups live by keys named after prototype members', async () => {
      const live = await subscribe(ws, LiveGroupedSeriesDocument, {
        query: { type: 'proto_live', value: 'amount', interval: 'MINUTE', groupByDimensions: ['constructor', 'toString'] },
      });
      await waitForLiveSubscriptions(server.url, 1);
      const events: EventInput[] = [
        {
          id: 'pl-1',
          type: 'proto_live',
          timestamp: at(1_000),
          dimensions: { constructor: '__proto__', toString: 'valueOf' },
          values: { amount: 3 },
        },
        { id: 'pl-2', type: 'proto_live', timestamp: at(2_000), dimensions: { hasOwnProperty: 'x' }, values: { amount: 5 } },
      ];
      expect((await query(server.url, IngestDocument, { events })).ingest).toMatchObject({ accepted: 2, rejected: 0 });
      // The last update of each group (updates are totals), in the order of their groupKey's JSON.
      const latest = () =>
        [...new Map(live.items.map((item) => [JSON.stringify(item.series.groupKey), item.series])).entries()]
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
          .map(([, series]) => series);
      await expect.poll(latest, { timeout: 15_000 }).toEqual([
        {
          group: '__proto__, valueOf',
          groupKey: { constructor: '__proto__', toString: 'valueOf' },
          point: { start: at(0), count: 1, sum: 3, final: false },
        },
        { group: null, groupKey: { constructor: null, toString: null }, point: { start: at(0), count: 1, sum: 5, final: false } },
      ]);
      live.stop();
      await expectHealthy(server);
    });
  });

  it('groups by keys and values named after prototype members, written as ordinary JSON', async () => {
    const { status, text } = await postSeries({ groupByDimensions: ['constructor', 'toString', 'valueOf'] });
    expect(status).toBe(200);
    // The answer's text itself: each member name an ordinary key of groupKey, "__proto__" an ordinary value.
    expect(text).toBe(
      JSON.stringify({
        data: {
          series: [
            {
              group: 'toString, __proto__, hasOwnProperty',
              groupKey: { constructor: 'toString', toString: '__proto__', valueOf: 'hasOwnProperty' },
              points: [{ start: at(0), count: 1, sum: 1 }],
            },
            {
              group: 'toString, __proto__, ',
              groupKey: { constructor: 'toString', toString: '__proto__', valueOf: null },
              points: [{ start: at(0), count: 1, sum: 2 }],
            },
            {
              group: 'valueOf, , ',
              groupKey: { constructor: 'valueOf', toString: null, valueOf: null },
              points: [{ start: at(0), count: 1, sum: 4 }],
            },
          ],
        },
      }),
    );
    const absent = await query(server.url, ReadGroupedSeriesDocument, {
      query: { type: 'proto', interval: 'MINUTE', ...RANGE, groupBy: 'hasOwnProperty' },
    });
    expect(absent.series).toEqual([{ group: null, groupKey: { hasOwnProperty: null }, points: [{ start: at(0), count: 3, sum: null }] }]);
    await expectHealthy(server);
  });
});
