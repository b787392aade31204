/**
 * Properties of the live top list's pure parts (src/live/top-window.ts):
 * - a window's cover is the `top` query's: stored buckets in order, without gap or overlap, from
 *   `from` to `to`; every minute inside has exactly one holder in it, every minute outside none;
 * - the reads for any set of its buckets fetch exactly those buckets;
 * - ranking the buckets' aggregates, kept per bucket, answers exactly what buildTop answers over
 *   the same rows (the `top` query's function): counts, sums to the last bit (fractional amounts,
 *   so the order of additions would show), distinct counts, order and limit, whatever the filter.
 *
 * Default: a fixed seed. A larger random run: FUZZ_RUNS=2000 FUZZ_SEED=random npx vitest run test/property
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addEvent, emptyAggregate } from '../../src/domain/rollup.ts';
import { INTERVAL_MS, type Interval } from '../../src/domain/interval.ts';
import { distinctHash } from '../../src/domain/distinct-sketch.ts';
import type { RollupRow } from '../../src/ports/series-store.ts';
import { buildTop, type TopShape } from '../../src/query/series-view.ts';
import {
  bucketAggregates,
  coverOf,
  holderOf,
  MAX_TOP_WINDOW_MINUTES,
  rankBuckets,
  readsFor,
  storedBucketKey,
  windowAt,
} from '../../src/live/top-window.ts';
import { fuzzSettings } from './fuzz-settings.ts';

/** A fixed seed, so `npm test` is deterministic; 300 runs take well under a second each. */
const { seed, numRuns } = fuzzSettings('live-top', { seed: 15_000_015, runs: 300 });

const MINUTE = INTERVAL_MS.MINUTE;
/** Any instant from 2020 to 2030: windows cross days, hours and month ends. */
const instant = fc.integer({ min: Date.parse('2020-01-01T00:00:00Z'), max: Date.parse('2030-01-01T00:00:00Z') });
const windowMinutes = fc.oneof(fc.integer({ min: 1, max: 180 }), fc.integer({ min: 1, max: MAX_TOP_WINDOW_MINUTES }));

describe('live top windows', () => {
  it('cover [from, to) with stored buckets in order, each minute held by exactly one of them', () => {
    fc.assert(
      fc.property(instant, windowMinutes, fc.integer({ min: -2 * 24 * 60, max: 2 * 24 * 60 }), (now, minutes, probe) => {
        const window = windowAt(now, minutes);
        expect(window.to % MINUTE).toBe(0);
        expect(window.to - window.from).toBe(minutes * MINUTE);
        expect(window.to - MINUTE <= now && now < window.to).toBe(true);
        const cover = coverOf(window);
        let at = window.from;
        for (const bucket of cover.buckets) {
          expect(bucket.start).toBe(at);
          expect(bucket.start % INTERVAL_MS[bucket.interval]).toBe(0);
          at += INTERVAL_MS[bucket.interval];
        }
        expect(at).toBe(window.to);
        expect(cover.keys.size).toBe(cover.buckets.length);
        // A minute near the window (or inside a long one): held by the bucket that contains it, or by none.
        const minute = Math.floor(now / MINUTE) * MINUTE + probe * MINUTE;
        const holder = holderOf(cover, minute);
        if (minute < window.from || minute >= window.to) expect(holder).toBeNull();
        else {
          expect(holder).not.toBeNull();
          expect(cover.keys.has(storedBucketKey(holder!))).toBe(true);
          expect(holder!.start <= minute && minute < holder!.start + INTERVAL_MS[holder!.interval]).toBe(true);
        }
      }),
      { seed, numRuns },
    );
  });

  it('read exactly the buckets asked for', () => {
    fc.assert(
      fc.property(instant, windowMinutes, fc.infiniteStream(fc.boolean()), (now, minutes, picks) => {
        const cover = coverOf(windowAt(now, minutes));
        const iterator = picks[Symbol.iterator]();
        const wanted = cover.buckets.filter(() => iterator.next().value as boolean);
        const read = new Set<string>();
        for (const block of readsFor(wanted)) {
          for (let start = block.from; start < block.to; start += INTERVAL_MS[block.interval]) {
            const key = storedBucketKey({ interval: block.interval, start });
            expect(read.has(key)).toBe(false);
            read.add(key);
          }
        }
        expect([...read].sort()).toEqual(wanted.map(storedBucketKey).sort());
      }),
      { seed, numRuns },
    );
  });
});

