/**
 * The chart's data, kept apart from the DOM: bucket totals per group, as the `series`
 * subscription sends them (its snapshot, then live), shaped into the aligned arrays uPlot draws.
 */
import { bucketStartsBetween, type Interval } from '../domain/interval.ts';
import { dayStartsBetween } from './time-zone.ts';

/** What the chart draws per bucket: events, the sum or average of a value, or unique users. */
export type Measure = 'count' | 'sum' | 'avg' | 'distinct';

export interface BucketTotals {
  /** Bucket start, epoch milliseconds. */
  start: number;
  count: number;
  sum: number | null;
  avg: number | null;
  /** Unique users (approximate); null unless the query named a distinct key. */
  distinct: number | null;
  final: boolean;
}

/** What the API sends for one point (start as an ISO string). */
export interface ReceivedPoint {
  start: string;
  count: number;
  sum: number | null;
  avg: number | null;
  distinct: number | null;
  final: boolean;
}

/** Group value (null: events without the groupBy dimension, or no groupBy) → bucket start → totals. */
export type SeriesByGroup = Map<string | null, Map<number, BucketTotals>>;

function toTotals(point: ReceivedPoint): BucketTotals {
  return {
    start: Date.parse(point.start),
    count: point.count,
    sum: point.sum,
    avg: point.avg,
    distinct: point.distinct,
    final: point.final,
  };
}

function bucketsOf(data: SeriesByGroup, group: string | null): Map<number, BucketTotals> {
  let buckets = data.get(group);
  if (!buckets) {
    buckets = new Map();
    data.set(group, buckets);
  }
  return buckets;
}

/**
 * An update is the bucket's total (a snapshot point, a late correction, a final push, or a point
 * sent again after a resume), never a delta: it replaces the point.
 */
export function applyLiveUpdate(data: SeriesByGroup, group: string | null, point: ReceivedPoint): void {
  const totals = toTotals(point);
  bucketsOf(data, group).set(totals.start, totals);
}

/** Drops buckets that slid out of the chart's window, so memory stays bounded on a long-open page. */
export function dropBucketsBefore(data: SeriesByGroup, cutoff: number): void {
  for (const [group, buckets] of data) {
    for (const start of buckets.keys()) if (start < cutoff) buckets.delete(start);
    if (buckets.size === 0) data.delete(group);
  }
}

export interface ChartSeries {
  group: string | null;
  values: (number | null)[];
}

export interface ChartData {
  /** Bucket starts in seconds (uPlot's time unit), one per bucket of the window, oldest first. */
  times: number[];
  /** The groups with the most events, in group order (as the API sorts them: by value, null last). */
  series: ChartSeries[];
  /** Groups left out to keep the chart readable. */
  hiddenGroups: number;
}

function compareGroups(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

function measured(totals: BucketTotals | undefined, measure: Measure): number | null {
  // A bucket without events counts 0 and sums 0; its average does not exist, so it is a gap.
  if (measure === 'count') return totals?.count ?? 0;
  if (measure === 'sum') return totals?.sum ?? 0;
  if (measure === 'distinct') return totals?.distinct ?? 0;
  return totals?.avg ?? null;
}

/**
 * The starts of the buckets that overlap [from, to). A time zone moves where days start (and a
 * daylight-saving day has 23 or 25 hours); seconds, minutes and hours are the same everywhere
 * the API serves them.
 */
export function bucketGrid(from: number, to: number, interval: Interval, timeZone: string): number[] {
  if (interval === 'DAY' && timeZone !== 'UTC') return dayStartsBetween(from, to, timeZone);
  return bucketStartsBetween(from, to, interval);
}

/**
 * Every bucket of [from, to) on one time axis, because uPlot wants all series aligned to the
 * same x values, and because buckets without events are not sent at all.
 */
export function chartData(
  data: SeriesByGroup,
  options: { from: number; to: number; interval: Interval; timeZone: string; measure: Measure; maxSeries: number },
): ChartData {
  const starts = bucketGrid(options.from, options.to, options.interval, options.timeZone);

  const eventsIn = (buckets: Map<number, BucketTotals>) => {
    let count = 0;
    for (const totals of buckets.values()) count += totals.count;
    return count;
  };
  const ranked = [...data.entries()].sort(([, a], [, b]) => eventsIn(b) - eventsIn(a));
  // Drawn in a stable order, so a line keeps its colour while the ranking shifts.
  const shown = ranked.slice(0, options.maxSeries).sort(([a], [b]) => compareGroups(a, b));
  // Buckets after the newest one with data are not "zero events" but "not processed yet": they
  // are left empty, so the line does not drop to zero at the live edge.
  let newest = -Infinity;
  for (const buckets of data.values()) for (const start of buckets.keys()) newest = Math.max(newest, start);
  return {
    times: starts.map((start) => start / 1000),
    series: shown.map(([group, buckets]) => ({
      group,
      values: starts.map((start) => (start > newest ? null : measured(buckets.get(start), options.measure))),
    })),
    hiddenGroups: ranked.length - shown.length,
  };
}
