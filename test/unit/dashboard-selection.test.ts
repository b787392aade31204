/**
 * The dashboard's pure parts for the richer questions: what the filter row, the two group-by
 * fields and the time-zone picker turn into (the API's `where`, `groupBy`/`groupByDimensions`,
 * `timeZone`), how a view round-trips through the URL, and where the chart's days start in a zone.
 */
import { describe, expect, it } from 'vitest';
import { groupingOf, selectionFromUrl, selectionToUrl, whereOf, type Selection } from '../../src/dashboard/selection.ts';
import { bucketGrid } from '../../src/dashboard/series-data.ts';
import { dayStartIn, dayStartsBetween, isKnownTimeZone } from '../../src/dashboard/time-zone.ts';

const iso = (time: number) => new Date(time).toISOString();

describe('the filter row → where', () => {
  it('sets exactly one operator per condition', () => {
    expect(whereOf({ key: 'plan', operator: 'eq', text: 'pro' })).toEqual([{ key: 'plan', eq: 'pro' }]);
    expect(whereOf({ key: 'plan', operator: 'neq', text: ' free ' })).toEqual([{ key: 'plan', neq: 'free' }]);
    expect(whereOf({ key: 'country', operator: 'in', text: 'NL, DE,,FR ' })).toEqual([{ key: 'country', in: ['NL', 'DE', 'FR'] }]);
    expect(whereOf({ key: 'country', operator: 'notIn', text: 'US' })).toEqual([{ key: 'country', notIn: ['US'] }]);
    expect(whereOf({ key: 'plan', operator: 'exists', text: 'ignored' })).toEqual([{ key: 'plan', exists: true }]);
    expect(whereOf({ key: 'plan', operator: 'absent', text: '' })).toEqual([{ key: 'plan', exists: false }]);
  });

  it('is no filter while the row is unset or has no value to compare with', () => {
    expect(whereOf(null)).toBeNull();
    expect(whereOf({ key: '', operator: 'eq', text: 'pro' })).toBeNull();
    expect(whereOf({ key: 'plan', operator: 'eq', text: '  ' })).toBeNull();
    expect(whereOf({ key: 'plan', operator: 'in', text: ' , ' })).toBeNull();
  });

  it('keeps a comma inside an eq value (only in and notIn take lists)', () => {
    expect(whereOf({ key: 'city', operator: 'eq', text: 'Washington, D.C.' })).toEqual([{ key: 'city', eq: 'Washington, D.C.' }]);
  });
});

describe('the group-by fields → groupBy or groupByDimensions', () => {
  it('asks groupBy for one dimension and groupByDimensions for two, never both', () => {
    expect(groupingOf({ groupBy: null, secondGroupBy: null })).toEqual({ groupBy: null, groupByDimensions: null });
    expect(groupingOf({ groupBy: 'country', secondGroupBy: null })).toEqual({ groupBy: 'country', groupByDimensions: null });
    expect(groupingOf({ groupBy: 'country', secondGroupBy: 'plan' })).toEqual({
      groupBy: null,
      groupByDimensions: ['country', 'plan'],
    });
  });
});

describe('the view in the URL', () => {
  const known = (zone: string) => isKnownTimeZone(zone);

  it('round-trips every control', () => {
    const selection: Selection = {
      type: 'purchase',
      value: 'amount',
      measure: 'distinct',
      interval: 'DAY',
      groupBy: 'country',
      secondGroupBy: 'plan',
      filter: { key: 'plan', operator: 'notIn', text: 'free,trial' },
      timeZone: 'Asia/Kathmandu',
    };
    const url = selectionToUrl(selection, 'Europe/Amsterdam');
    expect(url).toBe(
      '?type=purchase&value=amount&measure=distinct&interval=DAY&groupBy=country&groupBy2=plan' +
        '&filterKey=plan&filterOp=notIn&filterValue=free%2Ctrial&timeZone=Asia%2FKathmandu',
    );
    expect(selectionFromUrl(url, 'Europe/Amsterdam', known)).toEqual(selection);
  });

  it("defaults to the browser's zone, and leaves it out of the URL", () => {
    const selection = selectionFromUrl('?type=page_view', 'America/New_York', known);
    expect(selection).toEqual({
      type: 'page_view',
      value: null,
      measure: 'count',
      interval: 'SECOND',
      groupBy: null,
      secondGroupBy: null,
      filter: null,
      timeZone: 'America/New_York',
    });
    expect(selectionToUrl(selection, 'America/New_York')).toBe('?type=page_view&measure=count&interval=SECOND');
  });

  it('ignores what it cannot use: an unknown zone or operator, a second group-by without a first', () => {
    const selection = selectionFromUrl(
      '?type=x&groupBy2=plan&filterKey=plan&filterOp=__proto__&filterValue=a&timeZone=Mars%2FOlympus',
      'UTC',
      known,
    );
    expect(selection.secondGroupBy).toBeNull();
    expect(selection.filter).toEqual({ key: 'plan', operator: 'eq', text: 'a' });
    expect(selection.timeZone).toBe('UTC');
  });
});

describe('day buckets in a time zone', () => {
  it('start at local midnight, with 23- and 25-hour days where daylight-saving time changes', () => {
    // New York: summer time starts 2026-03-08 and ends 2026-11-01.
    expect(dayStartsBetween(Date.parse('2026-03-07T12:00:00Z'), Date.parse('2026-03-10T00:00:00Z'), 'America/New_York').map(iso)).toEqual([
      '2026-03-07T05:00:00.000Z',
      '2026-03-08T05:00:00.000Z', // 23 hours long
      '2026-03-09T04:00:00.000Z',
    ]);
    expect(dayStartsBetween(Date.parse('2026-10-31T12:00:00Z'), Date.parse('2026-11-02T12:00:00Z'), 'America/New_York').map(iso)).toEqual([
      '2026-10-31T04:00:00.000Z',
      '2026-11-01T04:00:00.000Z', // 25 hours long
      '2026-11-02T05:00:00.000Z',
    ]);
  });

  it('start at a quarter-hour offset in Kathmandu (UTC+5:45)', () => {
    expect(iso(dayStartIn(Date.parse('2026-11-27T03:00:00Z'), 'Asia/Kathmandu'))).toBe('2026-11-26T18:15:00.000Z');
    expect(iso(dayStartIn(Date.parse('2026-11-27T18:14:59Z'), 'Asia/Kathmandu'))).toBe('2026-11-26T18:15:00.000Z');
    expect(iso(dayStartIn(Date.parse('2026-11-27T18:15:00Z'), 'Asia/Kathmandu'))).toBe('2026-11-27T18:15:00.000Z');
  });

  it('make the chart grid for DAY only: seconds, minutes and hours stay UTC-aligned', () => {
    const from = Date.parse('2026-11-27T10:30:00Z');
    const to = Date.parse('2026-11-28T10:30:00Z');
    expect(bucketGrid(from, to, 'DAY', 'America/New_York').map(iso)).toEqual(['2026-11-27T05:00:00.000Z', '2026-11-28T05:00:00.000Z']);
    expect(bucketGrid(from, to, 'DAY', 'UTC').map(iso)).toEqual(['2026-11-27T00:00:00.000Z', '2026-11-28T00:00:00.000Z']);
    expect(bucketGrid(from, from + 7_200_000, 'HOUR', 'Asia/Kathmandu').map(iso)).toEqual([
      '2026-11-27T10:00:00.000Z',
      '2026-11-27T11:00:00.000Z',
      '2026-11-27T12:00:00.000Z',
    ]);
  });
});
