/**
 * The buckets a live series follows (src/live/series-buckets.ts) are the series query's
 * (src/query/bucket-plan.ts), for every interval and a few zones with whole-hour, half-hour,
 * quarter-hour and daylight-saving offsets: each stored minute falls in the bucket the query
 * merges it into, a bucket holds the instants it starts at and ends before, and the rows a live
 * series reads for a range are the ones the query reads.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INTERVAL_MS, QUERY_INTERVALS } from '../../src/domain/interval.ts';
import { liveBucketsOf, runsOf } from '../../src/live/series-buckets.ts';
import { planBuckets } from '../../src/query/bucket-plan.ts';
import { fuzzSettings } from './fuzz-settings.ts';

const settings = fuzzSettings('series-buckets.property', { seed: 1516, runs: 200 });
const ZONES = ['UTC', 'America/New_York', 'Asia/Kolkata', 'Asia/Kathmandu', 'Europe/Amsterdam', 'Australia/Lord_Howe'];
const MINUTE = 60_000;
/** 2000-01-01 to 2040-01-01, on whole minutes: stored rollups start there. */
const minuteInstant = fc.integer({ min: 946_684_800_000 / MINUTE, max: 2_208_988_800_000 / MINUTE }).map((minutes) => minutes * MINUTE);

describe('live series buckets', () => {
  it('put every stored minute in the bucket the series query merges it into', () => {
    fc.assert(
      fc.property(fc.constantFrom(...QUERY_INTERVALS), fc.constantFrom(...ZONES), minuteInstant, (interval, zone, minute) => {
        const buckets = liveBucketsOf(interval, zone);
        const start = buckets.startOf(minute);
        expect(start).toBeLessThanOrEqual(minute);
        expect(buckets.endOf(start)).toBeGreaterThan(minute);
        // SECOND buckets hold no whole minute: the query plans the second itself.
        const plan = planBuckets({ interval, timeZone: zone, from: minute, to: minute + 1 }, 10);
        expect(plan.starts).toEqual([start]);
        expect(plan.endOf(start)).toBe(buckets.endOf(start));
        expect(buckets.plan(minute, minute + 1, 10).reads).toEqual(
          buckets.stored ? [{ interval, from: start, to: buckets.endOf(start) }] : plan.reads,
        );
      }),
      settings,
    );
  });

  it('take each counted event from exactly one of the rows it changes on the topics a feed follows', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...QUERY_INTERVALS.filter((interval) => interval !== 'SECOND')),
        fc.constantFrom(...ZONES),
        minuteInstant,
        fc.integer({ min: 0, max: MINUTE - 1 }),
        (interval, zone, minute, withinMinute) => {
          const buckets = liveBucketsOf(interval, zone);
          const time = minute + withinMinute;
          // An event changes one row of every stored interval: the one whose bucket holds it.
          const rowsOfEvent = buckets.followedIntervals.map((rowInterval) => ({
            interval: rowInterval,
            start: Math.floor(time / INTERVAL_MS[rowInterval]) * INTERVAL_MS[rowInterval],
          }));
          const taken = rowsOfEvent.filter((row) => buckets.madeOf(row.interval, row.start));
          expect(taken).toHaveLength(1);
          // And that row is one the series query merges into the event's bucket.
          const bucket = buckets.startOf(time);
          const plan = planBuckets({ interval, timeZone: zone, from: bucket, to: bucket + 1 }, 10);
          const [row] = taken;
          expect(plan.keeps(row!.interval, row!.start)).toBe(true);
          expect(plan.reads.some((block) => block.interval === row!.interval && block.from <= row!.start && row!.start < block.to)).toBe(
            true,
          );
          expect(buckets.startOf(row!.start)).toBe(bucket);
        },
      ),
      settings,
    );
  });

  it('cut bucket starts into runs of touching buckets that cover exactly them', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(40), { maxLength: 20 }), (indexes) => {
        const starts = new Set(indexes.map((index) => index * 10));
        const runs = runsOf(starts, 10);
        const covered = runs.flatMap(([from, to]) => Array.from({ length: (to - from) / 10 }, (_, i) => from + i * 10));
        expect(covered).toEqual([...starts].sort((a, b) => a - b));
        for (let i = 1; i < runs.length; i++) expect(runs[i]![0]).toBeGreaterThan(runs[i - 1]![1]);
      }),
      settings,
    );
  });
});
