/**
 * Properties of the distinct sketch's merge: rows of a point reach it in any order and grouping
 * (partitions, dimension combinations, hours of a day), so the merge must be commutative and
 * associative to the byte, and the union must count at least as many values as its largest part
 * (and no more than all parts together), within the stated error. Parts span both forms: sparse
 * (up to 1,755 values) and dense.
 *
 * Default: a fixed seed. A larger random run: FUZZ_RUNS=2000 FUZZ_SEED=random npx vitest run test/property
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DISTINCT_RELATIVE_ERROR, DistinctSketch } from '../../src/domain/distinct-sketch.ts';
import { fuzzSettings } from './fuzz-settings.ts';

/** A fixed seed; each run hashes up to ~12,000 values, so 60 runs take a few seconds. */
const { seed, numRuns } = fuzzSettings('distinct-sketch', { seed: 14_000_014, runs: 60 });

/** A part: the values u-start … u-(start+length-1), so parts overlap where their ranges do. */
const part = fc.record({ start: fc.nat(4000), length: fc.oneof(fc.nat(40), fc.nat(3000)) });
const parts = fc.array(part, { minLength: 2, maxLength: 4 });

function sketchOf({ start, length }: { start: number; length: number }): DistinctSketch {
  const sketch = new DistinctSketch();
  for (let i = start; i < start + length; i++) sketch.addText(`u-${i}`);
  return sketch;
}

/** Merges copies of the sketches in the given order, so the inputs stay untouched. */
function unionOf(sketches: readonly DistinctSketch[]): DistinctSketch {
  const union = new DistinctSketch();
  for (const sketch of sketches) union.merge(sketch);
  return union;
}

describe('distinct sketch merge', () => {
  it('is commutative and associative: any order and grouping gives the same sketch, byte for byte', () => {
    fc.assert(
      fc.property(parts, fc.integer(), (ranges, shuffleSeed) => {
        const sketches = ranges.map(sketchOf);
        const inOrder = unionOf(sketches).encode();
        const shuffled = [...sketches].sort((a, b) => ((a.estimate() * 31 + shuffleSeed) % 7) - ((b.estimate() * 31 + shuffleSeed) % 7));
        expect(unionOf(shuffled).encode()).toBe(inOrder);
        expect(unionOf([...sketches].reverse()).encode()).toBe(inOrder);
        // (a ∪ b) ∪ (c ∪ d) against a ∪ (b ∪ (c ∪ d)).
        const half = Math.ceil(sketches.length / 2);
        const grouped = unionOf([unionOf(sketches.slice(0, half)), unionOf(sketches.slice(half))]);
        const nested = sketches.reduceRight((tail, sketch) => unionOf([sketch, tail]), new DistinctSketch());
        expect(grouped.encode()).toBe(inOrder);
        expect(nested.encode()).toBe(inOrder);
        // And the same as one sketch fed every value directly.
        const direct = new DistinctSketch();
        for (const { start, length } of ranges) for (let i = start; i < start + length; i++) direct.addText(`u-${i}`);
        expect(direct.encode()).toBe(inOrder);
      }),
      { seed, numRuns },
    );
  });

  it('counts a union at least as large as its largest part and at most all parts together, within the error', () => {
    fc.assert(
      fc.property(parts, (ranges) => {
        const estimates = ranges.map((range) => sketchOf(range).estimate());
        const union = unionOf(ranges.map(sketchOf)).estimate();
        expect(union).toBeGreaterThanOrEqual(Math.max(...estimates) * (1 - DISTINCT_RELATIVE_ERROR));
        expect(union).toBeLessThanOrEqual(estimates.reduce((sum, n) => sum + n, 0) * (1 + DISTINCT_RELATIVE_ERROR));
        // The true union size: the values covered by any range.
        const covered = new Set<number>();
        for (const { start, length } of ranges) for (let i = start; i < start + length; i++) covered.add(i);
        if (covered.size <= 1755) expect(union).toBe(covered.size);
      }),
      { seed, numRuns },
    );
  });
});
