/**
 * Grouping by several dimensions (issue 14): the checks of groupBy / groupByDimensions, the group
 * label and key, the order of groups, and series grouped by a combination from real rollup rows.
 */
import { describe, expect, it } from 'vitest';
import { compareGroupValues, groupIdOf, groupKeyObject, groupLabel, groupValues, validateGrouping } from '../../src/query/grouping.ts';
import { buildSeries, buildTop } from '../../src/query/series-view.ts';
import { mergeIntoRollups, type CountedEvent } from '../../src/stream/rollup-plan.ts';
import type { DimensionValue } from '../../src/domain/event.ts';
import { StreamlensError } from '../../src/errors.ts';

const base = Date.parse('2026-11-27T12:00:00Z');
let offset = 0;
function counted(dimensions: Record<string, DimensionValue>, amount: number, minute = 0): CountedEvent {
  offset += 1;
  return {
    partition: offset % 2,
    offset,
    event: {
      tenant: 'default',
      id: `e${offset}`,
      type: 'purchase',
      timestamp: base + minute * 60_000 + 1_000,
      receivedAt: base,
      clockCorrectionMs: 0,
      source: null,
      dimensions,
      values: { amount },
      properties: null,
      position: { partition: offset % 2, offset },
      quarantine: null,
    },
  };
}

const rows = mergeIntoRollups(
  [],
  [
    counted({ country: 'NL', plan: 'pro', device: 'ios' }, 10),
    counted({ country: 'NL', plan: 'pro', device: 'web' }, 20),
    counted({ country: 'NL', plan: 'free' }, 5),
    counted({ country: 'DE', plan: 'pro' }, 7, 1),
    counted({ plan: 'pro' }, 1, 1),
    counted({ country: 'NL' }, 2, 1),
    counted({}, 100, 1),
  ],
).filter((row) => row.interval === 'MINUTE');
const range = { interval: 'MINUTE' as const, value: 'amount', from: base, to: base + 120_000 };
const finality = { watermark: null, allowedLatenessMs: 0 };

/** The BAD_USER_INPUT message of a refused grouping, or null when accepted. */
function refusal(request: Parameters<typeof validateGrouping>[0]): string | null {
  try {
    validateGrouping(request, 'query');
    return null;
  } catch (error) {
    expect(error).toBeInstanceOf(StreamlensError);
    expect((error as StreamlensError).code).toBe('BAD_USER_INPUT');
    return (error as Error).message;
  }
}

describe('validateGrouping', () => {
  it('accepts no grouping, groupBy, and 1 to 3 distinct keys', () => {
    expect(validateGrouping({}, 'query')).toEqual([]);
    expect(validateGrouping({ groupBy: 'country' }, 'query')).toEqual(['country']);
    expect(validateGrouping({ groupByDimensions: ['country'] }, 'query')).toEqual(['country']);
    expect(validateGrouping({ groupBy: null, groupByDimensions: ['a', 'b', 'constructor'] }, 'query')).toEqual(['a', 'b', 'constructor']);
  });

  it('refuses both, an empty list, four keys, a key twice and a key ingest would refuse', () => {
    expect(refusal({ groupBy: 'country', groupByDimensions: ['plan'] })).toBe(
      'query: set groupBy or groupByDimensions, not both (groupByDimensions with one key groups as groupBy does)',
    );
    expect(refusal({ groupByDimensions: [] })).toBe('query.groupByDimensions: name 1 to 3 dimension keys (got 0); omit it to not group');
    expect(refusal({ groupByDimensions: ['a', 'b', 'c', 'd'] })).toBe(
      'query.groupByDimensions: name 1 to 3 dimension keys (got 4); omit it to not group',
    );
    expect(refusal({ groupByDimensions: ['a', 'b', 'a'] })).toBe('query.groupByDimensions[2]: "a" is named twice');
    expect(refusal({ groupByDimensions: ['a', '__proto__'] })).toContain(
      'query.groupByDimensions[1]: "__proto__" is not a dimension or value key',
    );
    expect(refusal({ groupByDimensions: ['\ud800'] })).toContain('query.groupByDimensions[0]: "\ufffd" is not a dimension or value key');
    expect(refusal({ groupBy: 'a.b' })).toContain('query.groupBy: "a.b" is not a dimension or value key');
  });
});

