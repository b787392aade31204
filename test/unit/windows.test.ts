import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketCountBetween, bucketStart, bucketStartsBetween, coarsestCover } from '../../src/domain/interval.ts';
import { isFinal, quarantineReason } from '../../src/stream/event-time.ts';
import type { AcceptedEvent } from '../../src/domain/event.ts';

const t = (iso: string) => Date.parse(iso);

describe('window assignment', () => {
  it('aligns each interval to the UTC epoch', () => {
    const time = t('2026-11-27T13:45:30.250Z');
    expect(bucketStart(time, 'SECOND')).toBe(t('2026-11-27T13:45:30.000Z'));
    expect(bucketStart(time, 'MINUTE')).toBe(t('2026-11-27T13:45:00.000Z'));
    expect(bucketStart(time, 'HOUR')).toBe(t('2026-11-27T13:00:00.000Z'));
    expect(bucketStart(time, 'DAY')).toBe(t('2026-11-27T00:00:00.000Z'));
  });

  it('puts a bucket boundary in the bucket that starts there', () => {
    expect(bucketStart(t('2026-11-27T13:46:00.000Z'), 'MINUTE')).toBe(t('2026-11-27T13:46:00.000Z'));
    expect(bucketStart(t('2026-11-27T13:45:59.999Z'), 'MINUTE')).toBe(t('2026-11-27T13:45:00.000Z'));
  });

  it('lists every bucket overlapping [from, to), aligning from down', () => {
    expect(bucketStartsBetween(t('2026-11-27T13:45:30Z'), t('2026-11-27T13:48:00Z'), 'MINUTE')).toEqual([
      t('2026-11-27T13:45:00Z'),
      t('2026-11-27T13:46:00Z'),
      t('2026-11-27T13:47:00Z'),
    ]);
    expect(bucketCountBetween(t('2026-11-27T13:45:30Z'), t('2026-11-27T13:48:00.001Z'), 'MINUTE')).toBe(4);
    expect(bucketCountBetween(t('2026-11-27T13:45:30Z'), t('2026-11-27T13:45:30Z'), 'MINUTE')).toBe(0);
  });
});

describe('event time', () => {
  const policy = { outOfOrdernessMs: 5_000, idlePartitionMs: 30_000, allowedLatenessMs: 60_000, futureToleranceMs: 600_000 };
  const event = (timestamp: number, receivedAt = timestamp): AcceptedEvent => ({
    tenant: 'default',
    id: 'e',
    type: 'x',
    timestamp,
    receivedAt,
    clockCorrectionMs: 0,
    source: null,
    dimensions: {},
    values: {},
    properties: null,
  });

  it('quarantines events older than watermark minus lateness, and far-future events', () => {
    const watermark = t('2026-11-27T12:00:00Z');
    expect(quarantineReason(event(watermark - 60_000), watermark, policy)).toBeNull();
    expect(quarantineReason(event(watermark - 60_001), watermark, policy)).toBe('TOO_LATE');
    expect(quarantineReason(event(watermark + 600_001, watermark), watermark, policy)).toBe('FUTURE');
    expect(quarantineReason(event(watermark + 600_000, watermark), watermark, policy)).toBeNull();
    expect(quarantineReason(event(0), null, policy)).toBeNull();
  });

  it('marks a bucket final once the watermark passes its end plus the lateness', () => {
    const start = t('2026-11-27T12:00:00Z');
    expect(isFinal(start, 'MINUTE', start + 60_000 + 60_000, 60_000)).toBe(true);
    expect(isFinal(start, 'MINUTE', start + 60_000 + 59_999, 60_000)).toBe(false);
    expect(isFinal(start, 'MINUTE', null, 0)).toBe(false);
  });
});

describe('coarsest cover of a MINUTE range', () => {
  const DAY = 86_400_000;
  const HOUR = 3_600_000;
  const MINUTE = 60_000;

  it('reads whole days as DAY buckets, whole hours as HOUR buckets, and the edges as MINUTE buckets', () => {
    const day = Date.parse('2026-11-27T00:00:00.000Z');
    expect(coarsestCover(day - 2 * HOUR - 23 * MINUTE, day + DAY + HOUR + 37 * MINUTE)).toEqual([
      { interval: 'MINUTE', from: day - 2 * HOUR - 23 * MINUTE, to: day - 2 * HOUR },
      { interval: 'HOUR', from: day - 2 * HOUR, to: day },
      { interval: 'DAY', from: day, to: day + DAY },
      { interval: 'HOUR', from: day + DAY, to: day + DAY + HOUR },
      { interval: 'MINUTE', from: day + DAY + HOUR, to: day + DAY + HOUR + 37 * MINUTE },
    ]);
    expect(coarsestCover(day + 5 * MINUTE, day + 9 * MINUTE)).toEqual([
      { interval: 'MINUTE', from: day + 5 * MINUTE, to: day + 9 * MINUTE },
    ]);
    expect(coarsestCover(day, day)).toEqual([]);
  });

  it('covers every MINUTE bucket of the range exactly once, with aligned blocks (property)', () => {
    const minutes = fc.integer({ min: 0, max: 60 * 24 * 40 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 60 * 24 * 365 * 60 }), minutes, (startMinute, length) => {
        const from = startMinute * MINUTE;
        const to = from + length * MINUTE;
        const blocks = coarsestCover(from, to);
        let next = from;
        for (const block of blocks) {
          expect(block.from).toBe(next);
          expect(block.to).toBeGreaterThan(block.from);
          expect(bucketStart(block.from, block.interval)).toBe(block.from);
          expect(bucketStart(block.to, block.interval)).toBe(block.to);
          next = block.to;
        }
        expect(next).toBe(to);
        // At most two partial hours of MINUTE buckets and two partial days of HOUR buckets.
        const count = (interval: string) =>
          blocks
            .filter((b) => b.interval === interval)
            .reduce((n, b) => n + (b.to - b.from) / { MINUTE, HOUR, DAY }[b.interval as 'MINUTE'], 0);
        expect(count('MINUTE')).toBeLessThanOrEqual(2 * 59);
        expect(count('HOUR')).toBeLessThanOrEqual(2 * 23);
      }),
      { seed: 20261201, numRuns: 2_000 },
    );
  });
});
