/** Event-time windows: the four rollup intervals and how a time maps to its bucket. */

export const INTERVALS = ['SECOND', 'MINUTE', 'HOUR', 'DAY'] as const;
export type Interval = (typeof INTERVALS)[number];

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
