/**
 * How much work one query may do, checked before the work is done, so that no single request
 * can hold the event loop or grow memory without bound. Pure: no I/O.
 *
 * - `points`: points of a series answer (groups × buckets with `fill`, the non-empty
 *   (group, bucket) pairs without), counted before any point is built;
 * - `rows`: rollup rows read from the series store; the store read itself stops past the
 *   limit, so no adapter materialises an unbounded result;
 * - `groups`: series of one answer (distinct `groupBy` values, or distinct combinations of the
 *   `groupByDimensions` values), and groups one bucket of a live series subscription updates at once;
 * - `types`: event types of one `eventTypes` answer;
 * - `conditions` and `values`: the conditions of one `where`, and the values of one
 *   `in` / `notIn` list (fixed, see MAX_WHERE_CONDITIONS);
 * - `mergedBuckets`: stored buckets one series query merges into its points (FIVE_MINUTES …
 *   MONTH, and days in a time zone, are merged from stored MINUTE, HOUR and DAY rows), counted
 *   per dimension combination from the range alone, before anything is read.
 *
 * Points, rows and merged buckets are a budget per operation (every alias of it draws from the
 * same budget), so aliasing a query thirty times does not multiply what one request may cost.
 */
import { StreamlensError } from '../errors.ts';

export interface QueryLimits {
  /** Most series points one operation may answer. */
  maxSeriesPoints: number;
  /** Most rollup rows one operation may read from the series store. */
  maxRowsRead: number;
  /** Most groups of one series answer, and of one bucket's live update. */
  maxSeriesGroups: number;
  /** Most event types one `eventTypes` answer may hold. */
  maxEventTypes: number;
  /** Most stored buckets (per dimension combination) one series query may merge into its points. */
  maxMergedBuckets: number;
}

/**
 * Generous for honest use, far below what freezes the service (measured on a shared two-core
 * machine, embedded; a freeze is the time the event loop is held):
 * - points: 100,000 is ten series of 10,000 buckets, or a month of HOUR buckets (744) for 134
 *   groups; it took 0.5–1.1 s and +85 MB, where the 10 million points took 49 s and 4.4 GB;
 * - rows: 50,000 is a month of HOUR buckets for 67 dimension combinations (a type's events share
 *   one log partition, so one row per bucket and combination); 100,000 rows merged into one
 *   point took 3.5 s;
 * - groups: 1,000 series are far more than a chart or a table can show;
 * - types: 1,000 types; a tenant with more names the ones it wants (`eventTypes(types: …)`);
 * - merged buckets: 100,000, twice the rows limit: a plan over more stored buckets fits the rows
 *   budget only if most of them are empty, and its store reads grow with it (a half-hour zone
 *   reads once per day). It allows 69 days of FIFTEEN_MINUTES points (15 MINUTE buckets each),
 *   11 years of DAY in a whole-hour zone (24 HOUR buckets a day), 3.3 years of DAY in
 *   Asia/Kathmandu (84 a day: 24 HOUR rows and an hour of MINUTE rows around each local midnight).
 */
export const DEFAULT_QUERY_LIMITS: QueryLimits = {
  maxSeriesPoints: 100_000,
  maxRowsRead: 50_000,
  maxSeriesGroups: 1_000,
  maxEventTypes: 1_000,
  maxMergedBuckets: 100_000,
};

/**
 * Conditions one `where` may hold. A `where` is written by hand or by a filter row of a dashboard,
 * where a handful is usual. Every condition is tested on every event a filtered `events` page
 * examines (up to MAX_ROWS_READ, on the service's thread with the embedded store) and on every
 * rollup row a series reads. Measured on the shared two-core machine under load (embedded, a page
 * examining 50,000 events, none matching): one condition 0.3–0.6 s, as a one-key `dimensions`
 * filter; 10 conditions (nine `notIn` lists of 100 values) 0.6–1.4 s; 20 conditions 1.5–2.4 s,
 * about five times one, the same order as the largest series answer the points limit allows.
 */
