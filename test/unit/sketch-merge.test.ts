/**
 * Item 3 of issue 12: percentiles of a point merged from several stored rows, at values whose
 * sketch bin is key 0 (values in (0.980, 1.0], and their negatives). sketches-js 2.1.1's
 * DenseStore.merge read a top key of 0 as absent and wrote NaN bins (see src/domain/sketch.ts).
 */
import { describe, expect, it } from 'vitest';
import { addEvent, decodeAggregate, emptyAggregate, encodeAggregate, pointStats } from '../../src/domain/rollup.ts';
import { buildSeries } from '../../src/query/series-view.ts';
import type { RollupRow } from '../../src/ports/series-store.ts';

function aggregateOf(values: readonly number[]) {
  const aggregate = emptyAggregate();
  for (const v of values) addEvent(aggregate, { v });
  return aggregate;
}

/** A row as a query reads it from a store: its aggregate in the stored form, one value decoded. */
function storedRow(partition: number, values: readonly number[]): RollupRow {
  return {
    tenant: 'default',
    type: 'ratio',
    interval: 'MINUTE',
    bucketStart: 0,
    dimensionsKey: '',
    partition,
    dimensions: {},
    appliedOffset: values.length,
    aggregate: decodeAggregate(encodeAggregate(aggregateOf(values)), 'v'),
  };
}

/** The one point of a series over these rows, all in the same bucket. */
function mergedPoint(...rows: (readonly number[])[]) {
  const series = buildSeries(
    rows.map((values, partition) => storedRow(partition, values)),
    { value: 'v', interval: 'MINUTE', from: 0, to: 60_000 },
    { watermark: null, allowedLatenessMs: 0 },
  );
  const { start: _start, final: _final, ...stats } = series[0]!.points[0]!;
  return stats;
}

/** Within the sketch's 1% relative accuracy of `expected`. */
function expectWithinOnePercent(actual: number | null, expected: number) {
  expect(Math.abs(actual! - expected)).toBeLessThanOrEqual(Math.abs(expected) * 0.01);
}

describe('item 3: percentiles of rows merged near 1', () => {
  it('item 3: rows {0.5} and {0.5, 1, 1, 1} in one point give p50 = 1.0 (within 1%), as one sketch of all the values does', () => {
    const point = mergedPoint([0.5], [0.5, 1, 1, 1]);
    expectWithinOnePercent(point.p50, 1);
    expectWithinOnePercent(point.p99, 1);
    expect(point).toEqual(pointStats(aggregateOf([0.5, 0.5, 1, 1, 1]), 'v'));
  });

  it('item 3: the negative mirror, rows {-0.5} and {-0.5, -1, -1, -1}, gives p50 = -1.0 and p90 = -0.5 (within 1%)', () => {
    const point = mergedPoint([-0.5], [-0.5, -1, -1, -1]);
    expectWithinOnePercent(point.p50, -1);
    expectWithinOnePercent(point.p90, -0.5);
    expect(point).toEqual(pointStats(aggregateOf([-0.5, -0.5, -1, -1, -1]), 'v'));
  });

  it('item 3: with zeros and both signs, in either order of the rows, the point equals one sketch of all the values', () => {
    const rows = [[0.5], [0, 0.5, 1, 1, 1], [-1, -0.99, 0], [0.985, 0.2]];
    const all = rows.flat();
    const whole = pointStats(aggregateOf(all), 'v');
    expect(mergedPoint(...rows)).toEqual(whole);
    expect(mergedPoint(...[...rows].reverse())).toEqual(whole);
    // sorted: -1 -0.99 0 0 0.2 0.5 0.5 0.985 1 1 1; p50 is the value at rank 5.
    expectWithinOnePercent(whole.p50, 0.5);
    expectWithinOnePercent(whole.p90, 1);
  });
});
