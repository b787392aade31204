/**
 * Keys a user chooses (value keys, dimension keys, dimension values used as groups) that happen to
 * name a member of Object.prototype are ordinary keys in every layer: the rollup maths, their
 * storage form, and the query shaping.
 */
import { describe, expect, it } from 'vitest';
import { matchesDimensions } from '../../src/domain/event.ts';
import { PROTOTYPE_MEMBER_KEYS } from '../support/prototype-members.ts';
import { buildSeries, buildTop } from '../../src/query/series-view.ts';
import { mergeIntoRollups, type CountedEvent } from '../../src/stream/rollup-plan.ts';
import {
  addEvent,
  cloneAggregate,
  decodeAggregate,
  emptyAggregate,
  encodeAggregate,
  mergeInto,
  pointStats,
} from '../../src/domain/rollup.ts';

describe('keys named after Object.prototype members', () => {
  it('covers every member a key may name', () => {
    expect(PROTOTYPE_MEMBER_KEYS).toEqual(
      expect.arrayContaining([
        'constructor',
        'toString',
        'valueOf',
        'hasOwnProperty',
        'isPrototypeOf',
        'propertyIsEnumerable',
        'toLocaleString',
        '__defineGetter__',
        '__lookupGetter__',
      ]),
    );
    expect(PROTOTYPE_MEMBER_KEYS).not.toContain('__proto__');
  });

  it.each(PROTOTYPE_MEMBER_KEYS)('rolls up a value key named %s with exact count, sum, min and max', (key) => {
    const aggregate = emptyAggregate();
    for (const value of [1.5, -2, 4]) addEvent(aggregate, { [key]: value });
    expect(pointStats(aggregate, key)).toMatchObject({ count: 3, sum: 3.5, min: -2, max: 4, avg: 3.5 / 3 });

    const merged = emptyAggregate();
    mergeInto(merged, aggregate);
    mergeInto(merged, decodeAggregate(encodeAggregate(aggregate)));
    mergeInto(merged, decodeAggregate(encodeAggregate(aggregate), key));
    expect(pointStats(merged, key)).toMatchObject({ count: 9, sum: 10.5, min: -2, max: 4 });
    expect(pointStats(cloneAggregate(merged), key)).toMatchObject({ count: 9, sum: 10.5 });
  });

  it.each(PROTOTYPE_MEMBER_KEYS)('reads no statistics for an absent value key named %s', (key) => {
    const aggregate = emptyAggregate();
    addEvent(aggregate, { other: 1 });
    expect(pointStats(aggregate, key)).toMatchObject({ count: 1, sum: null, min: null });
    expect(pointStats(decodeAggregate(encodeAggregate(aggregate), key), key)).toMatchObject({ count: 1, sum: null });
  });

  it.each(PROTOTYPE_MEMBER_KEYS)('never matches a filter on an absent dimension named %s', (key) => {
    expect(matchesDimensions({ country: 'NL' }, { [key]: String(Object.prototype[key as keyof object]) })).toBe(false);
    expect(matchesDimensions({ [key]: 'a' }, { [key]: 'a' })).toBe(true);
  });

  const base = Date.parse('2026-11-27T12:00:00Z');
  let offset = 0;
  function counted(dimensions: Record<string, string>, values: Record<string, number>): CountedEvent {
    offset += 1;
    return {
      partition: 0,
      offset,
      event: {
        tenant: 'default',
        id: `e${offset}`,
        type: 'x',
        timestamp: base + 1_000,
        receivedAt: base,
        clockCorrectionMs: 0,
        source: null,
        dimensions,
        values,
        properties: null,
        position: { partition: 0, offset },
        quarantine: null,
      },
    };
  }

  it('groups, filters and ranks by dimensions and values named after prototype members, through storage', () => {
    const rows = mergeIntoRollups(
      [],
      [
        counted({ constructor: 'a', hasOwnProperty: 'b' }, { constructor: 1.5, toString: 2, valueOf: 3 }),
        counted({ constructor: 'a' }, { constructor: 2.25 }),
        counted({ constructor: 'toString', country: 'NL' }, { constructor: 1 }),
        counted({ country: 'NL' }, { valueOf: 7 }),
      ],
    )
      .filter((row) => row.interval === 'MINUTE')
      // As a store hands them back: JSON text parsed again.
      .map((row) => ({
        ...row,
        dimensions: JSON.parse(JSON.stringify(row.dimensions)),
        aggregate: decodeAggregate(encodeAggregate(row.aggregate)),
      }));
    const range = { interval: 'MINUTE' as const, from: base, to: base + 60_000 };
    const finality = { watermark: null, allowedLatenessMs: 0 };

    const byConstructor = buildSeries(rows, { ...range, value: 'constructor', groupBy: 'constructor' }, finality);
    expect(byConstructor.map((s) => [s.group, s.points.map((p) => [p.count, p.sum, p.min, p.max])])).toEqual([
      ['a', [[2, 3.75, 1.5, 2.25]]],
      ['toString', [[1, 1, 1, 1]]],
      [null, [[1, null, null, null]]],
    ]);
    for (const key of PROTOTYPE_MEMBER_KEYS.filter((k) => k !== 'constructor' && k !== 'hasOwnProperty')) {
      expect(buildSeries(rows, { ...range, groupBy: key }, finality).map((s) => [s.group, s.points[0]!.count])).toEqual([[null, 4]]);
    }
    expect(buildSeries(rows, { ...range, value: 'valueOf', dimensions: { hasOwnProperty: 'b' } }, finality)[0]!.points[0]).toMatchObject({
      count: 1,
      sum: 3,
    });
    expect(buildSeries(rows, { ...range, dimensions: { toString: 'function toString() { [native code] }' } }, finality)[0]!.points).toEqual(
      [],
    );

    expect(buildTop(rows, { by: 'constructor', value: 'constructor', limit: 10 })).toEqual([
      { key: 'a', count: 2, sum: 3.75 },
      { key: 'toString', count: 1, sum: 1 },
    ]);
    expect(buildTop(rows, { by: 'country', value: 'toString', limit: 10 })).toEqual([{ key: 'NL', count: 2, sum: null }]);
    expect(buildTop(rows, { by: 'valueOf', limit: 10 })).toEqual([]);
  });
});
