/** The single-machine series store: rollup rows, the type catalog and watermarks in SQLite. */
import { join } from 'node:path';
import type { Interval } from '../../domain/interval.ts';
import { PartitionFencedError, type CatalogRow, type ProcessedBatch, type RollupRow, type SeriesStore } from '../../ports/series-store.ts';
import { decodeAggregate, encodeAggregate } from '../../domain/rollup.ts';
import { openDatabase, runGuarded } from './sqlite.ts';

interface StoredRollup {
  tenant: string;
  type: string;
  interval: Interval;
  bucket_start: number;
  dimensions_key: string;
  log_partition: number;
  dimensions: string;
  applied_offset: number;
  aggregate: string;
}

interface StoredCatalog {
  tenant: string;
  type: string;
  log_partition: number;
  applied_offset: number;
  count: number;
  first_seen: number;
  last_seen: number;
  dimension_keys: string;
  value_keys: string;
  dropped_dimension_keys: number;
  dropped_value_keys: number;
}

function toRollupRow(
  row: StoredRollup,
  onlyValue?: string | null,
  dimensions: Record<string, string> = JSON.parse(row.dimensions),
): RollupRow {
  return {
    tenant: row.tenant,
    type: row.type,
    interval: row.interval,
    bucketStart: row.bucket_start,
    dimensionsKey: row.dimensions_key,
    partition: row.log_partition,
    dimensions,
    appliedOffset: row.applied_offset,
    aggregate: decodeAggregate(row.aggregate, onlyValue),
  };
}

function toCatalogRow(row: StoredCatalog): CatalogRow {
  return {
    tenant: row.tenant,
    type: row.type,
    partition: row.log_partition,
    appliedOffset: row.applied_offset,
    count: row.count,
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    dimensionKeys: JSON.parse(row.dimension_keys),
    valueKeys: JSON.parse(row.value_keys),
    droppedDimensionKeys: row.dropped_dimension_keys,
    droppedValueKeys: row.dropped_value_keys,
  };
}

