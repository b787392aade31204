/**
 * P7: the `series` query over 24 h at MINUTE resolution, grouped by a 10-value dimension
 * (country), timed from the client: p50/p99 from HdrHistogram. History: one event per minute
 * and country over the last 24 h (14,400 events, plus the other two dimensions varying), so
 * 1440 buckets × 10 groups. The range ends now, so its last buckets are not final and the
 * result cache never answers it. Baseline: the same rows read by a plain driver against the
 * same store, grouped by country and bucket with counts and sums (better-sqlite3 on the
 * service's own series.sqlite, read-only, beside it in WAL mode; cassandra-driver with a
 * prepared statement per 6 h partition, concurrently, on the service's keyspace).
 * Per-pair ratio: Streamlens p50 ÷ baseline p50.
 *
 * Context, not judged: the same query selecting only `start count sum` (what the baseline
 * computes), against the same baseline, and the client's own JSON.parse of the full answer
 * (part of every timed Streamlens call, measured apart after the pairs).
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import cassandra from 'cassandra-driver';
import { print } from 'graphql';
import { ReadSeriesDocument } from '../../test/generated/operations.ts';
import { benchEvent } from '../harness/events.ts';
import { newHistogram, recordMs, percentileMs } from '../harness/hdr.ts';
import { runPairs, type ArmResult } from '../harness/pairs.ts';
import { rowOf } from '../harness/report.ts';
import { drained, ingest, startBenchServer } from '../harness/server.ts';
import type { Scenario } from './scenario.ts';

const TYPE = 'series_q';
const MINUTE = 60_000;
const DAY = 86_400_000;
/** The MINUTE partition span of the Cassandra store (WINDOW_MS in cassandra-statements.ts). */
const MINUTE_WINDOW_MS = 6 * 3_600_000;
const seriesQuery = print(ReadSeriesDocument);
/** Context variant: only the fields the baseline computes, no percentiles, min, max or avg. */
const countSumQuery =
  'query ReadSeriesCountSum($query: SeriesQuery!) { series(query: $query) { group watermark points { start count sum } } }';

type Grouped = Map<string, Map<number, { count: number; sum: number }>>;

function group(grouped: Grouped, bucketStart: number, dimensions: string, aggregate: string): void {
  const country = (JSON.parse(dimensions) as Record<string, string>).country ?? '';
  const encoded = JSON.parse(aggregate) as { n: number; v: Record<string, { s: number }> };
  let byBucket = grouped.get(country);
  if (!byBucket) grouped.set(country, (byBucket = new Map()));
  const point = byBucket.get(bucketStart) ?? { count: 0, sum: 0 };
  point.count += encoded.n;
  point.sum += encoded.v.amount?.s ?? 0;
  byBucket.set(bucketStart, point);
}

/** The size of the full answer and how long the client's JSON.parse of it takes on its own. */
async function clientParseOfAnswer(url: string, body: string): Promise<{ bytes: number; medianMs: number; runs: number }> {
  const text = await (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).text();
  const runs = 20;
  const times: number[] = [];
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    JSON.parse(text);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { bytes: Buffer.byteLength(text), medianMs: times[Math.floor(runs / 2)]!, runs };
}

