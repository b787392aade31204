/**
 * The calendar buckets of src/domain/calendar.ts and the read plans of src/query/bucket-plan.ts,
 * over random zones (DST in both hemispheres, half- and quarter-hour offsets, a zone that moved
 * across the date line), intervals and ranges:
 *   - bucket starts are increasing, the first holds `from`, and each bucket ends where the next
 *     starts, the last at or after `to`: the range is covered without gap or overlap;
 *   - every stored bucket a plan reads lies wholly inside exactly one query bucket, the one
 *     bucketOf names, and the reads cover the buckets exactly, so each stored row is merged once.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { calendarBucketStart, calendarBucketStartsBetween, nextCalendarBucketStart, type CalendarUnit } from '../../src/domain/calendar.ts';
import { INTERVAL_MS, type QueryInterval } from '../../src/domain/interval.ts';
import { planBuckets } from '../../src/query/bucket-plan.ts';
import { fuzzSettings } from './fuzz-settings.ts';

const settings = fuzzSettings('calendar.property', { seed: 1414, runs: 150 });

const ZONES = [
  'UTC',
  'America/New_York',
  'Europe/Berlin',
  'Australia/Sydney',
  'America/Santiago',
  'Asia/Kolkata',
  'Asia/Kathmandu',
  'Australia/Eucla',
  'Australia/Lord_Howe',
  'Pacific/Apia',
  'Asia/Tehran',
] as const;
const UNITS: CalendarUnit[] = ['DAY', 'WEEK', 'MONTH'];
const QUERY_INTERVALS: QueryInterval[] = ['MINUTE', 'FIVE_MINUTES', 'FIFTEEN_MINUTES', 'HOUR', 'DAY', 'WEEK', 'MONTH'];
/** 1990 to 2040, in minutes: stored buckets are whole minutes. */
const FIRST_MINUTE = Date.UTC(1990, 0, 1) / 60_000;
const LAST_MINUTE = Date.UTC(2040, 0, 1) / 60_000;
const instant = fc.integer({ min: FIRST_MINUTE, max: LAST_MINUTE }).map((minute) => minute * 60_000);
/** Up to 120 days: a few months of buckets, enough to cross changes in every zone. */
const span = fc.integer({ min: 1, max: 120 * 1440 }).map((minutes) => minutes * 60_000);

describe('calendar buckets', () => {
  it('are increasing and cover [from, to) without gap or overlap', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ZONES), fc.constantFrom(...UNITS), instant, span, (zone, unit, from, length) => {
        const to = from + length;
        const starts = calendarBucketStartsBetween(from, to, unit, zone)!;
        expect(starts.length).toBeGreaterThan(0);
        expect(starts[0]!).toBeLessThanOrEqual(from);
        expect(calendarBucketStart(from, unit, zone)).toBe(starts[0]);
        for (let index = 0; index < starts.length; index++) {
          const end = nextCalendarBucketStart(starts[index]!, unit, zone);
          expect(end).toBeGreaterThan(starts[index]!);
          if (index + 1 < starts.length) expect(end).toBe(starts[index + 1]);
          else {
            expect(starts[index]!).toBeLessThan(to);
            expect(end).toBeGreaterThanOrEqual(to);
          }
        }
      }),
      settings,
    );
  });
});

describe('read plans', () => {
  it('put every stored bucket read into exactly one query bucket, and read each once', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.constantFrom(...QUERY_INTERVALS),
        instant,
        span,
        fc.double({ min: 0, max: 1, noNaN: true }),
        (timeZone, interval, from, length, where) => {
          const to = from + length;
          let plan: ReturnType<typeof planBuckets>;
          try {
            plan = planBuckets({ interval, timeZone, from, to }, 10_000);
          } catch (error) {
            // Only a range of too many buckets (MINUTE over 120 days) may be refused.
            expect((error as Error).message).toMatch(/buckets; at most 10000 per query/);
            return;
          }
          const { starts, reads } = plan;
          for (let index = 1; index < starts.length; index++) expect(starts[index]!).toBeGreaterThan(starts[index - 1]!);
          const lastEnd = plan.endOf(starts.at(-1)!);
          // The reads, in order, tile [first start, last end) with no gap or overlap.
          const tiles = [...reads].sort((a, b) => a.from - b.from);
          expect(tiles[0]!.from).toBe(starts[0]);
          expect(tiles.at(-1)!.to).toBe(lastEnd);
          for (let index = 1; index < tiles.length; index++) expect(tiles[index]!.from).toBe(tiles[index - 1]!.to);
          // Any one stored bucket of any read: inside the query bucket bucketOf names, and no other.
          const block = tiles[Math.min(tiles.length - 1, Math.floor(where * tiles.length))]!;
          const size = INTERVAL_MS[block.interval];
          const count = (block.to - block.from) / size;
          expect(Number.isInteger(count)).toBe(true);
          const storedStart = block.from + Math.min(count - 1, Math.floor(where * count)) * size;
          const bucket = plan.bucketOf(storedStart);
          expect(starts).toContain(bucket);
          expect(bucket).toBeLessThanOrEqual(storedStart);
          expect(storedStart + size).toBeLessThanOrEqual(plan.endOf(bucket));
          expect(starts.filter((start) => start <= storedStart && storedStart < plan.endOf(start))).toEqual([bucket]);
        },
      ),
      settings,
    );
  });
});
