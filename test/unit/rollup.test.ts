import { describe, expect, it } from 'vitest';
import {
  addEvent,
  decodeAggregate,
  emptyAggregate,
  encodeAggregate,
  forgetEncoding,
  mergeInto,
  mergeSelected,
  pointStats,
} from '../../src/domain/rollup.ts';
import { mergeIntoCatalog, mergeIntoRollups, type CountedEvent } from '../../src/stream/rollup-plan.ts';
import type { StoredEvent } from '../../src/domain/event.ts';

function aggregateOf(values: number[]) {
  const aggregate = emptyAggregate();
  for (const v of values) addEvent(aggregate, { v });
  return aggregate;
}

/** The exact quantile the sketch approximates: the value at rank q*(n-1) of the sorted data. */
function exactQuantile(sorted: number[], q: number) {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

describe('rollup maths', () => {
  it('counts, sums, and keeps min and max exactly', () => {
    const stats = pointStats(aggregateOf([3, -2, 10, 0.5]), 'v');
    expect(stats).toMatchObject({ count: 4, sum: 11.5, min: -2, max: 10, avg: 2.875 });
  });

  it('reads counts only when no value is asked for, or the value is absent', () => {
    const aggregate = aggregateOf([1, 2]);
    addEvent(aggregate, {});
    expect(pointStats(aggregate, null)).toEqual({
      count: 3,
      sum: null,
      min: null,
      max: null,
      avg: null,
      p50: null,
      p90: null,
      p95: null,
      p99: null,
    });
    expect(pointStats(aggregate, 'other').count).toBe(3);
    expect(pointStats(aggregate, 'v')).toMatchObject({ count: 3, sum: 3, avg: 1.5 });
  });

  it('keeps percentiles within 1% of the exact quantiles, through merges and storage', () => {
    const data = Array.from({ length: 5000 }, (_, i) => 1 + ((i * 7919) % 4999) * 0.37);
    const parts = [data.slice(0, 1234), data.slice(1234, 4000), data.slice(4000)].map(aggregateOf);
    const merged = emptyAggregate();
    for (const part of parts) mergeInto(merged, decodeAggregate(encodeAggregate(part)));
    const sorted = [...data].sort((a, b) => a - b);
    const stats = pointStats(merged, 'v');
    for (const [q, actual] of [
      [0.5, stats.p50],
      [0.9, stats.p90],
      [0.95, stats.p95],
      [0.99, stats.p99],
    ] as const) {
      const expected = exactQuantile(sorted, q);
      expect(Math.abs(actual! - expected) / expected).toBeLessThanOrEqual(0.01);
    }
    expect(stats.count).toBe(5000);
    expect(stats.sum).toBeCloseTo(
      data.reduce((a, b) => a + b, 0),
      6,
    );
  });

  it('merges in any order to the same totals', () => {
    const a = aggregateOf([0.1, 0.2, 0.3]);
    const b = aggregateOf([1e9, -1e9, 0.7]);
    const ab = emptyAggregate();
    mergeInto(ab, a);
    mergeInto(ab, b);
    const ba = emptyAggregate();
    mergeInto(ba, b);
    mergeInto(ba, a);
    expect(pointStats(ab, 'v').sum).toBe(pointStats(ba, 'v').sum);
    expect(pointStats(ab, 'v').sum).toBeCloseTo(1.3, 12);
  });

  it('keeps negative values through merges: the same percentiles as one aggregate of all the data', () => {
    const data = Array.from({ length: 3000 }, (_, i) => ((i * 7919) % 2999) - 1500 + 0.25);
    const whole = pointStats(aggregateOf(data), 'v');
    // Parts of mixed signs, and a part of negatives only merged into a non-empty aggregate.
    const parts = [data.filter((v) => v > 0), data.filter((v) => v < 0).slice(0, 700), data.filter((v) => v < 0).slice(700)].map(
      aggregateOf,
    );
    const merged = emptyAggregate();
    for (const part of parts) mergeInto(merged, decodeAggregate(encodeAggregate(part)));
    expect(pointStats(merged, 'v')).toEqual(whole);
    // The smallest case: 5, then three -100s merged in.
    const small = aggregateOf([5]);
    mergeInto(small, aggregateOf([-100, -100, -100]));
    expect(pointStats(small, 'v').p50).toBeCloseTo(-100, 0);
  });

  it('encodes an aggregate as it is now: a change after an encoding shows in the next one', () => {
    const aggregate = aggregateOf([1, 2]);
    const before = encodeAggregate(aggregate);
    expect(encodeAggregate(aggregate)).toBe(before);
    addEvent(aggregate, { v: 40 }, [['user', 7]]);
    expect(pointStats(decodeAggregate(encodeAggregate(aggregate)), 'v')).toMatchObject({ count: 3, sum: 43, max: 40 });
    mergeInto(aggregate, aggregateOf([100]));
    expect(pointStats(decodeAggregate(encodeAggregate(aggregate)), 'v')).toMatchObject({ count: 4, sum: 143, max: 100 });
    const selected = emptyAggregate();
    encodeAggregate(selected);
    mergeSelected(selected, aggregate, 'v');
    expect(pointStats(decodeAggregate(encodeAggregate(selected)), 'v')).toMatchObject({ count: 4, sum: 143 });
    // Forgetting the kept text changes nothing but where it comes from.
    const text = encodeAggregate(aggregate);
    forgetEncoding(aggregate);
    expect(encodeAggregate(aggregate)).toBe(text);
  });

  it('round-trips negative values and zeros through the storage form', () => {
    const aggregate = decodeAggregate(encodeAggregate(aggregateOf([-5, 0, 0, 7])));
    expect(pointStats(aggregate, 'v')).toMatchObject({ count: 4, sum: 2, min: -5, max: 7 });
    expect(pointStats(aggregate, 'v').p50).toBe(0);
  });
});

describe('percentiles of rows read for a query', () => {
  it('answers exactly as the decoded sketch does, negatives and zeros included, without building it', () => {
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let round = 0; round < 300; round++) {
      const values = Array.from({ length: 1 + Math.floor(random() * 40) }, () => {
        const kind = random();
        return kind < 0.15 ? 0 : kind < 0.45 ? -random() * 10 ** (random() * 6) : random() * 10 ** (random() * 8 - 2);
      });
      const text = encodeAggregate(aggregateOf(values));
      const eager = pointStats(decodeAggregate(text), 'v');
      const read = decodeAggregate(text, 'v');
      expect(pointStats(read, 'v')).toEqual(eager);
      // Once something asks for the sketch, the sketch is the truth: here, after adding a value to it.
      const stats = read.values.get('v')!;
      stats.sketch.accept(1e6);
      stats.max = 1e6;
      stats.count += 1;
      expect(pointStats(read, 'v').p99).toBe(Math.min(stats.max, Math.max(stats.min, stats.sketch.getValueAtQuantile(0.99))));
    }
  });
});

