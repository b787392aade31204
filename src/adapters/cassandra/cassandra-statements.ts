/**
 * What the Cassandra series store sends: its CQL, how it runs it (prepared, concurrent, paged),
 * and how rows and their keys are encoded into columns and decoded back, including which window
 * partition a bucket lives in. The tables themselves are created by migrations.ts.
 */
import cassandra from 'cassandra-driver';
import type { Client, types } from 'cassandra-driver';
import type { Interval } from '../../domain/interval.ts';
import type { CatalogRow, PartitionProgress, RollupRow, RollupRowId } from '../../ports/series-store.ts';
import { decodeAggregate, encodeAggregate } from '../../domain/rollup.ts';

/**
 * The span of one rollups partition per interval. A partition holds
 *   rows = buckets per window × dimension combinations × log partitions
 * and a row's size grows with the events it summarises (the aggregate's sketches gain bins):
 * with two value keys, measured with encodeAggregate, ~0.3–0.4 KB for a handful of events,
 * ~1 KB for 60, ~3.5 KB for 1,000 and ~5 KB where it levels off. So per combination and log
 * partition, with every bucket of the window populated, a partition holds at most
 *   SECOND, 1 hour:    3,600 buckets × ~0.4 KB ≈ 1.4 MB  (rows: 3,600 × C × P)
 *   MINUTE, 6 hours:     360 buckets × ~3.5 KB ≈ 1.3 MB  (rows:   360 × C × P)
 *   HOUR,   7 days:      168 buckets × ~5 KB   ≈ 0.8 MB  (rows:   168 × C × P)
 *   DAY,    365 days:    365 buckets × ~5 KB   ≈ 1.8 MB  (rows:   365 × C × P)
 * e.g. 10 combinations (C) busy in every bucket on 4 log partitions (P): at most ~60 MB
 * (144,000 SECOND rows), under the usual ~100 MB guidance, and no partition grows with time.
 * A day per MINUTE window or 30 days per HOUR window would reach ~200 MB and ~145 MB there.
 * Ranges stay cheap: the API's largest reads (10,000 buckets of any interval, or 31 days of
 * MINUTE for top lists) touch at most 125 windows, read concurrently.
 * Windows are epoch-aligned multiples of the bucket size, so a bucket never straddles two.
 * Distinct sketches (events' `distinct`, in the same aggregate text) add per distinct key 7 bytes of
 * base64 per value up to 1,755 values, then a constant ~16.4 KB: a row of a busy HOUR or DAY bucket
 * with one distinct key is ~21 KB, so, e.g., 10 combinations on 4 log partitions reach ~140 MB in an
 * HOUR window and ~300 MB in the DAY one where every bucket of every combination has 1,756+ users.
 * Deployments that count distinct values in many busy combinations should keep the combinations few.
 */
export const WINDOW_MS: Record<Interval, number> = {
  SECOND: 3_600_000,
  MINUTE: 6 * 3_600_000,
  HOUR: 7 * 86_400_000,
  DAY: 365 * 86_400_000,
};

export function windowStartOf(interval: Interval, bucketStart: number): number {
  const size = WINDOW_MS[interval];
  return Math.floor(bucketStart / size) * size;
}

/**
 * Row versions ordered by the log, not by the clock. Cassandra keeps, of two writes to a cell,
 * the one with the higher write timestamp; by default that is the client's clock, so a former
 * owner of a log partition writing late (after a rebalance) would replace the new owner's newer
 * row with its older one. Every rollup and catalog row is therefore written `USING TIMESTAMP
 * OFFSET_VERSION_BASE + appliedOffset`: a row of a lower offset can never replace one of a
 * higher offset, whoever writes last. Ties (the same offset written by two owners) are harmless:
 * a row's content at a given appliedOffset follows from the log up to that offset alone, since
 * the claims (first log position wins) decide which events count and which are quarantined.
 *
 * The base is 2^60 so that these versions lie above every wall-clock timestamp (microseconds
 * since 1970: about 2^50.6 today; 2^60 µs is some 36,000 years away): a write made with the
 * ordinary client clock, such as a row from before this change, always loses to them.
 * Offsets are safe integers (< 2^53), so versions stay below 2^61, well inside CQL's
 * bigint (signed 64-bit, at most 2^63 - 1).
 */
export const OFFSET_VERSION_BASE = 1n << 60n;
/**
 * The write timestamp of the purge's deletes: above every offset version (< 2^61), so a purge
 * removes whatever row is there, and a late write into a purged bucket (a replay of events past
 * retention) stays deleted while the tombstone lives, instead of resurrecting the bucket.
 */
export const PURGE_TIMESTAMP = 1n << 62n;

