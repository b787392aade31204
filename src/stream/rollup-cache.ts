/**
 * The rollup and catalog rows this processor wrote last, kept decoded in memory so that the next
 * batch touching them (the current SECOND, MINUTE, HOUR and DAY buckets, mostly, and the
 * catalog row of each type) skips the read and the sketch decoding.
 *
 * Safe because each row has one writer at a time, the consumer of its log partition, and it is
 * that consumer's own copy: the cache of a partition is trusted only while its batches arrive
 * back to back. A batch that does not start right after the last one this processor
 * committed (another instance had the partition meanwhile, or a replay after a crash) drops the
 * partition's rows first, and so does a fence (another writer wrote the partition: dropPartition).
 */
import type { CatalogRow, CatalogRowId, RollupRow, RollupRowId } from '../ports/series-store.ts';
import { catalogRowKey, rollupRowKey } from './rollup-plan.ts';

/** 1 per row, plus 1 per KiB of its distinct sketches (a dense one: 16). */
export function cachedRowWeight(row: RollupRow): number {
  let bytes = 0;
  for (const sketch of row.aggregate.distinct.values()) bytes += sketch.memoryBytes;
  return 1 + Math.floor(bytes / 1024);
}

export interface PartitionRowCache<Id, Row extends Id & { partition: number }> {
  /** Drops the partition's rows unless `firstOffset` follows the last batch committed for it. */
  startBatch(partition: number, firstOffset: number): void;
  /** The cached rows among `ids`, and the ids to read from the store. */
  lookup(ids: readonly Id[]): { cached: Row[]; missing: Id[] };
  /** Forgets the partition's rows and where its last batch ended. */
  dropPartition(partition: number): void;
  /** After a batch is stored: remembers the rows it read and wrote, and where it ended. */
  commitBatch(partition: number, lastOffset: number, rows: readonly Row[]): void;
}

export type RollupCache = PartitionRowCache<RollupRowId, RollupRow>;
export type CatalogCache = PartitionRowCache<CatalogRowId, CatalogRow>;

/**
 * `maxRows` counts rows by `weightOf` (1 each by default): the processor weighs a row holding
 * distinct sketches by their memory, so a cache of dense sketches (16 KB each) stays bounded in
 * bytes, not just in rows.
 */
export function createRollupCache(maxRows: number, weightOf: (row: RollupRow) => number = () => 1): RollupCache {
  return createPartitionRowCache(maxRows, rollupRowKey, weightOf);
}

/**
 * The catalog rows (one per tenant, type and partition) the processor wrote last: every batch
 * rewrites the rows of its types, so without it each batch would read them first.
 */
export function createCatalogCache(maxRows: number): CatalogCache {
  return createPartitionRowCache(maxRows, catalogRowKey, () => 1);
}

function createPartitionRowCache<Id, Row extends Id & { partition: number }>(
  maxRows: number,
  keyOf: (id: Id) => string,
  weightOf: (row: Row) => number,
): PartitionRowCache<Id, Row> {
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  const rows = new Map<string, { row: Row; weight: number }>();
  let totalWeight = 0;
  const lastCommitted = new Map<number, number>();

  function remove(key: string): void {
    const entry = rows.get(key);
    if (!entry) return;
    rows.delete(key);
    totalWeight -= entry.weight;
  }

  function dropPartition(partition: number): void {
    for (const [key, entry] of rows) if (entry.row.partition === partition) remove(key);
    lastCommitted.delete(partition);
  }

  return {
    startBatch(partition, firstOffset) {
      const last = lastCommitted.get(partition);
      if (last !== undefined && firstOffset === last + 1) return;
      dropPartition(partition);
    },
    dropPartition,
    lookup(ids) {
      const cached: Row[] = [];
      const missing: Id[] = [];
      for (const id of ids) {
        const entry = rows.get(keyOf(id));
        if (entry) cached.push(entry.row);
        else missing.push(id);
      }
      return { cached, missing };
    },
    commitBatch(partition, lastOffset, written) {
      for (const row of written) {
        const key = keyOf(row);
        remove(key);
        const weight = weightOf(row);
        rows.set(key, { row, weight });
        totalWeight += weight;
      }
      while (totalWeight > maxRows && rows.size > 0) remove(rows.keys().next().value!);
      lastCommitted.set(partition, lastOffset);
    },
  };
}
