/**
 * The slice of an access token, end to end on both stacks (contract-2.md, "Access tokens for end
 * users"): a token of tenant acme for customer A, types [visit], `where: customer eq A`, reads
 * exactly A's visits from every field that reveals data, over HTTP, graphql-ws and SSE, and never
 * B's, nor clicks; the API key that minted it still sees everything. Also: cursors minted by the
 * key and replayed with the token, a cached answer for the key's wider slice then the token's
 * narrower one, both subscriptions (sharing a result with the key's must not happen), an ingest
 * through the token, and the fields a token may not read at all.
 */
import type { ExecutionResult } from 'graphql';
import { print } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, expectHealthy, startServer, type TestServer } from '../support/server.ts';
import {
  query,
  execute,
  sseClient,
  subscribe,
  waitForLiveSubscriptions,
  waitForProcessing,
  waitUntil,
  wsClient,
  type Credentials,
} from '../support/clients.ts';
import {
  CreateAccessTokenDocument,
  CreateApiKeyDocument,
  IngestDocument,
  ResumableSeriesDocument,
  ResumableSeriesTotalsDocument,
  SliceEventDocument,
  SliceEventsDocument,
  SliceEventTypesDocument,
  SliceLiveEventsDocument,
  SliceLiveSeriesDocument,
  SliceQuarantineDocument,
  SliceSeriesDocument,
  SliceSetAsideDocument,
  SliceTopDocument,
  SliceWholeTenantFieldsDocument,
  type EventInput,
} from '../generated/operations.ts';

const ADMIN_KEY = 'test-admin-key-0123456789abcdefghijklmnop';
const SIGNING_KEYS = `k1:${'t'.repeat(43)}`;
const MINUTE = 60_000;
/** Late enough to be final and quarantine what comes later (ALLOWED_LATENESS 1m below), early enough for MINUTE rows. */
const T1 = Math.floor((Date.now() - 5 * MINUTE) / MINUTE) * MINUTE + 10_000;
const T1_MINUTE = new Date(Math.floor(T1 / MINUTE) * MINUTE).toISOString();
const at = (offsetMs: number) => new Date(T1 + offsetMs).toISOString();

type Transport = 'HTTP' | 'graphql-ws' | 'SSE';
const TRANSPORTS: Transport[] = ['HTTP', 'graphql-ws', 'SSE'];

const FORBIDDEN_CLICK = 'this access token reads only events of type visit; filter.types ["click"] is outside its slice';
const FORBIDDEN_WHOLE = 'an access token reads events, series, top lists, the type catalog and the quarantine of its slice only';

