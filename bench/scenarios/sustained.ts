/**
 * P10 of performance.md (issue 13, item 6, which named it S1): sustained load, not a burst.
 * `ingest` batches of 100 through GraphQL over HTTP (as P1/P2's Streamlens arm) paced open-loop at
 * 80% of the maximum ingest rate (P1/P2's batch-100 row of this run, else measured here first) for
 * --sustain-seconds (default 120), while the processor's lag and processed count (`streamStatus`)
 * are sampled every second, and a probe event ingested every PROBE_EVERY_MS is timed from its
 * `ingest` returning to a graphql-ws subscriber receiving it. One row per backend: whether the lag
 * stayed bounded and the p99 freshness held in every 10 s window (bench/harness/sustained.ts
 * states both criteria), the lag at the end and its maximum, the achieved ingest rate against the
 * target; the samples go into the row for docs/performance-sustained.svg
 * (bench/harness/sustained-plot.ts).
 */
import { JUDGED_SUSTAIN_SECONDS } from '../harness/cli.ts';
import { forSeconds } from '../harness/pairs.ts';
import { planPacing, runPaced, scheduleVerdict, LATE_AFTER_MS, type PacingPlan } from '../harness/pacing.ts';
import { armFigures, type ResultRow } from '../harness/report.ts';
import { round } from '../harness/stats.ts';
import { benchBatch, benchEvent } from '../harness/events.ts';
import { subscribeToArrivals } from '../harness/gqlws.ts';
import { newHistogram, recordMs, summarise } from '../harness/hdr.ts';
import { drained, ingest, sleep, startBenchServer, streamStatus, waitForSubscriptions, type BenchServer } from '../harness/server.ts';
import {
  judgeFreshness,
  judgeSustained,
  FRESHNESS_WINDOW_S,
  MAX_END_LAG_S,
  MAX_FRESHNESS_P99_MS,
  MAX_SLOPE_SHARE,
  type FreshnessProbe,
  type LagSample,
} from '../harness/sustained.ts';
import { CONCURRENCY } from './ingest.ts';
import type { Scenario } from './scenario.ts';

/** The share of the maximum ingest rate the load runs at (issue 13: 80%). */
export const LOAD_SHARE = 0.8;
const BATCH_SIZE = 100;
/**
 * Requests in flight at most: P1/P2 reach the maximum with 4 concurrent clients, so 4× that lets
 * answers take 4× their usual time before the schedule slips, while a stalled server does not
 * collect an unbounded pile of requests.
 */
const MAX_IN_FLIGHT = 4 * CONCURRENCY;
const SAMPLE_EVERY_MS = 1_000;
/** Seconds of closed-loop ingest that measure the maximum when this run has no P1/P2 row (as P3 does). */
const MAX_PROBE_SECONDS = 5;
/** A fresh server's first requests are slower (JIT, connections): warm it before the schedule starts. */
const WARM_UP_SECONDS = 2;
/** How long the backlog of the probe / warm-up may take to drain before the run starts anyway. */
const DRAIN_BEFORE_MS = 120_000;
/**
 * A request not answered in this long counts as failed (and frees its slot), so a stalled
 * server ends the run with a failed schedule instead of hanging it; P1's batches take well under 1 s.
 */
const REQUEST_TIMEOUT_MS = 30_000;
/**
 * A freshness probe every 100 ms: 10 events/s beside a load of thousands, so they add nothing
 * measurable, and about 100 per 10 s window, enough for a p99 (nearest rank: the second latest).
 */
const PROBE_EVERY_MS = 100;
const PROBE_TYPE = 'sustained_probe';
/** A probe not received this long after the run is over counts as never delivered. */
const PROBE_GRACE_MS = 5_000;

/**
 * Sends a probe every PROBE_EVERY_MS on a fixed schedule until `endAtMs`, each one ingest of one
 * event, without waiting for the one before to arrive (a slow delivery must not thin the
 * sampling). `received` is fed by the subscriber. Resolves with every probe once each has arrived
 * or the grace period is over.
 */
