/**
 * Property (issue 14, groupByDimensions): grouping is a merge of the same rows at query time, so
 * grouping by [a, b] and then summing over b gives exactly what grouping by [a] gives, bucket by
 * bucket: counts, and sums (integer amounts, so every sum is exact whatever the order of
 * addition). Events may lack a, b or the value; rows come from several log partitions and are
 * read back from their stored form, as a query reads them.
 *
 * Default: a fixed seed. A larger random run: FUZZ_RUNS=2000 FUZZ_SEED=random npx vitest run test/property
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeAggregate, encodeAggregate } from '../../src/domain/rollup.ts';
import type { DimensionValue } from '../../src/domain/event.ts';
import { buildSeries, type SeriesView } from '../../src/query/series-view.ts';
import { mergeIntoRollups, type CountedEvent } from '../../src/stream/rollup-plan.ts';
import { fuzzSettings } from './fuzz-settings.ts';

/** A fixed seed, so `npm test` is deterministic; 200 runs of up to 60 events take well under a second. */
const { seed, numRuns } = fuzzSettings('group-by-dimensions', { seed: 14_000_014, runs: 200 });

const base = Date.parse('2026-11-27T12:00:00Z');
/** Five MINUTE buckets: enough for groups to differ in which buckets they fill. */
const BUCKETS = 5;
const range = { interval: 'MINUTE' as const, value: 'amount', from: base, to: base + BUCKETS * 60_000 };
const finality = { watermark: null, allowedLatenessMs: 0 };

/** A dimension that may be absent; values include a prototype member name and a number (stored as text). */
const dimension = (values: DimensionValue[]) => fc.option(fc.constantFrom(...values), { nil: undefined });
const event = fc.record({
  a: dimension(['x', 'y', 'constructor', 7]),
  b: dimension(['p', 'q', 'toString', true]),
  other: dimension(['o1', 'o2']),
  amount: fc.option(fc.integer({ min: -1_000_000, max: 1_000_000 }), { nil: undefined }),
  minute: fc.integer({ min: 0, max: BUCKETS - 1 }),
  partition: fc.integer({ min: 0, max: 2 }),
});
const events = fc.array(event, { minLength: 0, maxLength: 60 });

type Generated = typeof event extends fc.Arbitrary<infer T> ? T : never;

/** The MINUTE rollup rows of these events, each read back from its stored form. */
function minuteRows(generated: readonly Generated[]) {
  const counted: CountedEvent[] = generated.map((e, offset) => {
    const dimensions: Record<string, DimensionValue> = {};
    if (e.a !== undefined) dimensions.a = e.a;
    if (e.b !== undefined) dimensions.b = e.b;
    if (e.other !== undefined) dimensions.other = e.other;
    return {
      partition: e.partition,
      offset,
      event: {
        tenant: 'default',
        id: `e${offset}`,
        type: 'purchase',
        timestamp: base + e.minute * 60_000 + (offset % 60) * 1_000,
        receivedAt: base,
        clockCorrectionMs: 0,
        source: null,
        dimensions,
        values: (e.amount === undefined ? {} : { amount: e.amount }) as Record<string, number>,
        properties: null,
        position: { partition: e.partition, offset },
        quarantine: null,
      },
    };
  });
  return mergeIntoRollups([], counted)
    .filter((row) => row.interval === 'MINUTE')
    .map((row) => ({ ...row, aggregate: decodeAggregate(encodeAggregate(row.aggregate), 'amount') }));
}

/** Per bucket start: [count, sum or null] of the series' points. */
function totalsByStart(series: readonly SeriesView[]): Map<number, [number, number | null]> {
  const totals = new Map<number, [number, number | null]>();
  for (const s of series) {
    for (const point of s.points) {
      const [count, sum] = totals.get(point.start) ?? [0, null];
      totals.set(point.start, [count + point.count, point.sum === null ? sum : (sum ?? 0) + point.sum]);
    }
  }
  return totals;
}

describe('groupByDimensions: grouping by [a, b] then summing over b equals grouping by [a]', () => {
  it('matches counts and sums per bucket, and orders the [a, b] groups by a as the [a] groups are ordered', () => {
    fc.assert(
      fc.property(events, fc.boolean(), (generated, fill) => {
        const rows = minuteRows(generated);
        const byAB = buildSeries(rows, { ...range, fill, groupByDimensions: ['a', 'b'] }, finality);
        const byA = buildSeries(rows, { ...range, fill, groupByDimensions: ['a'] }, finality);
        // groupBy is the one-key case of groupByDimensions.
        const byGroupBy = buildSeries(rows, { ...range, fill, groupBy: 'a' }, finality);
        expect(byA.map((s) => [s.group, { ...s.groupKey }, s.points])).toEqual(
          byGroupBy.map((s) => [s.group, { ...s.groupKey }, s.points]),
        );

        const aOf = (s: SeriesView) => s.groupKey.a ?? null;
        // Every a value of the [a, b] groups, in their order, is the [a] groups' order.
        const aOrder = byAB.map(aOf).filter((a, index, all) => index === 0 || all[index - 1] !== a);
        expect(aOrder).toEqual(byA.map(aOf));
        for (const seriesOfA of byA) {
          const a = aOf(seriesOfA);
          const merged = totalsByStart(byAB.filter((s) => aOf(s) === a));
          const expected = totalsByStart([seriesOfA]);
          // Without fill, empty buckets are absent on both sides; with fill, zero on both.
          expect(merged).toEqual(expected);
          expect(seriesOfA.group).toBe(a);
        }
        // Nothing is lost: all groups together hold every event once.
        const all = byAB.flatMap((s) => s.points).reduce((n, p) => n + p.count, 0);
        expect(all).toBe(generated.length);
        // Every [a, b] group has its key and label from its own values.
        for (const s of byAB) {
          expect(Object.keys(s.groupKey)).toEqual(['a', 'b']);
          const { a, b } = s.groupKey;
          expect(s.group).toBe(a === null && b === null ? null : `${a ?? ''}, ${b ?? ''}`);
        }
      }),
      { seed, numRuns },
    );
  });
});
