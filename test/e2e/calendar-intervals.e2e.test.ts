/**
 * Calendar intervals and time zones (issue 14), end to end over real HTTP on both stacks:
 * FIVE_MINUTES and FIFTEEN_MINUTES from MINUTE rows, DAY in New York (23- and 25-hour days) and in
 * quarter- and half-hour zones, WEEK from Monday across a year boundary, MONTH in UTC and New
 * York, and `final` of merged points. Events sit on either side of each boundary, so a bucket one
 * minute off would change the counts.
 *
 * Lateness: the history spans 2025-09 to 2026-11. The first call's events (September and October
 * 2025) are processed before any watermark exists; ALLOWED_LATENESS reaches back to 2025-10-15
 * from today, so every later event counts, and a bucket is final once its end plus that lateness
 * is behind the watermark: September 2025 is, October 2025 is not (its end is 17 days later).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startServer, type TestServer } from '../support/server.ts';
import { waitForProcessing, waitUntil } from '../support/clients.ts';

interface GraphQLAnswer {
  data?: Record<string, any> | null;
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

const INGEST = 'mutation Ingest($e: [EventInput!]!) { ingest(events: $e) { accepted rejected } }';
const SERIES = 'query Series($q: SeriesQuery!) { series(query: $q) { group points { start count sum final } } }';
const WATERMARK = '{ streamStatus { watermark } }';
const DAY_MS = 86_400_000;
const TYPE = 'cal';
/** Reaches back from today to 2025-10-15 (see the file's comment). */
const LATENESS_DAYS = Math.ceil((Date.now() - Date.parse('2025-10-15T00:00:00Z')) / DAY_MS);

/** One event per timestamp, its amount its position in the list, so sums tell which events a bucket holds. */
const event = (timestamp: string, amount: number, country = 'NL') => ({
  type: TYPE,
  timestamp,
  values: { amount },
  dimensions: { country },
});

/** Before any watermark: month boundary of September/October 2025 (UTC and New York). */
const FIRST = [
  event('2025-09-30T23:59:00Z', 1), // UTC September; New York Sep 30 19:59 (September)
  event('2025-10-01T00:00:00Z', 2), // UTC October;   New York Sep 30 20:00 (September)
  event('2025-10-01T04:00:00Z', 4), // UTC October;   New York Oct 1 00:00 (October)
  event('2025-10-31T23:00:00Z', 8), // UTC October;   New York Oct 31 19:00 (October)
];
const LATER = [
  // A week from Monday 2025-12-29 across the year boundary.
  event('2025-12-28T23:59:00Z', 1), // Sunday UTC: week of Dec 22; New York Sunday 18:59: week of Dec 22
  event('2025-12-29T00:00:00Z', 2), // Monday UTC: week of Dec 29; New York Sunday 19:00: week of Dec 22
  event('2026-01-04T23:59:59Z', 4), // Sunday UTC: week of Dec 29; New York Jan 4 18:59: week of Dec 29
  event('2026-01-05T00:00:00Z', 8), // Monday UTC: week of Jan 5;  New York Jan 4 19:00: week of Dec 29
  // The end of February 2026.
  event('2026-02-28T23:59:59Z', 16), // UTC February; New York February
  event('2026-03-01T00:00:00Z', 32), // UTC March;    New York Feb 28 19:00 (February)
  // New York springs forward on 2026-03-08: that day is [05:00Z, 04:00Z next day), 23 hours.
  event('2026-03-08T04:30:00Z', 64), // New York Mar 7 23:30
  event('2026-03-08T05:00:00Z', 128), // New York Mar 8 00:00
  event('2026-03-09T03:59:00Z', 256), // New York Mar 8 23:59 (EDT)
  event('2026-03-09T04:00:00Z', 512), // New York Mar 9 00:00
  // Quarter and half hours around 18:15 UTC (Kathmandu midnight) and 18:30 (Kolkata midnight).
  event('2026-06-01T18:14:00Z', 1), // Kathmandu Jun 1 23:59; Kolkata Jun 1 23:44
  event('2026-06-01T18:15:00Z', 2), // Kathmandu Jun 2 00:00; Kolkata Jun 1 23:45
  event('2026-06-01T18:29:59Z', 4), // Kathmandu Jun 2;       Kolkata Jun 1 23:59:59
  event('2026-06-01T18:30:00Z', 8), // Kathmandu Jun 2;       Kolkata Jun 2 00:00
  event('2026-06-02T12:00:00Z', 16), // both Jun 2
  // New York falls back on 2026-11-01: that day is [04:00Z, 05:00Z next day), 25 hours.
  event('2026-11-01T03:59:00Z', 1), // New York Oct 31 23:59
  event('2026-11-01T05:30:00Z', 2), // New York Nov 1 01:30 EDT
  event('2026-11-01T06:30:00Z', 4), // New York Nov 1 01:30 EST, the repeated hour
  event('2026-11-02T04:30:00Z', 8), // New York Nov 1 23:30 EST
  event('2026-11-02T05:00:00Z', 16), // New York Nov 2 00:00
];

