/**
 * Poison events, end to end, on the embedded backend and on the real servers: keys named after
 * Object.prototype members (and BSON's `_bsontype`) are ordinary keys in every layer, and strings
 * that are not well-formed Unicode (lone surrogates) are refused at ingest over HTTP, graphql-ws
 * and SSE, and in every query argument that reaches a store. After each hostile request the
 * processor keeps going (a later ordinary event is processed) and /health answers within 100 ms.
 */
import { performance } from 'node:perf_hooks';
import { print, type ExecutionResult } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOTYPE_MEMBER_KEYS } from '../support/prototype-members.ts';
import { BACKENDS, startServer, type TestServer, expectHealthy } from '../support/server.ts';
import { query, sseClient, subscribe, waitForProcessing, wsClient } from '../support/clients.ts';
import {
  CreateApiKeyDocument,
  IngestDocument,
  ListEventsDocument,
  ListEventTypesDocument,
  ReadEventDocument,
  ReadSeriesDocument,
  ReadTopDocument,
  type IngestMutation,
} from '../generated/operations.ts';

/** The /health answer time the issue asks for after every hostile request. */

describe.each(BACKENDS)('poison events on %s', (backend) => {
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
  const RANGE = { from: at(-3_600_000), to: at(3_600_000) };

  /** Posts a raw body, so strings JSON can carry but a client library might not (lone surrogates) arrive as written. */
  async function postRaw(body: string): Promise<{ status: number; json: ExecutionResult<Record<string, unknown>> }> {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body,
    });
    return { status: response.status, json: (await response.json()) as ExecutionResult<Record<string, unknown>> };
  }

  /** An ordinary event ingested after the hostile ones is processed: the processor did not stop. */
  async function expectProcessorKeepsGoing(type: string): Promise<void> {
    const id = `after-${type}-${Math.random().toString(36).slice(2)}`;
    const result = await query(server.url, IngestDocument, { events: [{ id, type, timestamp: at(5_000), values: { amount: 1 } }] });
    expect(result.ingest.accepted).toBe(1);
    await waitForProcessing(server.url);
    expect((await query(server.url, ReadEventDocument, { id })).event?.id).toBe(id);
  }

  describe('keys named after Object.prototype members', () => {
    const type = 'poison_proto';
    const hostile: { id: string; type: string; timestamp: string; values: Record<string, number>; dimensions: Record<string, unknown> }[] =
      [
        {
          id: 'proto-1',
          type,
          timestamp: at(1_000),
          values: { constructor: 1.5, toString: 2, valueOf: 3 },
          dimensions: { constructor: 'a', hasOwnProperty: 'b' },
        },
        { id: 'proto-2', type, timestamp: at(2_000), values: { constructor: 2.25, toLocaleString: -4 }, dimensions: { constructor: 'a' } },
        {
          id: 'proto-3',
          type,
          timestamp: at(3_000),
          values: { constructor: 1, __lookupGetter__: 8 },
          dimensions: { constructor: 'toString', isPrototypeOf: true },
        },
        // MongoDB's serialiser takes an object with a `_bsontype` key for one of its own types.
        {
          id: 'proto-4',
          type,
          timestamp: at(4_000),
          values: { _bsontype: 5, valueOf: 0.5 },
          dimensions: { _bsontype: 'ObjectId', propertyIsEnumerable: 1 },
        },
      ];

    beforeAll(async () => {
      const result = await query(server.url, IngestDocument, { events: hostile });
      expect(result.ingest).toMatchObject({ accepted: 4, rejected: 0 });
      await expectProcessorKeepsGoing(type);
    });

    it('stores the events with their keys as sent', async () => {
      for (const event of hostile) {
        const stored = (await query(server.url, ReadEventDocument, { id: event.id })).event;
        expect(stored).toMatchObject({ id: event.id, values: event.values, dimensions: event.dimensions });
      }
      await expectHealthy(server);
    });

    it('sums a value named constructor exactly, and reads every other prototype-named value', async () => {
      const series = async (value: string) =>
        (await query(server.url, ReadSeriesDocument, { query: { type, value, interval: 'HOUR', ...RANGE } })).series.flatMap((s) =>
          s.points.filter((p) => p.count > 0).map((p) => [s.group, p.count, p.sum, p.min, p.max]),
        );
      // Five events in the range: the four hostile ones and the ordinary one after them.
      expect(await series('constructor')).toEqual([[null, 5, 4.75, 1, 2.25]]);
      expect(await series('toString')).toEqual([[null, 5, 2, 2, 2]]);
      expect(await series('valueOf')).toEqual([[null, 5, 3.5, 0.5, 3]]);
      expect(await series('toLocaleString')).toEqual([[null, 5, -4, -4, -4]]);
      expect(await series('__lookupGetter__')).toEqual([[null, 5, 8, 8, 8]]);
      expect(await series('_bsontype')).toEqual([[null, 5, 5, 5, 5]]);
      for (const absent of ['hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable', '__defineGetter__']) {
        expect(await series(absent)).toEqual([[null, 5, null, null, null]]);
      }
    });

    it('groups by a dimension named constructor, and by the others', async () => {
      const grouped = async (groupBy: string, value?: string) =>
        (await query(server.url, ReadSeriesDocument, { query: { type, groupBy, value, interval: 'HOUR', ...RANGE } })).series.map((s) => [
          s.group,
          s.points.reduce((n, p) => n + p.count, 0),
          s.points.find((p) => p.count > 0)?.sum ?? null,
        ]);
      expect(await grouped('constructor', 'constructor')).toEqual([
        ['a', 2, 3.75],
        ['toString', 1, 1],
        [null, 2, null],
      ]);
      expect(await grouped('hasOwnProperty')).toEqual([
        ['b', 1, null],
        [null, 4, null],
      ]);
      expect(await grouped('isPrototypeOf')).toEqual([
        ['true', 1, null],
        [null, 4, null],
      ]);
      expect(await grouped('_bsontype')).toEqual([
        ['ObjectId', 1, null],
        [null, 4, null],
      ]);
      for (const absent of PROTOTYPE_MEMBER_KEYS.filter(
        (k) => !['constructor', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable'].includes(k),
      )) {
        expect(await grouped(absent)).toEqual([[null, 5, null]]);
      }
    });

    it('filters series by dimensions named after prototype members', async () => {
      const count = async (dimensions: Record<string, unknown>) =>
        (await query(server.url, ReadSeriesDocument, { query: { type, dimensions, interval: 'HOUR', ...RANGE } })).series[0]!.points.reduce(
          (n, p) => n + p.count,
          0,
        );
      expect(await count({ constructor: 'a' })).toBe(2);
      expect(await count({ constructor: 'a', hasOwnProperty: 'b' })).toBe(1);
      expect(await count({ _bsontype: 'ObjectId' })).toBe(1);
      // What Object.prototype would have answered for a key the rows do not have matches nothing.
      expect(await count({ toString: String(Object.prototype.toString) })).toBe(0);
      expect(await count({ valueOf: String(Object.prototype.valueOf) })).toBe(0);
    });

    it('ranks top by a dimension and a value named constructor', async () => {
      const top = async (by: string, value?: string, dimensions?: Record<string, unknown>) =>
        (await query(server.url, ReadTopDocument, { query: { type, by, value, dimensions, ...RANGE } })).top;
      expect(await top('constructor', 'constructor')).toEqual([
        { key: 'a', count: 2, sum: 3.75 },
        { key: 'toString', count: 1, sum: 1 },
      ]);
      expect(await top('constructor')).toEqual([
        { key: 'a', count: 2, sum: null },
        { key: 'toString', count: 1, sum: null },
      ]);
      expect(await top('hasOwnProperty', 'valueOf', { constructor: 'a' })).toEqual([{ key: 'b', count: 1, sum: 3 }]);
      expect(await top('toString')).toEqual([]);
      expect(await top('valueOf', 'toString')).toEqual([]);
    });

    it('filters events by a dimension named constructor', async () => {
      const ids = async (dimensions: Record<string, unknown>) =>
        (await query(server.url, ListEventsDocument, { filter: { types: [type], dimensions }, first: 10 })).events.edges.map(
          (e) => e.node.id,
        );
      expect(await ids({ constructor: 'a' })).toEqual(['proto-2', 'proto-1']);
      expect(await ids({ hasOwnProperty: 'b' })).toEqual(['proto-1']);
      expect(await ids({ _bsontype: 'ObjectId' })).toEqual(['proto-4']);
      expect(await ids({ toString: String(Object.prototype.toString) })).toEqual([]);
      expect(await ids({ constructor: String(Object) })).toEqual([]);
    });

    it('lists the prototype-named keys in the catalog', async () => {
      const entry = (await query(server.url, ListEventTypesDocument)).eventTypes.find((e) => e.type === type);
      expect(entry).toMatchObject({
        count: 5,
        dimensions: ['_bsontype', 'constructor', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable'],
        values: ['__lookupGetter__', '_bsontype', 'amount', 'constructor', 'toLocaleString', 'toString', 'valueOf'],
      });
      await expectHealthy(server);
    });
  });

  describe('strings that are not well-formed Unicode', () => {
    const type = 'poison_surrogate';
    const INGEST = print(IngestDocument);

    function expectRejected(ingest: IngestMutation['ingest'] | undefined, code: string, path: string) {
      expect(ingest).toMatchObject({ accepted: 0, rejected: 1, acks: [{ status: 'REJECTED', error: { code, path } }] });
      expect(ingest!.acks[0]!.error!.message).toMatch(/must be well-formed Unicode: it holds a lone surrogate \(U\+D[89A-F][0-9A-F]{2}\)/);
    }

    it('refuses a lone-surrogate id over HTTP with INVALID_ID, and keeps processing', async () => {
      // Written by hand: the JSON escape is what reaches the server, and it decodes to a lone surrogate.
      const body = `{"query":${JSON.stringify(INGEST)},"variables":{"events":[{"id":"sur-\\ud800","type":"${type}"}]}}`;
      expect(body).toContain('"sur-\\ud800"');
      const { status, json } = await postRaw(body);
      expect(status).toBe(200);
      expect(json.errors).toBeUndefined();
      expectRejected(json.data!.ingest as IngestMutation['ingest'], 'INVALID_ID', 'id');
      expect((json.data!.ingest as IngestMutation['ingest']).acks[0]!.error!.message).toBe(
        'id must be well-formed Unicode: it holds a lone surrogate (U+D800)',
      );
      await expectHealthy(server);
      await expectProcessorKeepsGoing(type);
      await expectHealthy(server);
    });

    it.each([
      ['source', { source: 'web\udc00' }, 'INVALID_SOURCE', 'source'],
      ['a dimension value', { dimensions: { country: 'N\ud834L' } }, 'INVALID_DIMENSIONS', 'dimensions.country'],
      ['a property deep down', { properties: { cart: [{ name: 'x\udfff' }] } }, 'INVALID_PROPERTIES', 'properties.cart[0].name'],
      ['a property key', { properties: { ['k\ud800']: 1 } }, 'INVALID_PROPERTIES', 'properties.k\ufffd'],
    ])('refuses a lone surrogate in %s over HTTP with its code', async (_, fields, code, path) => {
      const body = JSON.stringify({ query: INGEST, variables: { events: [{ type, ...fields }] } });
      expect(body).toMatch(/\\ud[89a-f]/);
      const { status, json } = await postRaw(body);
      expect(status).toBe(200);
      expectRejected(json.data!.ingest as IngestMutation['ingest'], code, path);
      await expectHealthy(server);
    });

    it('refuses a lone-surrogate id over graphql-ws and over SSE', async () => {
      for (const [transport, client] of [
        ['graphql-ws', wsClient(server.wsUrl)],
        ['SSE', sseClient(server.url)],
      ] as const) {
        try {
          const collected = await subscribe(client, IngestDocument, { events: [{ id: `${transport}-\udbff`, type }] });
          const [result] = await collected.waitFor(1);
          expectRejected(result!.ingest, 'INVALID_ID', 'id');
          expect(result!.ingest.acks[0]!.error!.message).toBe('id must be well-formed Unicode: it holds a lone surrogate (U+DBFF)');
        } finally {
          await client.dispose();
        }
        await expectHealthy(server);
      }
      await expectProcessorKeepsGoing(type);
    });

    it('never stores two ids that differ only in their lone surrogate as one', async () => {
      const ingest = async (id: string) => {
        const { json } = await postRaw(JSON.stringify({ query: INGEST, variables: { events: [{ id, type, timestamp: at(6_000) }] } }));
        return json.data!.ingest as IngestMutation['ingest'];
      };
      expectRejected(await ingest('twin-\ud800'), 'INVALID_ID', 'id');
      expectRejected(await ingest('twin-\udc00'), 'INVALID_ID', 'id');
      // The id both would have become in a UTF-8 store is an ordinary id of its own.
      expect((await ingest('twin-\ufffd')).acks[0]!.status).toBe('ACCEPTED');
      await waitForProcessing(server.url);
      const events = (await query(server.url, ListEventsDocument, { filter: { types: [type] }, first: 100 })).events.edges.map(
        (e) => e.node.id,
      );
      expect(events.filter((id) => id.startsWith('twin-'))).toEqual(['twin-\ufffd']);
      expect((await query(server.url, ReadEventDocument, { id: 'twin-\ufffd' })).event?.id).toBe('twin-\ufffd');
      await expectHealthy(server);
    });

    it.each([
      [
        'event(id:)',
        { query: print(ReadEventDocument), variables: { id: 'twin-\ud800' } },
        'id must be well-formed Unicode: it holds a lone surrogate (U+D800)',
      ],
      [
        'an events dimension filter',
        { query: print(ListEventsDocument), variables: { filter: { dimensions: { country: 'N\ud800' } } } },
        'filter.dimensions.country must be well-formed Unicode: it holds a lone surrogate (U+D800)',
      ],
      [
        'an events source filter',
        { query: print(ListEventsDocument), variables: { filter: { source: '\udc00' } } },
        'filter.source must be well-formed Unicode: it holds a lone surrogate (U+DC00)',
      ],
      [
        'a forged events cursor',
        { query: print(ListEventsDocument), variables: { after: Buffer.from('["e",1,"twin-\\ud800"]').toString('base64url') } },
        'the cursor is not one this field returned',
      ],
      [
        'a series dimension filter',
        {
          query: print(ReadSeriesDocument),
          variables: { query: { type, interval: 'HOUR', ...RANGE, dimensions: { constructor: '\ud800' } } },
        },
        'query.dimensions.constructor must be well-formed Unicode: it holds a lone surrogate (U+D800)',
      ],
      [
        'a series type',
        { query: print(ReadSeriesDocument), variables: { query: { type: `${type}\ud800`, interval: 'HOUR', ...RANGE } } },
        'is not an event type',
      ],
      [
        'a series groupBy',
        { query: print(ReadSeriesDocument), variables: { query: { type, groupBy: 'g\ud800', interval: 'HOUR', ...RANGE } } },
        'is not a dimension or value key',
      ],
      [
        'a top by',
        { query: print(ReadTopDocument), variables: { query: { type, by: 'b\udfff', ...RANGE } } },
        'is not a dimension or value key',
      ],
      [
        'a top value',
        { query: print(ReadTopDocument), variables: { query: { type, by: 'b', value: 'v\udfff', ...RANGE } } },
        'is not a dimension or value key',
      ],
      // The server runs open here, so anyone is the bootstrap admin.
      [
        'an API key name',
        { query: print(CreateApiKeyDocument), variables: { tenant: 'acme', scopes: ['READ'], name: 'ops\udc00' } },
        'name must be well-formed Unicode: it holds a lone surrogate (U+DC00)',
      ],
    ])('answers BAD_USER_INPUT for a lone surrogate in %s', async (_, request, message) => {
      const { status, json } = await postRaw(JSON.stringify(request));
      expect(status).toBe(200);
      expect(json.errors).toHaveLength(1);
      expect(json.errors![0]!.extensions?.code).toBe('BAD_USER_INPUT');
      expect(json.errors![0]!.message).toContain(message);
      expect(json.errors![0]!.message.isWellFormed()).toBe(true);
      await expectHealthy(server);
    });
  });
});
