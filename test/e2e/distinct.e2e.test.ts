/**
 * Distinct counts end to end (issue 14), over real HTTP and graphql-ws, on both stacks:
 * `EventInput.distinct` is stored with the event and returned (queries and the events
 * subscription); `SeriesQuery.distinct` counts each point's different values, merged by union
 * (the MINUTE points' counts add up to more than the DAY point's); `top` ranks by COUNT, SUM or
 * DISTINCT; past 1,755 values the count is the sketch's estimate, the same on every backend,
 * within 2% of the truth; and a crash with replays and client retries counts nothing twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, newDataDir, realServerEnv, removeDataDir, startServer, type TestServer } from '../support/server.ts';
import { query, subscribe, waitForLiveSubscriptions, waitForProcessing, wsClient } from '../support/clients.ts';
import {
  DistinctEventDocument,
  DistinctEventsDocument,
  DistinctLiveEventsDocument,
  DistinctSeriesDocument,
  DistinctTopDocument,
  IngestDocument,
} from '../generated/operations.ts';
import { DistinctSketch, DISTINCT_RELATIVE_ERROR } from '../../src/domain/distinct-sketch.ts';

const MINUTE = 60_000;
const HOUR = 3_600_000;
/** The start of the hour two hours ago: recent enough to count, and an hour never spans two days. */
const base = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
const at = (ms: number) => new Date(base + ms).toISOString();
const run = Math.random().toString(36).slice(2, 8);
/** The hour every test's events fall in. */
const range = { from: at(0), to: at(HOUR) };

interface EventInput {
  id: string;
  type: string;
  timestamp: string;
  dimensions?: Record<string, unknown>;
  values?: Record<string, unknown>;
  distinct?: Record<string, unknown>;
}

async function ingestAll(server: TestServer, events: EventInput[]): Promise<void> {
  // The ingest limit is 1,000 events per call.
  for (let i = 0; i < events.length; i += 1000) {
    const result = await query(server.url, IngestDocument, { events: events.slice(i, i + 1000) });
    expect(result.ingest).toMatchObject({ accepted: Math.min(1000, events.length - i), rejected: 0 });
  }
}

/** The estimate the sketch gives for these values: what every backend must answer, to the unit. */
function sketchEstimate(values: Iterable<string>): number {
  const sketch = new DistinctSketch();
  for (const value of values) sketch.addText(value);
  return sketch.estimate();
}

/**
 * Four minutes of visits by country: NL is one loyal user (u1) every minute, DE two big spenders,
 * FR three different users. So COUNT ranks NL, FR, DE; SUM ranks DE, FR, NL; DISTINCT ranks FR,
 * DE, NL; and u1's four visits are four users when minutes are added up, one in the hour.
 */
const VISITS: [minute: number, country: string, user: string, amount: number][] = [
  [0, 'NL', 'u1', 1],
  [0, 'DE', 'u2', 10],
  [0, 'FR', 'u4', 2],
  [1, 'NL', 'u1', 1],
  [1, 'FR', 'u5', 2],
  [2, 'NL', 'u1', 1],
  [2, 'DE', 'u3', 10],
  [3, 'NL', 'u1', 1],
  [3, 'FR', 'u6', 2],
];

