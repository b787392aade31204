import type { Interval } from '../domain/interval.ts';
import type { Aggregate } from '../stream/rollup.ts';

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
  dimensionKeys: string[];
  valueKeys: string[];
}

/** The processor's progress in one log partition, kept beside the rollups it qualifies. */
export interface PartitionProgress {
  /** The largest event time counted in the partition; null before the first counted event. */
  maxEventTime: number | null;
  /** Every record up to this offset is stored: its event claimed and its rollups written. */
  storedThrough: number;
  /** Wall-clock time of the last batch: a partition idle for long stops holding the watermark back. */
  lastActiveAt: number;
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
  /** Writes whole rows (insert or replace). Idempotent. */
  saveRollups(rows: RollupRow[]): Promise<void>;
  /** Every row of the type and interval whose bucket starts in [from, to), all partitions. */
  readRollups(range: RollupRange): Promise<RollupRow[]>;
  loadCatalog(ids: CatalogRowId[]): Promise<CatalogRow[]>;
  saveCatalog(rows: CatalogRow[]): Promise<void>;
  readCatalog(tenant: string): Promise<CatalogRow[]>;
  /** How far the processor has come in each log partition. */
  loadProgress(): Promise<Map<number, PartitionProgress>>;
  /** Records a partition's progress; each field only ever rises (a stale write changes nothing). */
  saveProgress(partition: number, progress: PartitionProgress): Promise<void>;
  /**
   * Writes what one processed batch changed: rollup and catalog rows, then the partition's
   * progress, which must never run ahead of the rows. A store with transactions does it in one
   * (one commit per batch instead of three).
   */
  saveBatch(batch: ProcessedBatch): Promise<void>;
  /** Deletes the rows of the interval whose bucket starts before `before`; returns how many. */
  deleteBucketsBefore(interval: Interval, before: number): Promise<number>;
  checkHealth(): Promise<void>;
  close(): Promise<void>;
}
