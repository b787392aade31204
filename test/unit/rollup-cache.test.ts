import { describe, expect, it } from 'vitest';
import { createRollupCache } from '../../src/stream/rollup-cache.ts';
import { emptyAggregate } from '../../src/domain/rollup.ts';
import type { RollupRow } from '../../src/ports/series-store.ts';

const row = (partition: number, bucketStart: number): RollupRow => ({
  tenant: 't',
  type: 'x',
  interval: 'MINUTE',
  bucketStart,
  dimensionsKey: '[]',
  partition,
  dimensions: {},
  appliedOffset: 1,
  aggregate: emptyAggregate(),
});

describe('rollup cache', () => {
  it("serves the rows of the last batch while the partition's batches follow each other", () => {
    const cache = createRollupCache(10);
    cache.startBatch(0, 1);
    cache.commitBatch(0, 5, [row(0, 0), row(0, 60_000)]);
    cache.startBatch(0, 6);
    const { cached, missing } = cache.lookup([row(0, 0), row(0, 120_000)]);
    expect(cached.map((r) => r.bucketStart)).toEqual([0]);
    expect(missing.map((r) => r.bucketStart)).toEqual([120_000]);
  });

  it("drops a partition's rows when its next batch does not follow the last one committed", () => {
    const cache = createRollupCache(10);
    cache.startBatch(0, 1);
    cache.commitBatch(0, 5, [row(0, 0)]);
    cache.startBatch(1, 1);
    cache.commitBatch(1, 9, [row(1, 0)]);
    // Offsets 6..9 of partition 0 were processed elsewhere: its rows may have changed.
    cache.startBatch(0, 10);
    expect(cache.lookup([row(0, 0), row(1, 0)]).cached.map((r) => r.partition)).toEqual([1]);
    // A replay of a batch that failed starts where the last committed one ended: still valid.
    cache.startBatch(1, 10);
    expect(cache.lookup([row(1, 0)]).cached).toHaveLength(1);
  });

  it('keeps at most its size, forgetting the least recently used rows', () => {
    const cache = createRollupCache(2);
    cache.startBatch(0, 1);
    cache.commitBatch(0, 1, [row(0, 0), row(0, 1), row(0, 2)]);
    expect(cache.lookup([row(0, 0), row(0, 1), row(0, 2)]).cached.map((r) => r.bucketStart)).toEqual([1, 2]);
  });
});