export function createEmbeddedSeriesStore(options: { dataDir: string }): SeriesStore {
  const db = openDatabase(join(options.dataDir, 'series.sqlite'));
  db.exec(`
    CREATE TABLE IF NOT EXISTS rollups (
      tenant TEXT NOT NULL,
      type TEXT NOT NULL,
      interval TEXT NOT NULL,
      bucket_start INTEGER NOT NULL,
      dimensions_key TEXT NOT NULL,
      log_partition INTEGER NOT NULL,
      dimensions TEXT NOT NULL,
      applied_offset INTEGER NOT NULL,
      aggregate TEXT NOT NULL,
      PRIMARY KEY (tenant, type, interval, bucket_start, dimensions_key, log_partition)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS rollups_by_age ON rollups (interval, bucket_start);
    CREATE TABLE IF NOT EXISTS catalog (
      tenant TEXT NOT NULL,
      type TEXT NOT NULL,
      log_partition INTEGER NOT NULL,
      applied_offset INTEGER NOT NULL,
      count INTEGER NOT NULL,
      first_seen INTEGER NOT NULL,
      last_seen INTEGER NOT NULL,
      dimension_keys TEXT NOT NULL,
      value_keys TEXT NOT NULL,
      dropped_dimension_keys INTEGER NOT NULL DEFAULT 0,
      dropped_value_keys INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (tenant, type, log_partition)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS partition_progress (
      log_partition INTEGER PRIMARY KEY,
      max_event_time INTEGER,
      stored_through INTEGER NOT NULL,
      last_active_at INTEGER NOT NULL,
      version INTEGER NOT NULL DEFAULT 0,
      last_appended_at INTEGER,
      committed_watermark INTEGER
    );
    -- One row: the identity of the event log whose offsets the progress and the rows refer to.
    CREATE TABLE IF NOT EXISTS log_identity (
      single_row INTEGER PRIMARY KEY CHECK (single_row = 1),
      identity TEXT NOT NULL,
      recorded_at INTEGER NOT NULL
    );
  `);

  // A catalog table made before the key cap lacks the overflow counters: add them (0 so far).
  const catalogColumns = new Set(
    db
      .prepare<[], { name: string }>('PRAGMA table_info(catalog)')
      .all()
      .map((column) => column.name),
  );
  for (const column of ['dropped_dimension_keys', 'dropped_value_keys']) {
    if (!catalogColumns.has(column)) db.exec(`ALTER TABLE catalog ADD COLUMN ${column} INTEGER NOT NULL DEFAULT 0`);
  }
  // A progress table made before the fence lacks the version: its rows count as version 0, as
  // if not yet written, so the first fenced write takes them over.
  const progressColumns = new Set(
    db
      .prepare<[], { name: string }>('PRAGMA table_info(partition_progress)')
      .all()
      .map((column) => column.name),
  );
  if (!progressColumns.has('version')) db.exec('ALTER TABLE partition_progress ADD COLUMN version INTEGER NOT NULL DEFAULT 0');
  // Made before the committed watermark: null, as for a partition that has not committed one yet.
  for (const column of ['last_appended_at', 'committed_watermark']) {
    if (!progressColumns.has(column)) db.exec(`ALTER TABLE partition_progress ADD COLUMN ${column} INTEGER`);
  }

  const selectRollup = db.prepare<unknown[], StoredRollup>(
    `SELECT * FROM rollups WHERE tenant = ? AND type = ? AND interval = ? AND bucket_start = ?
       AND dimensions_key = ? AND log_partition = ?`,
  );
  // A row replaces the stored one only from the same or a higher applied offset: versions are
  // ordered by the log, not by who writes last (see saveBatch in ports/series-store.ts).
  const upsertRollup = db.prepare(
    `INSERT INTO rollups (tenant, type, interval, bucket_start, dimensions_key, log_partition,
       dimensions, applied_offset, aggregate) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (tenant, type, interval, bucket_start, dimensions_key, log_partition) DO UPDATE SET
       dimensions = excluded.dimensions, applied_offset = excluded.applied_offset, aggregate = excluded.aggregate
     WHERE excluded.applied_offset >= rollups.applied_offset`,
  );
  const selectRange = db.prepare<unknown[], StoredRollup>(
    `SELECT * FROM rollups WHERE tenant = ? AND type = ? AND interval = ? AND bucket_start >= ? AND bucket_start < ?
     ORDER BY bucket_start LIMIT ?`,
  );
  const selectCatalog = db.prepare<unknown[], StoredCatalog>('SELECT * FROM catalog WHERE tenant = ? AND type = ? AND log_partition = ?');
  const upsertCatalog = db.prepare(
    `INSERT INTO catalog (tenant, type, log_partition, applied_offset, count, first_seen, last_seen,
       dimension_keys, value_keys, dropped_dimension_keys, dropped_value_keys) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (tenant, type, log_partition) DO UPDATE SET
       applied_offset = excluded.applied_offset, count = excluded.count, first_seen = excluded.first_seen,
       last_seen = excluded.last_seen, dimension_keys = excluded.dimension_keys, value_keys = excluded.value_keys,
       dropped_dimension_keys = excluded.dropped_dimension_keys, dropped_value_keys = excluded.dropped_value_keys
     WHERE excluded.applied_offset >= catalog.applied_offset`,
  );
  const saveRollups = db.transaction((rows: RollupRow[]) => {
    for (const r of rows) {
      upsertRollup.run(
        r.tenant,
        r.type,
        r.interval,
        r.bucketStart,
        r.dimensionsKey,
        r.partition,
        JSON.stringify(r.dimensions),
        r.appliedOffset,
        encodeAggregate(r.aggregate),
      );
    }
  });
  const selectProgressVersion = db.prepare<[number], { version: number }>('SELECT version FROM partition_progress WHERE log_partition = ?');
  // max() in SQLite ignores NULL only in its aggregate form, hence coalesce for max_event_time.
  // Run only after the version was checked in the same transaction: it always writes.
  const upsertProgress = db.prepare(
    `INSERT INTO partition_progress (log_partition, max_event_time, stored_through, last_active_at, version,
       last_appended_at, committed_watermark) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (log_partition) DO UPDATE SET
       max_event_time = max(coalesce(max_event_time, excluded.max_event_time), coalesce(excluded.max_event_time, max_event_time)),
       stored_through = max(stored_through, excluded.stored_through),
       last_active_at = max(last_active_at, excluded.last_active_at),
       version = excluded.version,
       last_appended_at = max(coalesce(last_appended_at, excluded.last_appended_at), coalesce(excluded.last_appended_at, last_appended_at)),
       committed_watermark = max(coalesce(committed_watermark, excluded.committed_watermark),
         coalesce(excluded.committed_watermark, committed_watermark))`,
  );
  const saveCatalog = db.transaction((rows: CatalogRow[]) => {
    for (const r of rows) {
      upsertCatalog.run(
        r.tenant,
        r.type,
        r.partition,
        r.appliedOffset,
        r.count,
        r.firstSeen,
        r.lastSeen,
        JSON.stringify(r.dimensionKeys),
        JSON.stringify(r.valueKeys),
        r.droppedDimensionKeys,
        r.droppedValueKeys,
      );
    }
  });
  // One commit (one fsync) for everything a processed batch changed. The fence is checked first,
  // in the same transaction (SQLite has one writer at a time), so a fenced batch writes nothing.
  const saveBatch = db.transaction((batch: ProcessedBatch) => {
    const { partition, progress } = batch;
    const storedVersion = selectProgressVersion.get(partition)?.version ?? 0;
    if (storedVersion !== progress.version) throw new PartitionFencedError(partition, progress.version, storedVersion);
    saveRollups(batch.rollups);
    saveCatalog(batch.catalog);
    upsertProgress.run(
      partition,
      progress.maxEventTime,
      progress.storedThrough,
      progress.lastActiveAt,
      progress.version + 1,
      progress.lastAppendedAt,
      progress.committedWatermark,
    );
  });

  const guarded = <T>(what: string, fn: () => T) => runGuarded('embedded series store', what, fn);

  return {
    loadRollups(ids) {
      return guarded('read rollups', () =>
        ids.flatMap((id) => {
          const row = selectRollup.get(id.tenant, id.type, id.interval, id.bucketStart, id.dimensionsKey, id.partition);
          return row ? [toRollupRow(row)] : [];
        }),
      );
    },
    readRollups(range) {
      // A range holds many buckets of the same few dimension combinations: parse each once. The
      // rows of one read then share their `dimensions` objects, which readers only read.
      const parsed = new Map<string, Record<string, string>>();
      const parsedDimensions = (text: string) => {
        let dimensions = parsed.get(text);
        if (!dimensions) parsed.set(text, (dimensions = JSON.parse(text) as Record<string, string>));
        return dimensions;
      };
      return guarded('read rollups', () =>
        // LIMIT -1 is SQLite's "no limit".
        selectRange
          .all(range.tenant, range.type, range.interval, range.from, range.to, range.maxRows === undefined ? -1 : range.maxRows + 1)
          .map((row) => toRollupRow(row, range.valueKey, parsedDimensions(row.dimensions))),
      );
    },
    loadCatalog(ids) {
      return guarded('read the catalog', () =>
        ids.flatMap((id) => {
          const row = selectCatalog.get(id.tenant, id.type, id.partition);
          return row ? [toCatalogRow(row)] : [];
        }),
      );
    },
    readCatalog(tenant, range = {}) {
      return guarded('read the catalog', () => {
        const where = ['tenant = ?'];
        const params: unknown[] = [tenant];
        if (range.types) {
          where.push(`type IN (${range.types.map(() => '?').join(', ')})`);
          params.push(...range.types);
        }
        // The first maxTypes + 1 types by name, with every partition's row of each.
        const types = `SELECT DISTINCT type FROM catalog WHERE ${where.join(' AND ')} ORDER BY type LIMIT ?`;
        const sql = `SELECT * FROM catalog WHERE tenant = ? AND type IN (${types}) ORDER BY type, log_partition`;
        const limit = range.maxTypes === undefined ? -1 : range.maxTypes + 1;
        return db
          .prepare<unknown[], StoredCatalog>(sql)
          .all(tenant, ...params, limit)
          .map(toCatalogRow);
      });
    },
    loadProgress() {
      return guarded('read progress', () => {
        const rows = db
          .prepare<
            [],
            {
              log_partition: number;
              max_event_time: number | null;
              stored_through: number;
              last_active_at: number;
              version: number;
              last_appended_at: number | null;
              committed_watermark: number | null;
            }
          >('SELECT * FROM partition_progress')
          .all();
        return new Map(
          rows.map((row) => [
            row.log_partition,
            {
              maxEventTime: row.max_event_time,
              storedThrough: row.stored_through,
              lastActiveAt: row.last_active_at,
              lastAppendedAt: row.last_appended_at,
              committedWatermark: row.committed_watermark,
              version: row.version,
            },
          ]),
        );
      });
    },
    saveBatch(batch) {
      return guarded('write a batch', () => {
        try {
          saveBatch(batch);
          return null;
        } catch (error) {
          // A fence is an answer, not a failure of the store: it reaches the caller unwrapped.
          if (error instanceof PartitionFencedError) return error;
          throw error;
        }
      }).then((fenced) => {
        if (fenced) throw fenced;
      });
    },
    recordLogIdentity(identity) {
      return guarded('record the log identity', () => {
        db.prepare('INSERT OR IGNORE INTO log_identity (single_row, identity, recorded_at) VALUES (1, ?, ?)').run(identity, Date.now());
        return db.prepare<[], { identity: string }>('SELECT identity FROM log_identity').get()!.identity;
      });
    },
    deleteBucketsBefore(interval, before) {
      return guarded(
        'delete old buckets',
        () => db.prepare('DELETE FROM rollups WHERE interval = ? AND bucket_start < ?').run(interval, before).changes,
      );
    },
    // One process per DATA_DIR (data-dir-lock.ts): it is always the one that purges.
    async holdPurgeLease() {
      return true;
    },
    checkHealth() {
      return guarded('be read', () => void db.prepare('SELECT 1').get());
    },
    async close() {
      if (db.open) db.close();
    },
  };
}
