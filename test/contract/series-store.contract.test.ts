import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  PartitionFencedError,
  type CatalogRow,
  type PartitionProgress,
  type RollupRow,
  type SeriesStore,
} from '../../src/ports/series-store.ts';
import { addEvent, distinctCount, emptyAggregate, encodeAggregate, pointStats } from '../../src/domain/rollup.ts';
import { distinctHash } from '../../src/domain/distinct-sketch.ts';
import { seriesStoreAdapters, type AdapterHarness } from './adapters.ts';

const MINUTE = Date.parse('2026-11-27T12:00:00.000Z');

/** A catalog row of `purchase` for acme on partition 0, with the fields a test cares about overridden. */
function catalogRow(overrides: Partial<CatalogRow> = {}): CatalogRow {
  return {
    tenant: 'acme',
    type: 'purchase',
    partition: 0,
    appliedOffset: 3,
    count: 3,
    firstSeen: MINUTE,
    lastSeen: MINUTE + 5,
    dimensionKeys: ['country'],
    valueKeys: ['amount'],
    droppedDimensionKeys: 0,
    droppedValueKeys: 0,
    ...overrides,
  };
}

function row(overrides: Partial<RollupRow>, values: number[] = [1]): RollupRow {
  const aggregate = emptyAggregate();
  for (const v of values) addEvent(aggregate, { amount: v });
  return {
    tenant: 'acme',
    type: 'purchase',
    interval: 'MINUTE',
    bucketStart: MINUTE,
    dimensionsKey: '[["country","NL"]]',
    partition: 0,
    dimensions: { country: 'NL' },
    appliedOffset: 10,
    aggregate,
    ...overrides,
  };
}

function summary(r: RollupRow) {
  return [r.bucketStart, r.dimensionsKey, r.partition, r.appliedOffset, pointStats(r.aggregate, 'amount')];
}

