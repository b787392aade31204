/**
 * The Cassandra purge of SECOND buckets at scale, on a real Cassandra: several hundred (tenant,
 * type) pairs over many windows, purged again and again, as the processor does every minute.
 * The contract suite proves what a purge deletes; this file proves what it must never read (the
 * registry's deleted entries, which Cassandra refuses to scan past 100,000 and warns about past
 * 1,000), that one instance at a time purges, and that a keyspace from before migration 9 keeps
 * being purged.
 */
import { afterEach, describe, expect, it } from 'vitest';
import cassandra from 'cassandra-driver';
import { createCassandraSeriesStore, type PurgeReport } from '../../src/adapters/cassandra/cassandra-series-store.ts';
import { dropKeyspace, migrate, seriesStoreMigrations } from '../../src/adapters/cassandra/migrations.ts';
import type { RollupRow, RollupRowId, SeriesStore } from '../../src/ports/series-store.ts';
import { addEvent, emptyAggregate, encodeAggregate } from '../../src/domain/rollup.ts';
import { requireServerEnv, uniqueName } from '../support/real-servers.ts';

const HOUR = 3_600_000;
/** 21:00 UTC: the windows below cross midnight, so a purge also drops a whole day of the registry. */
const FIRST_WINDOW = Date.parse('2026-03-01T21:00:00.000Z');
/** 20 tenants × 15 types: several hundred pairs, each with a partition per SECOND window. */
const TENANTS = Array.from({ length: 20 }, (_, index) => `tenant-${index}`);
const TYPES = Array.from({ length: 15 }, (_, index) => `type-${index}`);
const PAIRS = TENANTS.flatMap((tenant) => TYPES.map((type) => ({ tenant, type })));
/** Hour windows of SECOND rows: each purge below empties one, so the old registry gathered 300 deletions per purge. */
const WINDOWS = 7;
/** Each window holds one row per pair, half an hour in; a purge cuts three quarters in. */
const ROW_OFFSET = 30 * 60_000;
const CUT_OFFSET = 45 * 60_000;

function settings() {
  return {
    contactPoints: requireServerEnv('CASSANDRA_CONTACT_POINTS')
      .split(',')
      .map((point) => point.trim())
      .filter(Boolean),
    localDataCenter: process.env.CASSANDRA_LOCAL_DC || 'datacenter1',
  };
}

function secondRow(tenant: string, type: string, bucketStart: number): RollupRow {
  const aggregate = emptyAggregate();
  addEvent(aggregate, { amount: 1 });
  return {
    tenant,
    type,
    interval: 'SECOND',
    bucketStart,
    dimensionsKey: '[]',
    partition: 0,
    dimensions: {},
    appliedOffset: 1,
    aggregate,
  };
}

const rowsOfWindow = (window: number) =>
  PAIRS.map(({ tenant, type }) => secondRow(tenant, type, FIRST_WINDOW + window * HOUR + ROW_OFFSET));

/** Each write names the progress version it read, as the processor's do (the progress row fences writers). */
async function saveRows(store: SeriesStore, rollups: RollupRow[]): Promise<void> {
  const version = (await store.loadProgress()).get(0)?.version ?? 0;
  await store.saveBatch({
    rollups,
    catalog: [],
    partition: 0,
    progress: { maxEventTime: null, storedThrough: 0, lastActiveAt: 0, lastAppendedAt: null, committedWatermark: null, version },
  });
}

const keyspaces: string[] = [];
const stores: SeriesStore[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const keyspace of keyspaces.splice(0)) await dropKeyspace({ ...settings(), keyspace }).catch(() => {});
});

function newKeyspace(): string {
  const keyspace = uniqueName('purge').toLowerCase();
  keyspaces.push(keyspace);
  return keyspace;
}

async function openStore(keyspace: string, warnings: string[] = [], purges: PurgeReport[] = []) {
  const store = await createCassandraSeriesStore({
    ...settings(),
    keyspace,
    onWarning: (message) => warnings.push(message),
    onPurge: (report) => purges.push(report),
  });
  stores.push(store);
  return store;
}

