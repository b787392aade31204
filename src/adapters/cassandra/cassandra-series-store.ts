/**
 * The distributed series store: rollup rows, the type catalog and event-time progress in
 * Cassandra. Same semantics as the embedded (SQLite) adapter, proven by the same contract suite.
 *
 * Every row has one writer at a time (the consumer that owns its log partition) and carries the
 * log offset it has absorbed, so writes are plain upserts of whole rows with deterministic keys:
 * no counters, no batches, and a replay rewrites identical rows. A former owner may still write
 * after a rebalance; two rules keep it harmless (docs/architecture.md, "Several instances"):
 *   - row versions are ordered by the offset they hold, not by the clock (offsetVersion in
 *     cassandra-statements.ts), so a row of a lower offset never replaces one of a higher;
 *   - the progress row is the fencing token: it is written only by a lightweight transaction
 *     conditional on the version its writer read, so a writer that lost the partition fails
 *     (PartitionFencedError) instead of lowering it.
 *
 * The store composes two parts: the statements (cassandra-statements.ts: the CQL, how it runs,
 * how rows are encoded) and the window registry (cassandra-window-registry.ts: which window
 * partitions hold data, for the purge and for very wide reads).
 *
 * The purge lease is the one place that uses lightweight transactions: it decides which of the
 * instances sharing the keyspace purges (see holdPurgeLease).
 */
import cassandra from 'cassandra-driver';
import type { Client } from 'cassandra-driver';
import type { Interval } from '../../domain/interval.ts';
import {
  PartitionFencedError,
  type CatalogRow,
  type CatalogRowId,
  type PartitionProgress,
  type RollupRow,
  type SeriesStore,
} from '../../ports/series-store.ts';
import { unavailable } from '../../errors.ts';
import { assertKeyspaceName, migrate, seriesStoreMigrations } from './migrations.ts';
import {
  CONCURRENCY,
  WINDOW_MS,
  catalogParameters,
  createStatements,
  mapConcurrently,
  progressColumns,
  rollupKey,
  rollupParameters,
  toBigInt,
  toCatalogRow,
  toNumber,
  toProgress,
  toRollupRow,
} from './cassandra-statements.ts';
import { createWindowRegistry, type WindowRef } from './cassandra-window-registry.ts';

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
   * what enforces retention. Its job is rows the purge can no longer find (see `register` in
   * cassandra-window-registry.ts).
   */
  secondRowTtlSeconds?: number;
  /** Driver and server warnings (large partitions, tombstones, schema agreement) and unknown schema versions. */
  onWarning?: (message: string, detail?: unknown) => void;
  /** What each purge read and deleted: for logs and tests. */
  onPurge?: (report: PurgeReport) => void;
}

export interface PurgeReport {
  interval: Interval;
  before: number;
  /** Window registry entries the purge read: the windows that may still hold rows at or after the previous cut, up to this one. */
  registryRowsRead: number;
  /** Registry spans (a day of SECOND windows) dropped whole, because the cut passed their end. */
  spansDropped: number;
  rowsDeleted: number;
}

const HEALTH_TIMEOUT_MS = 2_000;
/** The one partition of partition_progress, where progress lived before migration 6. */
const LEGACY_PROGRESS_SCOPE = 'stream-processor';
/** The log identity table has one row per scope; the processor's is the only one. */
const LOG_IDENTITY_SCOPE = 'stream-processor';
/** Lightweight transactions: Paxos among the local data center's replicas, committed at LOCAL_QUORUM. */
const FENCED_WRITE: cassandra.QueryOptions = {
  prepare: true,
  serialConsistency: cassandra.types.consistencies.localSerial,
  consistency: cassandra.types.consistencies.localQuorum,
  // A retried lightweight transaction may find its own first attempt applied and answer "not
  // applied": not idempotent. (The processor recovers from that as from any fence: it reloads.)
  isIdempotent: false,
};

/** The purge_lease row of the purge of old buckets (the only lease there is). */
const PURGE_LEASE = 'bucket-purge';

/** Each field the larger of the two (null lowest); the version is the update's, not a maximum. */
function mergeProgress(stored: PartitionProgress, update: PartitionProgress): PartitionProgress {
  const larger = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));
  return {
    maxEventTime: larger(stored.maxEventTime, update.maxEventTime),
    lastAppendedAt: larger(stored.lastAppendedAt, update.lastAppendedAt),
    committedWatermark: larger(stored.committedWatermark, update.committedWatermark),
    storedThrough: Math.max(stored.storedThrough, update.storedThrough),
    lastActiveAt: Math.max(stored.lastActiveAt, update.lastActiveAt),
    version: update.version,
  };
}

