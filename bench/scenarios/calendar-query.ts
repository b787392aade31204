/**
 * P11 of performance.md: the `series` query over 30 local days in America/New_York at DAY, grouped
 * by two dimensions, with a distinct count (`distinct: "user"`), timed from the client: p50/p99 from HdrHistogram. A New York day is not a UTC day, so the
 * service serves it from HOUR rollups merged at query time (src/query/bucket-plan.ts): the
 * query the issue asks to keep cheap. History: one event per hour and dimension combination
 * (30: country × plan × device) over the 30 days, so about 21,600 HOUR rows, each event naming
 * one of USERS users (`distinct: { user }`), so every HOUR row carries a distinct sketch that a
 * DAY point merges (a union: a day's users are not the sum of its hours). The range ends now, so
 * the last day is not final and the result cache never answers it.
 *
 * Baseline: the same HOUR rows read by a plain driver against the same store, each row's hour
 * put in its New York day (the day starts are computed once, outside the timing, as a
 * hand-written reader would), summed per group and day and their user sketches merged, with the
 * estimate taken per point (better-sqlite3 on the service's own
 * series.sqlite, read-only; cassandra-driver with a prepared statement per 7-day HOUR partition,
 * concurrently). Per-pair ratio: Streamlens p50 ÷ baseline p50.
 *
 * GROUP_BY: two dimensions, as the issue asks (`groupByDimensions: ["country", "plan"]`); the
 * baseline groups by exactly the same keys, labelled as `Series.group` labels them.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import cassandra from 'cassandra-driver';
import { calendarBucketStartsBetween, nextCalendarBucketStart } from '../../src/domain/calendar.ts';
import { DistinctSketch } from '../../src/domain/distinct-sketch.ts';
import { benchEvent } from '../harness/events.ts';
import { newHistogram, recordMs, percentileMs } from '../harness/hdr.ts';
import { runPairs, type ArmResult } from '../harness/pairs.ts';
import { rowOf } from '../harness/report.ts';
import { drained, ingest, startBenchServer } from '../harness/server.ts';
import type { Scenario } from './scenario.ts';

const TYPE = 'calendar_q';
const HOUR = 3_600_000;
const DAY = 86_400_000;
const ZONE = 'America/New_York';
const DAYS = 30;
/** The dimensions grouped by (see the file's comment). */
const GROUP_BY = ['country', 'plan'] as const;
/** Every combination of the bench events' dimensions: country (10) × plan (3) × device (2), i mod 30. */
const COMBINATIONS = 30;
/** Groups of country × plan: i mod 10 and i mod 3 meet in all 30 pairs as i runs over 0…29. */
const EXPECTED_GROUPS = 30;
/** The distinct key the query counts, and how many users the history's events name (i mod USERS). */
const DISTINCT_KEY = 'user';
const USERS = 997;
/** The HOUR partition span of the Cassandra store (WINDOW_MS in cassandra-statements.ts). */
const HOUR_WINDOW_MS = 7 * DAY;

const seriesQuery = `query CalendarSeries($query: SeriesQuery!) {
  series(query: $query) { group watermark points { start count sum avg min max p50 p99 distinct final } } }`;

type Grouped = Map<string, Map<number, { count: number; sum: number; users: DistinctSketch | null }>>;