describe('Cassandra purge of SECOND buckets', () => {
  it('item 10: repeated purges over several hundred (tenant, type) pairs delete every SECOND row past the cut and read only live registry entries', async () => {
    const warnings: string[] = [];
    const purges: PurgeReport[] = [];
    const store = await openStore(newKeyspace(), warnings, purges);
    const allRows = Array.from({ length: WINDOWS }, (_, window) => rowsOfWindow(window)).flat();
    await saveRows(store, allRows);

    for (let window = 0; window < WINDOWS; window++) {
      const cut = FIRST_WINDOW + window * HOUR + CUT_OFFSET;
      // Each cut passes exactly one row of every pair: the one in the window it cuts through.
      expect(await store.deleteBucketsBefore('SECOND', cut)).toBe(PAIRS.length);
      // The processor purges every minute, mostly with nothing new to delete.
      expect(await store.deleteBucketsBefore('SECOND', cut)).toBe(0);
    }

    const remaining = await store.loadRollups(allRows.map((row): RollupRowId => row));
    expect(remaining).toEqual([]);
    // The registry never held more than a few hundred deleted entries in the range a purge read.
    expect(warnings.filter((message) => /tombstone/i.test(message))).toEqual([]);
    // A purge reads the windows that may still hold rows at or after the previous cut, and
    // nothing older: the window the previous cut went through, and the one this cut goes through.
    // The day of 21:00 to 24:00 was dropped from the registry whole, once a cut passed midnight.
    expect(purges.reduce((sum, purge) => sum + purge.spansDropped, 0)).toBe(1);
    expect(purges.map((purge) => purge.registryRowsRead)).toEqual(
      Array.from({ length: WINDOWS }, (_, window) => [window === 0 ? PAIRS.length : 2 * PAIRS.length, PAIRS.length]).flat(),
    );
  });

  it('item 10: of two instances on one keyspace, one at a time holds the purge lease, until it lapses', async () => {
    const keyspace = newKeyspace();
    const first = await openStore(keyspace);
    const second = await openStore(keyspace);
    expect(await first.holdPurgeLease('instance-a', 60_000)).toBe(true);
    expect(await second.holdPurgeLease('instance-b', 60_000)).toBe(false);
    // The holder renews its lease; the other keeps being refused.
    expect(await first.holdPurgeLease('instance-a', 1_000)).toBe(true);
    expect(await second.holdPurgeLease('instance-b', 60_000)).toBe(false);

    // A holder that stops renewing (it died) loses the lease once it lapses (1 s here), and the
    // other instance takes over: asked again until it does, at most 40 times a quarter second apart.
    let takenOver = false;
    for (let attempt = 0; attempt < 40 && !takenOver; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      takenOver = await second.holdPurgeLease('instance-b', 60_000);
    }
    expect(takenOver).toBe(true);
    expect(await first.holdPurgeLease('instance-a', 60_000)).toBe(false);
  });

  it('item 10: a keyspace migrated before version 9 has its registered windows carried over, so they are still purged', async () => {
    const keyspace = newKeyspace();
    // Two hours back: a window whose rows can still exist, which a carry-over must find.
    const window = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    // The keyspace as an older build left it: the migrations before 9, rows and their windows
    // in the registry of migration 1.
    const client = new cassandra.Client({ ...settings(), encoding: { useBigIntAsLong: true } });
    try {
      await client.connect();
      await migrate(client, {
        keyspace,
        localDataCenter: settings().localDataCenter,
        replicationFactor: 1,
        migrations: seriesStoreMigrations.filter((migration) => migration.version < 9),
      });
      for (const { tenant, type } of PAIRS.slice(0, 10)) {
        const windowStart = BigInt(window);
        await client.execute(
          `INSERT INTO ${keyspace}.rollups (tenant, type, interval, window_start, bucket_start, dimensions_key, log_partition,
            dimensions, applied_offset, aggregate) VALUES (?, ?, 'SECOND', ?, ?, '[]', 0, '{}', 1, ?)`,
          [tenant, type, windowStart, BigInt(window + ROW_OFFSET), encodeAggregate(secondRow(tenant, type, 0).aggregate)],
          { prepare: true },
        );
        await client.execute(
          `INSERT INTO ${keyspace}.rollup_windows (interval, window_start, tenant, type) VALUES ('SECOND', ?, ?, ?)`,
          [windowStart, tenant, type],
          { prepare: true },
        );
      }
    } finally {
      await client.shutdown();
    }

    const store = await openStore(keyspace);
    expect(await store.deleteBucketsBefore('SECOND', window + HOUR)).toBe(10);
    const range = { tenant: PAIRS[0]!.tenant, type: PAIRS[0]!.type, interval: 'SECOND' as const, from: window, to: window + HOUR };
    expect(await store.readRollups(range)).toEqual([]);
  });
});