/** The write timestamp that orders a row's versions by the log offset it holds. */
export function offsetVersion(appliedOffset: number): bigint {
  if (!Number.isSafeInteger(appliedOffset) || appliedOffset < -1) {
    throw new RangeError(`an applied offset must be a safe integer of at least -1, not ${appliedOffset}`);
  }
  return OFFSET_VERSION_BASE + BigInt(appliedOffset);
}

/** Enough in-flight requests to hide latency without queueing thousands on one connection. */
export const CONCURRENCY = 32;
const PAGE_SIZE = 2_000;

export function cqlFor(keyspace: string) {
  return {
    selectRollup: `SELECT * FROM ${keyspace}.rollups
      WHERE tenant = ? AND type = ? AND interval = ? AND window_start = ? AND bucket_start = ? AND dimensions_key = ? AND log_partition = ?`,
    upsertRollup: `INSERT INTO ${keyspace}.rollups (tenant, type, interval, window_start, bucket_start, dimensions_key, log_partition,
      dimensions, applied_offset, aggregate) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?`,
    selectWindowRange: `SELECT * FROM ${keyspace}.rollups
      WHERE tenant = ? AND type = ? AND interval = ? AND window_start = ? AND bucket_start >= ? AND bucket_start < ? LIMIT ?`,
    countWindow: `SELECT COUNT(*) AS row_count FROM ${keyspace}.rollups WHERE tenant = ? AND type = ? AND interval = ? AND window_start = ?`,
    countWindowBefore: `SELECT COUNT(*) AS row_count FROM ${keyspace}.rollups
      WHERE tenant = ? AND type = ? AND interval = ? AND window_start = ? AND bucket_start < ?`,
    deleteWindow: `DELETE FROM ${keyspace}.rollups USING TIMESTAMP ${PURGE_TIMESTAMP}
      WHERE tenant = ? AND type = ? AND interval = ? AND window_start = ?`,
    deleteWindowBefore: `DELETE FROM ${keyspace}.rollups USING TIMESTAMP ${PURGE_TIMESTAMP}
      WHERE tenant = ? AND type = ? AND interval = ? AND window_start = ? AND bucket_start < ?`,
    registerWindow: `INSERT INTO ${keyspace}.rollup_windows_by_span (interval, span_start, window_start, tenant, type) VALUES (?, ?, ?, ?, ?)`,
    registerSpan: `INSERT INTO ${keyspace}.rollup_window_spans (interval, span_start) VALUES (?, ?)`,
    spansBetween: `SELECT span_start FROM ${keyspace}.rollup_window_spans WHERE interval = ? AND span_start >= ? AND span_start < ?`,
    windowsOfSpanBetween: `SELECT window_start, tenant, type FROM ${keyspace}.rollup_windows_by_span
      WHERE interval = ? AND span_start = ? AND window_start >= ? AND window_start < ?`,
    dropSpanWindows: `DELETE FROM ${keyspace}.rollup_windows_by_span WHERE interval = ? AND span_start = ?`,
    dropSpan: `DELETE FROM ${keyspace}.rollup_window_spans WHERE interval = ? AND span_start = ?`,
    selectPurgeState: `SELECT purged_before, legacy_registry_carried_over FROM ${keyspace}.rollup_purges WHERE interval = ?`,
    savePurgedBefore: `UPDATE ${keyspace}.rollup_purges SET purged_before = ? WHERE interval = ?`,
    markLegacyRegistryCarriedOver: `UPDATE ${keyspace}.rollup_purges SET legacy_registry_carried_over = true WHERE interval = ?`,
    /** The registry of migration 1, read once per interval to carry its windows over. */
    legacyWindows: `SELECT window_start, tenant, type FROM ${keyspace}.rollup_windows WHERE interval = ?`,
    legacyWindowsAt: `SELECT window_start, tenant, type FROM ${keyspace}.rollup_windows WHERE interval = ? AND window_start = ?`,
    legacyWindowsFrom: `SELECT window_start, tenant, type FROM ${keyspace}.rollup_windows WHERE interval = ? AND window_start >= ?`,
    // An UPDATE, not an INSERT: it writes no row marker, so the row is gone once its one cell
    // expires, and a free lease (no row, or its cell expired) reads as holder = null.
    holdPurgeLease: `UPDATE ${keyspace}.purge_lease USING TTL ? SET holder = ? WHERE name = ? IF holder IN (null, ?)`,
    selectCatalog: `SELECT * FROM ${keyspace}.catalog WHERE tenant = ? AND type = ? AND log_partition = ?`,
    selectTenantCatalog: `SELECT * FROM ${keyspace}.catalog WHERE tenant = ?`,
    selectTenantCatalogTypes: `SELECT * FROM ${keyspace}.catalog WHERE tenant = ? AND type IN ?`,
    upsertCatalog: `INSERT INTO ${keyspace}.catalog (tenant, type, log_partition, applied_offset, event_count, first_seen, last_seen,
      dimension_keys, value_keys, dropped_dimension_keys, dropped_value_keys) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      USING TIMESTAMP ?`,
    // Progress before migration 6: one Cassandra partition (scope) for all; read, never written.
    selectAllLegacyProgress: `SELECT log_partition, max_event_time, stored_through, last_active_at
      FROM ${keyspace}.partition_progress WHERE scope = ?`,
    selectLegacyProgress: `SELECT log_partition, max_event_time, stored_through, last_active_at
      FROM ${keyspace}.partition_progress WHERE scope = ? AND log_partition = ?`,
    // A handful of rows, one per log partition: reading them all is a small scan.
    selectAllProgress: `SELECT log_partition, max_event_time, stored_through, last_active_at, version, last_appended_at,
      committed_watermark FROM ${keyspace}.log_partition_progress`,
    selectProgress: `SELECT log_partition, max_event_time, stored_through, last_active_at, version, last_appended_at,
      committed_watermark FROM ${keyspace}.log_partition_progress WHERE log_partition = ?`,
    // The two fenced writes (lightweight transactions): the first of a partition, and the next.
    // Cassandra refuses USING TIMESTAMP on them (Paxos picks the timestamp), which is why
    // progress has a table of its own and is never written by a plain upsert: mixing the two
    // on one row would order its writes by two different clocks.
    insertProgressIfAbsent: `INSERT INTO ${keyspace}.log_partition_progress
      (log_partition, max_event_time, stored_through, last_active_at, last_appended_at, committed_watermark, version)
      VALUES (?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS`,
    updateProgressIfVersion: `UPDATE ${keyspace}.log_partition_progress
      SET max_event_time = ?, stored_through = ?, last_active_at = ?, last_appended_at = ?, committed_watermark = ?, version = ?
      WHERE log_partition = ? IF version = ?`,
    // Written once per keyspace; the lightweight transaction makes concurrent first starts agree.
    recordLogIdentity: `INSERT INTO ${keyspace}.log_identity (scope, identity, recorded_at) VALUES (?, ?, ?) IF NOT EXISTS`,
  };
}

