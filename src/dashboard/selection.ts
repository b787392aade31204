/**
 * What the user looks at (type, value, measure, interval, groupBy), kept in the page's URL so a
 * view can be reloaded, bookmarked and shared; and the API key, kept in localStorage.
 */
import { INTERVALS, type Interval } from '../domain/interval.ts';
import type { Measure } from './series-data.ts';

export interface Selection {
  type: string | null;
  /** A value key; null: counts only. */
  value: string | null;
  measure: Measure;
  interval: Interval;
  groupBy: string | null;
}

const MEASURES: readonly Measure[] = ['count', 'sum', 'avg'];

/** How far back the chart looks: a few hundred buckets at most, whatever the interval. */
export const WINDOW_MS: Record<Interval, number> = {
  SECOND: 15 * 60_000,
  MINUTE: 6 * 3_600_000,
  HOUR: 7 * 86_400_000,
  // 30 days: inside the 31 days the `top` query allows, so the table covers what the chart shows.
  DAY: 30 * 86_400_000,
};

export const WINDOW_LABEL: Record<Interval, string> = {
  SECOND: 'last 15 minutes, per second',
  MINUTE: 'last 6 hours, per minute',
  HOUR: 'last 7 days, per hour',
  DAY: 'last 30 days, per day',
};

export function selectionFromUrl(search: string): Selection {
  const params = new URLSearchParams(search);
  const interval = params.get('interval') as Interval | null;
  const measure = params.get('measure') as Measure | null;
  return {
    type: params.get('type') || null,
    value: params.get('value') || null,
    measure: measure && MEASURES.includes(measure) ? measure : 'count',
    interval: interval && INTERVALS.includes(interval) ? interval : 'SECOND',
    groupBy: params.get('groupBy') || null,
  };
}

export function selectionToUrl(selection: Selection): string {
  const params = new URLSearchParams();
  if (selection.type) params.set('type', selection.type);
  if (selection.value) params.set('value', selection.value);
  params.set('measure', selection.measure);
  params.set('interval', selection.interval);
  if (selection.groupBy) params.set('groupBy', selection.groupBy);
  return `?${params}`;
}

const API_KEY_STORAGE = 'streamlens.dashboard.apiKey';

export function loadApiKey(): string | null {
  try {
    return localStorage.getItem(API_KEY_STORAGE) || null;
  } catch {
    // Storage can be disabled (private windows, strict settings): the key then lasts for the page.
    return null;
  }
}

export function saveApiKey(key: string | null): void {
  try {
    if (key) localStorage.setItem(API_KEY_STORAGE, key);
    else localStorage.removeItem(API_KEY_STORAGE);
  } catch {
    // See loadApiKey.
  }
}
