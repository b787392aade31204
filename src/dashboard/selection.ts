/**
 * What the user looks at (type, value, measure, interval, up to two group-by dimensions, one
 * filter, a time zone), kept in the page's URL so a view can be reloaded, bookmarked and shared.
 * (The API key or access token is kept apart, by access.ts.)
 */
import { INTERVALS, type Interval } from '../domain/interval.ts';
import type { Measure } from './series-data.ts';

/** The filter row's operators: the `where` operators, with `exists` split into its two answers. */
export const FILTER_OPERATORS = ['eq', 'neq', 'in', 'notIn', 'exists', 'absent'] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];

/** One condition on a dimension, as the filter row shows it. */
export interface Filter {
  key: string;
  operator: FilterOperator;
  /** As typed: one value, or several separated by commas for `in` and `notIn`; unused by exists/absent. */
  text: string;
}

export interface Selection {
  type: string | null;
  /** A value key; null: counts only. */
  value: string | null;
  measure: Measure;
  interval: Interval;
  groupBy: string | null;
  /** A second dimension to group by, with `groupBy` (→ `groupByDimensions`); only set when `groupBy` is. */
  secondGroupBy: string | null;
  /** null: no filter. */
  filter: Filter | null;
  /** An IANA zone: where DAY buckets start. */
  timeZone: string;
}

/**
 * The key of `EventInput.distinct` the "unique users" measure counts. The demo (scripts/demo.ts)
 * sends it; the event catalog does not list distinct keys, so the page names the usual one.
 */
export const DISTINCT_KEY = 'user';

const MEASURES: readonly Measure[] = ['count', 'sum', 'avg', 'distinct'];

/** How far back the chart looks: a few hundred buckets at most, whatever the interval. */
export const WINDOW_MS: Record<Interval, number> = {
  SECOND: 15 * 60_000,
  MINUTE: 6 * 3_600_000,
  HOUR: 7 * 86_400_000,
  DAY: 30 * 86_400_000,
};

/**
 * The top table's sliding window (a `top` subscription's `window`, over MINUTE buckets): the
 * chart's window where the live ranking allows it. A live ranking follows at most 7 days (longer
 * ranges are the `top` query's), so the DAY view ranks the last 7 of its 30 days.
 */
export const TOP_WINDOW: Record<Interval, { window: string; label: string }> = {
  SECOND: { window: '15m', label: 'last 15 minutes, as the chart' },
  MINUTE: { window: '6h', label: 'last 6 hours, as the chart' },
  HOUR: { window: '7d', label: 'last 7 days, as the chart' },
  DAY: { window: '7d', label: 'last 7 days' },
};

export const WINDOW_LABEL: Record<Interval, string> = {
  SECOND: 'last 15 minutes, per second',
  MINUTE: 'last 6 hours, per minute',
  HOUR: 'last 7 days, per hour',
  DAY: 'last 30 days, per day',
};

/** The measures that need a value key: the others count events or users. */
export function measureNeedsValue(measure: Measure): boolean {
  return measure === 'sum' || measure === 'avg';
}

/** The values a filter's text names: `in` and `notIn` take a comma-separated list, blanks dropped. */
export function filterValues(filter: Filter): string[] {
  if (filter.operator === 'in' || filter.operator === 'notIn') {
    return filter.text
      .split(',')
      .map((value) => value.trim())
      .filter((value) => value !== '');
  }
  return [filter.text.trim()];
}

/** One `DimensionCondition`: exactly one operator set. */
export type Condition =
  | { key: string; eq: string }
  | { key: string; neq: string }
  | { key: string; in: string[] }
  | { key: string; notIn: string[] }
  | { key: string; exists: boolean };

/**
 * The `where` argument for the filter row: null while the row is unset or incomplete (no key,
 * or no value for an operator that compares), so a half-typed filter never hides everything.
 */
export function whereOf(filter: Filter | null): Condition[] | null {
  if (!filter || !filter.key) return null;
  const { key, operator } = filter;
  if (operator === 'exists') return [{ key, exists: true }];
  if (operator === 'absent') return [{ key, exists: false }];
  const values = filterValues(filter);
  if (values.length === 0 || values[0] === '') return null;
  if (operator === 'in') return [{ key, in: values }];
  if (operator === 'notIn') return [{ key, notIn: values }];
  if (operator === 'eq') return [{ key, eq: values[0]! }];
  return [{ key, neq: values[0]! }];
}

/** The grouping arguments of a series query: `groupBy` for one dimension, `groupByDimensions` for two. */
export function groupingOf(selection: Pick<Selection, 'groupBy' | 'secondGroupBy'>): {
  groupBy: string | null;
  groupByDimensions: string[] | null;
} {
  if (selection.groupBy && selection.secondGroupBy) {
    return { groupBy: null, groupByDimensions: [selection.groupBy, selection.secondGroupBy] };
  }
  return { groupBy: selection.groupBy, groupByDimensions: null };
}

/** `browserZone` is the default: a URL without `timeZone` shows the viewer's own days. */
export function selectionFromUrl(search: string, browserZone: string, isKnownZone: (zone: string) => boolean): Selection {
  const params = new URLSearchParams(search);
  const interval = params.get('interval') as Interval | null;
  const measure = params.get('measure') as Measure | null;
  const groupBy = params.get('groupBy') || null;
  const filterKey = params.get('filterKey') || null;
  const filterOperator = params.get('filterOp') as FilterOperator | null;
  const timeZone = params.get('timeZone');
  return {
    type: params.get('type') || null,
    value: params.get('value') || null,
    measure: measure && MEASURES.includes(measure) ? measure : 'count',
    interval: interval && INTERVALS.includes(interval) ? interval : 'SECOND',
    groupBy,
    secondGroupBy: groupBy ? params.get('groupBy2') || null : null,
    filter: filterKey
      ? {
          key: filterKey,
          operator: filterOperator && FILTER_OPERATORS.includes(filterOperator) ? filterOperator : 'eq',
          text: params.get('filterValue') ?? '',
        }
      : null,
    timeZone: timeZone && isKnownZone(timeZone) ? timeZone : browserZone,
  };
}

export function selectionToUrl(selection: Selection, browserZone: string): string {
  const params = new URLSearchParams();
  if (selection.type) params.set('type', selection.type);
  if (selection.value) params.set('value', selection.value);
  params.set('measure', selection.measure);
  params.set('interval', selection.interval);
  if (selection.groupBy) params.set('groupBy', selection.groupBy);
  if (selection.secondGroupBy) params.set('groupBy2', selection.secondGroupBy);
  if (selection.filter) {
    params.set('filterKey', selection.filter.key);
    params.set('filterOp', selection.filter.operator);
    if (selection.filter.text) params.set('filterValue', selection.filter.text);
  }
  // Only a zone other than the viewer's own is part of the view: a shared link then shows each
  // viewer their own days unless the sender picked a zone on purpose.
  if (selection.timeZone !== browserZone) params.set('timeZone', selection.timeZone);
  return `?${params}`;
}
