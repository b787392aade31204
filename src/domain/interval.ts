/** Event-time windows: the four rollup intervals and how a time maps to its bucket. */

export const INTERVALS = ['SECOND', 'MINUTE', 'HOUR', 'DAY'] as const;
export type Interval = (typeof INTERVALS)[number];

/**
 * The intervals a query may ask for (the GraphQL enum `Interval`): the four stored ones, and four
 * merged from stored rows at query time (nothing is stored per FIVE_MINUTES … MONTH bucket).
 */
export const QUERY_INTERVALS = ['SECOND', 'MINUTE', 'FIVE_MINUTES', 'FIFTEEN_MINUTES', 'HOUR', 'DAY', 'WEEK', 'MONTH'] as const;
export type QueryInterval = (typeof QUERY_INTERVALS)[number];

export function isStoredInterval(interval: QueryInterval): interval is Interval {
  return (INTERVALS as readonly string[]).includes(interval);
}

export const INTERVAL_MS: Record<Interval, number> = {
  SECOND: 1_000,
  MINUTE: 60_000,
  HOUR: 3_600_000,
  DAY: 86_400_000,
};

/**
 * The start of the bucket that holds `time`. Buckets are aligned to the UTC epoch, so a DAY
 * bucket is a UTC calendar day. Math.floor keeps times before 1970 in the right bucket.
 */
export function bucketStart(time: number, interval: Interval): number {
  const size = INTERVAL_MS[interval];
  return Math.floor(time / size) * size;
}

export function bucketEnd(start: number, interval: Interval): number {
  return start + INTERVAL_MS[interval];
}

/** The starts of every bucket that overlaps [from, to), in order. */
export function bucketStartsBetween(from: number, to: number, interval: Interval): number[] {
  const starts: number[] = [];
  for (let start = bucketStart(from, interval); start < to; start += INTERVAL_MS[interval]) starts.push(start);
  return starts;
}

/** How many buckets overlap [from, to): lets callers bound a query before running it. */
export function bucketCountBetween(from: number, to: number, interval: Interval): number {
  if (to <= from) return 0;
  return Math.ceil((to - bucketStart(from, interval)) / INTERVAL_MS[interval]);
}

/** An aligned run of buckets of one interval: every bucket starting in [from, to). */
export interface BucketBlock {
  interval: Interval;
  from: number;
  to: number;
}

/** Coarsest first: a DAY bucket holds 1,440 MINUTE buckets' events in one row. */
const COVER_INTERVALS: readonly Interval[] = ['DAY', 'HOUR', 'MINUTE'];

/**
 * The MINUTE-aligned range [from, to) cut into the coarsest aligned blocks: whole UTC days as DAY
 * buckets, whole hours left at the edges as HOUR buckets, the rest as MINUTE buckets. Every
 * interval's rollups hold the same events, so merging these rows gives exactly what merging
 * every MINUTE bucket of the range would, from far fewer rows (31 days: about 200 rows per
 * dimension combination instead of 44,640).
 */
export function coarsestCover(from: number, to: number, intervals: readonly Interval[] = COVER_INTERVALS): BucketBlock[] {
  if (to <= from) return [];
  const [interval, ...finer] = intervals;
  if (finer.length === 0) return [{ interval: interval!, from, to }];
  const size = INTERVAL_MS[interval!];
  const innerFrom = Math.ceil(from / size) * size;
  const innerTo = Math.floor(to / size) * size;
  if (innerFrom >= innerTo) return coarsestCover(from, to, finer);
  return [
    ...coarsestCover(from, innerFrom, finer),
    { interval: interval!, from: innerFrom, to: innerTo },
    ...coarsestCover(innerTo, to, finer),
  ];
}