function assertVersion(partition: number, expected: number, stored: number): void {
  if (stored !== expected) throw new PartitionFencedError(partition, expected, stored);
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

  let legacyRegistryIsNew = false;
  try {
    await client.connect();
    const { applied } = await migrate(client, {
      keyspace,
      localDataCenter: options.localDataCenter,
      replicationFactor: options.replicationFactor ?? 1,
      migrations: seriesStoreMigrations,
      ...(onWarning ? { onWarning } : {}),
    });
    // Migration 1 created the registry of before migration 9 just now: it is empty.
    legacyRegistryIsNew = applied.includes(1);
  } catch (error) {
    await client.shutdown().catch(() => {});
    throw unavailable(`the Cassandra series store could not open keyspace ${keyspace}`, error);
  }

  const statements = createStatements(client, keyspace);
  const { cql, executeEach, selectEach, selectAll } = statements;
  const windows = createWindowRegistry(statements);
  let closing: Promise<void> | null = null;

  try {
    await windows.carryOverLegacyRegistry({ secondRowTtlSeconds: secondRowTtl, now: Date.now(), legacyRegistryIsNew });
  } catch (error) {
    await client.shutdown().catch(() => {});
    throw unavailable(`the Cassandra series store could not carry the window registry of keyspace ${keyspace} over`, error);
  }

  async function guarded<T>(what: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      // A fence is an answer, not a failure of the store: it reaches the caller unwrapped.
      if (error instanceof PartitionFencedError) throw error;
      throw unavailable(`the Cassandra series store could not ${what}`, error);
    }
  }

  /** The partition's progress row and its version (0 when only a row from before migration 6, or none, exists). */
  async function loadOneProgress(partition: number): Promise<{ exists: boolean; progress: PartitionProgress; version: number }> {
    const current = (await client.execute(cql.selectProgress, [partition])).first();
    if (current) {
      const progress = toProgress(current);
      return { exists: true, progress, version: progress.version };
    }
    const legacy = (await client.execute(cql.selectLegacyProgress, [LEGACY_PROGRESS_SCOPE, partition])).first();
    const none: PartitionProgress = {
      maxEventTime: null,
      storedThrough: -1,
      lastActiveAt: 0,
      lastAppendedAt: null,
      committedWatermark: null,
      version: 0,
    };
    return { exists: legacy !== null, progress: legacy ? toProgress(legacy) : none, version: 0 };
  }

  /**
   * The fenced progress write, given the row as read at the expected version: every write of the
   * row raises its version, so a row still at that version when the lightweight transaction
   * applies is the row that was read, and merging with it is merging with what is stored.
   */
  async function writeProgressOver(
    partition: number,
    progress: PartitionProgress,
    stored: { exists: boolean; progress: PartitionProgress; version: number },
  ): Promise<void> {
    const expected = progress.version;
    assertVersion(partition, expected, stored.version);
    const merged = stored.exists ? mergeProgress(stored.progress, progress) : progress;
    const result =
      expected === 0
        ? await client.execute(cql.insertProgressIfAbsent, [partition, ...progressColumns(merged), toBigInt(1)], FENCED_WRITE)
        : await client.execute(
            cql.updateProgressIfVersion,
            [...progressColumns(merged), toBigInt(expected + 1), partition, toBigInt(expected)],
            FENCED_WRITE,
          );
    if (!result.wasApplied()) {
      // The answer of a transaction not applied carries the row's current values.
      const found = result.first()?.get('version');
      throw new PartitionFencedError(partition, expected, found === null || found === undefined ? null : toNumber(found, 'version'));
    }
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
        await windows.register(rows);
        await executeEach(
          cql.upsertRollup,
          rows.map((row) => rollupParameters(row, row.interval === 'SECOND' ? secondRowTtl : 0)),
        );
      });
    },

    readRollups(range) {
      return guarded('read rollups', async () => {
        if (!(range.from < range.to)) return [];
        const overlapping = await windows.windowsOverlapping(range.tenant, range.type, range.interval, range.from, range.to);
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
        const perWindow = await mapConcurrently(overlapping, CONCURRENCY, (windowStart) =>
          read >= wanted
            ? Promise.resolve([])
            : selectAll(
                cql.selectWindowRange,
                [range.tenant, range.type, range.interval, toBigInt(windowStart), toBigInt(range.from), toBigInt(range.to), windowLimit],
                keepReading,
              ),
        );
        return perWindow
          .flat()
          .slice(0, wanted)
          .map((row) => toRollupRow(row, range.valueKey));
      });
    },

    loadCatalog(ids: CatalogRowId[]) {
      return guarded('read the catalog', async () => {
        const results = await selectEach(ids.map((id) => ({ query: cql.selectCatalog, params: [id.tenant, id.type, id.partition] })));
        return results.flatMap((result) => result.rows.map(toCatalogRow));
      });
    },

    saveCatalog(rows) {
      return guarded('write the catalog', () => executeEach(cql.upsertCatalog, rows.map(catalogParameters)));
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
        const [current, legacy] = await Promise.all([
          selectAll(cql.selectAllProgress, []),
          selectAll(cql.selectAllLegacyProgress, [LEGACY_PROGRESS_SCOPE]),
        ]);
        // A log partition not yet written since migration 6 keeps its old progress, as version 0.
        const progress = new Map(legacy.map((row) => [row.get('log_partition') as number, toProgress(row)]));
        for (const row of current) progress.set(row.get('log_partition') as number, toProgress(row));
        return progress;
      });
    },

    saveProgress(partition, progress) {
      return guarded('write progress', async () => {
        // Read, merge (each field only rises), then write only if the version is still the one
        // the writer read. The read alone decides nothing: the lightweight transaction does.
        await writeProgressOver(partition, progress, await loadOneProgress(partition));
      });
    },

    async saveBatch(batch) {
      // A writer already fenced is turned away before it writes any row (rows it writes anyway,
      // when fenced meanwhile, are right for their offset and lose to any later one).
      const stored = await guarded('read progress', () => loadOneProgress(batch.partition));
      assertVersion(batch.partition, batch.progress.version, stored.version);
      // Cassandra has no transaction across partitions: rows first (together), progress last,
      // so "stored through" never runs ahead; a crash in between replays the batch harmlessly.
      await Promise.all([store.saveRollups(batch.rollups), store.saveCatalog(batch.catalog)]);
      // The row read above, not read again: the transaction applies only at the version it had
      // (writeProgressOver), so a round trip is saved and nothing is decided by the read.
      await guarded('write progress', () => writeProgressOver(batch.partition, batch.progress, stored));
    },

    recordLogIdentity(identity) {
      return guarded('record the log identity', async () => {
        // A lightweight transaction: of two instances starting at once on empty stores, one writes
        // and the other is answered with the row it lost to ([applied] false, and the row's columns).
        const result = await client.execute(cql.recordLogIdentity, [LOG_IDENTITY_SCOPE, identity, new Date()], {
          prepare: true,
          serialConsistency: cassandra.types.consistencies.localSerial,
        });
        const row = result.first();
        return row.get('[applied]') === true ? identity : (row.get('identity') as string);
      });
    },

    deleteBucketsBefore(interval, before) {
      return guarded('delete old buckets', async () => {
        const plan = await windows.planPurge(interval, before);
        const registered = plan.windows;
        const endsBefore = (ref: WindowRef) => ref.windowStart + WINDOW_MS[interval] <= before;
        const partitionKey = (ref: WindowRef) => [ref.tenant, ref.type, interval, toBigInt(ref.windowStart)];

        // Counted first, because a delete does not say how many rows it removed. A row written
        // between the count and the delete (a replay into buckets past retention) is deleted
        // without being counted; the count is exact whenever nothing writes that old.
        const countResults = await selectEach(
          registered.map((ref) =>
            endsBefore(ref)
              ? { query: cql.countWindow, params: partitionKey(ref) }
              : { query: cql.countWindowBefore, params: [...partitionKey(ref), toBigInt(before)] },
          ),
        );
        const counts = countResults.map((result) => toNumber(result.first().get('row_count'), 'row_count'));

        const whole = registered.filter(endsBefore);
        const boundary = registered.filter((ref, index) => !endsBefore(ref) && counts[index]! > 0);
        // A partition tombstone even when the count was 0: it is a single marker, and it covers
        // a row that arrived after the count, so nothing older than `before` survives.
        await executeEach(cql.deleteWindow, whole.map(partitionKey));
        await executeEach(
          cql.deleteWindowBefore,
          boundary.map((ref) => [...partitionKey(ref), toBigInt(before)]),
        );
        // Forgotten only once their rows are gone: a failure in between leaves the cursor where
        // it was, and the next purge visits the same windows again.
        await windows.finishPurge(interval, before, plan);
        const rowsDeleted = counts.reduce((sum, count) => sum + count, 0);
        options.onPurge?.({
          interval,
          before,
          registryRowsRead: plan.registryRowsRead,
          spansDropped: plan.emptiedSpans.length,
          rowsDeleted,
        });
        return rowsDeleted;
      });
    },

    holdPurgeLease(holder, forMs) {
      return guarded('take the purge lease', async () => {
        // TTL in whole seconds, at least one: Cassandra's unit, and 0 would mean "forever".
        const ttlSeconds = Math.max(1, Math.ceil(forMs / 1000));
        // SERIAL: a Paxos round among all replicas decides, so two instances never hold it at
        // once, even in two data centres; once a minute, its cross-DC latency does not matter.
        const serial = { serialConsistency: cassandra.types.consistencies.serial };
        // Taken when free, renewed when this holder has it (its own lease, or a write whose
        // answer was lost and retried), refused when another instance holds it.
        const result = await client.execute(cql.holdPurgeLease, [ttlSeconds, holder, PURGE_LEASE, holder], serial);
        return result.first().get('[applied]') === true;
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
