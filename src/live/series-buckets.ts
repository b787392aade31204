/**
 * The buckets a live series follows, for every query interval: which stored bucket (of which
 * bus topic) changes which of its buckets, where each of its buckets ends, and which stored rows
 * make the buckets of a range. Pure.
 *
 * A stored interval (SECOND, MINUTE, HOUR, and DAY in UTC) follows its own rows and topic. The
 * merged intervals (FIVE_MINUTES, FIFTEEN_MINUTES, DAY in another zone, WEEK, MONTH) follow the
 * MINUTE topic: every counted event changes a row of every stored interval (stream/rollup-plan.ts),
 * so a MINUTE message names every change, and a minute lies inside exactly one bucket of each of
 * them (bucket-plan.ts: they all start on a whole minute). Their points are merged from the rows
 * bucket-plan.ts chooses, exactly as the series query merges them.
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
  /** The stored interval whose bus topic announces the changes. */
  topicInterval: Interval;
  /** True when the rows read are the buckets themselves (no merge). */
  stored: boolean;
  /**
   * True when a bucket is made of rows of `topicInterval` only (a stored interval, or FIVE_ and
   * FIFTEEN_MINUTES of MINUTE rows), so the rows the topic's messages carry are all a feed needs
   * to keep a bucket's total in memory. Calendar intervals mix DAY, HOUR and MINUTE rows.
   */
  madeOfTopicRows: boolean;
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

function fixed(interval: QueryInterval, size: number, source: Interval): LiveBuckets {
  const startOf = (time: number) => Math.floor(time / size) * size;
  return {
    topicInterval: source,
    stored: interval === source,
    madeOfTopicRows: true,
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
  return {
    topicInterval: 'MINUTE',
    stored: false,
    madeOfTopicRows: false,
    startOf(time) {
      if (time >= lastStart && time < lastEnd) return lastStart;
      const start = calendarBucketStart(time, unit, timeZone);
      lastStart = start;
      lastEnd = nextCalendarBucketStart(start, unit, timeZone);
      return start;
    },
    endOf: (start) => (start === lastStart ? lastEnd : nextCalendarBucketStart(start, unit, timeZone)),
    plan(from, to, maxBuckets) {
      const plan = planBuckets({ interval, timeZone, zoneName, from, to }, maxBuckets);
      return { reads: plan.reads, keeps: (rowInterval, storedStart) => plan.keeps(rowInterval, storedStart) };
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