/** The stored buckets of a small window: MINUTE, HOUR and DAY ones, in order of start. */
const BUCKETS: { interval: Interval; start: number }[] = [
  { interval: 'MINUTE', start: Date.parse('2026-11-26T23:58:00Z') },
  { interval: 'MINUTE', start: Date.parse('2026-11-26T23:59:00Z') },
  { interval: 'DAY', start: Date.parse('2026-11-27T00:00:00Z') },
  { interval: 'HOUR', start: Date.parse('2026-11-28T00:00:00Z') },
  { interval: 'HOUR', start: Date.parse('2026-11-28T01:00:00Z') },
  { interval: 'MINUTE', start: Date.parse('2026-11-28T02:00:00Z') },
];

const dimension = (values: string[]) => fc.option(fc.constantFrom(...values), { nil: undefined });
const rowSpec = fc.record({
  bucket: fc.integer({ min: 0, max: BUCKETS.length - 1 }),
  partition: fc.integer({ min: 0, max: 2 }),
  country: dimension(['NL', 'DE', 'constructor', '__proto__']),
  plan: dimension(['free', 'pro']),
  events: fc.array(
    fc.record({
      // Fractional amounts of different magnitudes: a different order of additions would round differently.
      amount: fc.option(fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }), { nil: undefined }),
      user: fc.constantFrom('u1', 'u2', 'u3', 'u4'),
    }),
    { minLength: 1, maxLength: 4 },
  ),
});

/** Rows as a store returns them: by bucket start, then dimension combination and partition. */
function toRows(specs: (typeof rowSpec extends fc.Arbitrary<infer T> ? T : never)[]): RollupRow[][] {
  const byKey = new Map<string, RollupRow>();
  for (const spec of specs) {
    const dimensions: Record<string, string> = {};
    if (spec.country !== undefined) dimensions.country = spec.country;
    if (spec.plan !== undefined) dimensions.plan = spec.plan;
    const { interval, start } = BUCKETS[spec.bucket]!;
    const dimensionsKey = JSON.stringify(Object.entries(dimensions).sort());
    const id = JSON.stringify([spec.bucket, dimensionsKey, spec.partition]);
    let row = byKey.get(id);
    if (!row) {
      row = {
        tenant: 't',
        type: 'buy',
        interval,
        bucketStart: start,
        dimensionsKey,
        partition: spec.partition,
        dimensions,
        appliedOffset: 0,
        aggregate: emptyAggregate(),
      };
      byKey.set(id, row);
    }
    for (const event of spec.events) {
      addEvent(row.aggregate, event.amount === undefined ? {} : { amount: event.amount }, [['user', distinctHash(event.user)]]);
    }
  }
  const sorted = [...byKey.values()].sort(
    (a, b) =>
      a.bucketStart - b.bucketStart ||
      (a.dimensionsKey < b.dimensionsKey ? -1 : a.dimensionsKey > b.dimensionsKey ? 1 : 0) ||
      a.partition - b.partition,
  );
  return BUCKETS.map(({ start }) => sorted.filter((row) => row.bucketStart === start));
}

const shapeArbitrary: fc.Arbitrary<TopShape> = fc.record({
  by: fc.constantFrom('country', 'plan'),
  value: fc.option(fc.constant('amount'), { nil: null }),
  distinct: fc.option(fc.constant('user'), { nil: null }),
  rankBy: fc.option(fc.constantFrom('COUNT' as const), { nil: null }),
  dimensions: fc.option(fc.constantFrom<Record<string, string>>({ plan: 'pro' }, { country: 'constructor' }), { nil: null }),
  where: fc.option(fc.constantFrom([{ key: 'country', operator: 'neq' as const, value: 'DE' }]), { nil: null }),
  limit: fc.integer({ min: 1, max: 5 }),
});

describe('live top ranking', () => {
  it("answers exactly buildTop's list over the same rows, from each bucket's aggregates kept apart", () => {
    fc.assert(
      fc.property(fc.array(rowSpec, { maxLength: 30 }), shapeArbitrary, (specs, shape) => {
        const perBucket = toRows(specs);
        const live = rankBuckets(
          perBucket.map((rows) => bucketAggregates(rows, shape)),
          shape,
        );
        expect(live).toEqual(buildTop(perBucket.flat(), shape));
      }),
      { seed, numRuns },
    );
  });
});
