/**
 * Whether the processor's lag stayed bounded under a sustained load (P10), from the lag sampled
 * once a second. Pure (test/unit/sustained-bench.test.ts).
 *
 * The criterion, over the judged window (the last minute of the run, after at least as long a
 * warm-up):
 * - the lag does not grow: the slope of a least-squares line through the window's lag samples
 *   is at most MAX_SLOPE_SHARE of the target ingest rate. The slope is ingested − processed
 *   events/s, so this says the processor kept up with at least 98% of what came in. A slope
 *   fitted to 60 samples 1 s apart is far less noisy than that: its standard error is the
 *   samples' scatter ÷ √Σ(t − t̄)² = σ ÷ √18,000 s², so a lag scattering by half a second of
 *   ingest (σ) moves it by about 0.4% of the rate. 2% is five such errors: a processor that
 *   keeps up is not failed by noise, and one that falls 2% behind is caught;
 * - the lag at the end is small: the median of the last END_SAMPLES_S samples (one sample can
 *   land while a batch is in flight) is at most MAX_END_LAG_S seconds of ingest at the target
 *   rate. A lag that is flat but large (a backlog built early and never worked off) fails here.
 */

export interface LagSample {
  /** Seconds since the paced ingest started. */
  t: number;
  /** `streamStatus.lag`: events accepted and not yet processed. */
  lag: number;
  /** Events acknowledged by `ingest` since the start. */
  ingested: number;
  /** Events the processor counted (`streamStatus.processed`) since the start. */
  processed: number;
}

/** The longest judged window: the last minute. */
export const JUDGED_WINDOW_S = 60;
/** The most the lag may grow per second over the window, as a share of the target rate. */
export const MAX_SLOPE_SHARE = 0.02;
/** The most lag at the end, in seconds of ingest at the target rate. */
export const MAX_END_LAG_S = 2;
/** The end lag is the median of the samples of the last this many seconds. */
export const END_SAMPLES_S = 5;
/** Fewer samples than this in the window cannot show a trend. */
const MIN_WINDOW_SAMPLES = 3;

export interface LineFit {
  slope: number;
  intercept: number;
}

/** The least-squares line y = slope × x + intercept through the points (at least two distinct x). */
export function leastSquares(points: readonly { x: number; y: number }[]): LineFit {
  const n = points.length;
  if (n < 2) throw new Error(`a line needs at least 2 points, not ${n}`);
  const meanX = points.reduce((sum, p) => sum + p.x, 0) / n;
  const meanY = points.reduce((sum, p) => sum + p.y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    sxx += (p.x - meanX) ** 2;
    sxy += (p.x - meanX) * (p.y - meanY);
  }
  if (sxx === 0) throw new Error('a line needs points at two different x at least');
  const slope = sxy / sxx;
  return { slope, intercept: meanY - slope * meanX };
}

function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export interface SustainedVerdict {
  /** Where the judged window starts, seconds since the start. */
  judgedFromS: number;
  /** The lag's line over the window (events against seconds). */
  fit: LineFit;
  /** fit.slope ÷ target rate. */
  slopeShare: number;
  endLag: number;
  endLagSeconds: number;
  /** The most lag the bound allows at the end, in events. */
  endLagBound: number;
  maxLag: number;
  maxLagAtS: number;
  /** Events/s over the window, from the first and last samples in it. */
  windowIngestRate: number;
  windowProcessedRate: number;
  bounded: boolean;
  /** Why not, when not bounded. */
  problems: string[];
}

export function judgeSustained(samples: readonly LagSample[], targetRate: number): SustainedVerdict {
  if (!(targetRate > 0)) throw new Error(`the target rate must be positive, not ${targetRate}`);
  if (samples.length === 0) throw new Error('no lag samples');
  const ordered = [...samples].sort((a, b) => a.t - b.t);
  const last = ordered.at(-1)!;
  // At most the last minute, and never more than the second half: the first half is warm-up.
  const judgedFromS = last.t - Math.min(JUDGED_WINDOW_S, last.t / 2);
  const window = ordered.filter((sample) => sample.t >= judgedFromS);
  const problems: string[] = [];
  const endLagBound = MAX_END_LAG_S * targetRate;
  const endLag = medianOf(ordered.filter((sample) => sample.t > last.t - END_SAMPLES_S).map((sample) => sample.lag));
  let maxAt = ordered[0]!;
  for (const sample of ordered) if (sample.lag > maxAt.lag) maxAt = sample;
  let fit: LineFit = { slope: Number.NaN, intercept: Number.NaN };
  if (window.length < MIN_WINDOW_SAMPLES || window[0]!.t === last.t) {
    problems.push(`only ${window.length} lag samples in the judged window: no trend can be told`);
  } else {
    fit = leastSquares(window.map((sample) => ({ x: sample.t, y: sample.lag })));
    if (fit.slope > MAX_SLOPE_SHARE * targetRate)
      problems.push(
        `the lag grew by ${Math.round(fit.slope)} events/s over the last ${Math.round(last.t - judgedFromS)} s (${((fit.slope / targetRate) * 100).toFixed(1)}% of the rate > ${MAX_SLOPE_SHARE * 100}%)`,
      );
  }
  if (endLag > endLagBound)
    problems.push(
      `the lag at the end, ${Math.round(endLag)} events, is ${(endLag / targetRate).toFixed(1)} s of ingest (> ${MAX_END_LAG_S} s)`,
    );
  const first = window[0]!;
  const span = last.t - first.t;
  return {
    judgedFromS,
    fit,
    slopeShare: fit.slope / targetRate,
    endLag,
    endLagSeconds: endLag / targetRate,
    endLagBound,
    maxLag: maxAt.lag,
    maxLagAtS: maxAt.t,
    windowIngestRate: span > 0 ? (last.ingested - first.ingested) / span : Number.NaN,
    windowProcessedRate: span > 0 ? (last.processed - first.processed) / span : Number.NaN,
    bounded: problems.length === 0,
    problems,
  };
}

