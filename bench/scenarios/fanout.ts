/**
 * P5: fan-out, messages/s delivered to N graphql-ws subscribers of one live series, while two
 * clients ingest into that series as fast as they can (batches of 10: many small processing
 * batches, so many updates). Baseline: a raw `ws` server process broadcasting the same
 * pre-serialised payload (a `next` message captured from Streamlens) to N sockets, as fast as
 * the sockets take it. Both arms are read by the same bare client code in this process.
 */
import { execFileSync } from 'node:child_process';
import type WebSocket from 'ws';
import { benchBatch } from '../harness/events.ts';
import { runPairs } from '../harness/pairs.ts';
import { median } from '../harness/stats.ts';
import { rowOf, type ResultRow } from '../harness/report.ts';
import { drained, ingest, startBenchServer, waitForSubscriptions, sleep } from '../harness/server.ts';
import { connectRaw, subscribeMany, subscribeRaw } from '../harness/gqlws.ts';
import { startWsBaseline } from '../harness/ws-baseline.ts';
import type { Scenario } from './scenario.ts';

export const LIVE_SERIES = `subscription Fanout($query: LiveSeriesQuery!) {
  series(query: $query) { group watermark point { start count sum avg p50 p99 final } }
}`;
export const LIVE_SERIES_VARIABLES = { query: { type: 'fanout', value: 'amount', interval: 'SECOND' } };

/** N per backend. 10k is not run: see the note in the rows (a 2-core machine, shared). */
const SUBSCRIBERS: Record<string, number[]> = { embedded: [1_000, 5_000], real: [1_000, 5_000] };

/**
 * How many calls of a series store operation the service has made so far (its counter in
 * /metrics): saveBatch counts the processing batches stored, readRollups the rollup reads.
 */
async function seriesStoreCalls(graphqlUrl: string, operation: 'saveBatch' | 'readRollups'): Promise<number> {
  const text = await (await fetch(new URL('/metrics', graphqlUrl))).text();
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('streamlens_store_operation_duration_seconds_count{') &&
        l.includes('port="series_store"') &&
        l.includes(`operation="${operation}"`) &&
        l.includes('outcome="ok"'),
    );
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

export const fanoutScenario: Scenario = {
  ids: ['P5'],
  async run({ backend, options }) {
    const rows: ResultRow[] = [];
    const skipped = [
      `P5 ${backend} N=10000: not run; with 2 shared cores the N=10000 arms would hold 20k+ sockets in this one client process, which then measures itself rather than the server`,
    ];
    for (const n of SUBSCRIBERS[backend]!) {
      const server = await startBenchServer(backend, { profile: options.profileName?.(`P5-${backend}-${n}`) ?? null });
      const baseline = await startWsBaseline();
      let received = 0;
      let sample = '';
      const onNext = (text: string) => {
        received += 1;
        if (!sample) sample = text;
      };
      const streamlensSockets = await subscribeMany(n, () => subscribeRaw(server.wsUrl, LIVE_SERIES, LIVE_SERIES_VARIABLES, onNext));
      const baselineSockets: WebSocket[] = [];
      try {
        await waitForSubscriptions(server.url, n, 120_000);
        for (let i = 0; i < n; i++) baselineSockets.push(await connectRaw(baseline.url, () => (received += 1)));
        // Capture the payload the baseline sends: one real update.
        await ingest(server.url, benchBatch('fanout', 10));
        while (!sample) await sleep(20);
        await drained(server.url);
        await sleep(500);

        /** Processing batches per second during each Streamlens arm: each is (at most) one update of the series. */
        const batchRates: number[] = [];
        /** Rollup reads per stored batch during each arm: what the live feed reads per update. */
        const readsPerBatch: number[] = [];
        const streamlensArm = async () => {
          let running = true;
          const drive = Array.from({ length: 2 }, async () => {
            while (running) await ingest(server.url, benchBatch('fanout', 10));
          });
          const start = received;
          const batchesAtStart = await seriesStoreCalls(server.url, 'saveBatch');
          const readsAtStart = await seriesStoreCalls(server.url, 'readRollups');
          const started = performance.now();
          await sleep(options.seconds * 1000);
          const count = received - start;
          const elapsed = (performance.now() - started) / 1000;
          const batches = (await seriesStoreCalls(server.url, 'saveBatch')) - batchesAtStart;
          batchRates.push(batches / elapsed);
          if (batches > 0) readsPerBatch.push(((await seriesStoreCalls(server.url, 'readRollups')) - readsAtStart) / batches);
          running = false;
          await Promise.all(drive);
          return { value: count / elapsed };
        };
        const baselineArm = async () => {
          const start = received;
          const started = performance.now();
          const blasting = baseline.ask<{ sent: number }>({ blast: { seconds: options.seconds, payload: sample } });
          await sleep(options.seconds * 1000);
          const count = received - start;
          const elapsed = (performance.now() - started) / 1000;
          await blasting;
          return { value: count / elapsed };
        };
        const outcome = await runPairs({
          label: `P5 ${backend} N=${n}`,
          pairs: options.pairs,
          a: streamlensArm,
          b: baselineArm,
          settle: async () => {
            await drained(server.url);
            await sleep(300);
          },
        });
        rows.push(
          rowOf(
            {
              id: 'P5',
              variant: `N=${n}`,
              backend,
              what: `fan-out: messages/s delivered to N graphql-ws subscribers of one live series (${backend === 'real' ? 'Redis bus' : 'in-process bus'}; the changed rows travel with the update, so a feed reads a bucket once, not per update)`,
              unit: 'messages/s',
              target: '≥ 0.5×',
              judged: true,
              notes: [
                `payload ${Buffer.byteLength(sample)} bytes; ulimit -n ${execFileSync('sh', ['-c', 'ulimit -n']).toString().trim()}`,
                `updates offered: the processor stored ${median(batchRates).toFixed(0)} batches/s (median of the arms), each at most one update of the series, so at most ${Math.round(median(batchRates) * n).toLocaleString('en-US')} messages/s could be delivered`,
                `series store reads per stored batch: ${median(readsPerBatch).toFixed(2)} (median of the arms; SECOND buckets, so a feed reads about one new bucket a second, not one per update)`,
              ],
            },
            outcome,
            { a: 'Streamlens graphql-ws', b: 'raw ws broadcast of the same payload', ratioOf: 'Streamlens ÷ baseline' },
            (row) => row.ratio!.median >= 0.5,
          ),
        );
      } finally {
        for (const subscriber of streamlensSockets) subscriber.close();
        for (const socket of baselineSockets) socket.terminate();
        await baseline.stop();
        await server.close();
      }
    }
    return { rows, skipped };
  },
};
