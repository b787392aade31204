/**
 * How the Cassandra series store stamps its rows (item 1 of issue 12), read back with the
 * driver: a row's write timestamp is 2^60 + its appliedOffset, a SECOND row keeps its TTL
 * (expiry counts from the write's own time, not from that timestamp), and the purge, stamped
 * above every offset version, removes such rows.
 */
import cassandra from 'cassandra-driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCassandraSeriesStore } from '../../src/adapters/cassandra/cassandra-series-store.ts';
import { dropKeyspace } from '../../src/adapters/cassandra/migrations.ts';
import { OFFSET_VERSION_BASE } from '../../src/adapters/cassandra/cassandra-statements.ts';
import { emptyAggregate, addEvent } from '../../src/domain/rollup.ts';
import type { RollupRow, SeriesStore } from '../../src/ports/series-store.ts';
import { requireServerEnv, uniqueName } from '../support/real-servers.ts';

const SECOND = Date.parse('2026-11-27T12:00:05.000Z');
/** A day: far above the few seconds the test takes, so the TTL read back is within it. */
const TTL_SECONDS = 86_400;

function row(appliedOffset: number, values: number[]): RollupRow {
  const aggregate = emptyAggregate();
  for (const value of values) addEvent(aggregate, { amount: value });
  return {
    tenant: 'acme',
    type: 'purchase',
    interval: 'SECOND',
    bucketStart: SECOND,
    dimensionsKey: '[]',
    partition: 0,
    dimensions: {},
    appliedOffset,
    aggregate,
  };
}

describe('item 1: Cassandra row versions', () => {
  const settings = {
    contactPoints: requireServerEnv('CASSANDRA_CONTACT_POINTS').split(','),
    localDataCenter: process.env.CASSANDRA_LOCAL_DC || 'datacenter1',
  };
  const keyspace = uniqueName('versions').toLowerCase();
  let store: SeriesStore;
  let client: cassandra.Client;

  beforeAll(async () => {
    store = await createCassandraSeriesStore({ ...settings, keyspace, secondRowTtlSeconds: TTL_SECONDS });
    client = new cassandra.Client({ ...settings, encoding: { useBigIntAsLong: true } });
    await client.connect();
  });
  afterAll(async () => {
    await client.shutdown();
    await store.close();
    await dropKeyspace({ ...settings, keyspace }).catch(() => {});
  });

  it('item 1: stamps a row 2^60 + appliedOffset, keeps the SECOND TTL, and the purge still removes it', async () => {
    await store.saveBatch({ rollups: [row(41, [1, 2])], catalog: [], partition: 0, progress: progressAt(0) });
    const stamped = await client.execute(
      `SELECT WRITETIME(aggregate) AS written, TTL(aggregate) AS ttl, applied_offset FROM ${keyspace}.rollups
       WHERE tenant = 'acme' AND type = 'purchase' AND interval = 'SECOND' AND window_start = ?`,
      [BigInt(Math.floor(SECOND / 3_600_000) * 3_600_000)],
      { prepare: true },
    );
    const read = stamped.first();
    expect(read.get('written')).toBe(OFFSET_VERSION_BASE + 41n);
    expect(read.get('ttl')).toBeGreaterThan(TTL_SECONDS - 60);
    expect(read.get('ttl')).toBeLessThanOrEqual(TTL_SECONDS);

    expect(await store.deleteBucketsBefore('SECOND', SECOND + 1_000)).toBe(1);
    expect(await store.loadRollups([row(41, [])])).toEqual([]);
  });
});

function progressAt(version: number) {
  return { maxEventTime: null, storedThrough: 0, lastActiveAt: 0, lastAppendedAt: null, committedWatermark: null, version };
}
