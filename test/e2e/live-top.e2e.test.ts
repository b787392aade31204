/**
 * The live `top` subscription end to end on both stacks, over graphql-ws and SSE (contract-2.md,
 * "Live aggregates"): the first update at once, then exactly the `top` query's answer over the
 * update's [from, to) after each change (late corrections, a window read from HOUR rows, a
 * burst of load, the window sliding at a minute boundary), at most one update per second per
 * subscriber, hostile inputs refused with their exact code and message, and an access token's
 * slice.
 */
import type { Client as WsClient } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, expectHealthy, startServer, type TestServer } from '../support/server.ts';
import {
  query,
  sseClient,
  subscribe,
  waitForLiveSubscriptions,
  waitForProcessing,
  waitUntil,
  wsClient,
  type Collected,
  type Credentials,
} from '../support/clients.ts';
import { PROTOTYPE_MEMBER_KEYS } from '../support/prototype-members.ts';
import {
  CreateAccessTokenDocument,
  CreateApiKeyDocument,
  IngestDocument,
  LiveTopDocument,
  ReadTopEntriesDocument,
  type EventInput,
  type LiveTopQuery,
  type LiveTopSubscription,
} from '../generated/operations.ts';

const ADMIN_KEY = 'test-admin-key-0123456789abcdefghijklmnop';
const SIGNING_KEYS = `k1:${'t'.repeat(43)}`;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

type TopUpdate = LiveTopSubscription['top'];
type Entry = TopUpdate['entries'][number];

/** An entry as the API answers it: `distinct` is null unless the query names a distinct key. */
const entry = (key: string, count: number, sum: number | null, distinct: number | null = null): Entry => ({ key, count, sum, distinct });