export const seriesQueryScenario: Scenario = {
  ids: ['P7'],
  async run({ backend, options }) {
    const server = await startBenchServer(backend, { profile: options.profileName?.(`P7-${backend}`) ?? null });
    let sqlite: Database.Database | null = null;
    let client: cassandra.Client | null = null;
    try {
      const now = Date.now();
      const firstMinute = Math.floor((now - DAY) / MINUTE) * MINUTE + MINUTE;
      const events = Array.from({ length: 1440 * 10 }, (_, i) => benchEvent(TYPE, firstMinute + Math.floor(i / 10) * MINUTE + 1_000, i));
      for (let i = 0; i < events.length; i += 1000) await ingest(server.url, events.slice(i, i + 1000));
      if (!(await drained(server.url, 180_000))) throw new Error('P7: the history was not processed within 180 s');
      const from = now - DAY;
      const to = now + MINUTE;
      const variables = {
        query: {
          type: TYPE,
          value: 'amount',
          interval: 'MINUTE',
          groupBy: 'country',
          from: new Date(from).toISOString(),
          to: new Date(to).toISOString(),
          fill: false,
        },
      };
      const body = JSON.stringify({ query: seriesQuery, variables });
      const countSumBody = JSON.stringify({ query: countSumQuery, variables });

      let groups = 0;
      let points = 0;
      const queryWith = (requestBody: string) => async () => {
        const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: requestBody });
        const result = (await response.json()) as { data?: { series: { points: unknown[] }[] }; errors?: unknown };
        if (!result.data) throw new Error(`P7 series failed: ${JSON.stringify(result.errors)}`);
        groups = result.data.series.length;
        points = result.data.series.reduce((total, series) => total + series.points.length, 0);
      };
      const streamlensQuery = queryWith(body);

      let baselineQuery: () => Promise<void>;
      if (backend === 'embedded') {
        sqlite = new Database(join(server.dataDir, 'series.sqlite'), { readonly: true, fileMustExist: true });
        const select = sqlite.prepare<unknown[], { bucket_start: number; dimensions: string; aggregate: string }>(
          `SELECT bucket_start, dimensions, aggregate FROM rollups
            WHERE tenant = ? AND type = ? AND interval = ? AND bucket_start >= ? AND bucket_start < ? ORDER BY bucket_start`,
        );
        baselineQuery = async () => {
          const grouped: Grouped = new Map();
          for (const row of select.iterate('default', TYPE, 'MINUTE', Math.floor(from / MINUTE) * MINUTE, to))
            group(grouped, row.bucket_start, row.dimensions, row.aggregate);
          if (grouped.size !== 10) throw new Error(`P7 baseline found ${grouped.size} groups`);
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
        baselineQuery = async () => {
          const windows: number[] = [];
          for (let start = Math.floor(from / MINUTE_WINDOW_MS) * MINUTE_WINDOW_MS; start < to; start += MINUTE_WINDOW_MS)
            windows.push(start);
          const grouped: Grouped = new Map();
          await Promise.all(
            windows.map(async (windowStart) => {
              const result = await client!.execute(cql, ['default', TYPE, 'MINUTE', BigInt(windowStart), BigInt(from), BigInt(to)], {
                prepare: true,
                fetchSize: 2_000,
              });
              for await (const row of result) group(grouped, Number(row.get('bucket_start')), row.get('dimensions'), row.get('aggregate'));
            }),
          );
          if (grouped.size !== 10) throw new Error(`P7 baseline found ${grouped.size} groups`);
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
      const outcome = await runPairs({ label: `P7 ${backend}`, pairs: options.pairs, a: timed(streamlensQuery), b: timed(baselineQuery) });
      const answerParse = await clientParseOfAnswer(server.url, body);
      const countSumOutcome = await runPairs({
        label: `P7 ${backend} count/sum only`,
        pairs: options.pairs,
        a: timed(queryWith(countSumBody)),
        b: timed(baselineQuery),
      });
      const labels = {
        a: 'Streamlens series (GraphQL over HTTP)',
        b: backend === 'real' ? 'cassandra-driver read + group' : 'better-sqlite3 read + group',
        ratioOf: 'Streamlens p50 ÷ baseline p50',
      };
      return {
        rows: [
          rowOf(
            {
              id: 'P7',
              variant: '24 h MINUTE × 10 groups',
              backend,
              what: `series query latency, 24 h at MINUTE grouped by a 10-value dimension (${backend === 'real' ? 'Cassandra' : 'SQLite'})`,
              unit: 'ms (p50 per pair)',
              target: backend === 'embedded' ? '≤ 1.5×; p99 ≤ 20 ms' : '≤ 1.5×',
              judged: true,
              notes: [
                `${groups} groups, ${points} points per answer; baseline reads the same rows and sums count and amount per group and bucket`,
                `the answer is ${(answerParse.bytes / 1e6).toFixed(2)} MB of JSON; the client's JSON.parse of it alone takes ${answerParse.medianMs.toFixed(1)} ms (median of ${answerParse.runs}), inside every timed call`,
              ],
            },
            outcome,
            labels,
            (row) => row.ratio!.median <= 1.5 && (backend !== 'embedded' || (row.latency?.streamlens?.p99 ?? Infinity) <= 20),
          ),
          rowOf(
            {
              id: 'P7',
              variant: '24 h MINUTE × 10 groups, start count sum only',
              backend,
              what: 'the same series query selecting only start, count and sum (what the baseline computes)',
              unit: 'ms (p50 per pair)',
              target: '≤ 1.5×',
              judged: false,
              notes: ['context row: the judged query also selects min, max, avg and four percentiles per point'],
            },
            countSumOutcome,
            labels,
            () => null,
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