export const MAX_WHERE_CONDITIONS = 20;
/**
 * Values one `in` or `notIn` list may hold. Lists are matched through a set (SQLite, MongoDB and
 * the in-process matcher alike), so the cost is in parsing and binding them: 20 × 100 values is
 * a few thousand parameters, far below SQLite's 32,766 per statement. A longer list is usually a
 * join that belongs in a dimension (a segment) rather than in a filter.
 */
export const MAX_CONDITION_VALUES = 100;

export type QuerySizeMeasure = 'points' | 'rows' | 'groups' | 'types' | 'conditions' | 'values' | 'mergedBuckets';

/** What a client can do to fit under each limit. */
const ADVICE: Record<QuerySizeMeasure, string> = {
  points: 'use a shorter range, a coarser interval, a dimensions filter, or fill: false',
  rows: 'use a shorter range, a coarser interval, or a dimensions filter',
  groups: 'group by fewer dimensions or ones with fewer values, or filter with dimensions',
  types: 'name the types you want with eventTypes(types: [...])',
  conditions: 'combine conditions on the same key into one in or notIn list',
  values: 'use fewer values, or a notIn list of the values to leave out',
  mergedBuckets: 'use a shorter range, or timeZone "UTC" or a zone whose offset is whole hours',
};

/**
 * QUERY_TOO_LARGE, with `extensions.measure` (which limit), `extensions.limit` (its value) and,
 * when known, `extensions.actual`: the same shape as QUERY_TOO_COMPLEX.
 */
export function queryTooLarge(measure: QuerySizeMeasure, limit: number, actual: number | null, what: string): StreamlensError {
  const size = actual === null ? `more than ${limit}` : String(actual);
  return new StreamlensError('QUERY_TOO_LARGE', `${what}: ${size} ${measure}, above the limit of ${limit}; ${ADVICE[measure]}`, {
    details: actual === null ? { measure, limit } : { measure, limit, actual },
  });
}

/** What one operation may still spend; every query field of the operation draws from it. */
export interface QueryBudget {
  readonly limits: QueryLimits;
  /** How many more rows this operation may read. */
  rowsLeft(): number;
  /** How many more points this operation may answer. */
  pointsLeft(): number;
  /**
   * Records rows read; throws QUERY_TOO_LARGE when they go past what was left. A store read
   * asked for `rowsLeft()` returns at most one more, so `actual` is unknown then.
   */
  spendRows(count: number, what: string): void;
  /** Records points about to be built; throws QUERY_TOO_LARGE when they go past what was left. */
  spendPoints(count: number, what: string): void;
  /** Records stored buckets a series query plans to merge, before it reads; throws QUERY_TOO_LARGE past what was left. */
  spendMergedBuckets(count: number, what: string): void;
}

export function createQueryBudget(limits: QueryLimits): QueryBudget {
  let rowsRead = 0;
  let points = 0;
  let mergedBuckets = 0;
  return {
    limits,
    rowsLeft: () => Math.max(0, limits.maxRowsRead - rowsRead),
    pointsLeft: () => Math.max(0, limits.maxSeriesPoints - points),
    spendRows(count, what) {
      if (rowsRead + count > limits.maxRowsRead) throw queryTooLarge('rows', limits.maxRowsRead, null, what);
      rowsRead += count;
    },
    spendPoints(count, what) {
      if (points + count > limits.maxSeriesPoints) throw queryTooLarge('points', limits.maxSeriesPoints, points + count, what);
      points += count;
    },
    spendMergedBuckets(count, what) {
      if (mergedBuckets + count > limits.maxMergedBuckets) {
        throw queryTooLarge('mergedBuckets', limits.maxMergedBuckets, mergedBuckets + count, what);
      }
      mergedBuckets += count;
    },
  };
}