function probeFreshness(
  server: BenchServer,
  startedAt: number,
  endAtMs: number,
  received: Map<string, (at: number) => void>,
): { done: Promise<{ probes: FreshnessProbe[]; failures: number; firstFailure: string | null }> } {
  const pending: Promise<FreshnessProbe | null>[] = [];
  let failures = 0;
  let firstFailure: string | null = null;
  const done = (async () => {
    for (let tick = 0; tick * PROBE_EVERY_MS < endAtMs; tick++) {
      const wait = startedAt + tick * PROBE_EVERY_MS - performance.now();
      if (wait < 0) continue;
      await sleep(wait);
      const event = benchEvent(PROBE_TYPE);
      const arrived = new Promise<number>((resolve) => received.set(event.id, resolve));
      pending.push(
        (async () => {
          try {
            await within(ingest(server.url, [event]), REQUEST_TIMEOUT_MS, 'probe ingest');
          } catch (error) {
            // Refused (the lag bound) or timed out: not a probe of freshness, but the lag samples show it.
            failures += 1;
            firstFailure ??= (error as Error).message;
            received.delete(event.id);
            return null;
          }
          const returnedAt = performance.now();
          const graceEnd = startedAt + endAtMs + PROBE_GRACE_MS;
          const at = await Promise.race([arrived, sleep(Math.max(0, graceEnd - returnedAt)).then(() => -1)]);
          received.delete(event.id);
          return { t: round((returnedAt - startedAt) / 1000, 3), ms: at < 0 ? null : round(Math.max(0, at - returnedAt), 3) };
        })(),
      );
    }
    const probes = (await Promise.all(pending)).filter((probe): probe is FreshnessProbe => probe !== null);
    return { probes, failures, firstFailure };
  })();
  return { done };
}

/** The promise, or a rejection naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not answered within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The lag sampler: every second on a fixed schedule; a late answer skips the ticks it missed. */
function sampleLag(
  server: BenchServer,
  startedAt: number,
  endAtMs: number,
  ingested: () => number,
  processedAtStart: number,
): { done: Promise<{ samples: LagSample[]; failures: number; firstFailure: string | null }> } {
  const samples: LagSample[] = [];
  let failures = 0;
  let firstFailure: string | null = null;
  const done = (async () => {
    for (let tick = 1; tick * SAMPLE_EVERY_MS <= endAtMs; tick++) {
      const due = startedAt + tick * SAMPLE_EVERY_MS;
      const wait = due - performance.now();
      if (wait < 0) continue;
      await sleep(wait);
      const sentAt = performance.now();
      try {
        const status = await within(streamStatus(server.url), REQUEST_TIMEOUT_MS, 'streamStatus');
        // The server read its lag between sending and answering: the midpoint is the best guess.
        const t = ((sentAt + performance.now()) / 2 - startedAt) / 1000;
        samples.push({ t: round(t, 3), lag: status.lag, ingested: ingested(), processed: status.processed - processedAtStart });
      } catch (error) {
        failures += 1;
        firstFailure ??= (error as Error).message;
      }
    }
    return { samples, failures, firstFailure };
  })();
  return { done };
}

async function maxIngestRate(server: BenchServer, earlier: ResultRow[]): Promise<{ rate: number; from: string; drained: boolean }> {
  const measured = earlier.find(
    (row) => row.backend === server.backend && (row.id === 'P1' || row.id === 'P2') && row.variant === `batch ${BATCH_SIZE}`,
  );
  if (measured) {
    await forSeconds(WARM_UP_SECONDS, 1, () => ingest(server.url, benchBatch('sustained_warmup', BATCH_SIZE)));
    return {
      rate: measured.streamlens.median,
      from: `${measured.id} batch ${BATCH_SIZE} of this run`,
      drained: await drained(server.url, DRAIN_BEFORE_MS),
    };
  }
  const { count, elapsedS } = await forSeconds(MAX_PROBE_SECONDS, CONCURRENCY, () =>
    ingest(server.url, benchBatch('sustained_probe', BATCH_SIZE)),
  );
  return {
    rate: count / elapsedS,
    from: `measured here: ${MAX_PROBE_SECONDS} s of ${CONCURRENCY} clients in a closed loop`,
    drained: await drained(server.url, DRAIN_BEFORE_MS),
  };
}

