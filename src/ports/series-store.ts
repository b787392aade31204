import type { Interval } from '../domain/interval.ts';
import type { Aggregate } from '../domain/rollup.ts';

/**
 * Identifies one rollup row. Rows are kept per log partition so that each row has exactly one
 * writer (the consumer that owns the partition): no concurrent read-modify-write, no counters.
 */
export interface RollupRowId {
  tenant: string;
  type: string;
  interval: Interval;
  bucketStart: number;
  dimensionsKey: string;
  partition: number;
}

export interface RollupRow extends RollupRowId {
  /** The dimension values of this combination, as strings. */
  dimensions: Record<string, string>;
  /** The highest log offset of the partition already merged into this row: replays skip it. */
  appliedOffset: number;
  aggregate: Aggregate;
}

export interface RollupRange {
  tenant: string;
  type: string;
  interval: Interval;
  /** Inclusive bucket start (ms). */
  from: number;
  /** Exclusive bucket start (ms). */
  to: number;
  /**
   * Which value's statistics the reader needs: that one only (a string), none (null), or all
   * (absent). Rows read for a query then skip decoding sketches nobody will read.
   */
  valueKey?: string | null;
  /**
   * A range holding more rows than this returns just maxRows + 1 of them (which ones is not
   * said), so a caller learns it holds more than it may read without the store materialising
   * all of it; a range within it returns every row. Absent: every row.
   */
  maxRows?: number;
}

export interface CatalogRange {
  /** Only these types; absent: every type of the tenant. */
  types?: readonly string[];
  /**
   * Read the rows of no more than this many types plus one (the first by name), so a caller
   * learns that a tenant has more types than it may answer without reading them all. Absent: all.
   */
  maxTypes?: number;
}

export interface CatalogRowId {
  tenant: string;
  type: string;
  partition: number;
}

/** What is known about one event type, per partition (merged by the reader). */
export interface CatalogRow extends CatalogRowId {
  appliedOffset: number;
  count: number;
  firstSeen: number;
  lastSeen: number;
  /** Sorted; at most MAX_CATALOG_KEYS (src/stream/rollup-plan.ts): the first keys seen. */
  dimensionKeys: string[];
  valueKeys: string[];
  /** How many events carried a dimension key (value key) the full list above could not take. */
  droppedDimensionKeys: number;
  droppedValueKeys: number;
}

/** The processor's progress in one log partition, kept beside the rollups it qualifies. */
export interface PartitionProgress {
  /** The largest event time counted in the partition; null before the first counted event. */
  maxEventTime: number | null;
  /** Every record up to this offset is stored: its event claimed and its rollups written. */
  storedThrough: number;
  /** Wall-clock time of the last batch (or idle heartbeat). */
  lastActiveAt: number;
  /**
   * When the log appended the record at `storedThrough` (null: not known, rows written before it
   * was kept): a caught-up partition with nothing appended for IDLE_PARTITION_TIMEOUT is idle.
   */
  lastAppendedAt: number | null;
  /**
   * The watermark the partition's lateness decisions are committed to (null: none yet); never
   * lowered. Every event counted into this partition's rows after this row was stored is at or
   * above it minus ALLOWED_LATENESS, so `final`, the watermark shown and the result cache derive
   * from the minimum over partitions (src/stream/watermark.ts).
   */
  committedWatermark: number | null;
}

export interface ProcessedBatch {
  rollups: RollupRow[];
  catalog: CatalogRow[];
  partition: number;
  progress: PartitionProgress;
}

/** Time-series rollups, the event-type catalog and the processor's progress. */
export interface SeriesStore {
  /** The stored rows among these ids; missing rows are simply absent. */
  loadRollups(ids: RollupRowId[]): Promise<RollupRow[]>;
  /** Every row of the type and interval whose bucket starts in [from, to), all partitions, by bucket start. */
  readRollups(range: RollupRange): Promise<RollupRow[]>;
  loadCatalog(ids: CatalogRowId[]): Promise<CatalogRow[]>;
  /** The tenant's catalog rows, every partition's, ordered by type. */
  readCatalog(tenant: string, range?: CatalogRange): Promise<CatalogRow[]>;
  /** How far the processor has come in each log partition. */
  loadProgress(): Promise<Map<number, PartitionProgress>>;
  /**
   * The one write: what one processed batch changed. Rollup and catalog rows are written whole
   * (insert or replace), then the partition's progress, which must never run ahead of the rows;
   * each progress field only ever rises (a stale write changes nothing). Idempotent. A store with
   * transactions does it in one commit; one without writes the rows first and the progress last.
   */
  saveBatch(batch: ProcessedBatch): Promise<void>;
  /** Deletes the rows of the interval whose bucket starts before `before`; returns how many. */
  deleteBucketsBefore(interval: Interval, before: number): Promise<number>;
  checkHealth(): Promise<void>;
  close(): Promise<void>;
}