/** Runs `task` over `items` with at most `limit` in flight; results keep the items' order. */
export async function mapConcurrently<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export interface CassandraStatements {
  cql: ReturnType<typeof cqlFor>;
  /** One statement per parameter list, prepared once and run concurrently; never a batch. */
  executeEach(query: string, parameters: unknown[][]): Promise<void>;
  /** Runs the statements concurrently and returns the first page of each result, in order: for small reads. */
  selectEach(statements: { query: string; params: unknown[] }[]): Promise<types.ResultSet[]>;
  /**
   * Every row of a query, following the paging state so large partitions arrive in pages;
   * `keepReading` is asked after each row, and no further row is read once it says no.
   */
  selectAll(query: string, parameters: unknown[], keepReading?: (row: types.Row) => boolean): Promise<types.Row[]>;
}

export function createStatements(client: Client, keyspace: string): CassandraStatements {
  return {
    cql: cqlFor(keyspace),

    async executeEach(query, parameters) {
      if (parameters.length === 0) return;
      await cassandra.concurrent.executeConcurrent(client, query, parameters, { concurrencyLevel: CONCURRENCY });
    },

    async selectEach(statements) {
      if (statements.length === 0) return [];
      const group = await cassandra.concurrent.executeConcurrent(client, statements, {
        concurrencyLevel: CONCURRENCY,
        collectResults: true,
      });
      return group.resultItems as types.ResultSet[];
    },

    async selectAll(query, parameters, keepReading = () => true) {
      const result = await client.execute(query, parameters, { fetchSize: PAGE_SIZE });
      const rows: types.Row[] = [];
      for await (const row of result) {
        rows.push(row);
        if (!keepReading(row)) break;
      }
      return rows;
    },
  };
}

export function toBigInt(value: number): bigint {
  return BigInt(value);
}

/** The driver is set to decode bigint as BigInt; every value stored here is a ms time, an offset or a count. */
export function toNumber(value: unknown, column: string): number {
  if (typeof value === 'bigint') {
    const number = Number(value);
    if (!Number.isSafeInteger(number)) throw new Error(`${column} holds ${value}, beyond the safe integer range`);
    return number;
  }
  if (typeof value === 'number') return value;
  throw new Error(`${column} holds ${String(value)}, not a number`);
}

