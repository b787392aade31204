/**
 * The distinct-count sketch (src/domain/distinct-sketch.ts): exact while small, a HyperLogLog
 * past SPARSE_LIMIT, merged by union, stored as text. The error at a million values is measured
 * here with a fixed seed, and printed (the figure docs/api.md quotes).
 */
import { describe, expect, it } from 'vitest';
import { DISTINCT_RELATIVE_ERROR, DistinctSketch, SPARSE_LIMIT, distinctHash } from '../../src/domain/distinct-sketch.ts';
import {
  addEvent,
  decodeAggregate,
  distinctCount,
  emptyAggregate,
  encodeAggregate,
  mergeSelected,
  pointStats,
} from '../../src/domain/rollup.ts';

function sketchOf(values: Iterable<string>): DistinctSketch {
  const sketch = new DistinctSketch();
  for (const value of values) sketch.addText(value);
  return sketch;
}

function ids(prefix: string, from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, i) => `${prefix}-${from + i}`);
}

/** mulberry32: a small seeded generator, so the million values are the same on every run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

describe('distinct sketch', () => {
  it('counts nothing when empty, and stores as "S"', () => {
    const sketch = new DistinctSketch();
    expect(sketch.estimate()).toBe(0);
    expect(sketch.isSparse).toBe(true);
    expect(sketch.encode()).toBe('S');
    expect(DistinctSketch.fromStored('S').estimate()).toBe(0);
  });

  it('counts exactly up to SPARSE_LIMIT different values, whatever the repeats', () => {
    expect(SPARSE_LIMIT).toBe(1755);
    for (const n of [1, 2, 10, 100, 1000, SPARSE_LIMIT]) {
      const sketch = sketchOf([...ids('u', 0, n), ...ids('u', 0, n)]);
      expect(sketch.estimate()).toBe(n);
      expect(sketch.isSparse).toBe(true);
    }
  });

  it('counts different strings that look alike as different: case, Unicode forms, prototype names', () => {
    const values = ['u-1', 'U-1', 'é', 'e\u0301', 'constructor', '__proto__', 'toString', '', ' '];
    expect(sketchOf(values).estimate()).toBe(values.length);
  });

  it('turns dense at SPARSE_LIMIT + 1 values, and estimates within 2% from there', () => {
    const sketch = sketchOf(ids('u', 0, SPARSE_LIMIT + 1));
    expect(sketch.isSparse).toBe(false);
    expect(Math.abs(sketch.estimate() - (SPARSE_LIMIT + 1)) / (SPARSE_LIMIT + 1)).toBeLessThan(DISTINCT_RELATIVE_ERROR);
    for (const n of [5_000, 20_000, 100_000]) {
      const estimate = sketchOf(ids('v', 0, n)).estimate();
      expect(Math.abs(estimate - n) / n).toBeLessThan(DISTINCT_RELATIVE_ERROR);
    }
  });

  it('merges by union: overlapping parts count their common values once, sparse and dense alike', () => {
    const small = sketchOf(ids('u', 0, 600));
    small.merge(sketchOf(ids('u', 400, 1000)));
    expect(small.estimate()).toBe(1000);

    const sparse = sketchOf(ids('u', 0, 1000));
    sparse.merge(sketchOf(ids('u', 500, 1500)));
    sparse.merge(sketchOf(ids('u', 1000, 2000)));
    // The union outgrew the sparse form: the same registers as one sketch of all 2,000 values.
    expect(sparse.isSparse).toBe(false);
    expect(sparse.encode()).toBe(sketchOf(ids('u', 0, 2000)).encode());

    const dense = sketchOf(ids('w', 0, 30_000));
    dense.merge(sketchOf(ids('w', 10_000, 40_000)));
    expect(dense.encode()).toBe(sketchOf(ids('w', 0, 40_000)).encode());
    expect(Math.abs(dense.estimate() - 40_000) / 40_000).toBeLessThan(DISTINCT_RELATIVE_ERROR);
  });

  it('merges idempotently: a sketch merged with itself, or with a copy, again and again, is unchanged to the byte', () => {
    for (const n of [0, 10, SPARSE_LIMIT, 10_000]) {
      const sketch = sketchOf(ids('u', 0, n));
      const before = sketch.encode();
      sketch.merge(sketch);
      sketch.merge(sketch.clone());
      sketch.merge(DistinctSketch.fromStored(before));
      expect(sketch.encode()).toBe(before);
      expect(sketch.estimate()).toBe(sketchOf(ids('u', 0, n)).estimate());
    }
  });

  it('stores and reads back the same sketch, sparse (7 bytes a value) and dense (12,288 bytes of registers)', () => {
    for (const n of [1, 3, 100, SPARSE_LIMIT, SPARSE_LIMIT + 1, 250_000]) {
      const sketch = sketchOf(ids('u', 0, n));
      const text = sketch.encode();
      const back = DistinctSketch.fromStored(text);
      expect(back.estimate()).toBe(sketch.estimate());
      expect(back.encode()).toBe(text);
      // A read-back sketch keeps working: adding a known value changes nothing, a new one counts.
      back.addText('u-0');
      expect(back.encode()).toBe(text);
      const bytes = Buffer.from(text.slice(1), 'base64').length;
      expect(bytes).toBe(n <= SPARSE_LIMIT ? n * 7 : 12_288);
    }
  });

  it('refuses stored text that is not a sketch of this precision', () => {
    for (const text of ['X', `D${Buffer.alloc(100).toString('base64')}`, `S${Buffer.alloc(8).toString('base64')}`]) {
      expect(() => DistinctSketch.fromStored(text).estimate()).toThrow(/distinct sketch/);
    }
    const unsorted = Buffer.alloc(14);
    unsorted[6] = 2;
    unsorted[13] = 1;
    expect(() => DistinctSketch.fromStored(`S${unsorted.toString('base64')}`).estimate()).toThrow(/not sorted/);
    const tooHigh = Buffer.alloc(12_288, 0xff);
    expect(() => DistinctSketch.fromStored(`D${tooHigh.toString('base64')}`).estimate()).toThrow(/register/);
  });

  it('measures the error at a million different values (fixed seed): below 2%', () => {
    const random = seededRandom(20_260_514);
    const truth = new Set<string>();
    const whole = new DistinctSketch();
    // Ten parts, as rows of ten hours, merged afterwards: the union must be the same sketch.
    const parts = Array.from({ length: 10 }, () => new DistinctSketch());
    let i = 0;
    while (truth.size < 1_000_000) {
      const value = `user-${random().toString(36)}${random().toString(36)}`;
      truth.add(value);
      const hash = distinctHash(value);
      whole.addHash(hash);
      parts[i++ % 10]!.addHash(hash);
    }
    const merged = new DistinctSketch();
    for (const part of parts) merged.merge(part);
    expect(merged.encode()).toBe(whole.encode());

    const estimate = whole.estimate();
    const error = Math.abs(estimate - truth.size) / truth.size;
    console.log(`distinct sketch: ${estimate} estimated for ${truth.size} different values, relative error ${(error * 100).toFixed(4)}%`);
    expect(error).toBeLessThan(DISTINCT_RELATIVE_ERROR);
  });
});

describe('distinct sketches in aggregates', () => {
  function aggregateOf(users: string[], sessions: string[] = []) {
    const aggregate = emptyAggregate();
    users.forEach((user, i) => {
      const hashes: [string, number][] = [['user', distinctHash(user)]];
      if (sessions[i] !== undefined) hashes.push(['session', distinctHash(sessions[i]!)]);
      addEvent(aggregate, { amount: 1 }, hashes);
    });
    return aggregate;
  }

  it('stores one sketch per distinct key beside the counts, and nothing at all for events without any', () => {
    const plain = emptyAggregate();
    addEvent(plain, { amount: 2 });
    expect(JSON.parse(encodeAggregate(plain))).not.toHaveProperty('d');

    const aggregate = aggregateOf(['u1', 'u2', 'u1'], ['s1', 's1', 's2']);
    const back = decodeAggregate(encodeAggregate(aggregate));
    expect(back.count).toBe(3);
    expect(distinctCount(back, 'user')).toBe(2);
    expect(distinctCount(back, 'session')).toBe(2);
    expect(distinctCount(back, 'device')).toBe(0);
    expect(distinctCount(back, null)).toBeNull();
  });

  it('keeps a key named after a prototype member as an ordinary key', () => {
    const aggregate = emptyAggregate();
    addEvent(aggregate, {}, [['constructor', distinctHash('a')]]);
    addEvent(aggregate, {}, [['toString', distinctHash('b')]]);
    const back = decodeAggregate(encodeAggregate(aggregate));
    expect(distinctCount(back, 'constructor')).toBe(1);
    expect(distinctCount(back, 'toString')).toBe(1);
    expect(distinctCount(back, 'valueOf')).toBe(0);
  });

  it('decodes no sketch for a query that asks for no distinct count, and only the asked one otherwise', () => {
    const rows = [aggregateOf(['u1', 'u2'], ['s1', 's2']), aggregateOf(['u2', 'u3'], ['s3', 's4'])].map((a) =>
      decodeAggregate(encodeAggregate(a), 'amount'),
    );
    const counts = emptyAggregate();
    for (const row of rows) mergeSelected(counts, row, 'amount');
    expect(pointStats(counts, 'amount')).toMatchObject({ count: 4, sum: 4 });
    for (const row of rows) expect([...row.distinct.values()].map((s) => s.isUnread)).toEqual([true, true]);

    const users = emptyAggregate();
    for (const row of rows) mergeSelected(users, row, null, 'user');
    expect(distinctCount(users, 'user')).toBe(3);
    for (const row of rows) expect(row.distinct.get('session')!.isUnread).toBe(true);
  });
});
