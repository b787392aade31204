/**
 * Hostile `where` arguments, end to end on both stacks: a condition with two operators or none,
 * lists past the limits, keys named after prototype members (`__proto__` refused by the key rule,
 * the others ordinary keys), lone surrogates, and values no dimension can hold. Each answers its
 * exact code and message on every query and subscription that takes a `where`, and the service
 * still answers /health within its budget afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'graphql';
import type { Client as WsClient } from 'graphql-ws';
import { BACKENDS, expectHealthy, startServer, type TestServer } from '../support/server.ts';
import { sseClient, subscribe, waitForLiveSubscriptions, waitForProcessing, waitUntil, wsClient } from '../support/clients.ts';
import { PROTOTYPE_MEMBER_KEYS } from '../support/prototype-members.ts';
import { MAX_CONDITION_VALUES, MAX_WHERE_CONDITIONS } from '../../src/query/query-limits.ts';

interface GraphQLAnswer {
  data?: Record<string, any> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

async function post(url: string, query: string, variables?: unknown): Promise<{ status: number; answer: GraphQLAnswer }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query, variables }),
    // A frozen server fails the test here rather than at the suite's timeout.
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, answer: (await response.json()) as GraphQLAnswer };
}

const EVENTS =
  'query Events($w: [DimensionCondition!]) { events(filter: { types: ["hw_proto", "hw_plain"], where: $w }) { edges { node { id } } } }';
const SERIES = `query Series($w: [DimensionCondition!], $from: DateTime!, $to: DateTime!) {
  series(query: { type: "hw_proto", interval: MINUTE, from: $from, to: $to, where: $w }) { points { count } } }`;
const TOP = `query Top($w: [DimensionCondition!], $by: String!, $from: DateTime!, $to: DateTime!) {
  top(query: { type: "hw_proto", by: $by, from: $from, to: $to, where: $w }) { key count } }`;
const LIVE_EVENTS = parse('subscription LiveEvents($w: [DimensionCondition!]) { events(filter: { where: $w }) { node { id } } }');
const LIVE_SERIES = parse(
  'subscription LiveSeries($w: [DimensionCondition!]) { series(query: { type: "hw_proto", interval: MINUTE, where: $w }) { point { count } } }',
);
const INGEST = 'mutation Ingest($e: [EventInput!]!) { ingest(events: $e) { accepted rejected } }';

describe.each(BACKENDS)('hostile where on %s', (backend) => {
  let server: TestServer;
  let ws: WsClient;
  const minute = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
  const range = { from: new Date(minute).toISOString(), to: new Date(minute + 60_000).toISOString() };

  beforeAll(async () => {
    server = await startServer({ backend });
    ws = wsClient(server.wsUrl);
    // One event whose dimensions are named after every prototype member a key may name, each holding its own name.
    const { answer } = await post(server.url, INGEST, {
      e: [
        {
          id: 'hw-proto',
          type: 'hw_proto',
          timestamp: new Date(minute).toISOString(),
          dimensions: Object.fromEntries(PROTOTYPE_MEMBER_KEYS.map((key) => [key, key])),
        },
        { id: 'hw-plain', type: 'hw_plain', timestamp: new Date(minute).toISOString() },
      ],
    });
    expect(answer).toEqual({ data: { ingest: { accepted: 2, rejected: 0 } } });
    await waitForProcessing(server.url);
  });
  afterAll(async () => {
    await ws?.dispose();
    await server?.stop();
  });

  /** The one error of a refused query field: HTTP 200, data null, this code, message and extensions. */
  async function expectRefused(
    query: string,
    variables: Record<string, unknown>,
    expected: { code: string; message: string; extensions?: Record<string, unknown> },
  ): Promise<void> {
    const { status, answer } = await post(server.url, query, variables);
    expect(status).toBe(200);
    expect(answer.data).toBeNull();
    expect(answer.errors).toHaveLength(1);
    expect(answer.errors![0]).toMatchObject({ message: expected.message, extensions: { code: expected.code, ...expected.extensions } });
  }

  /** The same refusal on both subscriptions, over graphql-ws and SSE: one error, then the end. */
  async function expectSubscriptionsRefused(w: unknown[], expected: { code: string; message: string }): Promise<void> {
    const sse = sseClient(server.url);
    const refused = [
      await subscribe(ws, LIVE_EVENTS, { w }),
      await subscribe(sse, LIVE_EVENTS, { w }),
      await subscribe(ws, LIVE_SERIES, { w }),
      await subscribe(sse, LIVE_SERIES, { w }),
    ];
    for (const live of refused) {
      await waitUntil(async () => live.errors.length > 0, 10_000, 'the refusal');
      expect(live.items).toEqual([]);
      expect(live.errors).toEqual([
        [expect.objectContaining({ message: expected.message, extensions: expect.objectContaining({ code: expected.code }) })],
      ]);
    }
    sse.dispose();
    await waitForLiveSubscriptions(server.url, 0);
  }

  it('refuses a condition with two operators, naming it, on every query and subscription', async () => {
    const w = [
      { key: 'plan', eq: 'pro' },
      { key: 'country', eq: 'NL', neq: 'DE' },
    ];
    const message = (path: string) => `${path}[1] (key "country") must set exactly one of eq, neq, in, notIn, exists; it sets eq and neq`;
    await expectRefused(EVENTS, { w }, { code: 'BAD_USER_INPUT', message: message('filter.where') });
    await expectRefused(SERIES, { w, ...range }, { code: 'BAD_USER_INPUT', message: message('query.where') });
    await expectRefused(TOP, { w, by: 'constructor', ...range }, { code: 'BAD_USER_INPUT', message: message('query.where') });
    await expectSubscriptionsRefused(w, {
      code: 'BAD_USER_INPUT',
      message: expect.stringMatching(/where\[1\] \(key "country"\) must set exactly one/),
    });
    await expectHealthy(server);
  });

  it('refuses a condition with no operator, an explicit null included', async () => {
    for (const w of [[{ key: 'plan' }], [{ key: 'plan', eq: null, in: null }]]) {
      const message = (path: string) => `${path}[0] (key "plan") must set exactly one of eq, neq, in, notIn, exists; it sets none`;
      await expectRefused(EVENTS, { w }, { code: 'BAD_USER_INPUT', message: message('filter.where') });
      await expectRefused(SERIES, { w, ...range }, { code: 'BAD_USER_INPUT', message: message('query.where') });
      await expectRefused(TOP, { w, by: 'constructor', ...range }, { code: 'BAD_USER_INPUT', message: message('query.where') });
    }
    await expectSubscriptionsRefused([{ key: 'plan' }], { code: 'BAD_USER_INPUT', message: expect.stringMatching(/it sets none$/) });
    await expectHealthy(server);
  });

  it(`refuses more than ${MAX_WHERE_CONDITIONS} conditions and lists of more than ${MAX_CONDITION_VALUES} values with QUERY_TOO_LARGE, at once`, async () => {
    const conditions = (count: number) => Array.from({ length: count }, (_, i) => ({ key: `k${i}`, exists: false }));
    await expectRefused(
      EVENTS,
      { w: conditions(21) },
      {
        code: 'QUERY_TOO_LARGE',
        message:
          'filter.where holds too many conditions: 21 conditions, above the limit of 20; combine conditions on the same key into one in or notIn list',
        extensions: { measure: 'conditions', limit: 20, actual: 21 },
      },
    );
    // Twenty is allowed, and every one of them holds.
    expect((await post(server.url, EVENTS, { w: conditions(20) })).answer.data!.events.edges).toHaveLength(2);
    const values = (count: number) => Array.from({ length: count }, (_, i) => `v${i}`);
    await expectRefused(
      SERIES,
      { w: [{ key: 'constructor', in: values(101) }], ...range },
      {
        code: 'QUERY_TOO_LARGE',
        message: 'query.where[0].in: 101 values, above the limit of 100; use fewer values, or a notIn list of the values to leave out',
        extensions: { measure: 'values', limit: 100, actual: 101 },
      },
    );
    expect((await post(server.url, SERIES, { w: [{ key: 'constructor', in: values(100) }], ...range })).answer.data!.series).toEqual([
      { points: [] },
    ]);
    // Huge: 100,000 values and 20,000 conditions (each under the 1 MiB request body).
    await expectRefused(
      TOP,
      { w: [{ key: 'constructor', notIn: values(100_000) }], by: 'constructor', ...range },
      {
        code: 'QUERY_TOO_LARGE',
        message:
          'query.where[0].notIn: 100000 values, above the limit of 100; use fewer values, or a notIn list of the values to leave out',
        extensions: { measure: 'values', limit: 100, actual: 100_000 },
      },
    );
    await expectHealthy(server);
    await expectRefused(
      EVENTS,
      { w: conditions(20_000) },
      {
        code: 'QUERY_TOO_LARGE',
        message:
          'filter.where holds too many conditions: 20000 conditions, above the limit of 20; combine conditions on the same key into one in or notIn list',
        extensions: { measure: 'conditions', limit: 20, actual: 20_000 },
      },
    );
    await expectHealthy(server);
    await expectSubscriptionsRefused(conditions(21), {
      code: 'QUERY_TOO_LARGE',
      message: expect.stringMatching(
        /^filter\.where holds too many conditions: 21 conditions|^query\.where holds too many conditions: 21 conditions/,
      ),
    });
  });

  it.each(PROTOTYPE_MEMBER_KEYS)('treats the key %s as an ordinary key on events, series and top', async (key) => {
    const ids = async (w: unknown[]) =>
      ((await post(server.url, EVENTS, { w })).answer.data!.events.edges as { node: { id: string } }[]).map((edge) => edge.node.id);
    expect(await ids([{ key, eq: key }])).toEqual(['hw-proto']);
    expect(await ids([{ key, exists: true }])).toEqual(['hw-proto']);
    expect(await ids([{ key, exists: false }])).toEqual(['hw-plain']);
    expect(await ids([{ key, neq: key }])).toEqual(['hw-plain']);
    expect(await ids([{ key, notIn: ['x', key] }])).toEqual(['hw-plain']);
    expect(await ids([{ key, in: ['x', key] }])).toEqual(['hw-proto']);
    const series = (await post(server.url, SERIES, { w: [{ key, in: [key] }], ...range })).answer.data!.series;
    expect(series).toEqual([{ points: [{ count: 1 }] }]);
    const top = (await post(server.url, TOP, { w: [{ key, neq: 'other' }], by: key, ...range })).answer.data!.top;
    expect(top).toEqual([{ key, count: 1 }]);
  });

  it('refuses the key __proto__ and keys that are not dimension keys, by the key rule', async () => {
    for (const key of ['__proto__', '$where', 'dimensions.country', '']) {
      const message = (path: string) =>
        `${path}[0].key: "${key}" is not a dimension or value key (1 to 64 characters of A-Z, a-z, 0-9, _ : -)`;
      await expectRefused(EVENTS, { w: [{ key, exists: false }] }, { code: 'BAD_USER_INPUT', message: message('filter.where') });
      await expectRefused(
        TOP,
        { w: [{ key, neq: 'x' }], by: 'constructor', ...range },
        { code: 'BAD_USER_INPUT', message: message('query.where') },
      );
    }
    await expectHealthy(server);
  });

  it('refuses lone surrogates in values and keys rather than matching another value', async () => {
    await expectRefused(
      EVENTS,
      { w: [{ key: 'constructor', eq: 'x\ud800' }] },
      { code: 'BAD_USER_INPUT', message: 'filter.where[0].eq must be well-formed Unicode: it holds a lone surrogate (U+D800)' },
    );
    await expectRefused(
      SERIES,
      { w: [{ key: 'constructor', notIn: ['ok', '\udc00'] }], ...range },
      { code: 'BAD_USER_INPUT', message: 'query.where[0].notIn[1] must be well-formed Unicode: it holds a lone surrogate (U+DC00)' },
    );
    await expectRefused(
      TOP,
      { w: [{ key: '\ud83d', exists: true }], by: 'constructor', ...range },
      {
        code: 'BAD_USER_INPUT',
        message: 'query.where[0].key: "\ufffd" is not a dimension or value key (1 to 64 characters of A-Z, a-z, 0-9, _ : -)',
      },
    );
    // A surrogate pair is an ordinary character: it matches nothing here, and is no error.
    expect((await post(server.url, EVENTS, { w: [{ key: 'constructor', eq: '😀' }] })).answer).toEqual({ data: { events: { edges: [] } } });
    await expectSubscriptionsRefused([{ key: 'constructor', in: ['\ud800'] }], {
      code: 'BAD_USER_INPUT',
      message: expect.stringMatching(/where\[0\]\.in\[0\] must be well-formed Unicode: it holds a lone surrogate \(U\+D800\)$/),
    });
    await expectHealthy(server);
  });

  it('refuses values no dimension holds (objects, null in a list, infinite numbers) as request errors', async () => {
    for (const w of [
      [{ key: 'constructor', eq: { $gt: '' } }],
      [{ key: 'constructor', in: ['a', null] }],
      [{ key: 'constructor', neq: [1] }],
    ]) {
      const { status, answer } = await post(server.url, EVENTS, { w });
      expect(status).toBe(400);
      expect(answer.data).toBeUndefined();
      expect(answer.errors).toHaveLength(1);
      expect(answer.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    }
    const literal = await post(server.url, '{ events(filter: { where: [{ key: "constructor", eq: 1e400 }] }) { edges { node { id } } } }');
    expect(literal.status).toBe(400);
    expect(literal.answer.errors![0]).toMatchObject({
      message: expect.stringContaining('DimensionValue must be a string, a finite number or a boolean'),
      extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
    });
    await expectHealthy(server);
  });
});
