/**
 * The buckets a live series follows, for every query interval: which stored bucket (of which
 * bus topic) changes which of its buckets, where each of its buckets ends, and which stored rows
 * make the buckets of a range. Pure.
 *
 * A stored interval (SECOND, MINUTE, HOUR, and DAY in UTC) follows its own rows and topic.
 * FIVE_MINUTES and FIFTEEN_MINUTES are made of MINUTE rows and follow the MINUTE topic. The
 * calendar intervals (DAY in another zone, WEEK, MONTH) are made of DAY, HOUR and MINUTE rows
 * (bucket-plan.ts: each bucket cut into the coarsest stored buckets that fit) and follow those
 * three topics: every counted event changes a row of every stored interval at once
 * (stream/rollup-plan.ts), and the stored buckets a calendar bucket is made of cover it exactly,
 * so each change comes as a row of exactly one of them, on its topic (`madeOf`); the rows of the
 * other topics that lie in the bucket say the same change again and are passed over. Points are
 * merged from the rows bucket-plan.ts chooses, exactly as the series query merges them.
 */
import { calendarBucketStart, nextCalendarBucketStart, type CalendarUnit } from '../domain/calendar.ts';
import { INTERVAL_MS, isStoredInterval, type BucketBlock, type Interval, type QueryInterval } from '../domain/interval.ts';
import { planBuckets } from '../query/bucket-plan.ts';

/** The stored rows that make the buckets of a range, and where each row counts. */
export interface LiveReadPlan {
  reads: BucketBlock[];
  /** False for a stored row that straddles a bucket boundary: finer rows cover it. */
  keeps(interval: Interval, storedStart: number): boolean;
}

export interface LiveBuckets {
  /** The finest stored interval the buckets are made of: a search for changed rows descends to it. */
  topicInterval: Interval;
  /** The stored intervals whose bus topics a feed follows: those its buckets are made of. */
  followedIntervals: readonly Interval[];
  /** True when the rows read are the buckets themselves (no merge). */
  stored: boolean;
  /**
   * Whether the stored row of `interval` starting at `storedStart` is one of the rows its bucket
   * is made of (the rows the series query merges into it). Null when that bucket cannot be made
   * of stored rows at all (a zone whose bucket starts off a whole minute): reading it says why.
   */
  madeOf(interval: Interval, storedStart: number): boolean | null;
  /** The start of the bucket that holds `time` (a stored bucket's start, or any instant). */
  startOf(time: number): number;
  /** The end (exclusive) of the bucket starting at `start`. */
  endOf(start: number): number;
  /** The rows to read for every bucket that overlaps [from, to); throws BAD_USER_INPUT past `maxBuckets`. */
  plan(from: number, to: number, maxBuckets: number): LiveReadPlan;
}

/** Fixed-length merged intervals, aligned to the UTC epoch (so to the hour), all made of MINUTE rows. */
const FIXED_MERGED_MS: Partial<Record<QueryInterval, number>> = {
  FIVE_MINUTES: 5 * INTERVAL_MS.MINUTE,
  FIFTEEN_MINUTES: 15 * INTERVAL_MS.MINUTE,
};

/**
 * The stored intervals a calendar bucket can be made of (bucket-plan.ts): its boundaries lie on
 * whole minutes, so no SECOND row is ever needed.
 */
const CALENDAR_ROW_INTERVALS: readonly Interval[] = ['DAY', 'HOUR', 'MINUTE'];

function fixed(interval: QueryInterval, size: number, source: Interval): LiveBuckets {
  const startOf = (time: number) => Math.floor(time / size) * size;
  return {
    topicInterval: source,
    followedIntervals: [source],
    stored: interval === source,
    madeOf: (rowInterval) => rowInterval === source,
    startOf,
    endOf: (start) => start + size,
    plan(from, to, maxBuckets) {
      const first = startOf(from);
      const count = Math.ceil((to - first) / size);
      // Too many: the series query's own refusal, with its message (these intervals ignore the zone).
      if (count > maxBuckets) planBuckets({ interval, timeZone: 'UTC', from, to }, maxBuckets);
      return { reads: count > 0 ? [{ interval: source, from: first, to: first + count * size }] : [], keeps: () => true };
    },
  };
}

/**
 * The buckets of `interval` in the zone `timeZone` (a resolved zone id, bucket-plan.ts
 * resolveTimeZone); `zoneName` as the caller spelled it, for messages.
 */
export function liveBucketsOf(interval: QueryInterval, timeZone: string, zoneName: string = timeZone): LiveBuckets {
  if (isStoredInterval(interval) && (interval !== 'DAY' || timeZone === 'UTC')) return fixed(interval, INTERVAL_MS[interval], interval);
  const mergedSize = FIXED_MERGED_MS[interval];
  if (mergedSize !== undefined) return fixed(interval, mergedSize, 'MINUTE');
  const unit = interval as CalendarUnit;
  /** The last bucket asked for: consecutive minutes of a message nearly always lie in the same one. */
  let lastStart = Number.NaN;
  let lastEnd = Number.NaN;
  /** The plan of the last bucket `madeOf` was asked about (null: it has none), for the same reason. */
  let plannedStart = Number.NaN;
  let plannedBucket: LiveReadPlan | null = null;
  const startOf = (time: number) => {
    if (time >= lastStart && time < lastEnd) return lastStart;
    const start = calendarBucketStart(time, unit, timeZone);
    lastStart = start;
    lastEnd = nextCalendarBucketStart(start, unit, timeZone);
    return start;
  };
  const plan = (from: number, to: number, maxBuckets: number): LiveReadPlan => {
    const bucketPlan = planBuckets({ interval, timeZone, zoneName, from, to }, maxBuckets);
    return { reads: bucketPlan.reads, keeps: (rowInterval, storedStart) => bucketPlan.keeps(rowInterval, storedStart) };
  };
  return {
    topicInterval: 'MINUTE',
    followedIntervals: CALENDAR_ROW_INTERVALS,
    stored: false,
    startOf,
    endOf: (start) => (start === lastStart ? lastEnd : nextCalendarBucketStart(start, unit, timeZone)),
    plan,
    madeOf(rowInterval, storedStart) {
      const start = startOf(storedStart);
      if (start !== plannedStart) {
        plannedStart = start;
        try {
          // The very rows a read of this one bucket keeps (live-series.ts readBuckets).
          plannedBucket = plan(start, start + 1, Number.POSITIVE_INFINITY);
        } catch {
          plannedBucket = null;
        }
      }
      if (plannedBucket === null) return null;
      return (
        plannedBucket.keeps(rowInterval, storedStart) &&
        plannedBucket.reads.some((block) => block.interval === rowInterval && storedStart >= block.from && storedStart < block.to)
      );
    },
  };
}

/**
 * The bucket starts as runs of touching buckets, [from, to) each, in order: one read per run.
 * `size` is a fixed bucket length, or the buckets whose ends say where each one stops.
 */
export function runsOf(starts: ReadonlySet<number>, size: number | Pick<LiveBuckets, 'endOf'>): [number, number][] {
  const endOf = typeof size === 'number' ? (start: number) => start + size : size.endOf;
  const runs: [number, number][] = [];
  for (const start of [...starts].sort((a, b) => a - b)) {
    const last = runs.at(-1);
    if (last && last[1] === start) last[1] = endOf(start);
    else runs.push([start, endOf(start)]);
  }
  return runs;
}
