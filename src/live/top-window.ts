/**
 * The sliding window of a live `top` subscription, and the stored buckets that cover it. Pure.
 *
 * A window of N minutes ends with the current MINUTE bucket: at a time t it is
 * [end of t's minute − N minutes, end of t's minute), so the minute now filling is in it and the
 * window moves on at every minute boundary. The `top` query reads the MINUTE buckets of a range
 * as whole UTC days and hours where it can (coarsestCover); a live top list holds exactly the
 * stored buckets that query would read for its window, so its answer is the query's, merge for
 * merge, while it holds about 200 stored buckets per dimension combination for a week instead
 * of 10,080 MINUTE ones.
 */
import { badInput } from '../errors.ts';
import { bucketStart, coarsestCover, INTERVAL_MS, type BucketBlock, type Interval } from '../domain/interval.ts';
import type { Aggregate } from '../domain/rollup.ts';
import type { RollupRow } from '../ports/series-store.ts';
import { addToTopTotal, aggregateByGroup, rankTop, topGrouping, type TopEntryView, type TopShape } from '../query/series-view.ts';
import { groupValues, type GroupId } from '../query/grouping.ts';

/**
 * The longest window: a week. A sliding window is for what happens now; a week holds the stored
 * buckets of its coarsest cover (7 DAY, up to 46 HOUR and 118 MINUTE buckets per combination),
 * and a longer range is the `top` query's (up to 31 days), whose settled answers are cached.
 */
export const MAX_TOP_WINDOW_MINUTES = 7 * 24 * 60;
/** The longest `window` text quoted back in an error (a hostile one may be megabytes). */
const QUOTED_WINDOW_LENGTH = 32;

const MINUTES_PER_UNIT: Record<string, number> = { m: 1, h: 60, d: 24 * 60 };

/**
 * The window's length in minutes, from "15m", "24h" or "7d": a whole number of minutes, hours or
 * days, from one minute to MAX_TOP_WINDOW_MINUTES. Anything else ("0s", "-1m", "90s", "1.5h",
 * "1000d", a lone surrogate) is BAD_USER_INPUT naming `path`.
 */
export function parseTopWindow(text: string, path = 'query.window'): number {
  const quoted = JSON.stringify(text.slice(0, QUOTED_WINDOW_LENGTH).toWellFormed());
  const match = /^([1-9][0-9]{0,6})([mhd])$/.exec(text);
  if (!match) {
    throw badInput(`${path}: ${quoted} is not a window; write a whole number of minutes, hours or days, for example "15m", "24h" or "7d"`);
  }
  const minutes = Number(match[1]) * MINUTES_PER_UNIT[match[2]!]!;
  if (minutes > MAX_TOP_WINDOW_MINUTES) {
    throw badInput(`${path}: ${quoted} is longer than a live top list follows (at most 7d); use the top query for a longer range`);
  }
  return minutes;
}

/** A window's MINUTE-aligned bounds, [from, to). */
export interface TopWindow {
  from: number;
  to: number;
}

/** The window of `minutes` at time `now`: it ends where now's minute ends. */
export function windowAt(now: number, minutes: number): TopWindow {
  const to = bucketStart(now, 'MINUTE') + INTERVAL_MS.MINUTE;
  return { from: to - minutes * INTERVAL_MS.MINUTE, to };
}

/** One stored rollup bucket: every row of the type with this interval and start. */
export interface StoredBucket {
  interval: Interval;
  start: number;
}

export function storedBucketKey(bucket: StoredBucket): string {
  return `${bucket.interval}:${bucket.start}`;
}

/** The stored buckets the `top` query reads for the window, in its order (ascending start). */
export interface WindowCover {
  window: TopWindow;
  blocks: BucketBlock[];
  buckets: StoredBucket[];
  /** The keys of `buckets` (storedBucketKey). */
  keys: Set<string>;
}

export function coverOf(window: TopWindow): WindowCover {
  const blocks = coarsestCover(window.from, window.to);
  const buckets: StoredBucket[] = [];
  for (const block of blocks) {
    for (let start = block.from; start < block.to; start += INTERVAL_MS[block.interval]) buckets.push({ interval: block.interval, start });
  }
  return { window, blocks, buckets, keys: new Set(buckets.map(storedBucketKey)) };
}

/**
 * The stored bucket of the cover that holds the MINUTE bucket starting at `minuteStart` (a
 * change of that minute changes it too: every interval's row is written in the same batch), or
 * null when the minute is outside the window.
 */
export function holderOf(cover: WindowCover, minuteStart: number): StoredBucket | null {
  for (const block of cover.blocks) {
    if (minuteStart >= block.from && minuteStart < block.to)
      return { interval: block.interval, start: bucketStart(minuteStart, block.interval) };
  }
  return null;
}

/**
 * The store reads that fetch these buckets: one range per run of consecutive buckets of an
 * interval, so the 59 MINUTE buckets an hour leaving the window splits into cost one read.
 */
export function readsFor(buckets: readonly StoredBucket[]): BucketBlock[] {
  const sorted = [...buckets].sort((a, b) => (a.interval < b.interval ? -1 : a.interval > b.interval ? 1 : a.start - b.start));
  const reads: BucketBlock[] = [];
  for (const bucket of sorted) {
    const size = INTERVAL_MS[bucket.interval];
    const last = reads.at(-1);
    if (last && last.interval === bucket.interval && last.to === bucket.start) last.to += size;
    else if (!(last && last.interval === bucket.interval && bucket.start < last.to)) {
      reads.push({ interval: bucket.interval, from: bucket.start, to: bucket.start + size });
    }
  }
  return reads;
}

/**
 * The rows of one stored bucket as a top list adds them up: one aggregate per value of `by`
 * (rows the filter drops, and events without `by`, are left out). Computed once per change of
 * the bucket's rows, not at every ranking.
 */
export function bucketAggregates(rows: readonly RollupRow[], shape: TopShape): Map<GroupId, Aggregate> {
  const byValue = new Map<GroupId, Aggregate>();
  for (const [group, starts] of aggregateByGroup(rows, topGrouping(shape))) {
    if (groupValues(group)[0] == null) continue;
    // One stored bucket: its rows share one start, so each value has one aggregate.
    for (const aggregate of starts.values()) byValue.set(group, aggregate);
  }
  return byValue;
}

/**
 * Ranks the window from its buckets' aggregates, given in order of start: each value's total adds
 * its buckets in that order, which are exactly buildTop's merges over the same rows (so the same
 * sums to the last bit), without reading or filtering a row.
 */
export function rankBuckets(buckets: Iterable<ReadonlyMap<GroupId, Aggregate>>, shape: TopShape): TopEntryView[] {
  const totals = new Map<GroupId, Aggregate>();
  for (const bucket of buckets) for (const [group, aggregate] of bucket) addToTopTotal(totals, group, aggregate, shape);
  return rankTop(totals, shape);
}