describe.each(BACKENDS)('distinct counts on %s', (backend) => {
  let server: TestServer;
  const type = `visit_${run}`;

  beforeAll(async () => {
    server = await startServer({ backend });
    await ingestAll(
      server,
      VISITS.map(([minute, country, user, amount], i) => ({
        id: `${run}-visit-${i}`,
        type,
        timestamp: at(minute * MINUTE + 1_000),
        dimensions: { country },
        values: { amount },
        distinct: { user, session: `${user}-${minute}` },
      })),
    );
    await waitForProcessing(server.url, 60_000);
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('returns Event.distinct as ingested from event(id) and events, and null for an event without', async () => {
    expect((await query(server.url, DistinctEventDocument, { id: `${run}-visit-0` })).event).toEqual({
      id: `${run}-visit-0`,
      distinct: { user: 'u1', session: 'u1-0' },
      dimensions: { country: 'NL' },
    });
    const page = await query(server.url, DistinctEventsDocument, { filter: { types: [type], dimensions: { country: 'DE' } }, first: 10 });
    expect(page.events.edges.map((edge) => edge.node)).toEqual([
      { id: `${run}-visit-6`, distinct: { user: 'u3', session: 'u3-2' } },
      { id: `${run}-visit-1`, distinct: { user: 'u2', session: 'u2-0' } },
    ]);
    await ingestAll(server, [{ id: `${run}-plain`, type: `plain_${run}`, timestamp: at(0) }]);
    await waitForProcessing(server.url, 60_000);
    expect((await query(server.url, DistinctEventDocument, { id: `${run}-plain` })).event).toEqual({
      id: `${run}-plain`,
      distinct: null,
      dimensions: {},
    });
  });

  it('delivers Event.distinct on the events subscription', async () => {
    const client = wsClient(server.wsUrl);
    try {
      const live = await subscribe(client, DistinctLiveEventsDocument, { filter: { types: [`live_${run}`] } });
      await waitForLiveSubscriptions(server.url, 1);
      await ingestAll(server, [{ id: `${run}-live`, type: `live_${run}`, timestamp: at(0), distinct: { device: 'd-9' } }]);
      expect((await live.waitFor(1, 30_000)).map((item) => item.events.node)).toEqual([{ id: `${run}-live`, distinct: { device: 'd-9' } }]);
      live.stop();
    } finally {
      await client.dispose();
    }
    await waitForLiveSubscriptions(server.url, 0);
  });

  it('counts distinct users per MINUTE, and per HOUR and DAY by union (not the sum of the minutes)', async () => {
    const series = async (interval: 'MINUTE' | 'HOUR' | 'DAY', distinct: string | null) =>
      (await query(server.url, DistinctSeriesDocument, { query: { type, value: 'amount', interval, ...range, distinct } })).series;
    const minutes = await series('MINUTE', 'user');
    expect(minutes).toEqual([
      {
        group: null,
        points: [
          { start: at(0), count: 3, sum: 13, distinct: 3 },
          { start: at(MINUTE), count: 2, sum: 3, distinct: 2 },
          { start: at(2 * MINUTE), count: 2, sum: 11, distinct: 2 },
          { start: at(3 * MINUTE), count: 2, sum: 3, distinct: 2 },
        ],
      },
    ]);
    expect(minutes[0]!.points.reduce((sum, point) => sum + point.distinct!, 0)).toBe(9);
    expect((await series('HOUR', 'user'))[0]!.points).toEqual([{ start: at(0), count: 9, sum: 30, distinct: 6 }]);
    const day = new Date(Math.floor(base / 86_400_000) * 86_400_000).toISOString();
    expect((await series('DAY', 'user'))[0]!.points).toEqual([{ start: day, count: 9, sum: 30, distinct: 6 }]);
    // Another key counts its own values: every (user, minute) pair is a session.
    expect((await series('DAY', 'session'))[0]!.points).toEqual([{ start: day, count: 9, sum: 30, distinct: 9 }]);
    // No distinct asked: null. A key no event carries: 0.
    expect((await series('HOUR', null))[0]!.points).toEqual([{ start: at(0), count: 9, sum: 30, distinct: null }]);
    expect((await series('HOUR', 'device'))[0]!.points).toEqual([{ start: at(0), count: 9, sum: 30, distinct: 0 }]);
  });

  it('counts distinct users per group, and fills empty buckets with 0', async () => {
    const { series } = await query(server.url, DistinctSeriesDocument, {
      query: { type, interval: 'MINUTE', from: at(0), to: at(5 * MINUTE), groupBy: 'country', distinct: 'user', fill: true },
    });
    expect(series.map((s) => [s.group, s.points.map((p) => p.distinct)])).toEqual([
      ['DE', [1, 0, 1, 0, 0]],
      ['FR', [1, 1, 0, 1, 0]],
      ['NL', [1, 1, 1, 1, 0]],
    ]);
  });

  it('ranks top by COUNT, SUM and DISTINCT, with each entry distinct count over the whole range', async () => {
    const top = async (extra: Record<string, unknown>) =>
      (await query(server.url, DistinctTopDocument, { query: { type, by: 'country', ...range, ...extra } })).top;
    expect(await top({ value: 'amount', distinct: 'user', rankBy: 'COUNT' })).toEqual([
      { key: 'NL', count: 4, sum: 4, distinct: 1 },
      { key: 'FR', count: 3, sum: 6, distinct: 3 },
      { key: 'DE', count: 2, sum: 20, distinct: 2 },
    ]);
    expect(await top({ value: 'amount', distinct: 'user', rankBy: 'SUM' })).toEqual([
      { key: 'DE', count: 2, sum: 20, distinct: 2 },
      { key: 'FR', count: 3, sum: 6, distinct: 3 },
      { key: 'NL', count: 4, sum: 4, distinct: 1 },
    ]);
    expect(await top({ distinct: 'user', rankBy: 'DISTINCT', limit: 2 })).toEqual([
      { key: 'FR', count: 3, sum: null, distinct: 3 },
      { key: 'DE', count: 2, sum: null, distinct: 2 },
    ]);
    // Without rankBy: by count, or by the sum of `value` when one is named (as before rankBy).
    expect((await top({})).map((e) => [e.key, e.distinct])).toEqual([
      ['NL', null],
      ['FR', null],
      ['DE', null],
    ]);
    expect((await top({ value: 'amount' })).map((e) => e.key)).toEqual(['DE', 'FR', 'NL']);
  });

  it('estimates past the exact range: the sketch answer on every backend, within 2% of the truth', { timeout: 120_000 }, async () => {
    // 6,000 users, each visiting in two different minutes: 12,000 events, 6,000 users.
    const users = Array.from({ length: 6_000 }, (_, i) => `big-user-${i}`);
    const bigType = `crowd_${run}`;
    await ingestAll(
      server,
      users.flatMap((user, i) => [
        { id: `${run}-crowd-${i}-a`, type: bigType, timestamp: at(10 * MINUTE + (i % 50)), distinct: { user } },
        { id: `${run}-crowd-${i}-b`, type: bigType, timestamp: at(11 * MINUTE + (i % 50)), distinct: { user } },
      ]),
    );
    await waitForProcessing(server.url, 90_000);
    const { series } = await query(server.url, DistinctSeriesDocument, {
      query: { type: bigType, interval: 'MINUTE', ...range, distinct: 'user' },
    });
    const expected = sketchEstimate(users);
    expect(Math.abs(expected - users.length) / users.length).toBeLessThan(DISTINCT_RELATIVE_ERROR);
    expect(series[0]!.points.map((p) => [p.count, p.distinct])).toEqual([
      [6_000, expected],
      [6_000, expected],
    ]);
    const hour = await query(server.url, DistinctSeriesDocument, {
      query: { type: bigType, interval: 'HOUR', ...range, distinct: 'user' },
    });
    expect(hour.series[0]!.points.map((p) => [p.count, p.distinct])).toEqual([[12_000, expected]]);
  });
});

describe.each(BACKENDS)('distinct counts across a crash on %s', (backend) => {
  const dataDir = newDataDir();
  afterAll(() => removeDataDir(dataDir));

  it('counts nothing twice after a SIGKILL, replays and client retries', { timeout: 300_000 }, async () => {
    const env = backend === 'real servers' ? realServerEnv() : {};
    const type = `crash_distinct_${run}`;
    // 2,500 users over 3,000 events: dense sketches, so a double merge could not hide in an exact count.
    const events = Array.from({ length: 3_000 }, (_, i) => ({
      id: `${run}-crash-${i}`,
      type,
      timestamp: at(20 * MINUTE + (i % 120) * 1_000),
      distinct: { user: `crash-user-${i % 2_500}` },
    }));
    const first = await startServer({ dataDir, backend, env });
    await ingestAll(first, events.slice(0, 2_000));
    // Killed at once: the processor is mid-way through what was accepted, so the restart replays.
    await first.kill();

    const second = await startServer({ dataDir, backend, env });
    try {
      // The client never heard back about a part and sends everything again, then the rest.
      await ingestAll(second, events);
      await waitForProcessing(second.url, 120_000);
      const { series } = await query(second.url, DistinctSeriesDocument, {
        query: { type, interval: 'HOUR', ...range, distinct: 'user' },
      });
      const users = new Set(events.map((event) => event.distinct.user));
      expect(series[0]!.points.map((p) => [p.count, p.distinct])).toEqual([[3_000, sketchEstimate(users)]]);
    } finally {
      await second.stop();
    }
  });
});
