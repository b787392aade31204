/**
 * Hostile time zones and calendar ranges (issue 14), on both stacks: every name that is not a
 * known IANA zone is BAD_USER_INPUT naming `query.timeZone` (quoting at most 64 characters of it,
 * made well-formed), ranges of too many buckets are refused before anything is read, and the
 * merged-buckets budget (MAX_MERGED_BUCKETS) is QUERY_TOO_LARGE with its measure, limit and
 * actual, shared by an operation's aliases. The live series refuses merged intervals. After each
 * case the service still answers /health promptly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'graphql';
import type { Client as WsClient } from 'graphql-ws';
import { BACKENDS, expectHealthy, startServer, type TestServer } from '../support/server.ts';
import { sseClient, subscribe, waitForLiveSubscriptions, wsClient } from '../support/clients.ts';
import { PROTOTYPE_MEMBERS } from '../support/prototype-members.ts';

interface GraphQLAnswer {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

async function post(url: string, query: string, variables?: unknown): Promise<GraphQLAnswer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(20_000),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as GraphQLAnswer;
}

const SERIES = 'query Series($q: SeriesQuery!) { series(query: $q) { group points { start count } } }';
const LIVE_SERIES = parse('subscription LiveSeries($q: LiveSeriesQuery!) { series(query: $q) { group point { count } } }');
const RANGE = { type: 'hostile_tz', interval: 'DAY', from: '2026-06-01T00:00:00Z', to: '2026-06-03T00:00:00Z' };

/** The one error of a refused series query: its code and extensions exactly, and parts of its message. */
function expectRefused(answer: GraphQLAnswer, extensions: Record<string, unknown>, message: string[]): string {
  // series is a non-null list, so its error nulls the whole data.
  expect(answer.data).toBeNull();
  expect(answer.errors).toHaveLength(1);
  expect(answer.errors![0]!.extensions).toEqual(extensions);
  for (const part of message) expect(answer.errors![0]!.message).toContain(part);
  return answer.errors![0]!.message;
}

