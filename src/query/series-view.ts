/** Shaping rollup rows into series, points and top lists. Pure. */
import { dimensionOf, matchesDimensions, type DimensionValue } from '../domain/event.ts';
import { matchesConditions, type DimensionCondition } from '../domain/dimension-conditions.ts';
import { bucketCountBetween, bucketStartsBetween, type Interval } from '../domain/interval.ts';
import type { RollupRow } from '../ports/series-store.ts';
import { isFinal } from '../stream/event-time.ts';
import { emptyAggregate, mergeSelected, pointStats, valueSum, type Aggregate, type PointStats } from '../domain/rollup.ts';

export interface SeriesShape {
  value?: string | null;
  interval: Interval;
  groupBy?: string | null;
  dimensions?: Record<string, DimensionValue> | null;
  /** ANDed with `dimensions`: each row carries its dimension combination, which the conditions test. */
  where?: readonly DimensionCondition[] | null;
}

export interface PointView extends PointStats {
  start: number;
  final: boolean;
}

export interface SeriesView {
  group: string | null;
  points: PointView[];
}

export interface Finality {
  watermark: number | null;
  allowedLatenessMs: number;
}

/**
 * Merges the rows that pass the filter into one aggregate per (group, bucket start). A bucket
 * with a single row keeps that row's aggregate as it is (read-only here): copying it into an
 * empty aggregate would copy its sketch, and at fine intervals most buckets hold one row.
 */
export function aggregateByGroup(rows: readonly RollupRow[], shape: SeriesShape): Map<string | null, Map<number, Aggregate>> {
  const valueKey = shape.value ?? null;
  const groups = new Map<string | null, Map<number, Aggregate>>();
  /** The aggregates made here, which later rows may merge into; the others belong to a row. */
  const owned = new Set<Aggregate>();
  for (const row of rows) {
    if (!matchesDimensions(row.dimensions, shape.dimensions) || !matchesConditions(row.dimensions, shape.where)) continue;
    const group = shape.groupBy ? (dimensionOf(row.dimensions, shape.groupBy) ?? null) : null;
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
      mergeSelected(merged, existing, valueKey);
      owned.add(merged);
      buckets.set(row.bucketStart, merged);
    }
    mergeSelected(merged, row.aggregate, valueKey);
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
    final: isFinal(start, shape.interval, finality.watermark, finality.allowedLatenessMs),
  };
}

/** Groups sort by their value, and events without the groupBy dimension come last (group null). */
function compareGroups(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

/**
 * One series per group (a single series with group null when not grouping), points ordered by
 * start. With `fill`, every bucket overlapping [from, to) is present, empty ones with count 0.
 */
export function buildSeries(
  rows: readonly RollupRow[],
  shape: SeriesShape & { from: number; to: number; fill?: boolean | null },
  finality: Finality,
  /** Told the size of the answer before any point is built; throws to refuse it. */
  checkSize: (size: { groups: number; points: number }) => void = () => {},
): SeriesView[] {
  const groups = aggregateByGroup(rows, shape);
  if (!shape.groupBy && groups.size === 0) groups.set(null, new Map());
  let points = 0;
  if (shape.fill) points = groups.size * bucketCountBetween(shape.from, shape.to, shape.interval);
  else for (const buckets of groups.values()) points += buckets.size;
  checkSize({ groups: groups.size, points });
  const allStarts = shape.fill ? bucketStartsBetween(shape.from, shape.to, shape.interval) : null;
  return [...groups.keys()].sort(compareGroups).map((group) => {
    const buckets = groups.get(group)!;
    const starts = allStarts ?? [...buckets.keys()].sort((a, b) => a - b);
    return {
      group,
      points: starts.map((start) => toPoint(start, buckets.get(start) ?? emptyAggregate(), shape, finality)),
    };
  });
}

export interface TopEntryView {
  key: string;
  count: number;
  sum: number | null;
}

/** Ranks the values of dimension `by` by event count, or by the sum of `value` when given. */
export function buildTop(
  rows: readonly RollupRow[],
  query: {
    by: string;
    value?: string | null;
    dimensions?: Record<string, DimensionValue> | null;
    where?: readonly DimensionCondition[] | null;
    limit: number;
  },
): TopEntryView[] {
  const shape = {
    interval: 'MINUTE' as const,
    value: query.value ?? null,
    groupBy: query.by,
    dimensions: query.dimensions ?? null,
    where: query.where ?? null,
  };
  const totals = aggregateByGroup(rows, shape);
  const entries: TopEntryView[] = [];
  for (const [key, buckets] of totals) {
    if (key === null) continue;
    const total = emptyAggregate();
    for (const aggregate of buckets.values()) mergeSelected(total, aggregate, shape.value);
    const stats = query.value ? total.values.get(query.value) : undefined;
    entries.push({ key, count: total.count, sum: stats ? valueSum(stats) : null });
  }
  const rank = query.value ? (e: TopEntryView) => e.sum ?? -Infinity : (e: TopEntryView) => e.count;
  entries.sort((a, b) => rank(b) - rank(a) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return entries.slice(0, query.limit);
}