describe('rollup planning', () => {
  const event = (id: string, timestamp: number, values: Record<string, number>): StoredEvent => ({
    tenant: 'default',
    id,
    type: 'purchase',
    timestamp,
    receivedAt: timestamp,
    clockCorrectionMs: 0,
    source: null,
    dimensions: { country: 'NL' },
    values,
    properties: null,
    position: { partition: 0, offset: 0 },
    quarantine: null,
  });
  const counted = (offset: number, e: StoredEvent): CountedEvent => ({ event: e, partition: 0, offset });
  const minute = Date.parse('2026-11-27T12:00:00Z');

  it('writes one row per interval for a dimension combination', () => {
    const rows = mergeIntoRollups(
      [],
      [counted(1, event('a', minute + 1000, { amount: 5 })), counted(2, event('b', minute + 2000, { amount: 7 }))],
    );
    expect(rows.map((r) => [r.interval, r.bucketStart, r.aggregate.count, r.appliedOffset])).toEqual([
      ['SECOND', minute + 1000, 1, 1],
      ['MINUTE', minute, 2, 2],
      ['HOUR', minute, 2, 2],
      ['DAY', Date.parse('2026-11-27T00:00:00Z'), 2, 2],
      ['SECOND', minute + 2000, 1, 2],
    ]);
    expect(rows[1]!.dimensions).toEqual({ country: 'NL' });
  });

  it('skips what a row already holds when a batch is replayed, and completes the rest', () => {
    const batch = [1, 2, 3].map((offset) => counted(offset, event(`e${offset}`, minute + 5000, { amount: offset })));
    // A crash after the first two events were merged into the rows, before the commit:
    const firstRun = mergeIntoRollups([], batch.slice(0, 2));
    const replay = mergeIntoRollups(firstRun, batch);
    const minuteRow = replay.find((r) => r.interval === 'MINUTE')!;
    expect(minuteRow.aggregate.count).toBe(3);
    expect(pointStats(minuteRow.aggregate, 'amount').sum).toBe(6);
    // Replaying again after everything was written changes nothing.
    const finalRows = firstRun.map((row) => replay.find((r) => r.interval === row.interval && r.bucketStart === row.bucketStart) ?? row);
    expect(mergeIntoRollups(finalRows, batch)).toEqual([]);
  });

  it('keys a row read back from the store as the batch plan keys it, whatever its names hold', () => {
    // Names with the key's separators and quotes, prototype members, dimension keys in another
    // order, and a number against its text: the stored row must be found, not written anew.
    const odd = (id: string, offset: number, tenant: string, type: string, dimensions: StoredEvent['dimensions']) =>
      counted(offset, { ...event(id, minute + 1000, { amount: 1 }), tenant, type, dimensions });
    const first = mergeIntoRollups(
      [],
      [
        odd('a', 1, 'a|b', 'c', { constructor: '1', '|': 'x"y' }),
        odd('b', 2, 'a', 'b|c', { constructor: '1', '|': 'x"y' }),
        odd('c', 3, '__proto__', 'toString', { n: 3 }),
      ],
    );
    expect(first).toHaveLength(12);
    // As the store hands rows back: the same fields, in new objects.
    const stored = first.map((row) => ({ ...structuredClone({ ...row, aggregate: undefined }), aggregate: row.aggregate }));
    const second = mergeIntoRollups(stored, [
      odd('d', 4, 'a|b', 'c', { '|': 'x"y', constructor: '1' }),
      odd('e', 5, '__proto__', 'toString', { n: '3' }),
    ]);
    expect(second).toHaveLength(8);
    expect(second.every((row) => row.aggregate.count === 2)).toBe(true);
  });

  it('does not mutate the stored rows it is given', () => {
    const stored = mergeIntoRollups([], [counted(1, event('a', minute, { amount: 1 }))]);
    mergeIntoRollups(stored, [counted(2, event('b', minute, { amount: 1 }))]);
    expect(stored.every((row) => row.aggregate.count === 1)).toBe(true);
  });

  it('keeps the catalog per type with first and last seen and the keys', () => {
    const rows = mergeIntoCatalog(
      [],
      [
        counted(1, { ...event('a', minute + 5000, { amount: 1 }), dimensions: { country: 'NL' } }),
        counted(2, { ...event('b', minute, { qty: 2 }), dimensions: { plan: 'pro' } }),
      ],
    );
    expect(rows).toEqual([
      {
        tenant: 'default',
        type: 'purchase',
        partition: 0,
        appliedOffset: 2,
        count: 2,
        firstSeen: minute,
        lastSeen: minute + 5000,
        dimensionKeys: ['country', 'plan'],
        valueKeys: ['amount', 'qty'],
        droppedDimensionKeys: 0,
        droppedValueKeys: 0,
      },
    ]);
    expect(mergeIntoCatalog(rows, [counted(2, event('b', minute, {}))])).toEqual([]);
  });
});
