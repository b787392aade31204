/**
 * The distributed series store: rollup rows, the type catalog and event-time progress in
 * Cassandra. Same semantics as the embedded (SQLite) adapter, proven by the same contract suite.
 *
 * Every row has exactly one writer (the consumer that owns its log partition) and carries the
 * log offset it has absorbed, so writes are plain upserts of whole rows with deterministic keys:
 * no lightweight transactions, no counters, no batches, and a replay rewrites identical rows.
 */
import cassandra from 'cassandra-driver';
import type { Client, types } from 'cassandra-driver';
import type { Interval } from '../../domain/interval.ts';
import type { CatalogRow, CatalogRowId, PartitionProgress, RollupRow, RollupRowId, SeriesStore } from '../../ports/series-store.ts';
import { decodeAggregate, encodeAggregate } from '../../domain/rollup.ts';
import { unavailable } from '../../errors.ts';
import { assertKeyspaceName, migrate, seriesStoreMigrations } from './migrations.ts';

export interface CassandraSeriesStoreOptions {
  /** Host names or addresses, each optionally with a port: `127.0.0.1:9042`. */
  contactPoints: string[];
  localDataCenter: string;
  keyspace: string;
  /** Used only when the keyspace is created. Default 1. */
  replicationFactor?: number;
  /**
   * A safety-net TTL for SECOND rows, in seconds; 0 or absent writes them without one. It must
   * exceed the SECOND retention, since the TTL counts from a row's last write and the purge is
   * what enforces retention. Its job is rows the purge can no longer find (see `registerWindows`).
   */
  secondRowTtlSeconds?: number;
  /** Driver and server warnings (large partitions, tombstones, schema agreement) and unknown schema versions. */
  onWarning?: (message: string, detail?: unknown) => void;
}

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
 * A range spanning more windows than this (only possible outside the API's own limits) is
 * served from the window registry rather than by probing every window, most of them empty.
 */
const MAX_PROBED_WINDOWS = 256;
/** Enough in-flight requests to hide latency without queueing thousands on one connection. */
const CONCURRENCY = 32;
const PAGE_SIZE = 2_000;
/**
 * A process re-registers a window it writes to after this long, so a window another instance
 * purged meanwhile gets back into the registry and is purged again later.
 */
const WINDOW_REGISTRATION_REFRESH_MS = 5 * 60_000;
/** Past this many cached registrations, stale ones are dropped (they would be re-sent anyway). */
const MAX_CACHED_WINDOW_REGISTRATIONS = 10_000;
const HEALTH_TIMEOUT_MS = 2_000;
/** All max event times live in this one partition (see migration 3). */
const PROGRESS_SCOPE = 'stream-processor';

function toBigInt(value: number): bigint {
  return BigInt(value);
}

/** The driver is set to decode bigint as BigInt; every value stored here is a ms time, an offset or a count. */
function toNumber(value: unknown, column: string): number {
  if (typeof value === 'bigint') {
    const number = Number(value);
    if (!Number.isSafeInteger(number)) throw new Error(`${column} holds ${value}, beyond the safe integer range`);
    return number;
  }
  if (typeof value === 'number') return value;
  throw new Error(`${column} holds ${String(value)}, not a number`);
}

function rollupKey(id: RollupRowId): unknown[] {
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

function toRollupRow(row: types.Row, onlyValue?: string | null): RollupRow {
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

function toCatalogRow(row: types.Row): CatalogRow {
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

/** Runs `task` over `items` with at most `limit` in flight; results keep the items' order. */
async function mapConcurrently<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
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

interface WindowRef {
  interval: Interval;
  windowStart: number;
  tenant: string;
  type: string;
}

function toProgress(row: types.Row): PartitionProgress {
  const maxEventTime = row.get('max_event_time');
  return {
    maxEventTime: maxEventTime === null || maxEventTime === undefined ? null : toNumber(maxEventTime, 'max_event_time'),
    storedThrough: toNumber(row.get('stored_through'), 'stored_through'),
    lastActiveAt: toNumber(row.get('last_active_at'), 'last_active_at'),
  };
}

function mergeProgress(stored: PartitionProgress, update: PartitionProgress): PartitionProgress {
  const maxEventTime =
    stored.maxEventTime === null ? update.maxEventTime : update.maxEventTime === null ? stored.maxEventTime : Math.max(stored.maxEventTime, update.maxEventTime);
  return {
    maxEventTime,
    storedThrough: Math.max(stored.storedThrough, update.storedThrough),
    lastActiveAt: Math.max(stored.lastActiveAt, update.lastActiveAt),
  };
}

export async function createCassandraSeriesStore(options: CassandraSeriesStoreOptions): Promise<SeriesStore> {
  const { keyspace, onWarning } = options;
  assertKeyspaceName(keyspace);
  const secondRowTtl = options.secondRowTtlSeconds ?? 0;
  if (!Number.isInteger(secondRowTtl) || secondRowTtl < 0) {
    throw new Error(`secondRowTtlSeconds must be a whole number of seconds, not ${secondRowTtl}`);
  }

  const client: Client = new cassandra.Client({
    contactPoints: options.contactPoints,
    localDataCenter: options.localDataCenter,
    encoding: { useBigIntAsLong: true },
    queryOptions: {
      prepare: true,
      // Reads and writes at LOCAL_QUORUM overlap on at least one replica, so a partition's
      // single writer always reads back what it wrote last, whatever the replication factor.
      consistency: cassandra.types.consistencies.localQuorum,
      // Every statement here is a read, an upsert of a whole row or a delete: safe to retry.
      isIdempotent: true,
    },
  });
  if (onWarning) {
    client.on('log', (level: string, className: string, message: string, furtherInfo: unknown) => {
      if (level === 'warning') onWarning(message, { source: className, detail: furtherInfo });
    });
  }

  try {
    await client.connect();
    await migrate(client, {
      keyspace,
      localDataCenter: options.localDataCenter,
      replicationFactor: options.replicationFactor ?? 1,
      migrations: seriesStoreMigrations,
      ...(onWarning ? { onWarning } : {}),
    });
  } catch (error) {
    await client.shutdown().catch(() => {});
    throw unavailable(`the Cassandra series store could not open keyspace ${keyspace}`, error);
  }

  const cql = {
    selectRollup: `SELECT * FROM ${keyspace}.rollups
      WHERE tenant = ? AND type = ? AND interval = ? AND window_start = ? AND bucket_start = ? AND dimensions_key = ? AND log_partition = ?`,
    upsertRollup: `INSERT INTO ${keyspace}.rollups (tenant, type, interval, window_start, bucket_start, dimensions_key, log_partition,
      dimensions, applied_offset, aggregate) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL ?`,
    selectWindowRange: `SELECT * FROM ${keyspace}.rollups
      WHERE tenant = ? AND type = ? AND interval = ? AND window_start = ? AND bucket_start >= ? AND bucket_start < ? LIMIT ?`,
    countWindow: `SELECT COUNT(*) AS row_count FROM ${keyspace}.rollups WHERE tenant = ? AND type = ? AND interval = ? AND window_start = ?`,
    countWindowBefore: `SELECT COUNT(*) AS row_count FROM ${keyspace}.rollups
      WHERE tenant = ? AND type = ? AND interval = ? AND window_start = ? AND bucket_start < ?`,
    deleteWindow: `DELETE FROM ${keyspace}.rollups WHERE tenant = ? AND type = ? AND interval = ? AND window_start = ?`,
    deleteWindowBefore: `DELETE FROM ${keyspace}.rollups
      WHERE tenant = ? AND type = ? AND interval = ? AND window_start = ? AND bucket_start < ?`,
    registerWindow: `INSERT INTO ${keyspace}.rollup_windows (interval, window_start, tenant, type) VALUES (?, ?, ?, ?)`,
    unregisterWindow: `DELETE FROM ${keyspace}.rollup_windows WHERE interval = ? AND window_start = ? AND tenant = ? AND type = ?`,
    windowsBetween: `SELECT window_start, tenant, type FROM ${keyspace}.rollup_windows
      WHERE interval = ? AND window_start >= ? AND window_start < ?`,
    windowsBefore: `SELECT window_start, tenant, type FROM ${keyspace}.rollup_windows WHERE interval = ? AND window_start < ?`,
    selectCatalog: `SELECT * FROM ${keyspace}.catalog WHERE tenant = ? AND type = ? AND log_partition = ?`,
    selectTenantCatalog: `SELECT * FROM ${keyspace}.catalog WHERE tenant = ?`,
    selectTenantCatalogTypes: `SELECT * FROM ${keyspace}.catalog WHERE tenant = ? AND type IN ?`,
    upsertCatalog: `INSERT INTO ${keyspace}.catalog (tenant, type, log_partition, applied_offset, event_count, first_seen, last_seen,
      dimension_keys, value_keys, dropped_dimension_keys, dropped_value_keys) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    selectAllProgress: `SELECT log_partition, max_event_time, stored_through, last_active_at FROM ${keyspace}.partition_progress WHERE scope = ?`,
    selectProgress: `SELECT max_event_time, stored_through, last_active_at FROM ${keyspace}.partition_progress WHERE scope = ? AND log_partition = ?`,
    upsertProgress: `INSERT INTO ${keyspace}.partition_progress (scope, log_partition, max_event_time, stored_through, last_active_at) VALUES (?, ?, ?, ?, ?)`,
  };

  let closing: Promise<void> | null = null;
  /** When this process last registered each window, keyed by windowKey. */
  const registeredWindows = new Map<string, number>();
  /**
   * Computed for every row written, so kept to one string template. Unambiguous without
   * escaping: the interval and the window start never hold ":", and the tenant's length says
   * where the tenant ends, so the type is the rest.
   */
  const windowKey = (interval: Interval, windowStart: number, tenant: string, type: string) =>
    `${interval}:${windowStart}:${tenant.length}:${tenant}:${type}`;

  async function guarded<T>(what: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw unavailable(`the Cassandra series store could not ${what}`, error);
    }
  }

  /** One statement per parameter list, prepared once and run concurrently; never a batch. */
  async function executeEach(query: string, parameters: unknown[][]): Promise<void> {
    if (parameters.length === 0) return;
    await cassandra.concurrent.executeConcurrent(client, query, parameters, { concurrencyLevel: CONCURRENCY });
  }

  /** Runs the statements concurrently and returns the first page of each result, in order: for small reads. */
  async function selectEach(statements: { query: string; params: unknown[] }[]): Promise<types.ResultSet[]> {
    if (statements.length === 0) return [];
    const group = await cassandra.concurrent.executeConcurrent(client, statements, {
      concurrencyLevel: CONCURRENCY,
      collectResults: true,
    });
    return group.resultItems as types.ResultSet[];
  }

  /**
   * Every row of a query, following the paging state so large partitions arrive in pages;
   * `keepReading` is asked after each row, and no further row is read once it says no.
   */
  async function selectAll(query: string, parameters: unknown[], keepReading: (row: types.Row) => boolean = () => true): Promise<types.Row[]> {
    const result = await client.execute(query, parameters, { fetchSize: PAGE_SIZE });
    const rows: types.Row[] = [];
    for await (const row of result) {
      rows.push(row);
      if (!keepReading(row)) break;
    }
    return rows;
  }

  /**
   * Records the windows these rows land in, before the rows themselves, so the purge can always
   * find a partition that holds data. Each process writes a window once per refresh period, not
   * once per row. A window purged by another instance and then written again within that period
   * (a very late replay) stays unregistered until the next refresh; the SECOND-row TTL catches
   * anything that slips through for good.
   */
  async function registerWindows(rows: readonly RollupRow[]): Promise<void> {
    const now = Date.now();
    const due = new Map<string, WindowRef>();
    for (const row of rows) {
      const windowStart = windowStartOf(row.interval, row.bucketStart);
      const key = windowKey(row.interval, windowStart, row.tenant, row.type);
      const registeredAt = registeredWindows.get(key);
      if ((registeredAt === undefined || now - registeredAt > WINDOW_REGISTRATION_REFRESH_MS) && !due.has(key)) {
        due.set(key, { interval: row.interval, windowStart, tenant: row.tenant, type: row.type });
      }
    }
    if (due.size === 0) return;
    await executeEach(
      cql.registerWindow,
      [...due.values()].map((ref) => [ref.interval, toBigInt(ref.windowStart), ref.tenant, ref.type]),
    );
    for (const key of due.keys()) registeredWindows.set(key, now);
    if (registeredWindows.size > MAX_CACHED_WINDOW_REGISTRATIONS) {
      for (const [key, registeredAt] of registeredWindows) {
        if (now - registeredAt > WINDOW_REGISTRATION_REFRESH_MS) registeredWindows.delete(key);
      }
    }
  }

  /** The window partitions of a series that may hold buckets in [from, to), in time order. */
  async function windowsOverlapping(tenant: string, type: string, interval: Interval, from: number, to: number): Promise<number[]> {
    const size = WINDOW_MS[interval];
    const first = windowStartOf(interval, from);
    if ((to - first) / size <= MAX_PROBED_WINDOWS) {
      const windows: number[] = [];
      for (let start = first; start < to; start += size) windows.push(start);
      return windows;
    }
    // The registry partition holds every tenant and type of the interval; such wide ranges
    // are rare enough that filtering here beats a second registry table.
    const registered = await selectAll(cql.windowsBetween, [interval, toBigInt(first), toBigInt(to)]);
    return registered
      .filter((row) => row.get('tenant') === tenant && row.get('type') === type)
      .map((row) => toNumber(row.get('window_start'), 'window_start'));
  }

  // The three writes saveBatch makes, in its order; the port offers only saveBatch, the one
  // write the processor makes.
  const store: SeriesStore & {
    saveRollups(rows: RollupRow[]): Promise<void>;
    saveCatalog(rows: CatalogRow[]): Promise<void>;
    saveProgress(partition: number, progress: PartitionProgress): Promise<void>;
  } = {
    loadRollups(ids) {
      return guarded('read rollups', async () => {
        const results = await selectEach(ids.map((id) => ({ query: cql.selectRollup, params: rollupKey(id) })));
        return results.flatMap((result) => result.rows.map((row) => toRollupRow(row)));
      });
    },

    saveRollups(rows) {
      return guarded('write rollups', async () => {
        await registerWindows(rows);
        await executeEach(
          cql.upsertRollup,
          rows.map((row) => [
            ...rollupKey(row),
            JSON.stringify(row.dimensions),
            toBigInt(row.appliedOffset),
            encodeAggregate(row.aggregate),
            row.interval === 'SECOND' ? secondRowTtl : 0,
          ]),
        );
      });
    },

    readRollups(range) {
      return guarded('read rollups', async () => {
        if (!(range.from < range.to)) return [];
        const windows = await windowsOverlapping(range.tenant, range.type, range.interval, range.from, range.to);
        // With maxRows, every window stops reading once the windows together hold more than
        // that (each window's LIMIT bounds it alone): at most maxRows + 1 rows plus the pages
        // in flight are ever held, and only maxRows + 1 are decoded.
        const wanted = range.maxRows === undefined ? Number.MAX_SAFE_INTEGER : range.maxRows + 1;
        let read = 0;
        const keepReading = () => ++read < wanted;
        /** CQL's LIMIT is a 32-bit int. */
        const windowLimit = Math.min(wanted, 2_147_483_647);
        // Windows ascend and each partition is clustered by bucket_start, so concatenating the
        // windows in order yields rows ordered by bucket start.
        const perWindow = await mapConcurrently(windows, CONCURRENCY, (windowStart) =>
          read >= wanted
            ? Promise.resolve([])
            : selectAll(
                cql.selectWindowRange,
                [range.tenant, range.type, range.interval, toBigInt(windowStart), toBigInt(range.from), toBigInt(range.to), windowLimit],
                keepReading,
              ),
        );
        return perWindow.flat().slice(0, wanted).map((row) => toRollupRow(row, range.valueKey));
      });
    },

    loadCatalog(ids: CatalogRowId[]) {
      return guarded('read the catalog', async () => {
        const results = await selectEach(
          ids.map((id) => ({ query: cql.selectCatalog, params: [id.tenant, id.type, id.partition] })),
        );
        return results.flatMap((result) => result.rows.map(toCatalogRow));
      });
    },

    saveCatalog(rows) {
      return guarded('write the catalog', () =>
        executeEach(
          cql.upsertCatalog,
          rows.map((row) => [
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
          ]),
        ),
      );
    },

    readCatalog(tenant, range = {}) {
      return guarded('read the catalog', async () => {
        // Rows come clustered by type, then partition: reading stops at the first row of the
        // type after the last one wanted (that row is left out).
        const wantedTypes = range.maxTypes === undefined ? Number.MAX_SAFE_INTEGER : range.maxTypes + 1;
        let typesSeen = 0;
        let lastType: string | null = null;
        const rows = await selectAll(
          range.types ? cql.selectTenantCatalogTypes : cql.selectTenantCatalog,
          range.types ? [tenant, [...range.types]] : [tenant],
          (row) => {
            const type = row.get('type') as string;
            if (type !== lastType) {
              lastType = type;
              typesSeen += 1;
            }
            return typesSeen <= wantedTypes;
          },
        );
        if (typesSeen > wantedTypes) rows.pop();
        return rows.map(toCatalogRow);
      });
    },

    loadProgress() {
      return guarded('read progress', async () => {
        const rows = await selectAll(cql.selectAllProgress, [PROGRESS_SCOPE]);
        return new Map(rows.map((row) => [row.get('log_partition') as number, toProgress(row)]));
      });
    },

    saveProgress(partition, progress) {
      return guarded('write progress', async () => {
        // Read, merge, write: not atomic, and it need not be. Only the consumer that owns the
        // log partition writes its row, so nothing can slip in between the two steps.
        const stored = (await client.execute(cql.selectProgress, [PROGRESS_SCOPE, partition])).first();
        const merged = stored ? mergeProgress(toProgress(stored), progress) : progress;
        await client.execute(cql.upsertProgress, [
          PROGRESS_SCOPE,
          partition,
          merged.maxEventTime === null ? null : toBigInt(merged.maxEventTime),
          toBigInt(merged.storedThrough),
          toBigInt(merged.lastActiveAt),
        ]);
      });
    },

    async saveBatch(batch) {
      // Cassandra has no transaction across partitions: rows first (together), progress last,
      // so "stored through" never runs ahead; a crash in between replays the batch harmlessly.
      await Promise.all([store.saveRollups(batch.rollups), store.saveCatalog(batch.catalog)]);
      await store.saveProgress(batch.partition, batch.progress);
    },

    deleteBucketsBefore(interval, before) {
      return guarded('delete old buckets', async () => {
        const windows: WindowRef[] = (await selectAll(cql.windowsBefore, [interval, toBigInt(before)])).map((row) => ({
          interval,
          windowStart: toNumber(row.get('window_start'), 'window_start'),
          tenant: row.get('tenant'),
          type: row.get('type'),
        }));
        const endsBefore = (ref: WindowRef) => ref.windowStart + WINDOW_MS[interval] <= before;
        const partitionKey = (ref: WindowRef) => [ref.tenant, ref.type, interval, toBigInt(ref.windowStart)];

        // Counted first, because a delete does not say how many rows it removed. A row written
        // between the count and the delete (a replay into buckets past retention) is deleted
        // without being counted; the count is exact whenever nothing writes that old.
        const countResults = await selectEach(
          windows.map((ref) =>
            endsBefore(ref)
              ? { query: cql.countWindow, params: partitionKey(ref) }
              : { query: cql.countWindowBefore, params: [...partitionKey(ref), toBigInt(before)] },
          ),
        );
        const counts = countResults.map((result) => toNumber(result.first().get('row_count'), 'row_count'));

        const whole = windows.filter(endsBefore);
        const boundary = windows.filter((ref, index) => !endsBefore(ref) && counts[index]! > 0);
        // A partition tombstone even when the count was 0: it is a single marker, and it covers
        // a row that arrived after the count, so nothing older than `before` survives.
        await executeEach(cql.deleteWindow, whole.map(partitionKey));
        await executeEach(cql.deleteWindowBefore, boundary.map((ref) => [...partitionKey(ref), toBigInt(before)]));
        // Unregistered only once their rows are gone: a failure in between leaves a registered,
        // empty window that the next purge deletes again.
        await executeEach(
          cql.unregisterWindow,
          whole.map((ref) => [interval, toBigInt(ref.windowStart), ref.tenant, ref.type]),
        );
        for (const ref of whole) registeredWindows.delete(windowKey(ref.interval, ref.windowStart, ref.tenant, ref.type));
        return counts.reduce((sum, count) => sum + count, 0);
      });
    },

    checkHealth() {
      return guarded('be reached', async () => {
        await client.execute('SELECT release_version FROM system.local', [], {
          prepare: false,
          readTimeout: HEALTH_TIMEOUT_MS,
          consistency: cassandra.types.consistencies.localOne,
        });
      });
    },

    close() {
      closing ??= client.shutdown();
      return closing;
    },
  };
  return store;
}
