/** Shaping rollup rows into series, points and top lists. Pure. */
import { matchesDimensions, type DimensionValue } from '../domain/event.ts';
import { matchesConditions, type DimensionCondition } from '../domain/dimension-conditions.ts';
import { bucketCountBetween, bucketStartsBetween, type Interval } from '../domain/interval.ts';
import type { RollupRow } from '../ports/series-store.ts';
import { isFinal } from '../stream/event-time.ts';
import { distinctCount, emptyAggregate, mergeSelected, pointStats, valueSum, type Aggregate, type PointStats } from '../domain/rollup.ts';
import { compareGroupValues, groupIdOf, groupingKeys, groupKeyObject, groupLabel, groupValues, type GroupId } from './grouping.ts';

/** The buckets of a query whose interval is not a stored one (bucket-plan.ts): stored rows are merged into them. */
export interface QueryBuckets {
  /** Every bucket of the range, in order. */
  starts: readonly number[];
  endOf(start: number): number;
}

export interface SeriesShape {
  value?: string | null;
  /** The stored interval of the rows (when `buckets` is absent, also the answer's). */
  interval: Interval;
  /** Present: the rows' bucketStart is already the query bucket's start, and these are the buckets. */
  buckets?: QueryBuckets;
  groupBy?: string | null;
  /** Keys grouped as a combination (a query's 1 to 3, checked by validateGrouping); when set, groupBy is not read. */
  groupByDimensions?: readonly string[] | null;
  dimensions?: Record<string, DimensionValue> | null;
  /** ANDed with `dimensions`: each row carries its dimension combination, which the conditions test. */
  where?: readonly DimensionCondition[] | null;
  /** A key of the events' `distinct`: points count its different values. */
  distinct?: string | null;
}

export interface PointView extends PointStats {
  start: number;
  final: boolean;
  /**
   * Different values of the shape's distinct key (approximate past SPARSE_LIMIT); absent when
   * none is asked (the schema answers null), so points of other queries keep their shape.
   */
  distinct?: number;
}

export interface SeriesView {
  /** The group's values joined by ", " (see groupLabel); null ungrouped or when every value is absent. */
  group: string | null;
  /** Each grouping key with its value, null where absent; `{}` ungrouped. */
  groupKey: Record<string, string | null>;
  points: PointView[];
}

export interface Finality {
  watermark: number | null;
  allowedLatenessMs: number;
}

/**
 * Merges the rows that pass the filter into one aggregate per (group, bucket start), a group
 * being the rows' values of the grouping keys (GroupId; `[]` when not grouping). A bucket
 * with a single row keeps that row's aggregate as it is (read-only here): copying it into an
 * empty aggregate would copy its sketch, and at fine intervals most buckets hold one row.
 */
export function aggregateByGroup(rows: readonly RollupRow[], shape: SeriesShape): Map<GroupId, Map<number, Aggregate>> {
  const valueKey = shape.value ?? null;
  const distinctKey = shape.distinct ?? null;
  const keys = groupingKeys(shape);
  const groups = new Map<GroupId, Map<number, Aggregate>>();
  /** The aggregates made here, which later rows may merge into; the others belong to a row. */
  const owned = new Set<Aggregate>();
  for (const row of rows) {
    if (!matchesDimensions(row.dimensions, shape.dimensions) || !matchesConditions(row.dimensions, shape.where)) continue;
    const group = groupIdOf(row.dimensions, keys);
    let buckets = groups.get(group);
    if (!buckets) groups.set(group, (buckets = new Map()));
    const existing = buckets.get(row.bucketStart);
    if (!existing) {
      buckets.set(row.bucketStart, row.aggregate);
      continue;
    }
    let merged = existing;
    if (!owned.has(existing)) {
      merged = emptyAggregate();
      mergeSelected(merged, existing, valueKey, distinctKey);
      owned.add(merged);
      buckets.set(row.bucketStart, merged);
    }
    mergeSelected(merged, row.aggregate, valueKey, distinctKey);
  }
  return groups;
}

export function toPoint(start: number, aggregate: Aggregate, shape: SeriesShape, finality: Finality): PointView {
  const stats = pointStats(aggregate, shape.value);
  return {
    start,
    count: stats.count,
    sum: stats.sum,
    min: stats.min,
    max: stats.max,
    avg: stats.avg,
    p50: stats.p50,
    p90: stats.p90,
    p95: stats.p95,
    p99: stats.p99,
    // A merged point is final only when every stored bucket in it is: when its last one, which
    // ends where the point ends, is.
    final: shape.buckets
      ? finality.watermark !== null && finality.watermark >= shape.buckets.endOf(start) + finality.allowedLatenessMs
      : isFinal(start, shape.interval, finality.watermark, finality.allowedLatenessMs),
    ...(shape.distinct ? { distinct: distinctCount(aggregate, shape.distinct)! } : {}),
  };
}

/** What an answer shows of a group: its `group` label and its `groupKey`. */
export function describeGroup(id: GroupId, keys: readonly string[]): { group: string | null; groupKey: Record<string, string | null> } {
  const values = groupValues(id);
  return { group: groupLabel(values), groupKey: groupKeyObject(keys, values) };
}

/**
 * One series per group (a single series with group null when not grouping), ordered by the
 * groups' values (compareGroupValues: first key first, absent values last), points ordered by
 * start. With `fill`, every bucket overlapping [from, to) is present, empty ones with count 0.
 */