/**
 * Events/s over the `span` samples before each sample (at that sample's time), for the plot:
 * per second, the processed rate swings between 0 and a processing batch's worth; over a few
 * seconds it shows the trend.
 */
export function ratesOf(samples: readonly LagSample[], span = 1): { t: number; ingestRate: number; processedRate: number }[] {
  if (!(Number.isInteger(span) && span >= 1)) throw new Error(`the span must be a whole number of samples from 1, not ${span}`);
  const rates: { t: number; ingestRate: number; processedRate: number }[] = [];
  for (let i = span; i < samples.length; i++) {
    const before = samples[i - span]!;
    const after = samples[i]!;
    const seconds = after.t - before.t;
    if (seconds <= 0) continue;
    rates.push({
      t: after.t,
      ingestRate: (after.ingested - before.ingested) / seconds,
      processedRate: (after.processed - before.processed) / seconds,
    });
  }
  return rates;
}

/**
 * P10's second half: "p99 freshness ≤ 100 ms throughout" (performance.md). One probe event is
 * ingested every PROBE_EVERY_MS beside the paced load, and a graphql-ws subscriber times each from
 * its `ingest` returning to its arrival. The run is cut into windows of FRESHNESS_WINDOW_S, and
 * every window's p99 (nearest rank) must be at most MAX_FRESHNESS_P99_MS: a run whose overall p99
 * is fine but whose last minute is not did not hold "throughout". A probe never delivered counts
 * as later than any bound, and so does a window in which no probe came back at all (`ingest`
 * stalled or refused): nothing there was fresh.
 */
export const FRESHNESS_WINDOW_S = 10;
export const MAX_FRESHNESS_P99_MS = 100;

export interface FreshnessProbe {
  /** Seconds since the paced ingest started, when the probe's `ingest` returned. */
  t: number;
  /** From `ingest` returning to the subscriber receiving it; null: not received within the grace period. */
  ms: number | null;
}

export interface FreshnessWindow {
  /** The window's start, seconds since the start. */
  fromS: number;
  probes: number;
  lost: number;
  /** Nearest-rank percentiles over the window's probes, a lost one counting as Infinity; null without probes. */
  p50: number | null;
  p99: number | null;
}

export interface FreshnessVerdict {
  windows: FreshnessWindow[];
  /** The highest window p99 and where (null: no probe at all). */
  worst: { p99: number; fromS: number } | null;
  /** Over every probe of the run. */
  overall: { probes: number; lost: number; p50: number | null; p99: number | null };
  held: boolean;
  problems: string[];
}

/** The nearest-rank percentile of sorted values (Infinity sorts last); null for none. */
export function nearestRank(sorted: readonly number[], percentile: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((percentile / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export function judgeFreshness(probes: readonly FreshnessProbe[], runSeconds: number): FreshnessVerdict {
  if (!(runSeconds > 0)) throw new Error(`the run must last a positive time, not ${runSeconds}`);
  const windowCount = Math.max(1, Math.ceil(runSeconds / FRESHNESS_WINDOW_S));
  const latencies: number[][] = Array.from({ length: windowCount }, () => []);
  for (const probe of probes) {
    const index = Math.min(windowCount - 1, Math.max(0, Math.floor(probe.t / FRESHNESS_WINDOW_S)));
    latencies[index]!.push(probe.ms ?? Number.POSITIVE_INFINITY);
  }
  const problems: string[] = [];
  const windows = latencies.map((values, index): FreshnessWindow => {
    const sorted = [...values].sort((a, b) => a - b);
    return {
      fromS: index * FRESHNESS_WINDOW_S,
      probes: values.length,
      lost: values.filter((ms) => ms === Number.POSITIVE_INFINITY).length,
      p50: nearestRank(sorted, 50),
      p99: nearestRank(sorted, 99),
    };
  });
  const empty = windows.filter((window) => window.probes === 0);
  if (empty.length > 0) problems.push(`no probe came back in ${empty.length} of ${windows.length} windows (first at ${empty[0]!.fromS} s)`);
  const lost = windows.reduce((total, window) => total + window.lost, 0);
  // Reported on its own: one lost probe in a window of 100 is past its nearest-rank p99.
  if (lost > 0) problems.push(`${lost} of ${probes.length} probes never reached the subscriber`);
  let worst: FreshnessVerdict['worst'] = null;
  for (const window of windows)
    if (window.p99 !== null && (worst === null || window.p99 > worst.p99)) worst = { p99: window.p99, fromS: window.fromS };
  const over = windows.filter((window) => window.p99 !== null && window.p99 > MAX_FRESHNESS_P99_MS);
  if (over.length > 0) {
    const worstText = Number.isFinite(worst!.p99) ? `${Math.round(worst!.p99)} ms` : 'a probe never delivered';
    problems.push(
      `p99 above ${MAX_FRESHNESS_P99_MS} ms in ${over.length} of ${windows.length} windows of ${FRESHNESS_WINDOW_S} s (worst ${worstText} at ${worst!.fromS} s)`,
    );
  }
  const all = probes.map((probe) => probe.ms ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b);
  return {
    windows,
    worst,
    overall: { probes: probes.length, lost, p50: nearestRank(all, 50), p99: nearestRank(all, 99) },
    held: problems.length === 0,
    problems,
  };
}
