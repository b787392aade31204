/**
 * Property (item 3 of issue 12): however values are split into rows, and whatever way the rows
 * reach a point (stored and read back, merged in any order), the point's percentiles equal those
 * of one sketch built from all the values, and lie within the sketch's 1% relative accuracy of
 * the exact quantiles. Values favour the edges of sketch bins around ±1 and zero, where
 * sketches-js 2.1.1's own merge lost bins.
 *
 * Default: a fixed seed. A larger random run: FUZZ_RUNS=2000 FUZZ_SEED=random npx vitest run test/property
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addEvent, decodeAggregate, emptyAggregate, encodeAggregate, mergeInto, pointStats } from '../../src/domain/rollup.ts';
import { SKETCH_RELATIVE_ACCURACY } from '../../src/domain/sketch.ts';
import { fuzzSettings } from './fuzz-settings.ts';

/** A fixed seed, so `npm test` is deterministic; 300 splits take well under a second. */
const { seed, numRuns } = fuzzSettings('sketch-merge', { seed: 3_120_003, runs: 300 });

/** Magnitudes whose sketch keys sit at or near key 0 (values in (0.980, 1.0]), and a spread of others. */
const magnitude = fc.oneof(
  fc.constantFrom(1, 0.99, 0.985, 0.9803, 0.98, 0.97, 1.01, 1.02, 0.5, 2),
  fc.double({ min: 0.9, max: 1.1, noNaN: true }),
  fc.double({ min: 1e-6, max: 1e6, noNaN: true }),
);
const value = fc.oneof(
  { arbitrary: magnitude, weight: 4 },
  { arbitrary: magnitude.map((m) => -m), weight: 3 },
  { arbitrary: fc.constant(0), weight: 1 },
);
/** Rows of one point: each a non-empty list of values. */
const rows = fc.array(fc.array(value, { minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: 6 });

function aggregateOf(values: readonly number[]) {
  const aggregate = emptyAggregate();
  for (const v of values) addEvent(aggregate, { v });
  return aggregate;
}

const QUANTILES = [
  ['p50', 0.5],
  ['p90', 0.9],
  ['p95', 0.95],
  ['p99', 0.99],
] as const;

describe('item 3: merged sketches', () => {
  it('item 3: merged quantiles equal those of one sketch of all the values, within 1% of the exact quantiles', () => {
    fc.assert(
      fc.property(rows, fc.boolean(), (parts, reversed) => {
        const ordered = reversed ? [...parts].reverse() : parts;
        const merged = emptyAggregate();
        // As a query merges them: each row read back from its stored form, one value decoded.
        for (const part of ordered) mergeInto(merged, decodeAggregate(encodeAggregate(aggregateOf(part)), 'v'));
        const all = parts.flat();
        const point = pointStats(merged, 'v');
        expect(point).toEqual(pointStats(aggregateOf(all), 'v'));
        const sorted = [...all].sort((a, b) => a - b);
        for (const [field, quantile] of QUANTILES) {
          // The value the sketch approximates: the one at rank q·(n-1) of the sorted values.
          const exact = sorted[Math.floor(quantile * (sorted.length - 1))]!;
          expect(Math.abs(point[field]! - exact)).toBeLessThanOrEqual(Math.abs(exact) * SKETCH_RELATIVE_ACCURACY + 1e-12);
        }
      }),
      { seed, numRuns },
    );
  });
});
