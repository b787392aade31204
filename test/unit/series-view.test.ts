import { describe, expect, it } from 'vitest';
import { buildSeries, buildTop } from '../../src/query/series-view.ts';
import { mergeIntoRollups, type CountedEvent } from '../../src/stream/rollup-plan.ts';
import type { DimensionValue } from '../../src/domain/event.ts';
import { encodeAggregate } from '../../src/domain/rollup.ts';

const base = Date.parse('2026-11-27T12:00:00Z');
let offset = 0;
function counted(
  minuteOffset: number,
  dimensions: Record<string, DimensionValue>,
  values: Record<string, number>,
  partition = 0,
): CountedEvent {
  offset += 1;
  return {
    partition,
    offset,
    event: {
      tenant: 'default',
      id: `e${offset}`,
      type: 'purchase',
      timestamp: base + minuteOffset * 60_000 + 1_000,
      receivedAt: base,
      clockCorrectionMs: 0,
      source: null,
      dimensions,
      values,
      properties: null,
      position: { partition, offset },
      quarantine: null,
    },
  };
}

const rows = mergeIntoRollups(
  [],
  [
    counted(0, { country: 'NL', plan: 'pro' }, { amount: 10 }),
    counted(0, { country: 'NL', plan: 'free' }, { amount: 5 }),
    counted(0, { country: 'DE', plan: 'pro' }, { amount: 20 }),
    counted(2, { country: 'NL', plan: 'pro' }, { amount: 1 }, 1),
    counted(2, { plan: 'pro' }, {}),
  ],
).filter((row) => row.interval === 'MINUTE');

const finality = { watermark: null, allowedLatenessMs: 0 };

describe('buildSeries', () => {
  it('merges all combinations and partitions into one series when not grouping', () => {
    const series = buildSeries(rows, { interval: 'MINUTE', value: 'amount', from: base, to: base + 180_000 }, finality);
    expect(series).toHaveLength(1);
    expect(series[0]!.group).toBeNull();
    expect(series[0]!.points.map((p) => [p.start - base, p.count, p.sum, p.min, p.max])).toEqual([
      [0, 3, 35, 5, 20],
      [120_000, 2, 1, 1, 1],
    ]);
  });

  it('groups by a dimension, puts events without it in group null last, and filters', () => {
    const series = buildSeries(
      rows,
      { interval: 'MINUTE', groupBy: 'country', dimensions: { plan: 'pro' }, from: base, to: base + 180_000 },
      finality,
    );
    expect(series.map((s) => [s.group, s.points.map((p) => [p.start - base, p.count])])).toEqual([
      ['DE', [[0, 1]]],
      [
        'NL',
        [
          [0, 1],
          [120_000, 1],
        ],
      ],
      [null, [[120_000, 1]]],
    ]);
  });

  it('fills empty buckets with count 0 and no statistics', () => {
    const [series] = buildSeries(
      rows,
      { interval: 'MINUTE', value: 'amount', dimensions: { country: 'DE' }, fill: true, from: base + 30_000, to: base + 180_000 },
      finality,
    );
    expect(series!.points.map((p) => [p.start - base, p.count, p.sum])).toEqual([
      [0, 1, 20],
      [60_000, 0, null],
      [120_000, 0, null],
    ]);
  });

  it('returns one empty series for an ungrouped query with no data', () => {
    expect(buildSeries([], { interval: 'MINUTE', from: base, to: base + 60_000 }, finality)).toEqual([
      { group: null, groupKey: {}, points: [] },
    ]);
    expect(buildSeries([], { interval: 'MINUTE', groupBy: 'country', from: base, to: base + 60_000 }, finality)).toEqual([]);
  });

  it('leaves the rows it reads unchanged when it merges several into one bucket', () => {
    const before = rows.map((row) => encodeAggregate(row.aggregate));
    const [series] = buildSeries(rows, { interval: 'MINUTE', value: 'amount', from: base, to: base + 180_000 }, finality);
    expect(series!.points[0]!.sum).toBe(35);
    expect(rows.map((row) => encodeAggregate(row.aggregate))).toEqual(before);
  });

  it('flags final buckets from the watermark', () => {
    const [series] = buildSeries(
      rows,
      { interval: 'MINUTE', from: base, to: base + 180_000 },
      { watermark: base + 120_000, allowedLatenessMs: 60_000 },
    );
    expect(series!.points.map((p) => p.final)).toEqual([true, false]);
  });
});

describe('buildTop', () => {
  it('ranks by count, ties by key, skipping events without the dimension', () => {
    expect(buildTop(rows, { by: 'country', limit: 10 })).toEqual([
      { key: 'NL', count: 3, sum: null },
      { key: 'DE', count: 1, sum: null },
    ]);
  });

  it('ranks by the sum of a value and honours the limit and filter', () => {
    expect(buildTop(rows, { by: 'country', value: 'amount', limit: 1 })).toEqual([{ key: 'DE', count: 1, sum: 20 }]);
    expect(buildTop(rows, { by: 'plan', value: 'amount', dimensions: { country: 'NL' }, limit: 10 })).toEqual([
      { key: 'pro', count: 2, sum: 11 },
      { key: 'free', count: 1, sum: 5 },
    ]);
  });
});
