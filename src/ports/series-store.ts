import type { Interval } from '../domain/interval.ts';
import type { Aggregate } from '../domain/rollup.ts';

/**
 * Identifies one rollup row. Rows are kept per log partition so that each row has one writer at
 * a time (the consumer that owns the partition): no counters. A former owner may still write
 * for a while after a rebalance; a row's versions are therefore ordered by `appliedOffset`, not
 * by time (see saveBatch).
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

/**
 * The processor's progress in one log partition, kept beside the rollups it qualifies. The row
 * is also the partition's fencing token: see `version` and saveBatch.
 */
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
  /**
   * How many times this row has been written: 0 when there is no row yet. A writer passes back
   * the version it read, and the store keeps version + 1, or refuses (PartitionFencedError).
   */
  version: number;
}

export interface ProcessedBatch {
  rollups: RollupRow[];
  catalog: CatalogRow[];
  partition: number;
  /** The partition's new progress; its `version` is the version the writer READ (the expected one). */
  progress: PartitionProgress;
}

/**
 * A progress write named a version that is no longer the stored one: another writer (the new
 * owner of the partition after a rebalance, or this process's own earlier attempt) has written
 * the row since it was read. The batch must be abandoned: it is not an error of its data.
 */
export class PartitionFencedError extends Error {
  override readonly name = 'PartitionFencedError';
  readonly partition: number;
  /** The version the writer read and expected to replace. */
  readonly expectedVersion: number;
  /** The version found in the store instead, when the store tells it (null: unknown). */
  readonly storedVersion: number | null;
  constructor(partition: number, expectedVersion: number, storedVersion: number | null) {
    super(
      `partition ${partition} is fenced: its progress was at version ${expectedVersion} when read, ` +
        `now at ${storedVersion ?? 'a later one'}; another writer has written it since`,
    );
    this.partition = partition;
    this.expectedVersion = expectedVersion;
    this.storedVersion = storedVersion;
  }
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
   * The one write: what one processed batch changed.
   *
   * Rows: rollup and catalog rows are written whole. A stored row is replaced only by a row of
   * the same id whose `appliedOffset` is at least its own; a row of a lower appliedOffset
   * changes nothing, whenever and by whomever it is written (a former owner's late write cannot
   * undo the new owner's). Rows of equal appliedOffset are equal: their content follows from the
   * log up to that offset (claims decide duplicates and quarantine), so either may win.
   *
   * Progress, the fencing token: `batch.progress.version` must be the version stored now (0: no
   * row yet). Then the progress is stored with version + 1, each other field the larger of the
   * stored and the given value (maxEventTime: null counts as lowest). Otherwise it throws
   * PartitionFencedError, unwrapped, and the progress is unchanged. The progress never runs
   * ahead of the rows: a store with transactions does it all in one commit, and a fenced batch
   * then changes nothing at all; one without writes the rows first and the progress last, so a
   * fenced batch may leave rows behind, which by the rule above are right for their offset.
   */
  saveBatch(batch: ProcessedBatch): Promise<void>;
  /**
   * Records the identity of the event log (EventLog.identity) whose offsets the progress and
   * the rows' applied offsets refer to, unless one is recorded already, and returns the one
   * recorded: `identity` itself on the first call, whoever makes it (concurrent first calls
   * agree on one), and the first one recorded ever after.
   */
  recordLogIdentity(identity: string): Promise<string>;
  /** Deletes the rows of the interval whose bucket starts before `before`; returns how many. */
  deleteBucketsBefore(interval: Interval, before: number): Promise<number>;
  /**
   * Takes, or renews, the lease that makes one instance the one that purges: true when `holder`
   * holds it for the next `forMs` (rounded up to whole seconds). It lapses unless renewed, so
   * another instance takes over within `forMs` of the holder's end. A store only one process
   * opens (the embedded one) always grants it.
   */
  holdPurgeLease(holder: string, forMs: number): Promise<boolean>;
  checkHealth(): Promise<void>;
  close(): Promise<void>;
}