describe.each(seriesStoreAdapters)('SeriesStore contract: $name', (factory) => {
  let harness: AdapterHarness<SeriesStore>;
  let store: SeriesStore;

  beforeEach(async () => {
    harness = factory.harness();
    store = await harness.open();
  });
  afterEach(async () => {
    await store.close();
    await harness.cleanup();
  });

  // Rows reach a store only through saveBatch, the processor's one write; these tests write
  // rows with a progress that claims nothing, or progress with no rows, each naming the
  // version it reads first (the fence).
  const versionOf = async (partition: number) => (await store.loadProgress()).get(partition)?.version ?? 0;
  const saveRows = async (rollups: RollupRow[], catalog: CatalogRow[] = []) =>
    store.saveBatch({
      rollups,
      catalog,
      partition: 0,
      progress: {
        maxEventTime: null,
        storedThrough: 0,
        lastActiveAt: 0,
        lastAppendedAt: null,
        committedWatermark: null,
        version: await versionOf(0),
      },
    });
  const saveProgress = async (partition: number, progress: Omit<PartitionProgress, 'version'>) =>
    store.saveBatch({ rollups: [], catalog: [], partition, progress: { ...progress, version: await versionOf(partition) } });

  it('saves and loads whole rows, replacing on save', async () => {
    const original = row({}, [1, 2, 3]);
    await saveRows([original]);
    const [loaded] = await store.loadRollups([original]);
    expect(summary(loaded!)).toEqual(summary(original));
    expect(loaded!.dimensions).toEqual({ country: 'NL' });

    const replaced = row({ appliedOffset: 20 }, [1, 2, 3, 100]);
    await saveRows([replaced]);
    const [reloaded] = await store.loadRollups([original]);
    expect(summary(reloaded!)).toEqual(summary(replaced));
    expect(await store.loadRollups([row({ partition: 5 })])).toEqual([]);
  });

  it('reads every row of a range [from, to) across combinations and partitions, ordered by bucket', async () => {
    await saveRows([
      row({ bucketStart: MINUTE + 60_000, partition: 1 }),
      row({ bucketStart: MINUTE }),
      row({ bucketStart: MINUTE, dimensionsKey: '[["country","DE"]]', dimensions: { country: 'DE' } }),
      row({ bucketStart: MINUTE + 120_000 }),
      row({ bucketStart: MINUTE, interval: 'HOUR' }),
      row({ bucketStart: MINUTE, type: 'other' }),
      row({ bucketStart: MINUTE, tenant: 'other' }),
    ]);
    const rows = await store.readRollups({ tenant: 'acme', type: 'purchase', interval: 'MINUTE', from: MINUTE, to: MINUTE + 120_000 });
    expect(rows.map((r) => [r.bucketStart - MINUTE, r.dimensions.country, r.partition]).sort()).toEqual([
      [0, 'DE', 0],
      [0, 'NL', 0],
      [60_000, 'NL', 1],
    ]);
    expect(rows.map((r) => r.bucketStart)).toEqual([...rows.map((r) => r.bucketStart)].sort((a, b) => a - b));
  });

  it('reads only the value statistics asked for', async () => {
    const aggregate = emptyAggregate();
    addEvent(aggregate, { amount: 4, qty: 1 });
    await saveRows([row({ aggregate })]);
    const range = { tenant: 'acme', type: 'purchase', interval: 'MINUTE' as const, from: MINUTE, to: MINUTE + 1 };
    const keys = async (valueKey?: string | null) =>
      [...(await store.readRollups(valueKey === undefined ? range : { ...range, valueKey }))[0]!.aggregate.values.keys()].sort();
    expect(await keys()).toEqual(['amount', 'qty']);
    expect(await keys('qty')).toEqual(['qty']);
    expect(await keys(null)).toEqual([]);
    expect((await store.readRollups({ ...range, valueKey: null }))[0]!.aggregate.count).toBe(1);
  });

  it('keeps distinct sketches with their row, sparse and dense, prototype names as keys, and reads them only when asked', async () => {
    const withUsers = (users: number, offset: number) => {
      const aggregate = emptyAggregate();
      for (let i = 0; i < users; i++) {
        addEvent(aggregate, { amount: 1 }, [
          ['user', distinctHash(`u-${i}`)],
          ['constructor', distinctHash(`c-${i % 3}`)],
        ]);
      }
      return row({ aggregate, appliedOffset: offset });
    };
    const sparse = withUsers(3, 10);
    const dense = { ...withUsers(5_000, 10), bucketStart: MINUTE + 60_000 };
    await saveRows([sparse, dense]);
    const [loadedSparse, loadedDense] = await store.loadRollups([sparse, dense]);
    expect(distinctCount(loadedSparse!.aggregate, 'user')).toBe(3);
    expect(distinctCount(loadedSparse!.aggregate, 'constructor')).toBe(3);
    expect(distinctCount(loadedDense!.aggregate, 'user')).toBe(distinctCount(dense.aggregate, 'user'));
    expect(distinctCount(loadedDense!.aggregate, 'constructor')).toBe(3);
    expect(encodeAggregate(loadedDense!.aggregate)).toBe(encodeAggregate(dense.aggregate));

    // A query's read leaves every sketch as stored text until one is asked for.
    const range = { tenant: 'acme', type: 'purchase', interval: 'MINUTE' as const, from: MINUTE, to: MINUTE + 120_000, valueKey: null };
    const read = await store.readRollups(range);
    expect(read.flatMap((r) => [...r.aggregate.distinct.values()].map((sketch) => sketch.isUnread))).toEqual([true, true, true, true]);
    expect(read.map((r) => distinctCount(r.aggregate, 'user'))).toEqual([3, distinctCount(dense.aggregate, 'user')]);

    // Replaced whole by a row of a higher offset, never by one of a lower offset.
    await saveRows([withUsers(7, 20)]);
    await saveRows([withUsers(1, 15)]);
    expect(distinctCount((await store.loadRollups([sparse]))[0]!.aggregate, 'user')).toBe(7);
  });

  it('keeps the type catalog per partition', async () => {
    const catalog = catalogRow();
    await saveRows([], [catalog, { ...catalog, type: 'click' }, { ...catalog, tenant: 'other' }]);
    expect(await store.loadCatalog([catalog])).toEqual([catalog]);
    expect((await store.readCatalog('acme')).map((c) => c.type).sort()).toEqual(['click', 'purchase']);
    await saveRows([], [{ ...catalog, count: 4, appliedOffset: 4 }]);
    expect((await store.loadCatalog([catalog]))[0]!.count).toBe(4);
  });

  it('stops a range read one row past maxRows', async () => {
    // Two windows of MINUTE rows (a Cassandra window is 6 hours), three combinations per bucket.
    const starts = [MINUTE, MINUTE + 60_000, MINUTE + 6 * 3_600_000, MINUTE + 6 * 3_600_000 + 60_000];
    await saveRows(
      starts.flatMap((bucketStart) =>
        ['DE', 'FR', 'NL'].map((country) => row({ bucketStart, dimensionsKey: `[["country","${country}"]]`, dimensions: { country } })),
      ),
    );
    const range = { tenant: 'acme', type: 'purchase', interval: 'MINUTE' as const, from: MINUTE, to: MINUTE + 86_400_000 };
    expect((await store.readRollups(range)).length).toBe(12);
    expect((await store.readRollups({ ...range, maxRows: 12 })).length).toBe(12);
    expect((await store.readRollups({ ...range, maxRows: 4 })).length).toBe(5);
    expect((await store.readRollups({ ...range, maxRows: 0 })).length).toBe(1);
  });

  it("keeps the catalog's overflow counters, and reads only the types asked, up to maxTypes + 1", async () => {
    const catalog = catalogRow({ droppedDimensionKeys: 7, droppedValueKeys: 2 });
    const types = ['a', 'b', 'c', 'd'];
    await saveRows(
      [],
      types.flatMap((type) => [0, 1].map((partition) => ({ ...catalog, type, partition }))),
    );
    expect(await store.loadCatalog([{ ...catalog, type: 'a' }])).toEqual([{ ...catalog, type: 'a' }]);
    const typesOf = (rows: { type: string; partition: number }[]) => rows.map((r) => `${r.type}${r.partition}`).sort();
    expect(typesOf(await store.readCatalog('acme'))).toEqual(['a0', 'a1', 'b0', 'b1', 'c0', 'c1', 'd0', 'd1']);
    expect(typesOf(await store.readCatalog('acme', { maxTypes: 2 }))).toEqual(['a0', 'a1', 'b0', 'b1', 'c0', 'c1']);
    expect(typesOf(await store.readCatalog('acme', { types: ['d', 'b', 'zz'] }))).toEqual(['b0', 'b1', 'd0', 'd1']);
    expect(typesOf(await store.readCatalog('acme', { types: ['d', 'b', 'c'], maxTypes: 1 }))).toEqual(['b0', 'b1', 'c0', 'c1']);
  });

  it("keeps each partition's progress, and only ever raises it", async () => {
    await saveProgress(0, { maxEventTime: null, storedThrough: 3, lastActiveAt: 100, lastAppendedAt: null, committedWatermark: null });
    await saveProgress(0, { maxEventTime: 1000, storedThrough: 10, lastActiveAt: 200, lastAppendedAt: null, committedWatermark: null });
    await saveProgress(1, { maxEventTime: 500, storedThrough: 7, lastActiveAt: 150, lastAppendedAt: null, committedWatermark: null });
    // A stale write (a replayed batch, a slow instance) changes nothing.
    await saveProgress(0, { maxEventTime: 900, storedThrough: 8, lastActiveAt: 190, lastAppendedAt: null, committedWatermark: null });
    await saveProgress(1, { maxEventTime: null, storedThrough: 9, lastActiveAt: 300, lastAppendedAt: null, committedWatermark: null });
    expect(await store.loadProgress()).toEqual(
      new Map([
        [0, { maxEventTime: 1000, storedThrough: 10, lastActiveAt: 200, lastAppendedAt: null, committedWatermark: null, version: 3 }],
        [1, { maxEventTime: 500, storedThrough: 9, lastActiveAt: 300, lastAppendedAt: null, committedWatermark: null, version: 2 }],
      ]),
    );
  });

  it('item 7: records the first log identity and keeps it, across a reopen and against any later one', async () => {
    expect(await store.recordLogIdentity('log-A')).toBe('log-A');
    expect(await store.recordLogIdentity('log-A')).toBe('log-A');
    expect(await store.recordLogIdentity('log-B')).toBe('log-A');
    await store.close();
    store = await harness.open();
    expect(await store.recordLogIdentity('log-B')).toBe('log-A');
  });

  it('item 7: of concurrent first records, one wins and every caller is told the same', async () => {
    const answers = await Promise.all(['log-1', 'log-2', 'log-3', 'log-4'].map((identity) => store.recordLogIdentity(identity)));
    expect(new Set(answers).size).toBe(1);
    expect(['log-1', 'log-2', 'log-3', 'log-4']).toContain(answers[0]);
  });

  it('keeps the committed watermark and the last append time, each only ever raised', async () => {
    await saveProgress(4, { maxEventTime: 50, storedThrough: 1, lastActiveAt: 10, lastAppendedAt: 9, committedWatermark: 40 });
    // A write naming lower (or no) values, as a heartbeat racing a batch could, lowers nothing.
    await saveProgress(4, { maxEventTime: 50, storedThrough: 2, lastActiveAt: 20, lastAppendedAt: 5, committedWatermark: 30 });
    await saveProgress(4, { maxEventTime: 50, storedThrough: 2, lastActiveAt: 20, lastAppendedAt: null, committedWatermark: null });
    expect((await store.loadProgress()).get(4)).toEqual({
      maxEventTime: 50,
      storedThrough: 2,
      lastActiveAt: 20,
      lastAppendedAt: 9,
      committedWatermark: 40,
      version: 3,
    });
    await saveProgress(4, { maxEventTime: 60, storedThrough: 3, lastActiveAt: 30, lastAppendedAt: 29, committedWatermark: 55 });
    expect((await store.loadProgress()).get(4)).toMatchObject({ lastAppendedAt: 29, committedWatermark: 55, version: 4 });
  });

  it('writes a processed batch: rows, catalog and progress together', async () => {
    const catalog = catalogRow({ partition: 3, appliedOffset: 42, count: 2, lastSeen: MINUTE + 1 });
    const rows = [row({ partition: 3, appliedOffset: 42 }, [5, 7]), row({ partition: 3, appliedOffset: 41, interval: 'HOUR' }, [5])];
    await store.saveBatch({
      rollups: rows,
      catalog: [catalog],
      partition: 3,
      progress: {
        maxEventTime: MINUTE + 1,
        storedThrough: 42,
        lastActiveAt: 1_000,
        lastAppendedAt: null,
        committedWatermark: null,
        version: 0,
      },
    });
    expect((await store.loadRollups(rows)).map(summary)).toEqual(rows.map(summary));
    expect(await store.loadCatalog([catalog])).toEqual([catalog]);
    expect((await store.loadProgress()).get(3)).toEqual({
      maxEventTime: MINUTE + 1,
      storedThrough: 42,
      lastActiveAt: 1_000,
      lastAppendedAt: null,
      committedWatermark: null,
      version: 1,
    });
  });

  it('keeps value and dimension keys named after Object.prototype members, and _bsontype, as ordinary keys', async () => {
    const aggregate = emptyAggregate();
    addEvent(aggregate, { constructor: 1.5, toString: 2, _bsontype: 3 });
    addEvent(aggregate, { constructor: 2.25 });
    const proto = row({ dimensionsKey: '[["constructor","a"]]', dimensions: { constructor: 'a', _bsontype: 'x' }, aggregate });
    const catalog = catalogRow({
      appliedOffset: 1,
      count: 2,
      lastSeen: MINUTE,
      dimensionKeys: ['_bsontype', 'constructor'],
      valueKeys: ['_bsontype', 'constructor', 'toString'],
    });
    await store.saveBatch({
      rollups: [proto],
      catalog: [catalog],
      partition: 0,
      progress: { maxEventTime: MINUTE, storedThrough: 1, lastActiveAt: 1, lastAppendedAt: null, committedWatermark: null, version: 0 },
    });
    const range = { tenant: 'acme', type: 'purchase', interval: 'MINUTE' as const, from: MINUTE, to: MINUTE + 1 };
    for (const valueKey of [undefined, 'constructor']) {
      const [read] = await store.readRollups({ ...range, valueKey });
      expect(read!.dimensions).toEqual({ constructor: 'a', _bsontype: 'x' });
      expect(pointStats(read!.aggregate, 'constructor')).toMatchObject({ count: 2, sum: 3.75, min: 1.5, max: 2.25 });
    }
    const [onlyAbsent] = await store.readRollups({ ...range, valueKey: 'valueOf' });
    expect([...onlyAbsent!.aggregate.values.keys()]).toEqual([]);
    expect(pointStats(onlyAbsent!.aggregate, 'valueOf')).toMatchObject({ count: 2, sum: null });
    expect(await store.readCatalog('acme')).toEqual([catalog]);
  });

  it('item 1: a row of a lower appliedOffset never replaces a higher one, and a stale progress version is fenced', async () => {
    const catalogAt = (appliedOffset: number, count: number): CatalogRow => ({
      tenant: 'acme',
      type: 'purchase',
      partition: 0,
      appliedOffset,
      count,
      firstSeen: MINUTE,
      lastSeen: MINUTE + appliedOffset,
      dimensionKeys: ['country'],
      valueKeys: ['amount'],
      droppedDimensionKeys: 0,
      droppedValueKeys: 0,
    });
    // The new owner stores offset 20; the former owner's row of offset 10 arrives afterwards.
    const newer = row({ appliedOffset: 20 }, [1, 2, 3, 4]);
    await saveRows([newer], [catalogAt(20, 4)]);
    await saveRows([row({ appliedOffset: 10 }, [1, 2])], [catalogAt(10, 2)]);
    expect((await store.loadRollups([newer])).map(summary)).toEqual([summary(newer)]);
    expect(await store.loadCatalog([catalogAt(20, 4)])).toEqual([catalogAt(20, 4)]);
    // The same offset again (both owners wrote it) and a higher one both land.
    await saveRows([newer], [catalogAt(20, 4)]);
    const newest = row({ appliedOffset: 21 }, [1, 2, 3, 4, 5]);
    await saveRows([newest], [catalogAt(21, 5)]);
    expect((await store.loadRollups([newer])).map(summary)).toEqual([summary(newest)]);

    // Progress: a writer naming a version that is no longer stored is fenced and changes nothing.
    await saveProgress(0, {
      maxEventTime: MINUTE + 21,
      storedThrough: 21,
      lastActiveAt: 2_000,
      lastAppendedAt: null,
      committedWatermark: null,
    });
    const before = await store.loadProgress();
    expect(before.get(0)).toEqual({
      maxEventTime: MINUTE + 21,
      storedThrough: 21,
      lastActiveAt: 2_000,
      lastAppendedAt: null,
      committedWatermark: null,
      version: 5,
    });
    const staleWrite = store.saveBatch({
      rollups: [row({ appliedOffset: 30 }, [9])],
      catalog: [catalogAt(30, 9)],
      partition: 0,
      progress: {
        maxEventTime: MINUTE + 30,
        storedThrough: 30,
        lastActiveAt: 3_000,
        lastAppendedAt: null,
        committedWatermark: null,
        version: 4,
      },
    });
    await expect(staleWrite).rejects.toBeInstanceOf(PartitionFencedError);
    await expect(staleWrite).rejects.toMatchObject({ partition: 0, expectedVersion: 4, storedVersion: 5 });
    expect(await store.loadProgress()).toEqual(before);
    expect((await store.loadRollups([newer])).map(summary)).toEqual([summary(newest)]);
    expect(await store.loadCatalog([catalogAt(21, 5)])).toEqual([catalogAt(21, 5)]);

    // Two first writers of a partition both read "no row" (version 0): only one of them wins.
    const first = { maxEventTime: null, storedThrough: 3, lastActiveAt: 1, lastAppendedAt: null, committedWatermark: null, version: 0 };
    await store.saveBatch({ rollups: [], catalog: [], partition: 7, progress: first });
    await expect(
      store.saveBatch({ rollups: [], catalog: [], partition: 7, progress: { ...first, storedThrough: 2 } }),
    ).rejects.toBeInstanceOf(PartitionFencedError);
    expect((await store.loadProgress()).get(7)).toEqual({ ...first, version: 1 });
  });

  it('deletes the buckets of one interval before a time', async () => {
    await saveRows([
      row({ interval: 'SECOND', bucketStart: MINUTE }),
      row({ interval: 'SECOND', bucketStart: MINUTE + 1000 }),
      row({ interval: 'MINUTE', bucketStart: MINUTE }),
    ]);
    expect(await store.deleteBucketsBefore('SECOND', MINUTE + 1000)).toBe(1);
    expect((await store.readRollups({ tenant: 'acme', type: 'purchase', interval: 'SECOND', from: 0, to: MINUTE * 2 })).length).toBe(1);
    expect((await store.readRollups({ tenant: 'acme', type: 'purchase', interval: 'MINUTE', from: 0, to: MINUTE * 2 })).length).toBe(1);
  });

  it('deletes SECOND buckets cut after cut across windows, each row once, and a cut that goes back deletes nothing', async () => {
    const HOUR = 3_600_000;
    const rows = [0, 1, 2, 3].flatMap((hours) =>
      ['acme', 'globex'].map((tenant) => row({ tenant, interval: 'SECOND', bucketStart: MINUTE + hours * HOUR + 1000 })),
    );
    await saveRows(rows);
    expect(await store.deleteBucketsBefore('SECOND', MINUTE + HOUR + 2000)).toBe(4);
    expect(await store.deleteBucketsBefore('SECOND', MINUTE + HOUR + 2000)).toBe(0);
    expect(await store.deleteBucketsBefore('SECOND', MINUTE)).toBe(0);
    expect(await store.deleteBucketsBefore('SECOND', MINUTE + 3 * HOUR)).toBe(2);
    const left = await store.readRollups({ tenant: 'globex', type: 'purchase', interval: 'SECOND', from: 0, to: MINUTE * 2 });
    expect(left.map((r) => r.bucketStart)).toEqual([MINUTE + 3 * HOUR + 1000]);
  });

  it('grants the purge lease to its holder again and again', async () => {
    expect(await store.holdPurgeLease('instance-a', 60_000)).toBe(true);
    expect(await store.holdPurgeLease('instance-a', 60_000)).toBe(true);
  });
});