export const calendarQueryScenario: Scenario = {
  ids: ['P11'],
  async run({ backend, options }) {
    // 30 days of history: lateness reaches back past it, or the first days would be quarantined.
    const server = await startBenchServer(backend, {
      env: { ALLOWED_LATENESS: '32d' },
      profile: options.profileName?.(`P11-${backend}`) ?? null,
    });
    let sqlite: Database.Database | null = null;
    let client: cassandra.Client | null = null;
    try {
      const now = Date.now();
      // The 30 New York days ending with today (today's is not over).
      const dayStarts = calendarBucketStartsBetween(now - (DAYS - 1) * DAY - 2 * HOUR, now, 'DAY', ZONE)!.slice(-DAYS);
      const from = dayStarts[0]!;
      const boundaries = [...dayStarts, nextCalendarBucketStart(dayStarts.at(-1)!, 'DAY', ZONE)];
      const hours = Math.floor((now - from) / HOUR);
      const events = Array.from({ length: hours * COMBINATIONS }, (_, i) => ({
        ...benchEvent(TYPE, from + Math.floor(i / COMBINATIONS) * HOUR + 10 * 60_000, i),
        distinct: { [DISTINCT_KEY]: `u-${i % USERS}` },
      }));
      for (let i = 0; i < events.length; i += 1000) await ingest(server.url, events.slice(i, i + 1000));
      if (!(await drained(server.url, 240_000))) throw new Error('P11: the history was not processed within 240 s');
      const variables = {
        query: {
          type: TYPE,
          value: 'amount',
          interval: 'DAY',
          timeZone: ZONE,
          groupByDimensions: GROUP_BY,
          distinct: DISTINCT_KEY,
          from: new Date(from).toISOString(),
          to: new Date(now).toISOString(),
          fill: false,
        },
      };
      const body = JSON.stringify({ query: seriesQuery, variables });

      // What the last answers held, for the row's notes.
      let groups = 0;
      let points = 0;
      let streamlensUsers = 0;
      let baselineUsers = 0;

      /** The New York day of a stored hour: the last boundary at or before it. */
      const dayOfHour = new Map<number, number>();
      for (let day = 0; day < DAYS; day++) {
        for (let hour = boundaries[day]!; hour < boundaries[day + 1]!; hour += HOUR) dayOfHour.set(hour, boundaries[day]!);
      }
      const group = (grouped: Grouped, bucketStart: number, dimensions: string, aggregate: string) => {
        const values = JSON.parse(dimensions) as Record<string, string>;
        const key = GROUP_BY.map((name) => values[name] ?? '').join(', ');
        const encoded = JSON.parse(aggregate) as { n: number; v: Record<string, { s: number }>; d?: Record<string, string> };
        let byDay = grouped.get(key);
        if (!byDay) grouped.set(key, (byDay = new Map()));
        const day = dayOfHour.get(bucketStart)!;
        const point = byDay.get(day) ?? { count: 0, sum: 0, users: null };
        point.count += encoded.n;
        point.sum += encoded.v.amount?.s ?? 0;
        const stored = encoded.d?.[DISTINCT_KEY];
        if (stored !== undefined) {
          const sketch = DistinctSketch.fromStored(stored);
          if (point.users) point.users.merge(sketch);
          else point.users = sketch;
        }
        byDay.set(day, point);
      };
      /** The answer a client gets: every point's distinct estimate, as Streamlens computes one per point. */
      const estimate = (grouped: Grouped) => {
        if (grouped.size !== EXPECTED_GROUPS) throw new Error(`P11 baseline found ${grouped.size} groups, not ${EXPECTED_GROUPS}`);
        for (const byDay of grouped.values()) {
          for (const point of byDay.values()) {
            if (!point.users) throw new Error('P11 baseline: a row without its user sketch');
            baselineUsers = Math.max(baselineUsers, point.users.estimate());
          }
        }
      };

      const streamlensQuery = async () => {
        const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        const result = (await response.json()) as { data?: { series: { points: { distinct: number | null }[] }[] }; errors?: unknown };
        if (!result.data) throw new Error(`P11 series failed: ${JSON.stringify(result.errors)}`);
        groups = result.data.series.length;
        points = result.data.series.reduce((total, series) => total + series.points.length, 0);
        for (const series of result.data.series)
          for (const point of series.points) streamlensUsers = Math.max(streamlensUsers, point.distinct ?? 0);
      };

      let rowsRead = 0;
      let baselineQuery: () => Promise<void>;
      if (backend === 'embedded') {
        sqlite = new Database(join(server.dataDir, 'series.sqlite'), { readonly: true, fileMustExist: true });
        const select = sqlite.prepare<unknown[], { bucket_start: number; dimensions: string; aggregate: string }>(
          `SELECT bucket_start, dimensions, aggregate FROM rollups
            WHERE tenant = ? AND type = ? AND interval = ? AND bucket_start >= ? AND bucket_start < ? ORDER BY bucket_start`,
        );
        baselineQuery = async () => {
          const grouped: Grouped = new Map();
          rowsRead = 0;
          for (const row of select.iterate('default', TYPE, 'HOUR', from, boundaries.at(-1)!)) {
            group(grouped, row.bucket_start, row.dimensions, row.aggregate);
            rowsRead += 1;
          }
          estimate(grouped);
        };
      } else {
        const keyspace = server.env.CASSANDRA_KEYSPACE!;
        client = new cassandra.Client({
          contactPoints: process.env.CASSANDRA_CONTACT_POINTS!.split(','),
          localDataCenter: process.env.CASSANDRA_LOCAL_DC ?? 'datacenter1',
          encoding: { useBigIntAsLong: true },
        });
        await client.connect();
        const cql = `SELECT bucket_start, dimensions, aggregate FROM ${keyspace}.rollups
          WHERE tenant = ? AND type = ? AND interval = ? AND window_start = ? AND bucket_start >= ? AND bucket_start < ?`;
        const to = boundaries.at(-1)!;
        baselineQuery = async () => {
          const windows: number[] = [];
          for (let start = Math.floor(from / HOUR_WINDOW_MS) * HOUR_WINDOW_MS; start < to; start += HOUR_WINDOW_MS) windows.push(start);
          const grouped: Grouped = new Map();
          rowsRead = 0;
          await Promise.all(
            windows.map(async (windowStart) => {
              const result = await client!.execute(cql, ['default', TYPE, 'HOUR', BigInt(windowStart), BigInt(from), BigInt(to)], {
                prepare: true,
                fetchSize: 5_000,
              });
              for await (const row of result) {
                group(grouped, Number(row.get('bucket_start')), row.get('dimensions'), row.get('aggregate'));
                rowsRead += 1;
              }
            }),
          );
          estimate(grouped);
        };
      }

      const timed = (query: () => Promise<void>) => async (): Promise<ArmResult> => {
        const histogram = newHistogram();
        const deadline = performance.now() + options.seconds * 1000;
        let runs = 0;
        while ((performance.now() < deadline && runs < 200) || runs < 10) {
          const started = performance.now();
          await query();
          recordMs(histogram, performance.now() - started);
          runs += 1;
        }
        return { value: percentileMs(histogram, 50), histogram };
      };
      const outcome = await runPairs({ label: `P11 ${backend}`, pairs: options.pairs, a: timed(streamlensQuery), b: timed(baselineQuery) });
      return {
        rows: [
          rowOf(
            {
              id: 'P11',
              variant: `30 d DAY in ${ZONE} × ${GROUP_BY.join(' × ')}`,
              backend,
              what: `series query latency, 30 local days at DAY in ${ZONE} (merged from HOUR rollups), grouped by ${GROUP_BY.join(' and ')}, with a distinct count of users (${backend === 'real' ? 'Cassandra' : 'SQLite'})`,
              unit: 'ms (p50 per pair)',
              target: '≤ 2×',
              judged: true,
              notes: [
                `${groups} groups, ${points} points per answer, from ${rowsRead} HOUR rows; the baseline reads the same rows, sums count and amount and merges the user sketches per group and New York day, and estimates each point's distinct users`,
                `grouped by two dimensions (groupByDimensions), distinct: "${DISTINCT_KEY}" (${USERS} users in all; the largest point's estimate: Streamlens ${streamlensUsers}, baseline ${baselineUsers})`,
              ],
            },
            outcome,
            {
              a: 'Streamlens series (GraphQL over HTTP)',
              b:
                backend === 'real'
                  ? 'cassandra-driver read + group by day + sketch merge'
                  : 'better-sqlite3 read + group by day + sketch merge',
              ratioOf: 'Streamlens p50 ÷ baseline p50',
            },
            (row) => row.ratio!.median <= 2,
          ),
        ],
        skipped: [],
      };
    } finally {
      sqlite?.close();
      await client?.shutdown().catch(() => {});
      await server.close();
    }
  },
};
