import { describe, expect, it } from 'vitest';
import { createCatalogCache, createRollupCache } from '../../src/stream/rollup-cache.ts';
import { addEvent, emptyAggregate } from '../../src/domain/rollup.ts';
import { cachedRowWeight } from '../../src/stream/rollup-cache.ts';
import { distinctHash } from '../../src/domain/distinct-sketch.ts';
import type { CatalogRow, RollupRow } from '../../src/ports/series-store.ts';

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

  it('weighs rows by their distinct sketches: rows of dense sketches take the room of many plain rows', () => {
    const dense = row(0, 0);
    for (let i = 0; i < 2_000; i++) addEvent(dense.aggregate, {}, [['user', distinctHash(`u-${i}`)]]);
    expect(cachedRowWeight(row(0, 1))).toBe(1);
    expect(cachedRowWeight(dense)).toBe(17);
    const cache = createRollupCache(20, cachedRowWeight);
    cache.startBatch(0, 1);
    cache.commitBatch(0, 1, [row(0, 1), row(0, 2), row(0, 3), row(0, 4), dense]);
    // 4 + 17 = 21 > 20: the least recently used plain row goes.
    expect(cache.lookup([row(0, 1), row(0, 2), row(0, 3), row(0, 4), dense]).cached.map((r) => r.bucketStart)).toEqual([2, 3, 4, 0]);
  });
});

describe('catalog cache', () => {
  const catalogRow = (partition: number, type: string, count: number): CatalogRow => ({
    tenant: 't',
    type,
    partition,
    appliedOffset: count - 1,
    count,
    firstSeen: 0,
    lastSeen: 0,
    dimensionKeys: [],
    valueKeys: [],
    droppedDimensionKeys: 0,
    droppedValueKeys: 0,
  });

  it('serves a row per tenant, type and partition while the batches follow each other, and drops a partition that another writer had', () => {
    const cache = createCatalogCache(10);
    cache.startBatch(0, 0);
    cache.commitBatch(0, 4, [catalogRow(0, 'click', 5)]);
    cache.startBatch(1, 0);
    cache.commitBatch(1, 2, [catalogRow(1, 'click', 3)]);
    cache.startBatch(0, 5);
    const ids = [
      { tenant: 't', type: 'click', partition: 0 },
      { tenant: 't', type: 'view', partition: 0 },
      { tenant: 't', type: 'click', partition: 1 },
    ];
    expect(cache.lookup(ids).cached.map((row) => [row.partition, row.count])).toEqual([
      [0, 5],
      [1, 3],
    ]);
    expect(cache.lookup(ids).missing).toEqual([{ tenant: 't', type: 'view', partition: 0 }]);
    // A fence on partition 1 (another writer wrote it): its row is read from the store again.
    cache.dropPartition(1);
    expect(cache.lookup(ids).cached.map((row) => row.partition)).toEqual([0]);
    // Partition 0 continues elsewhere: its next batch here does not follow the last one committed.
    cache.startBatch(0, 9);
    expect(cache.lookup(ids).cached).toEqual([]);
  });
});