const point = (start: string, count: number, sum: number | null, final = false) => ({ start, count, sum, final });

describe.each(BACKENDS)('calendar intervals and time zones on %s', (backend) => {
  let server: TestServer;
  const series = async (q: Record<string, unknown>) => {
    const answer = await post(server.url, SERIES, { q: { type: TYPE, value: 'amount', fill: true, ...q } });
    expect(answer.errors).toBeUndefined();
    return answer.data!.series as { group: string | null; points: unknown[] }[];
  };
  const pointsOf = async (q: Record<string, unknown>) => {
    const answer = await series(q);
    expect(answer).toHaveLength(1);
    return answer[0]!.points;
  };

  beforeAll(async () => {
    server = await startServer({ backend, env: { ALLOWED_LATENESS: `${LATENESS_DAYS}d` } });
    for (const batch of [FIRST, LATER, [{ type: TYPE, timestamp: new Date(Date.now() - 60_000).toISOString(), values: { amount: 0 } }]]) {
      const answer = await post(server.url, INGEST, { e: batch });
      expect(answer.data!.ingest).toEqual({ accepted: batch.length, rejected: 0 });
      await waitForProcessing(server.url);
    }
    // The last event (a minute ago) moves the watermark to about now: the week ending 2025-10-06
    // (New York: 04:00Z) is final then, 7 days or more before now (LATENESS_DAYS rounds up).
    const needed = Date.parse('2025-10-07T00:00:00Z') + LATENESS_DAYS * DAY_MS;
    await waitUntil(
      async () => {
        const watermark = (await post(server.url, WATERMARK)).data!.streamStatus.watermark as string | null;
        return watermark !== null && Date.parse(watermark) >= needed;
      },
      30_000,
      'the watermark past 2025-10-07 plus the lateness',
    );
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('DAY in America/New_York: 2026-11-01 has 25 hours; the same range in UTC cuts elsewhere', async () => {
    const range = { interval: 'DAY', from: '2026-10-31T04:00:00Z', to: '2026-11-03T05:00:00Z' };
    expect(await pointsOf({ ...range, timeZone: 'America/New_York' })).toEqual([
      point('2026-10-31T04:00:00.000Z', 1, 1),
      point('2026-11-01T04:00:00.000Z', 3, 2 + 4 + 8),
      point('2026-11-02T05:00:00.000Z', 1, 16),
    ]);
    expect(await pointsOf(range)).toEqual([
      point('2026-10-31T00:00:00.000Z', 0, null),
      point('2026-11-01T00:00:00.000Z', 3, 1 + 2 + 4),
      point('2026-11-02T00:00:00.000Z', 2, 8 + 16),
      point('2026-11-03T00:00:00.000Z', 0, null),
    ]);
    expect(await pointsOf({ ...range, timeZone: 'UTC' })).toEqual(await pointsOf(range));
  });

  it('DAY in America/New_York: 2026-03-08 has 23 hours', async () => {
    expect(
      await pointsOf({ interval: 'DAY', timeZone: 'America/New_York', from: '2026-03-07T05:00:00Z', to: '2026-03-10T04:00:00Z' }),
    ).toEqual([
      point('2026-03-07T05:00:00.000Z', 1, 64),
      point('2026-03-08T05:00:00.000Z', 2, 128 + 256),
      point('2026-03-09T04:00:00.000Z', 1, 512),
    ]);
  });

  it('DAY in Asia/Kathmandu (+5:45) and Asia/Kolkata (+5:30), from MINUTE rows around their midnights', async () => {
    const range = { interval: 'DAY', from: '2026-06-01T00:00:00Z', to: '2026-06-02T12:00:00Z' };
    expect(await pointsOf({ ...range, timeZone: 'Asia/Kathmandu' })).toEqual([
      point('2026-05-31T18:15:00.000Z', 1, 1),
      point('2026-06-01T18:15:00.000Z', 4, 2 + 4 + 8 + 16),
    ]);
    expect(await pointsOf({ ...range, timeZone: 'Asia/Kolkata' })).toEqual([
      point('2026-05-31T18:30:00.000Z', 3, 1 + 2 + 4),
      point('2026-06-01T18:30:00.000Z', 2, 8 + 16),
    ]);
  });

  it('FIFTEEN_MINUTES and FIVE_MINUTES align to the hour', async () => {
    expect(await pointsOf({ interval: 'FIFTEEN_MINUTES', from: '2026-06-01T18:00:00Z', to: '2026-06-01T19:00:00Z' })).toEqual([
      point('2026-06-01T18:00:00.000Z', 1, 1),
      point('2026-06-01T18:15:00.000Z', 2, 2 + 4),
      point('2026-06-01T18:30:00.000Z', 1, 8),
      point('2026-06-01T18:45:00.000Z', 0, null),
    ]);
    // from is aligned down: 18:12 is in the bucket of 18:10. The zone does not move them.
    expect(
      await pointsOf({ interval: 'FIVE_MINUTES', timeZone: 'Asia/Kathmandu', from: '2026-06-01T18:12:00Z', to: '2026-06-01T18:35:00Z' }),
    ).toEqual([
      point('2026-06-01T18:10:00.000Z', 1, 1),
      point('2026-06-01T18:15:00.000Z', 1, 2),
      point('2026-06-01T18:20:00.000Z', 0, null),
      point('2026-06-01T18:25:00.000Z', 1, 4),
      point('2026-06-01T18:30:00.000Z', 1, 8),
    ]);
  });

  it('WEEK starts on Monday, across the year boundary, in UTC and in New York', async () => {
    expect(await pointsOf({ interval: 'WEEK', from: '2025-12-22T00:00:00Z', to: '2026-01-12T00:00:00Z' })).toEqual([
      point('2025-12-22T00:00:00.000Z', 1, 1),
      point('2025-12-29T00:00:00.000Z', 2, 2 + 4),
      point('2026-01-05T00:00:00.000Z', 1, 8),
    ]);
    expect(
      await pointsOf({ interval: 'WEEK', timeZone: 'America/New_York', from: '2025-12-22T05:00:00Z', to: '2026-01-12T05:00:00Z' }),
    ).toEqual([
      point('2025-12-22T05:00:00.000Z', 2, 1 + 2),
      point('2025-12-29T05:00:00.000Z', 2, 4 + 8),
      point('2026-01-05T05:00:00.000Z', 0, null),
    ]);
  });

  it('MONTH is the calendar month, in UTC and in New York', async () => {
    expect(await pointsOf({ interval: 'MONTH', from: '2026-01-01T00:00:00Z', to: '2026-04-01T00:00:00Z' })).toEqual([
      point('2026-01-01T00:00:00.000Z', 2, 4 + 8),
      point('2026-02-01T00:00:00.000Z', 1, 16),
      point('2026-03-01T00:00:00.000Z', 5, 32 + 64 + 128 + 256 + 512),
    ]);
    expect(
      await pointsOf({ interval: 'MONTH', timeZone: 'America/New_York', from: '2026-01-01T05:00:00Z', to: '2026-04-01T04:00:00Z' }),
    ).toEqual([
      point('2026-01-01T05:00:00.000Z', 2, 4 + 8),
      point('2026-02-01T05:00:00.000Z', 2, 16 + 32),
      point('2026-03-01T05:00:00.000Z', 4, 64 + 128 + 256 + 512),
    ]);
  });

  it('a merged point is final only when every stored bucket in it is', async () => {
    // September 2025 ended 2025-10-01 (UTC), 2025-10-01T04:00Z (New York): final. October's last
    // days are not final yet, so October is not, while its first day is.
    expect(await pointsOf({ interval: 'MONTH', from: '2025-09-15T00:00:00Z', to: '2025-10-15T00:00:00Z' })).toEqual([
      point('2025-09-01T00:00:00.000Z', 1, 1, true),
      point('2025-10-01T00:00:00.000Z', 3, 2 + 4 + 8, false),
    ]);
    expect(
      await pointsOf({ interval: 'MONTH', timeZone: 'America/New_York', from: '2025-09-15T00:00:00Z', to: '2025-10-15T00:00:00Z' }),
    ).toEqual([point('2025-09-01T04:00:00.000Z', 2, 1 + 2, true), point('2025-10-01T04:00:00.000Z', 2, 4 + 8, false)]);
    expect(await pointsOf({ interval: 'DAY', from: '2025-10-01T00:00:00Z', to: '2025-10-02T00:00:00Z' })).toEqual([
      point('2025-10-01T00:00:00.000Z', 2, 2 + 4, true),
    ]);
    // A WEEK of the same days is final (it ends 2025-10-06); asked again, the cached answer is the same.
    const week = { interval: 'WEEK', from: '2025-09-29T00:00:00Z', to: '2025-10-06T00:00:00Z' };
    expect(await pointsOf(week)).toEqual([point('2025-09-29T00:00:00.000Z', 3, 1 + 2 + 4, true)]);
    expect(await pointsOf(week)).toEqual([point('2025-09-29T00:00:00.000Z', 3, 1 + 2 + 4, true)]);
    // The same range in another zone is another answer, not the cached one: in New York,
    // 2025-09-29T00:00Z is still Sunday, in the week of September 22.
    expect(await pointsOf({ ...week, timeZone: 'America/New_York' })).toEqual([
      point('2025-09-22T04:00:00.000Z', 0, null, true),
      point('2025-09-29T04:00:00.000Z', 3, 1 + 2 + 4, true),
    ]);
  });

  it('groups merged points like stored ones', async () => {
    const answer = await series({
      interval: 'MONTH',
      groupBy: 'country',
      fill: false,
      from: '2025-09-01T00:00:00Z',
      to: '2025-11-01T00:00:00Z',
    });
    expect(answer).toEqual([
      { group: 'NL', points: [point('2025-09-01T00:00:00.000Z', 1, 1, true), point('2025-10-01T00:00:00.000Z', 3, 14, false)] },
    ]);
  });
});