describe.each(BACKENDS)('the slice of an access token on %s', (backend) => {
  let server: TestServer;
  let key: Credentials;
  let token: Credentials;
  /** A stream position the key was given before any event: replayed with the token later. */
  let keyStreamCursor: string;
  /** The id 'tok-a' is stored under, ingested through the token: in its slice's namespace. */
  let tokA = '';

  /** One operation over a transport: its single result (a query over graphql-ws or SSE completes after one). */
  async function run<R, V>(transport: Transport, document: TypedDocumentNode<R, V>, variables: V, credentials: Credentials) {
    if (transport === 'HTTP') return execute(server.url, document, variables, credentials);
    const client = transport === 'graphql-ws' ? wsClient(server.wsUrl, credentials) : sseClient(server.url, credentials);
    try {
      return await new Promise<ExecutionResult<R>>((resolve, reject) => {
        client.subscribe<R>(
          { query: print(document), variables: variables as Record<string, unknown> },
          // A refusal before execution comes as an error message holding GraphQL errors.
          { next: resolve, error: (error) => (Array.isArray(error) ? resolve({ errors: error }) : reject(error)), complete: () => {} },
        );
      });
    } finally {
      await client.dispose();
    }
  }

  async function read<R, V>(transport: Transport, document: TypedDocumentNode<R, V>, variables: V, credentials: Credentials): Promise<R> {
    const result = await run(transport, document, variables, credentials);
    if (result.errors?.length || !result.data) throw new Error(`GraphQL errors over ${transport}: ${JSON.stringify(result.errors)}`);
    return result.data;
  }

  async function refusal<R, V>(transport: Transport, document: TypedDocumentNode<R, V>, variables: V, credentials: Credentials) {
    const result = await run(transport, document, variables, credentials);
    return result.errors?.map((error) => ({ code: error.extensions?.code, message: error.message }));
  }

  async function ingest(events: EventInput[], credentials: Credentials) {
    return (await query(server.url, IngestDocument, { events }, credentials)).ingest;
  }

  beforeAll(async () => {
    server = await startServer({
      backend,
      env: {
        ADMIN_KEY,
        TOKEN_SIGNING_KEYS: SIGNING_KEYS,
        OUT_OF_ORDERNESS: '1s',
        ALLOWED_LATENESS: '1m',
        FUTURE_TOLERANCE: '1m',
        // Kafka's partitions without events hold the watermark back only this long: T1 soon final.
        IDLE_PARTITION_TIMEOUT: '1s',
        // Every field over three transports, twice: more operations a second than the default allows.
        QUERY_RATE_PER_KEY: '10000',
      },
    });
    const created = await query(server.url, CreateApiKeyDocument, { tenant: 'acme', scopes: ['READ', 'INGEST'] }, { apiKey: ADMIN_KEY });
    key = { apiKey: created.createApiKey.key };
    const minted = await query(
      server.url,
      CreateAccessTokenDocument,
      { input: { scopes: ['READ', 'INGEST'], expiresIn: '1h', types: ['visit'], where: [{ key: 'customer', eq: 'A' }] } },
      key,
    );
    token = { apiKey: minted.createAccessToken.token };
    keyStreamCursor = (await query(server.url, SliceEventsDocument, { first: 0 }, key)).events.streamCursor!;

    const history = await ingest(
      [
        { id: 'a1', type: 'visit', timestamp: at(0), dimensions: { customer: 'A' }, values: { amount: 1 } },
        { id: 'a2', type: 'visit', timestamp: at(1_000), dimensions: { customer: 'A' }, values: { amount: 2 } },
        { id: 'b1', type: 'visit', timestamp: at(2_000), dimensions: { customer: 'B' }, values: { amount: 10 } },
        { id: 'b2', type: 'visit', timestamp: at(3_000), dimensions: { customer: 'B', plan: 'pro' }, values: { amount: 10 } },
        { id: 'b3', type: 'visit', timestamp: at(4_000), dimensions: { customer: 'B' }, values: { amount: 10, secret: 1 } },
        { id: 'ca', type: 'click', timestamp: at(5_000), dimensions: { customer: 'A' } },
        { id: 'n1', type: 'visit', timestamp: at(6_000) },
      ],
      key,
    );
    expect(history.accepted).toBe(7);
    await waitForProcessing(server.url, 30_000, key);
    // An event of now moves the watermark past T1's minute and its lateness: T1 is final from here.
    await ingest([{ id: 'hb', type: 'visit', dimensions: { customer: 'C' } }], key);
    await waitForProcessing(server.url, 30_000, key);
    const minuteOfT1 = {
      type: 'visit',
      interval: 'MINUTE' as const,
      from: T1_MINUTE,
      to: new Date(Date.parse(T1_MINUTE) + MINUTE).toISOString(),
    };
    await waitUntil(
      async () => (await query(server.url, SliceSeriesDocument, { query: minuteOfT1 }, key)).series[0]?.points[0]?.final,
      30_000,
      "T1's minute final",
    );
    // Further ahead than FUTURE_TOLERANCE: quarantined, one of each customer.
    const future = (minutes: number) => new Date(Date.now() + minutes * MINUTE).toISOString();
    await ingest(
      [
        { id: 'qa', type: 'visit', timestamp: future(10), dimensions: { customer: 'A' } },
        { id: 'qb', type: 'visit', timestamp: future(11), dimensions: { customer: 'B' } },
      ],
      key,
    );
    await waitForProcessing(server.url, 30_000, key);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it.each(TRANSPORTS)("events, event(id) and Event.typeInfo over %s: A's visits only, and the key still sees all", async (transport) => {
    const tokenPage = await read(transport, SliceEventsDocument, { first: 10 }, token);
    const visitOfA = { type: 'visit', count: 2 };
    expect(tokenPage.events.edges.map((edge) => [edge.node.id, edge.node.typeInfo])).toEqual([
      ['a2', visitOfA],
      ['a1', visitOfA],
    ]);
    expect(tokenPage.events.pageInfo).toEqual({ hasNextPage: false, endCursor: tokenPage.events.pageInfo.endCursor });
    const keyPage = await read(transport, SliceEventsDocument, { first: 10 }, key);
    expect(keyPage.events.edges.map((edge) => edge.node.id)).toEqual(['hb', 'n1', 'ca', 'b3', 'b2', 'b1', 'a2', 'a1']);
    expect(keyPage.events.edges[0]!.node.typeInfo).toEqual({ type: 'visit', count: 7 });

    // Types asked for are intersected; only types outside the slice is refused, naming what it may read.
    const both = await read(transport, SliceEventsDocument, { filter: { types: ['visit', 'click'] } }, token);
    expect(both.events.edges.map((edge) => edge.node.id)).toEqual(['a2', 'a1']);
    expect(await refusal(transport, SliceEventsDocument, { filter: { types: ['click'] } }, token)).toEqual([
      { code: 'FORBIDDEN', message: FORBIDDEN_CLICK },
    ]);
    // The query's conditions are ANDed with the slice's: B is nowhere to be found.
    const ofB = await read(transport, SliceEventsDocument, { filter: { where: [{ key: 'customer', eq: 'B' }] } }, token);
    expect(ofB.events.edges).toEqual([]);

    for (const id of ['b1', 'ca', 'n1', 'hb', 'qa']) {
      expect((await read(transport, SliceEventDocument, { id }, token)).event).toBeNull();
    }
    expect((await read(transport, SliceEventDocument, { id: 'a1' }, token)).event).toEqual({ id: 'a1', dimensions: { customer: 'A' } });
    expect((await read(transport, SliceEventDocument, { id: 'b1' }, key)).event).toEqual({ id: 'b1', dimensions: { customer: 'B' } });
  });

  it('a cursor the key minted, replayed with the token, goes on within the slice only', async () => {
    const keyFirst = await query(server.url, SliceEventsDocument, { first: 4 }, key);
    expect(keyFirst.events.edges.map((edge) => edge.node.id)).toEqual(['hb', 'n1', 'ca', 'b3']);
    const replayed = await query(server.url, SliceEventsDocument, { first: 10, after: keyFirst.events.pageInfo.endCursor }, token);
    expect(replayed.events.edges.map((edge) => edge.node.id)).toEqual(['a2', 'a1']);
    const keyToA2 = await query(server.url, SliceEventsDocument, { first: 7 }, key);
    const afterA2 = await query(server.url, SliceEventsDocument, { after: keyToA2.events.pageInfo.endCursor }, token);
    expect(afterA2.events.edges.map((edge) => edge.node.id)).toEqual(['a1']);
  });

  it('refuses forged sealed cursors (random, tampered, huge, of the wrong shape) with BAD_USER_INPUT, and stays healthy', async () => {
    const sealed = (payload: unknown) => Buffer.from(JSON.stringify(['sealed', payload])).toString('base64url');
    const forged = [
      sealed(Buffer.alloc(64, 7).toString('base64url')),
      sealed('x'.repeat(100_000)),
      sealed('\ud800'),
      sealed({ constructor: 1 }),
      sealed(null),
      Buffer.from(JSON.stringify(['s'])).toString('base64url'),
    ];
    for (const after of forged) {
      for (const credentials of [token, key]) {
        const answer = await execute(server.url, SliceEventsDocument, { after }, credentials);
        expect(answer.errors?.map((error) => [error.extensions?.code, error.message])).toEqual([
          ['BAD_USER_INPUT', 'the cursor is not one this field returned'],
        ]);
      }
    }
    await expectHealthy(server);
  });

  it.each(TRANSPORTS)('series, top and eventTypes over %s: the counts of the slice; a type outside it is FORBIDDEN', async (transport) => {
    const minute = {
      type: 'visit',
      interval: 'MINUTE' as const,
      from: T1_MINUTE,
      to: new Date(Date.parse(T1_MINUTE) + MINUTE).toISOString(),
    };
    const tokenSeries = await read(transport, SliceSeriesDocument, { query: { ...minute, value: 'amount' } }, token);
    expect(tokenSeries.series).toEqual([{ group: null, points: [{ count: 2, sum: 3, final: true }] }]);
    const grouped = await read(transport, SliceSeriesDocument, { query: { ...minute, groupBy: 'customer' } }, token);
    expect(grouped.series).toEqual([{ group: 'A', points: [{ count: 2, sum: null, final: true }] }]);
    const keySeries = await read(transport, SliceSeriesDocument, { query: { ...minute, value: 'amount' } }, key);
    expect(keySeries.series).toEqual([{ group: null, points: [{ count: 6, sum: 33, final: true }] }]);
    expect(await refusal(transport, SliceSeriesDocument, { query: { ...minute, type: 'click' } }, token)).toEqual([
      { code: 'FORBIDDEN', message: 'this access token reads only events of type visit; query.type "click" is outside its slice' },
    ]);

    const range = { type: 'visit', by: 'customer', from: minute.from, to: minute.to };
    expect((await read(transport, SliceTopDocument, { query: range }, token)).top).toEqual([{ key: 'A', count: 2 }]);
    expect((await read(transport, SliceTopDocument, { query: range }, key)).top).toEqual([
      { key: 'B', count: 3 },
      { key: 'A', count: 2 },
    ]);
    expect(await refusal(transport, SliceTopDocument, { query: { ...range, type: 'click' } }, token)).toEqual([
      { code: 'FORBIDDEN', message: 'this access token reads only events of type visit; query.type "click" is outside its slice' },
    ]);

    // Only the slice's types, with the slice's counts, keys and (to the minute) times.
    const catalog = { type: 'visit', count: 2, firstSeen: T1_MINUTE, lastSeen: T1_MINUTE, dimensions: ['customer'], values: ['amount'] };
    expect((await read(transport, SliceEventTypesDocument, {}, token)).eventTypes).toEqual([catalog]);
    expect((await read(transport, SliceEventTypesDocument, { types: ['click', 'visit'] }, token)).eventTypes).toEqual([catalog]);
    expect((await read(transport, SliceEventTypesDocument, { types: ['click'] }, token)).eventTypes).toEqual([]);
    const keyCatalog = (await read(transport, SliceEventTypesDocument, {}, key)).eventTypes;
    expect(keyCatalog.map((entry) => [entry.type, entry.count, entry.dimensions, entry.values])).toEqual([
      ['click', 1, ['customer'], []],
      ['visit', 7, ['customer', 'plan'], ['amount', 'secret']],
    ]);
  });

  it('a cached answer for the key is never served to the token, nor the other way', async () => {
    const minute = {
      type: 'visit',
      interval: 'MINUTE' as const,
      from: T1_MINUTE,
      to: new Date(Date.parse(T1_MINUTE) + MINUTE).toISOString(),
    };
    const variables = { query: { ...minute, groupBy: 'customer' } };
    // Final buckets only are cached: the same query by the key first, then by the token, then again.
    const keyAnswer = [
      { group: 'A', points: [{ count: 2, sum: null, final: true }] },
      { group: 'B', points: [{ count: 3, sum: null, final: true }] },
      { group: null, points: [{ count: 1, sum: null, final: true }] },
    ];
    expect((await query(server.url, SliceSeriesDocument, variables, key)).series).toEqual(keyAnswer);
    expect((await query(server.url, SliceSeriesDocument, variables, token)).series).toEqual([keyAnswer[0]]);
    expect((await query(server.url, SliceSeriesDocument, variables, key)).series).toEqual(keyAnswer);
    const top = { query: { type: 'visit', by: 'customer', from: minute.from, to: minute.to, limit: 5 } };
    expect((await query(server.url, SliceTopDocument, top, key)).top).toEqual([
      { key: 'B', count: 3 },
      { key: 'A', count: 2 },
    ]);
    expect((await query(server.url, SliceTopDocument, top, token)).top).toEqual([{ key: 'A', count: 2 }]);
  });

  it.each(TRANSPORTS)('the quarantine over %s: only the slice, and what reveals the whole tenant is FORBIDDEN', async (transport) => {
    const tokenQuarantine = await read(transport, SliceQuarantineDocument, { first: 10 }, token);
    expect(tokenQuarantine.quarantine.edges.map((edge) => edge.node.id)).toEqual(['qa']);
    const page = await read(transport, SliceQuarantineDocument, { first: 1 }, token);
    expect(page.quarantine.edges.map((edge) => edge.node.id)).toEqual(['qa']);
    const keyQuarantine = await read(transport, SliceQuarantineDocument, { first: 10 }, key);
    expect(keyQuarantine.quarantine.edges.map((edge) => edge.node.id)).toEqual(['qb', 'qa']);
    // The key's cursor past qb, replayed with the token.
    const keyFirst = await read(transport, SliceQuarantineDocument, { first: 1 }, key);
    const replayed = await read(transport, SliceQuarantineDocument, { after: keyFirst.quarantine.pageInfo.endCursor }, token);
    expect(replayed.quarantine.edges.map((edge) => edge.node.id)).toEqual(['qa']);

    expect(await refusal(transport, SliceWholeTenantFieldsDocument, {}, token)).toEqual([{ code: 'FORBIDDEN', message: FORBIDDEN_WHOLE }]);
    expect(await refusal(transport, SliceSetAsideDocument, {}, token)).toEqual([{ code: 'FORBIDDEN', message: FORBIDDEN_WHOLE }]);
    expect((await read(transport, SliceWholeTenantFieldsDocument, {}, key)).streamStatus.processed).toBeGreaterThan(0);
  });

  it("both subscriptions over graphql-ws and SSE, and an ingest through the token: A's visits only", async () => {
    const ws = wsClient(server.wsUrl, token);
    const sse = sseClient(server.url, token);
    const keyWs = wsClient(server.wsUrl, key);
    try {
      const liveSeries = { query: { type: 'visit', interval: 'MINUTE' as const, groupBy: 'customer' } };
      const tokenEvents = [await subscribe(ws, SliceLiveEventsDocument, {}), await subscribe(sse, SliceLiveEventsDocument, {})];
      const tokenSeries = [
        await subscribe(ws, SliceLiveSeriesDocument, liveSeries),
        await subscribe(sse, SliceLiveSeriesDocument, liveSeries),
      ];
      // The same document and variables as the token's: a result executed for one must not serve the other.
      const keyEvents = await subscribe(keyWs, SliceLiveEventsDocument, {});
      await waitForLiveSubscriptions(server.url, 5, key);
      expect(await refusal('graphql-ws', SliceLiveEventsDocument, { filter: { types: ['click'] } }, token)).toEqual([
        { code: 'FORBIDDEN', message: FORBIDDEN_CLICK },
      ]);

      // One timestamp for every live event: the live series counts them in one MINUTE bucket.
      const timestamp = new Date().toISOString();
      const throughToken = await ingest(
        [
          { id: 'tok-a', type: 'visit', timestamp, dimensions: { customer: 'A' } },
          { id: 'tok-b', type: 'visit', timestamp, dimensions: { customer: 'B' } },
          { id: 'tok-click', type: 'click', timestamp, dimensions: { customer: 'A' } },
          { id: 'tok-none', type: 'visit', timestamp },
        ],
        token,
      );
      expect(throughToken.accepted).toBe(1);
      tokA = throughToken.acks[0]!.id!;
      // Ingested through a token with a slice, the id lives in the slice's namespace.
      expect(tokA).toMatch(/^~[A-Za-z0-9_-]{10}~tok-a$/);
      expect(throughToken.acks.map((ack) => [ack.id, ack.status, ack.error?.code ?? null])).toEqual([
        [tokA, 'ACCEPTED', null],
        ['tok-b', 'REJECTED', 'OUTSIDE_TOKEN_SLICE'],
        ['tok-click', 'REJECTED', 'OUTSIDE_TOKEN_SLICE'],
        ['tok-none', 'REJECTED', 'OUTSIDE_TOKEN_SLICE'],
      ]);
      for (const events of tokenEvents) await events.waitFor(1);
      await keyEvents.waitFor(1);
      await ingest(
        [
          { id: 'live-b', type: 'visit', timestamp, dimensions: { customer: 'B' } },
          { id: 'live-a', type: 'visit', timestamp, dimensions: { customer: 'A' } },
        ],
        key,
      );
      for (const events of tokenEvents) {
        await events.waitFor(2);
        expect(events.items.map((item) => [item.events.node.id, item.events.node.typeInfo])).toEqual([
          [tokA, { count: 3 }],
          ['live-a', { count: 4 }],
        ]);
      }
      await keyEvents.waitFor(3);
      expect(keyEvents.items.map((item) => item.events.node.id)).toEqual([tokA, 'live-b', 'live-a']);
      expect(keyEvents.items[0]!.events.node.typeInfo!.count).toBeGreaterThan(7);
      for (const series of tokenSeries) {
        await waitUntil(async () => series.items.some((item) => item.series.point.count === 2), 15_000, 'the second visit of A');
        expect(new Set(series.items.map((item) => item.series.group))).toEqual(new Set(['A']));
      }
      // Nothing of B reached the token's subscriptions while the key's saw it.
      for (const events of tokenEvents) expect(events.items).toHaveLength(2);
      expect([...tokenEvents, ...tokenSeries].flatMap((collected) => collected.errors)).toEqual([]);
    } finally {
      await Promise.all([ws.dispose(), keyWs.dispose()]);
      sse.dispose();
    }
    await expectHealthy(server);
  });

  it("a stream cursor the key was given, resumed with the token over graphql-ws and SSE (after and Last-Event-ID), replays A's visits only", async () => {
    const ws = wsClient(server.wsUrl, token);
    const sse = sseClient(server.url, token);
    try {
      const replays = [
        await subscribe(ws, SliceLiveEventsDocument, { after: keyStreamCursor }),
        await subscribe(sse, SliceLiveEventsDocument, { after: keyStreamCursor }),
      ];
      for (const replay of replays) {
        await replay.waitFor(4);
        expect(replay.items.map((item) => item.events.node.id)).toEqual(['a1', 'a2', tokA, 'live-a']);
      }
      // The same over SSE's own resume header, which a browser's EventSource sends by itself.
      const response = await fetch(server.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'text/event-stream',
          authorization: `Bearer ${token.apiKey}`,
          'last-event-id': keyStreamCursor,
        },
        body: JSON.stringify({ query: 'subscription { events { node { id } } }' }),
      });
      const reader = response.body!.getReader();
      let text = '';
      const decoder = new TextDecoder();
      while ((text.match(/"id":"/g) ?? []).length < 4) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      await reader.cancel();
      expect([...text.matchAll(/"node":\{"id":"([^"]+)"/g)].map((match) => match[1])).toEqual(['a1', 'a2', tokA, 'live-a']);
      // Everything arrived before the waits ended: nothing of B came after A's last visit either.
      for (const replay of replays) expect(replay.items).toHaveLength(4);
    } finally {
      await ws.dispose();
      sse.dispose();
    }
  });

  it("a series snapshot (from) and a resume (after) with the token, over graphql-ws and SSE, hold A's visits only", async () => {
    const asked = { type: 'visit', interval: 'MINUTE' as const, groupBy: 'customer', from: T1_MINUTE };
    const keyWs = wsClient(server.wsUrl, key);
    const ws = wsClient(server.wsUrl, token);
    const sse = sseClient(server.url, token);
    try {
      const stored = await query(
        server.url,
        ResumableSeriesTotalsDocument,
        { query: { ...asked, to: new Date(Date.now() + MINUTE).toISOString() } },
        token,
      );
      const points = stored.series.flatMap((series) => series.points.map((point) => [series.group, point.start, point.count]));
      expect(new Set(stored.series.map((series) => series.group))).toEqual(new Set(['A']));
      for (const client of [ws, sse]) {
        const snapshot = await subscribe(client, ResumableSeriesDocument, { query: asked });
        await snapshot.waitFor(points.length);
        expect(snapshot.items.map((item) => [item.series.group, item.series.point.start, item.series.point.count])).toEqual(points);
        // A token's cursors are sealed: their log offsets would count other customers' events.
        for (const item of snapshot.items) expect(Buffer.from(item.series.cursor, 'base64url').toString('utf8')).toMatch(/^\["sealed",/);
        // And one of them resumes the token's subscription: the snapshot's last point again, or later ones.
        const resumedFromOwn = await subscribe(client, ResumableSeriesDocument, {
          query: asked,
          after: snapshot.items.at(-1)!.series.cursor,
        });
        snapshot.stop();
        await new Promise((resolve) => setTimeout(resolve, 500));
        expect(resumedFromOwn.errors).toEqual([]);
        expect(new Set(resumedFromOwn.items.map((item) => item.series.group))).toEqual(new Set(resumedFromOwn.items.length ? ['A'] : []));
        resumedFromOwn.stop();
      }
      // The key's cursor, then changes of A and of B: the token's resume from it sends A's only.
      const keySnapshot = await subscribe(keyWs, ResumableSeriesDocument, { query: asked });
      await waitUntil(
        async () => keySnapshot.items.some((item) => item.series.group === 'B') && keySnapshot.items.length >= points.length + 1,
        15_000,
        "the key's snapshot",
      );
      const cursor = keySnapshot.items.at(-1)!.series.cursor;
      keySnapshot.stop();
      const timestamp = new Date().toISOString();
      await ingest(
        [
          { id: 'resume-b', type: 'visit', timestamp, dimensions: { customer: 'B' } },
          { id: 'resume-a', type: 'visit', timestamp, dimensions: { customer: 'A' } },
        ],
        key,
      );
      await waitForProcessing(server.url, 30_000, key);
      for (const client of [ws, sse]) {
        const resumed = await subscribe(client, ResumableSeriesDocument, { query: asked, after: cursor });
        await waitUntil(
          async () =>
            resumed.items.some(
              (item) => item.series.point.start === new Date(Math.floor(Date.parse(timestamp) / MINUTE) * MINUTE).toISOString(),
            ),
          15_000,
          "A's new visit",
        );
        expect(new Set(resumed.items.map((item) => item.series.group))).toEqual(new Set(['A']));
        expect(resumed.errors).toEqual([]);
        resumed.stop();
      }
    } finally {
      await Promise.all([ws.dispose(), keyWs.dispose()]);
      sse.dispose();
    }
    await expectHealthy(server);
  });
});
