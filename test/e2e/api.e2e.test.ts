/**
 * The GraphQL API end to end: a real server process, real HTTP requests, exact results.
 * Each test uses its own event types, so tests sharing the server do not see each other's data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startServer, type TestServer } from '../support/server.ts';
import { execute, query, waitForProcessing } from '../support/clients.ts';
import {
  IngestDocument,
  ListEventsDocument,
  ListEventTypesDocument,
  ReadEventDocument,
  ReadSeriesDocument,
  ReadStreamStatusDocument,
  ReadTopDocument,
  type EventInput,
} from '../generated/operations.ts';
import { parse, print, type OperationDefinitionNode } from 'graphql';
import { graphiqlExamples } from '../../src/server/graphiql-examples.ts';

describe.each(BACKENDS)('API on %s', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ backend });
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** A minute boundary ten minutes ago: recent enough to count, old enough to be stable. */
  const base = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
  const at = (ms: number) => new Date(base + ms).toISOString();

  async function ingest(events: EventInput[], sentAt?: string) {
    return (await query(server.url, IngestDocument, { events, sentAt: sentAt ?? null })).ingest;
  }

  describe('service endpoints', () => {
    it('answers /health and /ready', async () => {
      const health = await fetch(`${server.baseUrl}/health`);
      expect(health.status).toBe(200);
      const ready = await fetch(`${server.baseUrl}/ready`);
      expect(ready.status).toBe(200);
    });

    it('serves GraphiQL from the service itself, opening on example operations', async () => {
      const response = await fetch(server.url, { headers: { accept: 'text/html' } });
      expect(response.status).toBe(200);
      const html = await response.text();
      expect(html).toContain('<title>Streamlens</title>');
      expect(html).not.toMatch(/unpkg\.com|jsdelivr|cdn\./);
      expect(html).toContain('Bearer <your API key, when keys are on>');
      for (const operation of [
        'mutation IngestExample',
        'query PageViewsPerMinuteByCountry',
        'query TopCountriesByRevenue',
        'subscription LiveEvents',
        'subscription LivePageViewsPerSecond',
        'query RevenueByCountryAndPlanExceptFree',
        'query UniqueUsersPerNewYorkDay',
      ]) {
        expect(html).toContain(operation);
      }
    });
  });

  describe('GraphiQL examples', () => {
    it('runs every example query and mutation without an error', async () => {
      const document = parse(graphiqlExamples());
      const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition');
      const kinds = operations.map((o) => o.operation);
      // The tour (one of each operation), then the richer questions (test/unit/graphiql-examples.test.ts).
      expect({
        mutation: kinds.filter((kind) => kind === 'mutation').length,
        query: kinds.filter((kind) => kind === 'query').length,
        subscription: kinds.filter((kind) => kind === 'subscription').length,
      }).toEqual({ mutation: 1, query: 10, subscription: 7 });
      for (const operation of operations.filter((o) => o.operation !== 'subscription')) {
        const response = await fetch(server.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: print(document), operationName: operation.name!.value }),
        });
        const body = (await response.json()) as { data?: unknown; errors?: unknown };
        expect(body.errors, operation.name!.value).toBeUndefined();
        expect(body.data).toBeTruthy();
      }
    });
  });

  describe('ingest', () => {
    it('validates each event on its own and acknowledges each', async () => {
      const result = await ingest([
        { id: 'v-ok-1', type: 'validation_test', values: { n: 1 } },
        { id: 'v-bad-type', type: 'not valid!' },
        { id: 'v-bad-values', type: 'validation_test', values: { n: 'one' } },
        { type: 'validation_test', dimensions: { nested: { no: true } } },
        { id: 'v-ok-2', type: 'validation_test' },
      ]);
      expect(result.accepted).toBe(2);
      expect(result.rejected).toBe(3);
      expect(result.acks.map((a) => [a.index, a.id, a.status, a.error?.code ?? null, a.error?.path ?? null])).toEqual([
        [0, 'v-ok-1', 'ACCEPTED', null, null],
        [1, 'v-bad-type', 'REJECTED', 'INVALID_TYPE', 'type'],
        [2, 'v-bad-values', 'REJECTED', 'INVALID_VALUES', 'values.n'],
        [3, null, 'REJECTED', 'INVALID_DIMENSIONS', 'dimensions.nested'],
        [4, 'v-ok-2', 'ACCEPTED', null, null],
      ]);
      await waitForProcessing(server.url);
      const events = await query(server.url, ListEventsDocument, { filter: { types: ['validation_test'] } });
      expect(events.events.edges.map((e) => e.node.id)).toEqual(['v-ok-2', 'v-ok-1']);
    });

    it('generates UUIDv7 ids for events without one', async () => {
      const result = await ingest([{ type: 'generated_ids' }, { type: 'generated_ids' }]);
      const ids = result.acks.map((a) => a.id!);
      for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(new Set(ids).size).toBe(2);
    });

    it('corrects client clock skew with sentAt', async () => {
      // The client's clock is 1 hour behind: it stamps an event 10 s before it sends the batch.
      const clientNow = Date.now() - 3_600_000;
      const result = await ingest(
        [{ id: 'skewed', type: 'skew_test', timestamp: new Date(clientNow - 10_000).toISOString() }],
        new Date(clientNow).toISOString(),
      );
      expect(result.accepted).toBe(1);
      await waitForProcessing(server.url);
      const { event } = await query(server.url, ReadEventDocument, { id: 'skewed' });
      const corrected = Date.parse(event!.timestamp);
      const received = Date.parse(event!.receivedAt);
      expect(received - corrected).toBe(10_000);
      expect(event!.clockCorrectionMs).toBe(received - clientNow);
    });

    it('refuses a batch over the size limit as a whole, with a clear error', async () => {
      const events = Array.from({ length: 1001 }, () => ({ type: 'too_many' }));
      const result = await execute(server.url, IngestDocument, { events });
      expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(result.errors?.[0]?.message).toContain('at most 1000 events');
    });

    it('reports a malformed DateTime as a GraphQL error naming the problem', async () => {
      const result = await execute(server.url, IngestDocument, { events: [{ type: 'x', timestamp: 'yesterday' }] });
      expect(result.errors?.[0]?.message).toContain('DateTime must be an ISO-8601 string');
    });
  });

  describe('queries', () => {
    const purchases: EventInput[] = [
      { id: 'p1', type: 'q_purchase', timestamp: at(1_000), dimensions: { country: 'NL', plan: 'pro' }, values: { amount: 10 } },
      { id: 'p2', type: 'q_purchase', timestamp: at(2_000), dimensions: { country: 'NL', plan: 'free' }, values: { amount: 30 } },
      { id: 'p3', type: 'q_purchase', timestamp: at(3_000), dimensions: { country: 'DE', plan: 'pro' }, values: { amount: 5 } },
      { id: 'p4', type: 'q_purchase', timestamp: at(61_000), dimensions: { country: 'NL', plan: 'pro' }, values: { amount: 2.5 } },
      { id: 'p5', type: 'q_purchase', timestamp: at(125_000), dimensions: { country: 'US', plan: 'pro' }, values: { amount: 100 } },
      { id: 'p6', type: 'q_purchase', timestamp: at(126_000), dimensions: { country: 'US', plan: 'free' }, source: 'api' },
    ];

    beforeAll(async () => {
      expect((await ingest(purchases)).accepted).toBe(6);
      await waitForProcessing(server.url);
    });

    it('finds events by id, batching look-ups in one operation', async () => {
      const document = `{ a: event(id: "p1") { id type timestamp dimensions values } b: event(id: "p5") { id values } missing: event(id: "nope") { id } }`;
      const response = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: document }),
      });
      const { data } = (await response.json()) as { data: Record<string, unknown> };
      expect(data).toEqual({
        a: { id: 'p1', type: 'q_purchase', timestamp: at(1_000), dimensions: { country: 'NL', plan: 'pro' }, values: { amount: 10 } },
        b: { id: 'p5', values: { amount: 100 } },
        missing: null,
      });
    });

    it("resolves each event's type from the catalog, with one catalog read per operation", async () => {
      const catalogReads = async () => {
        const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
        const match =
          /^streamlens_store_operation_duration_seconds_count\{port="series_store",operation="readCatalog",outcome="ok"\} (\d+)$/m.exec(
            text,
          );
        return match ? Number(match[1]) : 0;
      };
      const before = await catalogReads();
      const document = '{ events(filter: { types: ["q_purchase"] }) { edges { node { id typeInfo { type count dimensions } } } } }';
      const response = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: document }),
      });
      const { data } = (await response.json()) as { data: { events: { edges: { node: { id: string; typeInfo: unknown } }[] } } };
      expect(data.events.edges).toHaveLength(6);
      for (const edge of data.events.edges)
        expect(edge.node.typeInfo).toEqual({ type: 'q_purchase', count: 6, dimensions: ['country', 'plan'] });
      expect((await catalogReads()) - before).toBe(1);
    });

    it('lists events newest first with every filter', async () => {
      const ids = async (filter: Record<string, unknown>) =>
        (await query(server.url, ListEventsDocument, { filter: { types: ['q_purchase'], ...filter } })).events.edges.map((e) => e.node.id);
      expect(await ids({})).toEqual(['p6', 'p5', 'p4', 'p3', 'p2', 'p1']);
      expect(await ids({ dimensions: { country: 'NL' } })).toEqual(['p4', 'p2', 'p1']);
      expect(await ids({ dimensions: { country: 'NL', plan: 'pro' } })).toEqual(['p4', 'p1']);
      expect(await ids({ source: 'api' })).toEqual(['p6']);
      expect(await ids({ from: at(2_000), to: at(61_000) })).toEqual(['p3', 'p2']);
    });

    it('pages with opaque cursors that stay stable while new events arrive', async () => {
      const page1 = await query(server.url, ListEventsDocument, { filter: { types: ['q_purchase'] }, first: 4 });
      expect(page1.events.edges.map((e) => e.node.id)).toEqual(['p6', 'p5', 'p4', 'p3']);
      expect(page1.events.pageInfo.hasNextPage).toBe(true);
      await ingest([{ id: 'p-newer', type: 'q_purchase_paging', timestamp: at(500_000) }]);
      const page2 = await query(server.url, ListEventsDocument, {
        filter: { types: ['q_purchase'] },
        first: 4,
        after: page1.events.pageInfo.endCursor,
      });
      expect(page2.events.edges.map((e) => e.node.id)).toEqual(['p2', 'p1']);
      expect(page2.events.pageInfo).toEqual({ hasNextPage: false, endCursor: page2.events.edges[1]!.cursor });
    });

    it('refuses bad paging arguments with BAD_USER_INPUT', async () => {
      const badCursor = await execute(server.url, ListEventsDocument, { after: 'not-a-cursor' });
      expect(badCursor.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      const tooMany = await execute(server.url, ListEventsDocument, { first: 1001 });
      expect(tooMany.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      const operator = await execute(server.url, ListEventsDocument, { filter: { dimensions: { country: { $gt: '' } } } });
      expect(operator.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    });

    it('rolls up per minute with exact counts and sums, grouped and filtered', async () => {
      const { series } = await query(server.url, ReadSeriesDocument, {
        query: { type: 'q_purchase', value: 'amount', interval: 'MINUTE', from: at(30_000), to: at(180_000), groupBy: 'country' },
      });
      const shape = series.map((s) => [s.group, s.points.map((p) => [p.start, p.count, p.sum, p.min, p.max, p.avg])]);
      expect(shape).toEqual([
        ['DE', [[at(0), 1, 5, 5, 5, 5]]],
        [
          'NL',
          [
            [at(0), 2, 40, 10, 30, 20],
            [at(60_000), 1, 2.5, 2.5, 2.5, 2.5],
          ],
        ],
        ['US', [[at(120_000), 2, 100, 100, 100, 100]]],
      ]);
      const filtered = await query(server.url, ReadSeriesDocument, {
        query: { type: 'q_purchase', interval: 'HOUR', from: at(0), to: at(3_600_000), dimensions: { plan: 'pro' } },
      });
      expect(filtered.series.map((s) => [s.group, s.points.reduce((n, p) => n + p.count, 0)])).toEqual([[null, 4]]);
    });

    it('fills empty buckets and reads percentiles within 1%', async () => {
      const { series } = await query(server.url, ReadSeriesDocument, {
        query: { type: 'q_purchase', value: 'amount', interval: 'MINUTE', from: at(0), to: at(240_000), fill: true },
      });
      expect(series).toHaveLength(1);
      const points = series[0]!.points;
      expect(points.map((p) => [p.start, p.count, p.sum])).toEqual([
        [at(0), 3, 45],
        [at(60_000), 1, 2.5],
        [at(120_000), 2, 100],
        [at(180_000), 0, null],
      ]);
      // Minute 0 holds 5, 10 and 30. Quantile q is the value at rank q*(n-1) (DDSketch's
      // definition): p50 is 10 (rank 1) and so is p99 (rank 1.98), within the sketch's 1%.
      expect(Math.abs(points[0]!.p50! - 10) / 10).toBeLessThanOrEqual(0.01);
      expect(Math.abs(points[0]!.p99! - 10) / 10).toBeLessThanOrEqual(0.01);
      // Minute 2 holds a single amount (100): every percentile is that value exactly.
      expect([points[2]!.p50, points[2]!.p90, points[2]!.p95, points[2]!.p99]).toEqual([100, 100, 100, 100]);
      expect(points.every((p) => p.final === false)).toBe(true);
      expect(series[0]!.watermark).not.toBeNull();
    });

    it('ranks the top values of a dimension by count or by sum', async () => {
      const byCount = await query(server.url, ReadTopDocument, {
        query: { type: 'q_purchase', by: 'country', from: at(0), to: at(300_000) },
      });
      expect(byCount.top).toEqual([
        { key: 'NL', count: 3, sum: null },
        { key: 'US', count: 2, sum: null },
        { key: 'DE', count: 1, sum: null },
      ]);
      const bySum = await query(server.url, ReadTopDocument, {
        query: { type: 'q_purchase', by: 'plan', value: 'amount', from: at(0), to: at(300_000), limit: 1 },
      });
      expect(bySum.top).toEqual([{ key: 'pro', count: 4, sum: 117.5 }]);
    });

    it('lists the catalog of event types', async () => {
      const { eventTypes } = await query(server.url, ListEventTypesDocument);
      const purchase = eventTypes.find((t) => t.type === 'q_purchase');
      expect(purchase).toEqual({
        type: 'q_purchase',
        count: 6,
        firstSeen: at(1_000),
        lastSeen: at(126_000),
        dimensions: ['country', 'plan'],
        values: ['amount'],
      });
    });

    it('counts a re-sent batch once', async () => {
      const before = await query(server.url, ReadStreamStatusDocument);
      const again = await ingest(purchases);
      expect(again.accepted).toBe(6);
      await waitForProcessing(server.url);
      const after = await query(server.url, ReadStreamStatusDocument);
      expect(after.streamStatus.duplicates - before.streamStatus.duplicates).toBe(6);
      const { series } = await query(server.url, ReadSeriesDocument, {
        query: { type: 'q_purchase', value: 'amount', interval: 'DAY', from: at(0), to: at(300_000) },
      });
      expect(series[0]!.points.reduce((n, p) => n + p.count, 0)).toBe(6);
      expect(series[0]!.points.reduce((n, p) => n + (p.sum ?? 0), 0)).toBe(147.5);
      const events = await query(server.url, ListEventsDocument, { filter: { types: ['q_purchase'] } });
      expect(events.events.edges).toHaveLength(6);
    });

    it('estimates the cost of an operation and refuses one that asks for too much', async () => {
      const page = (alias: string) =>
        `${alias}: events(first: 1000) { edges { cursor node { id type timestamp receivedAt source dimensions values properties clockCorrectionMs } } }`;
      const ask = async (aliases: number) => {
        const document = `{ ${Array.from({ length: aliases }, (_, i) => page(`p${i}`)).join(' ')} }`;
        const response = await fetch(server.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: document }),
        });
        return (await response.json()) as {
          data?: unknown;
          errors?: { message: string; extensions: { code: string; measure?: string } }[];
        };
      };
      // One full page costs about 12,000, under the limit of 50,000; five of them do not fit.
      expect((await ask(1)).errors).toBeUndefined();
      const refused = await ask(5);
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', measure: 'complexity' });
      expect(refused.errors?.[0]?.message).toContain('above the limit of 50000');
    });

    it('refuses impossible series ranges with BAD_USER_INPUT', async () => {
      const backwards = await execute(server.url, ReadSeriesDocument, {
        query: { type: 'q_purchase', interval: 'MINUTE', from: at(60_000), to: at(0) },
      });
      expect(backwards.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      const huge = await execute(server.url, ReadSeriesDocument, {
        query: { type: 'q_purchase', interval: 'SECOND', from: at(0), to: at(86_400_000) },
      });
      expect(huge.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(huge.errors?.[0]?.message).toContain('coarser interval');
    });

    it('accepts the same operations as GET requests', async () => {
      const url = new URL(server.url);
      url.searchParams.set('query', print(ListEventTypesDocument));
      const response = await fetch(url, { headers: { accept: 'application/json' } });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { data: { eventTypes: { type: string }[] } };
      expect(body.data.eventTypes.map((t) => t.type)).toContain('q_purchase');
    });
  });
});