describe.each(BACKENDS)('live top on %s', (backend) => {
  let server: TestServer;
  let key: Credentials;
  let ws: WsClient;

  beforeAll(async () => {
    server = await startServer({
      backend,
      env: {
        ADMIN_KEY,
        TOKEN_SIGNING_KEYS: SIGNING_KEYS,
        // The load test ingests many small batches, each an operation.
        QUERY_RATE_PER_KEY: '10000',
      },
    });
    const created = await query(server.url, CreateApiKeyDocument, { tenant: 'acme', scopes: ['READ', 'INGEST'] }, { apiKey: ADMIN_KEY });
    key = { apiKey: created.createApiKey.key };
    ws = wsClient(server.wsUrl, key);
  });
  afterAll(async () => {
    await ws?.dispose();
    await server?.stop();
  });
  afterEach(async () => {
    // Every test stops its subscriptions; the server must release them all.
    await waitForLiveSubscriptions(server.url, 0, key);
  });

  async function ingest(events: EventInput[], credentials: Credentials = key): Promise<void> {
    const result = (await query(server.url, IngestDocument, { events }, credentials)).ingest;
    expect(result.accepted).toBe(events.length);
  }

  const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

  /** What the `top` query answers for the update's window and the subscription's list. */
  async function queried(update: TopUpdate, live: LiveTopQuery, credentials: Credentials = key): Promise<Entry[]> {
    const { window: _window, ...list } = live;
    return (await query(server.url, ReadTopEntriesDocument, { query: { ...list, from: update.from, to: update.to } }, credentials)).top;
  }

  /** Waits until the subscription's latest update ranks `expected`, then checks it is the query's answer. */
  async function expectLatest(live: Collected<LiveTopSubscription>, list: LiveTopQuery, expected: Entry[], credentials = key) {
    await expect.poll(() => live.items.at(-1)?.top.entries, { timeout: 20_000 }).toEqual(expected);
    const latest = live.items.at(-1)!.top;
    expect(await queried(latest, list, credentials)).toEqual(expected);
    return latest;
  }

  /** The one error a refused subscription gets, over graphql-ws and SSE: no update, then the end. */
  async function expectRefused(list: LiveTopQuery, expected: { code: string; message: string }, credentials = key) {
    const sse = sseClient(server.url, credentials);
    const socket = credentials === key ? ws : wsClient(server.wsUrl, credentials);
    for (const client of [socket, sse]) {
      const live = await subscribe(client, LiveTopDocument, { query: list });
      await waitUntil(async () => live.errors.length > 0, 10_000, 'the refusal');
      expect(live.items).toEqual([]);
      expect(live.errors).toEqual([
        [expect.objectContaining({ message: expected.message, extensions: expect.objectContaining({ code: expected.code }) })],
      ]);
    }
    sse.dispose();
    if (socket !== ws) await socket.dispose();
  }

  it('sends the first update at once, then exactly the top query over [from, to) after each change, a late correction included (graphql-ws)', async () => {
    const list: LiveTopQuery = { type: 'lt_buy', by: 'country', value: 'amount', window: '15m' };
    const before = Date.now();
    const live = await subscribe(ws, LiveTopDocument, { query: list });
    // Nothing of the type yet: the first update comes at once, empty, with the window's bounds.
    const [first] = await live.waitFor(1);
    const { from, to } = first!.top;
    expect(first!.top.entries).toEqual([]);
    expect(Date.parse(to) % MINUTE).toBe(0);
    expect(Date.parse(to) - Date.parse(from)).toBe(15 * MINUTE);
    expect(Date.parse(to)).toBeGreaterThan(before);
    expect(Date.parse(to) - MINUTE).toBeLessThanOrEqual(Date.now());

    await ingest([
      { id: 'lb-1', type: 'lt_buy', timestamp: ago(3 * MINUTE), dimensions: { country: 'NL' }, values: { amount: 10 } },
      { id: 'lb-2', type: 'lt_buy', timestamp: ago(3 * MINUTE), dimensions: { country: 'NL' }, values: { amount: 20 } },
      { id: 'lb-3', type: 'lt_buy', timestamp: ago(2 * MINUTE), dimensions: { country: 'DE' }, values: { amount: 7 } },
      // Not ranked: no country; another type; out of the window.
      { id: 'lb-4', type: 'lt_buy', timestamp: ago(MINUTE), values: { amount: 1_000 } },
      { id: 'lb-5', type: 'lt_other', timestamp: ago(MINUTE), dimensions: { country: 'FR' }, values: { amount: 1_000 } },
      { id: 'lb-6', type: 'lt_buy', timestamp: ago(20 * MINUTE), dimensions: { country: 'BE' }, values: { amount: 1_000 } },
    ]);
    await waitForProcessing(server.url, 30_000, key);
    await expectLatest(live, list, [entry('NL', 2, 30), entry('DE', 1, 7)]);

    // A late event, ten minutes back: DE's total is corrected and takes the lead.
    await ingest([{ id: 'lb-late', type: 'lt_buy', timestamp: ago(10 * MINUTE), dimensions: { country: 'DE' }, values: { amount: 40 } }]);
    await expectLatest(live, list, [entry('DE', 2, 47), entry('NL', 2, 30)]);
    // Every update was a whole list, and none repeated the one before it.
    for (let index = 1; index < live.items.length; index++) {
      expect(live.items[index]!.top.entries).not.toEqual(live.items[index - 1]!.top.entries);
    }
    expect(live.items.at(-1)!.top.watermark).not.toBeNull();
    live.stop();
  });

  it('ranks a 24-hour window read from HOUR and MINUTE rows exactly as the query does, with rankBy and distinct, over SSE', async () => {
    const list: LiveTopQuery = { type: 'lt_view', by: 'page', rankBy: 'DISTINCT', distinct: 'user', limit: 2, window: '24h' };
    const sse = sseClient(server.url, key);
    const live = await subscribe(sse, LiveTopDocument, { query: list });
    await live.waitFor(1);
    expect(live.items[0]!.top.entries).toEqual([]);
    const first = live.items[0]!.top;
    expect(Date.parse(first.to) - Date.parse(first.from)).toBe(24 * HOUR);
    // Near the start of the window (its MINUTE rows), in the middle (HOUR rows) and now (MINUTE rows).
    await ingest([
      { id: 'lv-1', type: 'lt_view', timestamp: ago(23 * HOUR + 50 * MINUTE), dimensions: { page: '/a' }, distinct: { user: 'u1' } },
      { id: 'lv-2', type: 'lt_view', timestamp: ago(5 * HOUR), dimensions: { page: '/a' }, distinct: { user: 'u2' } },
      { id: 'lv-3', type: 'lt_view', timestamp: ago(5 * HOUR), dimensions: { page: '/a' }, distinct: { user: 'u2' } },
      { id: 'lv-4', type: 'lt_view', timestamp: ago(2 * MINUTE), dimensions: { page: '/b' }, distinct: { user: 'u1' } },
      { id: 'lv-5', type: 'lt_view', timestamp: ago(2 * MINUTE), dimensions: { page: '/c' }, distinct: { user: 'u3' } },
      { id: 'lv-6', type: 'lt_view', timestamp: ago(3 * HOUR), dimensions: { page: '/c' }, distinct: { user: 'u4' } },
      { id: 'lv-7', type: 'lt_view', timestamp: ago(3 * HOUR), dimensions: { page: '/b' }, distinct: { user: 'u1' } },
    ]);
    await waitForProcessing(server.url, 30_000, key);
    // /a: 3 events of u1 and u2; /c: 2 of u3 and u4; /b: 2 of u1 only. Limit 2.
    await expectLatest(live, list, [entry('/a', 3, null, 2), entry('/c', 2, null, 2)]);
    live.stop();
    sse.dispose();
  });

  it('under a burst of load, shares one list between identical subscribers, sends at most one update a second to each, and ends on the exact totals', async () => {
    const list: LiveTopQuery = { type: 'lt_load', by: 'country', value: 'amount', window: '15m' };
    /** Arrival times of each subscriber's updates, to count them against the time they took. */
    const arrivals: number[][] = [[], []];
    const subscribers = [0, 1].map(async (index) => {
      const collected = await subscribe(
        {
          subscribe: (request, sink) =>
            ws.subscribe(request, {
              ...sink,
              next: (result) => {
                arrivals[index]!.push(Date.now());
                sink.next(result as never);
              },
            }),
        },
        LiveTopDocument,
        { query: list },
      );
      await collected.waitFor(1);
      return collected;
    });
    const [a, b] = await Promise.all(subscribers);
    await waitForLiveSubscriptions(server.url, 2, key);

    const countries = ['NL', 'DE', 'FR', 'BE', 'IT', 'ES', 'PL', 'SE'];
    const expected = new Map<string, { count: number; sum: number }>();
    const batches = 40;
    for (let batch = 0; batch < batches; batch++) {
      const events: EventInput[] = [];
      for (let n = 0; n < 25; n++) {
        const country = countries[(batch * 7 + n * 3) % countries.length]!;
        const amount = ((batch + n) % 9) + 1;
        const total = expected.get(country) ?? { count: 0, sum: 0 };
        expected.set(country, { count: total.count + 1, sum: total.sum + amount });
        events.push({
          id: `ll-${batch}-${n}`,
          type: 'lt_load',
          timestamp: ago(((batch * 25 + n) % 10) * MINUTE),
          dimensions: { country },
          values: { amount },
        });
      }
      await ingest(events);
    }
    await waitForProcessing(server.url, 60_000, key);
    const ranked = [...expected]
      .map(([country, total]) => entry(country, total.count, total.sum))
      .sort((x, y) => y.sum! - x.sum! || (x.key < y.key ? -1 : 1));
    await expectLatest(a!, list, ranked);
    await expectLatest(b!, list, ranked);
    expect(a!.items.at(-1)).toEqual(b!.items.at(-1));

    for (const times of arrivals) {
      // n updates a second apart span at least n − 1 seconds (one more allowed for delivery jitter).
      const span = times.at(-1)! - times[0]!;
      expect(times.length - 1).toBeLessThanOrEqual(Math.floor(span / 1_000) + 1);
    }
    a!.stop();
    b!.stop();
  }, 120_000);

  it('moves the window on at the minute boundary: the minute that left drops out, the one that entered comes in, equal to the query', async () => {
    const list: LiveTopQuery = { type: 'lt_slide', by: 'country', window: '1m' };
    // Far enough from the next boundary to see the first window ranked before it moves.
    const intoMinute = Date.now() % MINUTE;
    if (intoMinute > 40_000) await new Promise((resolve) => setTimeout(resolve, MINUTE - intoMinute + 500));
    const live = await subscribe(ws, LiveTopDocument, { query: list });
    const [first] = await live.waitFor(1);
    const { from, to } = first!.top;
    await ingest([
      { id: 'ls-now', type: 'lt_slide', timestamp: new Date(Date.parse(from) + 1_000).toISOString(), dimensions: { country: 'NOW' } },
      // Dated in the next minute (within FUTURE_TOLERANCE): outside the window until it moves.
      { id: 'ls-next-1', type: 'lt_slide', timestamp: new Date(Date.parse(to) + 5_000).toISOString(), dimensions: { country: 'NEXT' } },
      { id: 'ls-next-2', type: 'lt_slide', timestamp: new Date(Date.parse(to) + 6_000).toISOString(), dimensions: { country: 'NEXT' } },
    ]);
    await waitForProcessing(server.url, 30_000, key);
    await expect.poll(() => live.items.at(-1)?.top.entries, { timeout: 20_000 }).toEqual([entry('NOW', 1, null)]);
    expect(live.items.at(-1)!.top).toMatchObject({ from, to });
    // The boundary passes: the next window holds the next minute only.
    await waitUntil(async () => live.items.at(-1)!.top.from === to, 90_000, 'the window to move on');
    const moved = live.items.at(-1)!.top;
    expect(moved.to).toBe(new Date(Date.parse(to) + MINUTE).toISOString());
    expect(moved.entries).toEqual([entry('NEXT', 2, null)]);
    expect(await queried(moved, list)).toEqual(moved.entries);
    live.stop();
  }, 180_000);

  describe('hostile inputs', () => {
    const notAWindow = (text: string) =>
      `query.window: ${JSON.stringify(text)} is not a window; write a whole number of minutes, hours or days, for example "15m", "24h" or "7d"`;

    it.each([
      ['0s', notAWindow('0s')],
      ['0m', notAWindow('0m')],
      ['-1m', notAWindow('-1m')],
      ['90s', notAWindow('90s')],
      ['1.5h', notAWindow('1.5h')],
      ['', notAWindow('')],
      [' 15m', notAWindow(' 15m')],
      ['15 m', notAWindow('15 m')],
      ['\uD800m', notAWindow('\uFFFDm')],
      ['1000d', 'query.window: "1000d" is longer than a live top list follows (at most 7d); use the top query for a longer range'],
      ['10081m', 'query.window: "10081m" is longer than a live top list follows (at most 7d); use the top query for a longer range'],
    ])('refuses the window %j with BAD_USER_INPUT', async (window, message) => {
      await expectRefused({ type: 'lt_hostile', by: 'country', window }, { code: 'BAD_USER_INPUT', message });
      await expectHealthy(server);
    });

    it('refuses a huge window text quoting only its start, and the top query’s own refusals word for word', async () => {
      // 100,000 characters: within the request and WebSocket message limits (1 MiB), far past any window.
      const huge = '9'.repeat(100_000);
      await expectRefused(
        { type: 'lt_hostile', by: 'country', window: huge },
        { code: 'BAD_USER_INPUT', message: notAWindow('9'.repeat(32)) },
      );
      await expectRefused(
        { type: 'lt_hostile', by: 'country', window: '15m', rankBy: 'SUM' },
        { code: 'BAD_USER_INPUT', message: 'query.rankBy: SUM ranks by the sum of a value; name it in query.value' },
      );
      await expectRefused(
        { type: 'lt_hostile', by: 'country', window: '15m', limit: 1001 },
        { code: 'BAD_USER_INPUT', message: 'limit must be a whole number from 1 to 1000' },
      );
      await expectRefused(
        { type: 'lt_hostile', by: '__proto__', window: '15m' },
        {
          code: 'BAD_USER_INPUT',
          message: 'query.by: "__proto__" is not a dimension or value key (1 to 64 characters of A-Z, a-z, 0-9, _ : -)',
        },
      );
      await expectRefused(
        // Parsed, so that __proto__ is a key of the object rather than its prototype.
        { type: 'lt_hostile', by: 'country', window: '15m', dimensions: JSON.parse('{"__proto__": "x"}') },
        { code: 'BAD_USER_INPUT', message: 'query.dimensions: "__proto__" is not a dimension key' },
      );
      await expectRefused(
        {
          type: 'lt_hostile',
          by: 'country',
          window: '7d',
          where: [{ key: 'country', in: Array.from({ length: 101 }, (_, i) => `v${i}`) }],
        },
        {
          code: 'QUERY_TOO_LARGE',
          message: 'query.where[0].in: 101 values, above the limit of 100; use fewer values, or a notIn list of the values to leave out',
        },
      );
      await expectHealthy(server);
    });

    it('ranks dimensions named after prototype members as ordinary keys', async () => {
      const [rankKey, filterKey] = [PROTOTYPE_MEMBER_KEYS[0]!, PROTOTYPE_MEMBER_KEYS[1]!];
      const list: LiveTopQuery = {
        type: 'lt_proto',
        by: rankKey,
        window: '15m',
        dimensions: { [filterKey]: 'yes' },
        where: [{ key: 'toString', neq: 'no' }],
      };
      const live = await subscribe(ws, LiveTopDocument, { query: list });
      await live.waitFor(1);
      await ingest([
        { id: 'lpr-1', type: 'lt_proto', timestamp: ago(MINUTE), dimensions: { [rankKey]: 'hasOwnProperty', [filterKey]: 'yes' } },
        { id: 'lpr-2', type: 'lt_proto', timestamp: ago(MINUTE), dimensions: { [rankKey]: 'hasOwnProperty', [filterKey]: 'yes' } },
        { id: 'lpr-3', type: 'lt_proto', timestamp: ago(MINUTE), dimensions: { [rankKey]: '__proto__', [filterKey]: 'yes' } },
        { id: 'lpr-4', type: 'lt_proto', timestamp: ago(MINUTE), dimensions: { [rankKey]: 'x', [filterKey]: 'no' } },
        { id: 'lpr-5', type: 'lt_proto', timestamp: ago(MINUTE), dimensions: { [rankKey]: 'y', [filterKey]: 'yes', toString: 'no' } },
        { id: 'lpr-6', type: 'lt_proto', timestamp: ago(MINUTE), dimensions: { [filterKey]: 'yes' } },
      ]);
      await waitForProcessing(server.url, 30_000, key);
      await expectLatest(live, list, [entry('hasOwnProperty', 2, null), entry('__proto__', 1, null)]);
      live.stop();
      await expectHealthy(server);
    });
  });

  it("an access token's live top list holds its slice only, and a type outside it is FORBIDDEN", async () => {
    const minted = await query(
      server.url,
      CreateAccessTokenDocument,
      { input: { scopes: ['READ'], expiresIn: '1h', types: ['lt_slice'], where: [{ key: 'customer', eq: 'A' }] } },
      key,
    );
    const token = { apiKey: minted.createAccessToken.token };
    const list: LiveTopQuery = { type: 'lt_slice', by: 'plan', value: 'amount', window: '15m' };
    const tokenSocket = wsClient(server.wsUrl, token);
    const sse = sseClient(server.url, token);
    const overWs = await subscribe(tokenSocket, LiveTopDocument, { query: list });
    const overSse = await subscribe(sse, LiveTopDocument, { query: list });
    const ofKey = await subscribe(ws, LiveTopDocument, { query: list });
    await Promise.all([overWs.waitFor(1), overSse.waitFor(1), ofKey.waitFor(1)]);
    await ingest([
      { id: 'lsl-1', type: 'lt_slice', timestamp: ago(MINUTE), dimensions: { customer: 'A', plan: 'pro' }, values: { amount: 5 } },
      { id: 'lsl-2', type: 'lt_slice', timestamp: ago(MINUTE), dimensions: { customer: 'B', plan: 'pro' }, values: { amount: 50 } },
      { id: 'lsl-3', type: 'lt_slice', timestamp: ago(MINUTE), dimensions: { customer: 'B', plan: 'free' }, values: { amount: 1 } },
      { id: 'lsl-4', type: 'lt_slice', timestamp: ago(MINUTE), dimensions: { customer: 'A', plan: 'free' }, values: { amount: 2 } },
    ]);
    await waitForProcessing(server.url, 30_000, key);
    for (const live of [overWs, overSse]) await expectLatest(live, list, [entry('pro', 1, 5), entry('free', 1, 2)], token);
    await expectLatest(ofKey, list, [entry('pro', 2, 55), entry('free', 2, 3)]);
    for (const live of [overWs, overSse, ofKey]) live.stop();
    sse.dispose();
    await tokenSocket.dispose();
    await expectRefused(
      { ...list, type: 'lt_buy' },
      { code: 'FORBIDDEN', message: 'this access token reads only events of type lt_slice; query.type "lt_buy" is outside its slice' },
      token,
    );
  });
});
