/**
 * Which stored rollup rows serve the buckets a series query asks for, and in which of its
 * buckets each stored row is merged. Pure.
 *
 * Stored rows are SECOND, MINUTE, HOUR and DAY buckets of UTC. A query bucket is served by the
 * coarsest stored buckets that fit inside it, merged at query time, never from raw events:
 * - SECOND, MINUTE, HOUR, and DAY in UTC: their own rows;
 * - FIVE_MINUTES, FIFTEEN_MINUTES: MINUTE rows (they align to the hour, which every zone in use
 *   today keeps on a quarter hour of UTC, so the zone does not move them);
 * - DAY in another zone, WEEK and MONTH: each bucket cut into whole UTC days (DAY rows), whole
 *   hours (HOUR rows) and, where the bucket starts off the hour, minutes (MINUTE rows). So a
 *   zone whose offsets are whole hours over the range reads no MINUTE row, a half- or
 *   quarter-hour zone (Asia/Kolkata, Asia/Kathmandu) reads an hour of MINUTE rows around each
 *   bucket boundary, and a UTC week or month reads DAY rows.
 */
import {
  calendarBucketStartsBetween,
  canonicalTimeZone,
  isWholeMinute,
  MAX_TIME_ZONE_LENGTH,
  nextCalendarBucketStart,
  type CalendarUnit,
} from '../domain/calendar.ts';
import { coarsestCover, INTERVAL_MS, type BucketBlock, type Interval, type QueryInterval } from '../domain/interval.ts';
import { badInput } from '../errors.ts';

/** The query buckets of a series query and the stored rows that make them. */
export interface BucketPlan {
  /** Every query bucket that overlaps [from, to), in order. */
  starts: number[];
  /** The stored rows to read; those `keeps` refuses are dropped, the others lie inside one query bucket each. */
  reads: BucketBlock[];
  /** How many stored buckets `reads` span, per dimension combination: what the query may merge. */
  mergedBuckets: number;
  /** The start of the query bucket that holds a stored bucket starting at `storedStart`. */
  bucketOf(storedStart: number): number;
  /** The end (exclusive) of the query bucket starting at `start`. */
  endOf(start: number): number;
  /** False for a stored bucket that straddles a query bucket boundary: finer rows cover it. */
  keeps(interval: Interval, storedStart: number): boolean;
}

/** Query intervals of one fixed length, aligned to the UTC epoch (so to the hour). */
const FIXED_MS: Partial<Record<QueryInterval, number>> = {
  SECOND: INTERVAL_MS.SECOND,
  MINUTE: INTERVAL_MS.MINUTE,
  FIVE_MINUTES: 5 * INTERVAL_MS.MINUTE,
  FIFTEEN_MINUTES: 15 * INTERVAL_MS.MINUTE,
  HOUR: INTERVAL_MS.HOUR,
};

/** The stored interval a fixed query interval is merged from. */
const FIXED_SOURCE: Partial<Record<QueryInterval, Interval>> = {
  SECOND: 'SECOND',
  MINUTE: 'MINUTE',
  FIVE_MINUTES: 'MINUTE',
  FIFTEEN_MINUTES: 'MINUTE',
  HOUR: 'HOUR',
};

const storedBucketsIn = (block: BucketBlock) => (block.to - block.from) / INTERVAL_MS[block.interval];

/**
 * Joins blocks of the same interval that touch or are one stored bucket apart, so that one read
 * serves a run of buckets. A stored bucket in such a gap is covered by finer blocks because it
 * straddles a query bucket boundary (coarsestCover uses the coarse interval wherever a whole
 * bucket fits): it is read and dropped (BucketPlan.keeps). In a half-hour zone this reads HOUR rows
 * once for the whole range, one row per day and combination more, instead of once per day.
 */
function coalesce(blocks: readonly BucketBlock[]): BucketBlock[] {
  const joined: BucketBlock[] = [];
  const lastOf = new Map<Interval, BucketBlock>();
  for (const block of blocks) {
    const last = lastOf.get(block.interval);
    if (last && block.from - last.to <= INTERVAL_MS[block.interval]) {
      last.to = block.to;
      continue;
    }
    const copy = { ...block };
    joined.push(copy);
    lastOf.set(block.interval, copy);
  }
  return joined;
}

function fixedPlan(size: number, source: Interval, from: number, to: number, maxBuckets: number, interval: QueryInterval): BucketPlan {
  const first = Math.floor(from / size) * size;
  const count = Math.ceil((to - first) / size);
  if (count > maxBuckets) {
    throw badInput(`the range spans ${count} ${interval} buckets; at most ${maxBuckets} per query (use a coarser interval)`);
  }
  const starts = Array.from({ length: count }, (_, index) => first + index * size);
  const read: BucketBlock = { interval: source, from: first, to: first + count * size };
  return {
    starts,
    reads: [read],
    mergedBuckets: storedBucketsIn(read),
    bucketOf: (storedStart) => Math.floor(storedStart / size) * size,
    endOf: (start) => start + size,
    keeps: () => true,
  };
}

