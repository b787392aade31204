/**
 * Latency histograms (HdrHistogram, 3 significant digits), recorded in microseconds and read
 * back in milliseconds.
 */
import * as hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

/** Up to 60 s at 3 significant digits. */
export function newHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

/** Records a duration in ms; a negative one (clocks of two events racing) counts as 0. */
export function recordMs(histogram: Histogram, ms: number): void {
  histogram.recordValue(Math.max(1, Math.min(60_000_000, Math.round(ms * 1000))));
}

export function percentileMs(histogram: Histogram, percentile: number): number {
  return histogram.getValueAtPercentile(percentile) / 1000;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** [percentile, ms] points of the distribution, for the plot. */
  curve: [number, number][];
}

/** The percentiles the plot draws: denser towards the tail, as an HdrHistogram plot is. */
const CURVE_PERCENTILES = [0, 10, 25, 50, 75, 90, 95, 97.5, 99, 99.5, 99.9, 100];

export function summarise(histogram: Histogram): LatencySummary {
  return {
    count: histogram.totalCount,
    p50: percentileMs(histogram, 50),
    p90: percentileMs(histogram, 90),
    p99: percentileMs(histogram, 99),
    max: histogram.maxValue / 1000,
    curve: CURVE_PERCENTILES.map((p) => [p, percentileMs(histogram, p)]),
  };
}

export function mergeInto(target: Histogram, source: Histogram): void {
  target.add(source);
}