describe('groups', () => {
  it('are identified by their values in the order asked, absent as null', () => {
    const id = groupIdOf({ plan: 'pro', country: 'NL' }, ['country', 'device', 'plan']);
    expect(groupValues(id)).toEqual(['NL', null, 'pro']);
    // "null" the value is not null the absence.
    expect(groupIdOf({ country: 'null' }, ['country'])).not.toBe(groupIdOf({}, ['country']));
    // A member of Object.prototype is not a dimension the row has.
    expect(groupValues(groupIdOf({}, ['constructor', 'toString']))).toEqual([null, null]);
  });

  it('are labelled by their values joined by ", ", an absent value as nothing, and null when all are absent', () => {
    expect(groupLabel([])).toBeNull();
    expect(groupLabel(['NL'])).toBe('NL');
    expect(groupLabel([null])).toBeNull();
    expect(groupLabel(['NL', 'pro', 'ios'])).toBe('NL, pro, ios');
    expect(groupLabel(['NL', null])).toBe('NL, ');
    expect(groupLabel([null, 'pro'])).toBe(', pro');
    expect(groupLabel([null, null, null])).toBeNull();
  });

  it('have a key object without a prototype, so member names are ordinary keys', () => {
    const key = groupKeyObject(['constructor', '__proto__', 'toString'], ['a', 'b', null]);
    expect(Object.getPrototypeOf(key)).toBeNull();
    expect(Object.keys(key)).toEqual(['constructor', '__proto__', 'toString']);
    expect(JSON.stringify(key)).toBe('{"constructor":"a","__proto__":"b","toString":null}');
    expect(({} as Record<string, unknown>).b).toBeUndefined();
  });

  it('sort by the first key first, by code units, absent values last', () => {
    const groups: (string | null)[][] = [
      [null, 'a'],
      ['b', null],
      ['b', 'a'],
      ['a', 'z'],
      ['B', 'a'],
      [null, null],
    ];
    expect(groups.sort(compareGroupValues)).toEqual([
      ['B', 'a'],
      ['a', 'z'],
      ['b', 'a'],
      ['b', null],
      [null, 'a'],
      [null, null],
    ]);
  });
});

describe('buildSeries with groupByDimensions', () => {
  it('answers one series per combination, ordered, with its group and groupKey', () => {
    const series = buildSeries(rows, { ...range, groupByDimensions: ['country', 'plan'] }, finality);
    expect(series.map((s) => [s.group, { ...s.groupKey }, s.points.map((p) => [p.start - base, p.count, p.sum])])).toEqual([
      ['DE, pro', { country: 'DE', plan: 'pro' }, [[60_000, 1, 7]]],
      ['NL, free', { country: 'NL', plan: 'free' }, [[0, 1, 5]]],
      ['NL, pro', { country: 'NL', plan: 'pro' }, [[0, 2, 30]]],
      ['NL, ', { country: 'NL', plan: null }, [[60_000, 1, 2]]],
      [', pro', { country: null, plan: 'pro' }, [[60_000, 1, 1]]],
      [null, { country: null, plan: null }, [[60_000, 1, 100]]],
    ]);
  });

  it('groups by three keys, and by one exactly as groupBy does', () => {
    const three = buildSeries(rows, { ...range, groupByDimensions: ['country', 'plan', 'device'], dimensions: { plan: 'pro' } }, finality);
    expect(three.map((s) => [s.group, s.points.map((p) => p.count)])).toEqual([
      ['DE, pro, ', [1]],
      ['NL, pro, ios', [1]],
      ['NL, pro, web', [1]],
      [', pro, ', [1]],
    ]);
    const byDimensions = buildSeries(rows, { ...range, groupByDimensions: ['country'] }, finality);
    const byGroupBy = buildSeries(rows, { ...range, groupBy: 'country' }, finality);
    expect(byDimensions.map((s) => ({ ...s, groupKey: { ...s.groupKey } }))).toEqual(
      byGroupBy.map((s) => ({ ...s, groupKey: { ...s.groupKey } })),
    );
    expect(byGroupBy.map((s) => [s.group, { ...s.groupKey }])).toEqual([
      ['DE', { country: 'DE' }],
      ['NL', { country: 'NL' }],
      [null, { country: null }],
    ]);
  });

  it('reports the number of combinations to the size check before building points', () => {
    const sizes: { groups: number; points: number }[] = [];
    buildSeries(rows, { ...range, groupByDimensions: ['country', 'plan'], fill: true }, finality, (size) => sizes.push(size));
    expect(sizes).toEqual([{ groups: 6, points: 12 }]);
  });

  it('leaves top unchanged: values of one dimension, events without it not ranked', () => {
    expect(buildTop(rows, { by: 'country', limit: 10 })).toEqual([
      { key: 'NL', count: 4, sum: null },
      { key: 'DE', count: 1, sum: null },
    ]);
  });
});