/** The largest index whose value is at most `value`, in an increasing array (-1 when none). */
function lastAtOrBefore(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length - 1;
  let found = -1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (sorted[middle]! <= value) {
      found = middle;
      low = middle + 1;
    } else high = middle - 1;
  }
  return found;
}

function calendarPlan(unit: CalendarUnit, timeZone: string, zoneName: string, from: number, to: number, maxBuckets: number): BucketPlan {
  const starts = calendarBucketStartsBetween(from, to, unit, timeZone, maxBuckets);
  if (starts === null) {
    throw badInput(
      `the range spans more than ${maxBuckets} ${unit} buckets in ${zoneName}; at most ${maxBuckets} per query (use a coarser interval)`,
    );
  }
  // Bucket i spans [boundaries[i], boundaries[i + 1]): the last ends where the one after it starts.
  const boundaries = [...starts, nextCalendarBucketStart(starts.at(-1)!, unit, timeZone)];
  const offMinute = boundaries.find((boundary) => !isWholeMinute(boundary));
  if (offMinute !== undefined) {
    // Local mean times before standard time (Africa/Monrovia until 1972: −0:44:30) start days
    // on a second of UTC that no stored bucket ends at.
    throw badInput(
      `in ${zoneName} a ${unit} bucket starts at ${new Date(offMinute).toISOString()}, not on a whole minute: stored rollups cannot be split there`,
    );
  }
  const blocks: BucketBlock[] = [];
  for (let index = 0; index + 1 < boundaries.length; index++) blocks.push(...coarsestCover(boundaries[index]!, boundaries[index + 1]!));
  const reads = coalesce(blocks);
  return {
    starts,
    reads,
    mergedBuckets: reads.reduce((total, block) => total + storedBucketsIn(block), 0),
    bucketOf: (storedStart) => starts[Math.max(0, lastAtOrBefore(starts, storedStart))]!,
    endOf: (start) => boundaries[lastAtOrBefore(starts, start) + 1]!,
    keeps: (interval, storedStart) =>
      lastAtOrBefore(starts, storedStart) === lastAtOrBefore(starts, storedStart + INTERVAL_MS[interval] - 1),
  };
}

/**
 * The plan of a series query over [from, to): `timeZone` is a zone's identity (resolveTimeZone's
 * `id`), `zoneName` how the caller spelled it, for messages. Throws BAD_USER_INPUT when the range
 * spans more than `maxBuckets` buckets.
 */
export function planBuckets(
  request: { interval: QueryInterval; timeZone: string; zoneName?: string; from: number; to: number },
  maxBuckets: number,
): BucketPlan {
  const { interval, timeZone, from, to } = request;
  const size = FIXED_MS[interval];
  if (size !== undefined) return fixedPlan(size, FIXED_SOURCE[interval]!, from, to, maxBuckets, interval);
  // UTC days are DAY rows: the stored interval itself, as before time zones existed.
  if (interval === 'DAY' && timeZone === 'UTC') return fixedPlan(INTERVAL_MS.DAY, 'DAY', from, to, maxBuckets, interval);
  return calendarPlan(interval as CalendarUnit, timeZone, request.zoneName ?? timeZone, from, to, maxBuckets);
}

/** A time zone as a query names it, and its identity. */
export interface ResolvedTimeZone {
  /** As the caller wrote it ("UTC" when absent): what messages say. */
  name: string;
  /**
   * The platform's identity of the zone: every spelling and alias of a zone has the same one
   * ("asia/kolkata", "Asia/Kolkata" and "Asia/Calcutta" are "Asia/Calcutta" in Node's ICU), so
   * they share cached answers.
   */
  id: string;
}

/**
 * The zone `timeZone` names (default "UTC"), or BAD_USER_INPUT naming `path`. An unknown name,
 * an offset ("+05:30"), an empty or over-long string and lone surrogates are all refused: the
 * message quotes at most 64 characters of it, made well-formed.
 */
export function resolveTimeZone(timeZone: string | null | undefined, path: string): ResolvedTimeZone {
  if (timeZone === null || timeZone === undefined) return { name: 'UTC', id: 'UTC' };
  const id = canonicalTimeZone(timeZone);
  if (id === null) {
    throw badInput(
      `${path}: "${timeZone.slice(0, MAX_TIME_ZONE_LENGTH).toWellFormed()}" is not a known IANA time zone name (for example "UTC", "America/New_York", "Asia/Kolkata")`,
    );
  }
  return { name: timeZone, id };
}