const fmt = (value: number) => Math.round(value).toLocaleString('en-US');
const fmtMs = (ms: number | null) => (ms === null ? '–' : Number.isFinite(ms) ? `${ms.toFixed(1)} ms` : 'never delivered');

/** The delivered probes as a latency summary (the plot of latency distributions draws it). */
function probeSummary(probes: readonly FreshnessProbe[]) {
  const histogram = newHistogram();
  for (const probe of probes) if (probe.ms !== null) recordMs(histogram, probe.ms);
  return summarise(histogram);
}

export const sustainedScenario: Scenario = {
  ids: ['P10'],
  async run({ backend, options, earlier }) {
    const server = await startBenchServer(backend, { profile: options.profileName?.('P10-server') ?? null });
    const received = new Map<string, (at: number) => void>();
    const subscriber = await subscribeToArrivals(server.wsUrl, PROBE_TYPE, received);
    try {
      await waitForSubscriptions(server.url, 1);
      const max = await maxIngestRate(server, earlier);
      const plan: PacingPlan = planPacing(max.rate * LOAD_SHARE, BATCH_SIZE, options.sustainSeconds);
      process.stderr.write(
        `  P10 ${backend}: ${fmt(plan.targetRate)} events/s (${LOAD_SHARE * 100}% of ${fmt(max.rate)}) for ${options.sustainSeconds} s\n`,
      );
      const before = await streamStatus(server.url);
      let ingested = 0;
      const startedAt = performance.now();
      const sampler = sampleLag(server, startedAt, plan.windowMs, () => ingested, before.processed);
      const prober = probeFreshness(server, startedAt, plan.windowMs, received);
      const paced = await runPaced(plan, MAX_IN_FLIGHT, async () => {
        const accepted = await within(ingest(server.url, benchBatch('sustained', BATCH_SIZE)), REQUEST_TIMEOUT_MS, 'ingest');
        ingested += accepted;
        return accepted;
      });
      const sampled = await sampler.done;
      const probed = await prober.done;
      const freshness = judgeFreshness(probed.probes, plan.windowMs / 1000);
      const samples: LagSample[] = [{ t: 0, lag: before.lag, ingested: 0, processed: 0 }, ...sampled.samples];
      const schedule = scheduleVerdict(plan, paced);
      const verdict = judgeSustained(samples, plan.targetRate);
      const judged = options.sustainSeconds >= JUDGED_SUSTAIN_SECONDS;
      const keptUp = verdict.windowProcessedRate / verdict.windowIngestRate;
      const lateness = [...paced.latenessMs].sort((a, b) => a - b);
      const p99Lateness = lateness[Math.floor(0.99 * (lateness.length - 1))] ?? 0;
      const row: ResultRow = {
        id: 'P10',
        variant: `batch ${BATCH_SIZE} at ${LOAD_SHARE * 100}% of max, ${options.sustainSeconds} s`,
        backend,
        what: `processor lag (streamStatus every second) and freshness (a probe every ${PROBE_EVERY_MS} ms, ingest returns → graphql-ws subscriber receives) under ingest paced open-loop at ${LOAD_SHARE * 100}% of the max rate (GraphQL over HTTP, batches of ${BATCH_SIZE})`,
        unit: 'events lag at the end',
        streamlens: armFigures('lag at the end (median of the last 5 s of samples)', [verdict.endLag]),
        baseline: null,
        ratio: Number.isFinite(keptUp)
          ? {
              median: round(keptUp),
              min: round(keptUp),
              max: round(keptUp),
              q1: round(keptUp),
              q3: round(keptUp),
              values: [round(keptUp)],
              of: 'processed ÷ ingested events/s over the judged window (the last minute)',
            }
          : null,
        target: `lag bounded (last-minute slope ≤ ${MAX_SLOPE_SHARE * 100}% of the rate, end ≤ ${MAX_END_LAG_S} s of ingest), p99 freshness ≤ ${MAX_FRESHNESS_P99_MS} ms in every ${FRESHNESS_WINDOW_S} s window, ingest ≥ 95% of the target rate`,
        judged,
        met: judged ? verdict.bounded && freshness.held && schedule.kept : null,
        latency: freshness.overall.p99 === null ? undefined : { streamlens: probeSummary(probed.probes) },
        sustained: {
          targetRate: round(plan.targetRate, 1),
          samples,
          judgedFromS: round(verdict.judgedFromS, 3),
          fit: { slope: round(verdict.fit.slope, 3), intercept: round(verdict.fit.intercept, 3) },
          endLagBound: round(verdict.endLagBound, 1),
          freshness: freshness.windows.map((window) => ({
            fromS: window.fromS,
            probes: window.probes,
            lost: window.lost,
            p50: window.p50 === null || !Number.isFinite(window.p50) ? null : round(window.p50, 2),
            p99: window.p99 === null || !Number.isFinite(window.p99) ? null : round(window.p99, 2),
          })),
        },
        notes: [
          ...(judged ? [] : [`context row: shorter than the ${JUDGED_SUSTAIN_SECONDS} s a judged run takes`]),
          ...(max.drained
            ? []
            : [`the warm-up's backlog had not drained in ${DRAIN_BEFORE_MS / 1000} s: the run started at a lag of ${fmt(before.lag)}`]),
          `target ${fmt(plan.targetRate)} events/s = ${LOAD_SHARE * 100}% of the max ${fmt(max.rate)} (${max.from}); achieved ${fmt(schedule.achievedRate)} events/s (${(schedule.achievedShare * 100).toFixed(1)}%)`,
          `schedule: ${paced.sent} of ${plan.batches} batches sent, ${schedule.lateBatches} more than ${LATE_AFTER_MS} ms late (p99 ${Math.round(p99Lateness)} ms, max ${Math.round(schedule.maxLatenessMs)} ms), at most ${paced.maxInFlight} of ${MAX_IN_FLIGHT} in flight${schedule.kept ? '' : `; NOT KEPT: ${schedule.problems.join('; ')}`}`,
          `lag: max ${fmt(verdict.maxLag)} events (${(verdict.maxLag / plan.targetRate).toFixed(2)} s of ingest) at ${Math.round(verdict.maxLagAtS)} s; end ${fmt(verdict.endLag)} (${verdict.endLagSeconds.toFixed(2)} s); slope over the last ${Math.round(samples.at(-1)!.t - verdict.judgedFromS)} s ${fmt(verdict.fit.slope)} events/s (${(verdict.slopeShare * 100).toFixed(2)}% of the rate)`,
          `over that window: ingested ${fmt(verdict.windowIngestRate)}/s, processed ${fmt(verdict.windowProcessedRate)}/s`,
          verdict.bounded ? 'the lag stayed bounded' : `the lag did NOT stay bounded: ${verdict.problems.join('; ')}`,
          `freshness: ${freshness.overall.probes} probes, p50 ${fmtMs(freshness.overall.p50)}, p99 ${fmtMs(freshness.overall.p99)} over the run; worst window p99 ${fmtMs(freshness.worst?.p99 ?? null)}${freshness.worst ? ` at ${freshness.worst.fromS} s` : ''}`,
          freshness.held
            ? `the p99 freshness held ≤ ${MAX_FRESHNESS_P99_MS} ms in every ${FRESHNESS_WINDOW_S} s window`
            : `the p99 freshness did NOT hold: ${freshness.problems.join('; ')}`,
          ...(probed.failures > 0 ? [`${probed.failures} probe ingests failed (first: ${probed.firstFailure})`] : []),
          ...(sampled.failures > 0 ? [`${sampled.failures} lag samples failed (first: ${sampled.firstFailure})`] : []),
          'plot: docs/performance-sustained.svg',
        ],
      };
      process.stderr.write(`  P10 ${backend}: ${row.notes.slice(0, -1).join('\n    ')}\n`);
      return { rows: [row], skipped: [] };
    } finally {
      subscriber.close();
      // No drain: on a processor that fell behind, the backlog could take many minutes.
      await server.close();
    }
  },
};