describe.each(BACKENDS)('hostile time zones and calendar ranges on %s', (backend) => {
  let server: TestServer;
  let ws: WsClient;

  beforeAll(async () => {
    server = await startServer({ backend });
    ws = wsClient(server.wsUrl);
  }, 60_000);
  afterAll(async () => {
    await ws?.dispose();
    await server?.stop();
  });

  it.each([
    ['an unknown zone', 'Mars/Olympus_Mons', '"Mars/Olympus_Mons" is not a known IANA time zone name'],
    ['an empty string', '', '"" is not a known IANA time zone name'],
    ['an offset, not a name', '+05:30', '"+05:30" is not a known IANA time zone name'],
    ['a path', '../../etc/localtime', '"../../etc/localtime" is not a known IANA time zone name'],
    ['a lone surrogate', 'Europe/\ud800', '"Europe/\ufffd" is not a known IANA time zone name'],
    ['__proto__', '__proto__', '"__proto__" is not a known IANA time zone name'],
  ])('refuses %s', async (_case, timeZone, message) => {
    const answer = await post(server.url, SERIES, { q: { ...RANGE, timeZone } });
    expectRefused(answer, { code: 'BAD_USER_INPUT' }, ['query.timeZone: ', message]);
    await expectHealthy(server);
  });

  it('refuses every member of Object.prototype as a zone name', async () => {
    for (const timeZone of PROTOTYPE_MEMBERS) {
      const answer = await post(server.url, SERIES, { q: { ...RANGE, timeZone } });
      expectRefused(answer, { code: 'BAD_USER_INPUT' }, [`query.timeZone: "${timeZone}" is not a known IANA time zone name`]);
    }
    await expectHealthy(server);
  });

  it('refuses a huge zone name, quoting 64 characters of it', async () => {
    const answer = await post(server.url, SERIES, { q: { ...RANGE, timeZone: 'Z'.repeat(500_000) } });
    const message = expectRefused(answer, { code: 'BAD_USER_INPUT' }, [`query.timeZone: "${'Z'.repeat(64)}" is not`]);
    expect(message).not.toContain('Z'.repeat(65));
    await expectHealthy(server);
  });

  it('takes a name in any case, as its canonical zone', async () => {
    const lower = await post(server.url, SERIES, { q: { ...RANGE, timeZone: 'asia/kathmandu', fill: true } });
    expect(lower).toEqual({
      data: {
        series: [
          {
            group: null,
            points: [
              { start: '2026-05-31T18:15:00.000Z', count: 0 },
              { start: '2026-06-01T18:15:00.000Z', count: 0 },
              { start: '2026-06-02T18:15:00.000Z', count: 0 },
            ],
          },
        ],
      },
    });
  });

  it('refuses a range of more buckets than a query may answer, before reading', async () => {
    expectRefused(
      await post(server.url, SERIES, {
        q: { ...RANGE, interval: 'MONTH', timeZone: 'Asia/Kolkata', from: '1970-01-01T00:00:00Z', to: '2900-01-01T00:00:00Z' },
      }),
      { code: 'BAD_USER_INPUT' },
      ['the range spans more than 10000 MONTH buckets in Asia/Kolkata; at most 10000 per query'],
    );
    expectRefused(
      await post(server.url, SERIES, {
        q: { ...RANGE, interval: 'FIVE_MINUTES', from: '2026-01-01T00:00:00Z', to: '2026-02-05T00:00:00Z' },
      }),
      { code: 'BAD_USER_INPUT' },
      ['the range spans 10080 FIVE_MINUTES buckets; at most 10000 per query'],
    );
    await expectHealthy(server);
  });

  it('refuses more merged stored buckets than MAX_MERGED_BUCKETS, with measure, limit and actual', async () => {
    // 2,000 Kathmandu days from one local midnight to another: 84 stored buckets a day (24 HOUR
    // rows read in one go, the one across midnight dropped, and 60 MINUTE rows around each
    // midnight, 18:00 to 19:00 UTC), less the HOUR row after the last midnight.
    const from = '2020-01-01T18:15:00Z';
    const to = new Date(Date.parse(from) + 2_000 * 86_400_000).toISOString();
    expectRefused(
      await post(server.url, SERIES, { q: { ...RANGE, timeZone: 'Asia/Kathmandu', from, to } }),
      { code: 'QUERY_TOO_LARGE', measure: 'mergedBuckets', limit: 100_000, actual: 167_999 },
      ['merge stored buckets: 167999 mergedBuckets, above the limit of 100000', 'a shorter range'],
    );
    // Aliases share the budget: two 1,000-day queries (83,999 each) pass one at a time, not together.
    const half = { ...RANGE, timeZone: 'Asia/Kathmandu', from, to: new Date(Date.parse(from) + 1_000 * 86_400_000).toISOString() };
    const one = await post(server.url, SERIES, { q: half });
    expect(one.errors).toBeUndefined();
    const both = await post(server.url, 'query Both($q: SeriesQuery!) { a: series(query: $q) { group } b: series(query: $q) { group } }', {
      q: half,
    });
    expect(both.errors).toHaveLength(1);
    expect(both.errors![0]!.extensions).toEqual({ code: 'QUERY_TOO_LARGE', measure: 'mergedBuckets', limit: 100_000, actual: 167_998 });
    await expectHealthy(server);
  });

  it.each(['graphql-ws', 'SSE'])('refuses a live series in an unknown zone over %s, as the query does', async (transport) => {
    const sse = transport === 'SSE' ? sseClient(server.url) : null;
    const live = await subscribe(sse ?? ws, LIVE_SERIES, { q: { type: 'hostile_tz', interval: 'WEEK', timeZone: 'Mars/Olympus_Mons' } });
    await expect(live.waitFor(1, 10_000)).rejects.toThrow(/BAD_USER_INPUT/);
    const [errors] = live.errors as { message: string; extensions?: Record<string, unknown> }[][];
    expect(errors![0]!.extensions).toEqual({ code: 'BAD_USER_INPUT' });
    expect(errors![0]!.message).toBe(
      'query.timeZone: "Mars/Olympus_Mons" is not a known IANA time zone name (for example "UTC", "America/New_York", "Asia/Kolkata")',
    );
    live.stop();
    sse?.dispose();
    await waitForLiveSubscriptions(server.url, 0);
    await expectHealthy(server);
  });
});
