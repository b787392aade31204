/**
 * The calendar buckets of src/domain/calendar.ts and the read plans of src/query/bucket-plan.ts,
 * over random zones (DST in both hemispheres, half- and quarter-hour offsets, a zone that moved
 * across the date line), intervals and ranges:
 *   - bucket starts are increasing, the first holds `from`, and each bucket ends where the next
 *     starts, the last at or after `to`: the range is covered without gap or overlap;
 *   - every minute of the range lies in exactly one stored bucket that a plan reads and keeps,
 *     and that bucket lies wholly inside one query bucket, the one bucketOf names: each stored
 *     row is merged once, into the right point.
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
  it('merge every minute of the range once, into the query bucket that holds it', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.constantFrom(...QUERY_INTERVALS),
        instant,
        span,
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
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
          for (const block of reads) {
            expect(block.from).toBeGreaterThanOrEqual(starts[0]!);
            expect(block.to).toBeLessThanOrEqual(lastEnd);
            expect(Number.isInteger((block.to - block.from) / INTERVAL_MS[block.interval])).toBe(true);
          }
          // Any minute of the range (a stored row's place): exactly one stored bucket read and kept
          // holds it, inside the query bucket bucketOf names and no other.
          const minute = starts[0]! + Math.floor((where * (lastEnd - starts[0]!)) / 60_000) * 60_000;
          const holders = reads.flatMap((block) => {
            const size = INTERVAL_MS[block.interval];
            if (minute < block.from || minute >= block.to) return [];
            const storedStart = block.from + Math.floor((minute - block.from) / size) * size;
            return plan.keeps(block.interval, storedStart) ? [{ storedStart, size }] : [];
          });
          expect(holders).toHaveLength(1);
          const [{ storedStart, size }] = holders as [{ storedStart: number; size: number }];
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