/** The primary key columns of a rollup row, in the order of selectRollup and upsertRollup. */
export function rollupKey(id: RollupRowId): unknown[] {
  return [
    id.tenant,
    id.type,
    id.interval,
    toBigInt(windowStartOf(id.interval, id.bucketStart)),
    toBigInt(id.bucketStart),
    id.dimensionsKey,
    id.partition,
  ];
}

/**
 * The parameters of upsertRollup. The TTL is unaffected by the offset version: Cassandra counts
 * a cell's expiry from the coordinator's clock at the write, not from the write timestamp.
 */
export function rollupParameters(row: RollupRow, ttlSeconds: number): unknown[] {
  return [
    ...rollupKey(row),
    JSON.stringify(row.dimensions),
    toBigInt(row.appliedOffset),
    encodeAggregate(row.aggregate),
    ttlSeconds,
    offsetVersion(row.appliedOffset),
  ];
}

export function toRollupRow(row: types.Row, onlyValue?: string | null): RollupRow {
  return {
    tenant: row.get('tenant'),
    type: row.get('type'),
    interval: row.get('interval'),
    bucketStart: toNumber(row.get('bucket_start'), 'bucket_start'),
    dimensionsKey: row.get('dimensions_key'),
    partition: row.get('log_partition'),
    dimensions: JSON.parse(row.get('dimensions')),
    appliedOffset: toNumber(row.get('applied_offset'), 'applied_offset'),
    aggregate: decodeAggregate(row.get('aggregate'), onlyValue),
  };
}

/** The parameters of upsertCatalog. */
export function catalogParameters(row: CatalogRow): unknown[] {
  return [
    row.tenant,
    row.type,
    row.partition,
    toBigInt(row.appliedOffset),
    toBigInt(row.count),
    toBigInt(row.firstSeen),
    toBigInt(row.lastSeen),
    JSON.stringify(row.dimensionKeys),
    JSON.stringify(row.valueKeys),
    toBigInt(row.droppedDimensionKeys),
    toBigInt(row.droppedValueKeys),
    offsetVersion(row.appliedOffset),
  ];
}

export function toCatalogRow(row: types.Row): CatalogRow {
  return {
    tenant: row.get('tenant'),
    type: row.get('type'),
    partition: row.get('log_partition'),
    appliedOffset: toNumber(row.get('applied_offset'), 'applied_offset'),
    count: toNumber(row.get('event_count'), 'event_count'),
    firstSeen: toNumber(row.get('first_seen'), 'first_seen'),
    lastSeen: toNumber(row.get('last_seen'), 'last_seen'),
    dimensionKeys: JSON.parse(row.get('dimension_keys')),
    valueKeys: JSON.parse(row.get('value_keys')),
    droppedDimensionKeys: countOrZero(row.get('dropped_dimension_keys'), 'dropped_dimension_keys'),
    droppedValueKeys: countOrZero(row.get('dropped_value_keys'), 'dropped_value_keys'),
  };
}

/** A column added by a later migration is null in rows written before it. */
function countOrZero(value: unknown, column: string): number {
  return value === null || value === undefined ? 0 : toNumber(value, column);
}

/** The columns of a progress row other than its key and version, in the order of the progress statements. */
export function progressColumns(progress: PartitionProgress): unknown[] {
  return [
    progress.maxEventTime === null ? null : toBigInt(progress.maxEventTime),
    toBigInt(progress.storedThrough),
    toBigInt(progress.lastActiveAt),
    progress.lastAppendedAt === null ? null : toBigInt(progress.lastAppendedAt),
    progress.committedWatermark === null ? null : toBigInt(progress.committedWatermark),
  ];
}

/** A nullable bigint column, null also in rows (or tables) from before it existed. */
function nullableNumber(row: types.Row, column: string): number | null {
  const value = row.keys().includes(column) ? row.get(column) : null;
  return value === null || value === undefined ? null : toNumber(value, column);
}

/** A progress row; one of partition_progress (before migration 6, no version column) counts as version 0. */
export function toProgress(row: types.Row): PartitionProgress {
  const maxEventTime = row.get('max_event_time');
  const version = row.keys().includes('version') ? row.get('version') : null;
  return {
    maxEventTime: maxEventTime === null || maxEventTime === undefined ? null : toNumber(maxEventTime, 'max_event_time'),
    storedThrough: toNumber(row.get('stored_through'), 'stored_through'),
    lastActiveAt: toNumber(row.get('last_active_at'), 'last_active_at'),
    lastAppendedAt: nullableNumber(row, 'last_appended_at'),
    committedWatermark: nullableNumber(row, 'committed_watermark'),
    version: version === null || version === undefined ? 0 : toNumber(version, 'version'),
  };
}