export function buildSeries(
  rows: readonly RollupRow[],
  shape: SeriesShape & { from: number; to: number; fill?: boolean | null },
  finality: Finality,
  /** Told the size of the answer before any point is built; throws to refuse it. */
  checkSize: (size: { groups: number; points: number }) => void = () => {},
): SeriesView[] {
  const keys = groupingKeys(shape);
  const groups = aggregateByGroup(rows, shape);
  if (keys.length === 0 && groups.size === 0) groups.set(groupIdOf({}, keys), new Map());
  let points = 0;
  if (shape.fill) points = groups.size * (shape.buckets?.starts.length ?? bucketCountBetween(shape.from, shape.to, shape.interval));
  else for (const buckets of groups.values()) points += buckets.size;
  checkSize({ groups: groups.size, points });
  const allStarts = shape.fill ? (shape.buckets?.starts ?? bucketStartsBetween(shape.from, shape.to, shape.interval)) : null;
  const ordered = [...groups.keys()].map((id) => ({ id, values: groupValues(id) }));
  ordered.sort((a, b) => compareGroupValues(a.values, b.values));
  return ordered.map(({ id, values }) => {
    const buckets = groups.get(id)!;
    const starts = allStarts ?? [...buckets.keys()].sort((a, b) => a - b);
    return {
      group: groupLabel(values),
      groupKey: groupKeyObject(keys, values),
      points: starts.map((start) => toPoint(start, buckets.get(start) ?? emptyAggregate(), shape, finality)),
    };
  });
}

export interface TopEntryView {
  key: string;
  count: number;
  sum: number | null;
  /** Different values of the query's distinct key over the whole range (a union, not a sum); absent when none is asked. */
  distinct?: number;
}

/** What `top` orders by (TopRank). */
export type TopRanking = 'COUNT' | 'SUM' | 'DISTINCT';

/** What a top list ranks, and how: the `top` query's and the live `top` subscription's shape. */
export interface TopShape {
  by: string;
  value?: string | null;
  distinct?: string | null;
  /** Absent: by the sum of `value` when one is named, else by count (as before rankBy existed). */
  rankBy?: TopRanking | null;
  dimensions?: Record<string, DimensionValue> | null;
  where?: readonly DimensionCondition[] | null;
  limit: number;
}

/** The shape aggregateByGroup reads to gather a top list's rows: grouped by `by`. */
export function topGrouping(query: TopShape): SeriesShape {
  return {
    interval: 'MINUTE',
    value: query.value ?? null,
    distinct: query.distinct ?? null,
    groupBy: query.by,
    dimensions: query.dimensions ?? null,
    where: query.where ?? null,
  };
}

/**
 * Adds one stored bucket's aggregate of a group into the group's running total (made here on its
 * first bucket). Totals built by adding each group's buckets in order of start are exactly
 * buildTop's (the same merges in the same order), which lets a live top list keep each bucket's
 * aggregates and add them up again without reading or filtering a row.
 */
export function addToTopTotal(totals: Map<GroupId, Aggregate>, group: GroupId, aggregate: Aggregate, query: TopShape): void {
  let total = totals.get(group);
  if (!total) totals.set(group, (total = emptyAggregate()));
  mergeSelected(total, aggregate, query.value ?? null, query.distinct ?? null);
}

/**
 * Ranks the totals of the values of `by` (GroupId → merged aggregate) by event count, by the sum
 * of `value`, or by the different values of `distinct`, largest first (ties by key); events
 * without `by` are not ranked.
 */
export function rankTop(totals: ReadonlyMap<GroupId, Aggregate>, query: TopShape): TopEntryView[] {
  const distinctKey = query.distinct ?? null;
  const entries: TopEntryView[] = [];
  for (const [id, total] of totals) {
    const [key] = groupValues(id);
    if (key == null) continue;
    const stats = query.value ? total.values.get(query.value) : undefined;
    const entry: TopEntryView = { key, count: total.count, sum: stats ? valueSum(stats) : null };
    if (distinctKey) entry.distinct = distinctCount(total, distinctKey)!;
    entries.push(entry);
  }
  const rankings: Record<TopRanking, (e: TopEntryView) => number> = {
    COUNT: (e) => e.count,
    SUM: (e) => e.sum ?? -Infinity,
    DISTINCT: (e) => e.distinct ?? -Infinity,
  };
  const rank = rankings[query.rankBy ?? (query.value ? 'SUM' : 'COUNT')];
  entries.sort((a, b) => rank(b) - rank(a) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return entries.slice(0, query.limit);
}

/**
 * Ranks the values of dimension `by` by event count, by the sum of `value`, or by the different
 * values of `distinct`, largest first (ties by key). The caller has checked that the ranking's
 * argument is given.
 */
export function buildTop(rows: readonly RollupRow[], query: TopShape): TopEntryView[] {
  const totals = new Map<GroupId, Aggregate>();
  for (const [id, buckets] of aggregateByGroup(rows, topGrouping(query))) {
    // Events without `by` are not ranked: not worth a total.
    if (groupValues(id)[0] == null) continue;
    for (const aggregate of buckets.values()) addToTopTotal(totals, id, aggregate, query);
  }
  return rankTop(totals, query);
}
