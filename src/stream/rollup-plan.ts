/**
 * How a batch of counted events changes the stored rollup and catalog rows. Pure.
 *
 * Each row remembers the highest log offset merged into it (per partition), so an event is
 * merged into a row only if its offset is above that: replaying a batch after a crash changes
 * nothing that was already written, and completes what was not.
 */
import { dimensionsAsText, dimensionsKey, type StoredEvent } from '../domain/event.ts';
import { bucketStart, INTERVALS, type Interval } from '../domain/interval.ts';
import type { CatalogRow, CatalogRowId, RollupRow, RollupRowId } from '../ports/series-store.ts';
import { addEvent, cloneAggregate, emptyAggregate, type DistinctHashes } from '../domain/rollup.ts';
import { distinctHash } from '../domain/distinct-sketch.ts';

/** An event that counts, with the log offset it was read at. */
export interface CountedEvent {
  event: StoredEvent;
  partition: number;
  offset: number;
}

/**
 * A row's identity as one string. The part every interval of an event shares is serialised once
 * (rollupPlanOf builds the four keys of an event from it); interval names and bucket starts hold
 * no `|`, so the key stays unambiguous.
 */
export function rollupRowKey(id: RollupRowId): string {
  return rowKeyOf(id.interval, id.bucketStart, sharedKeyOf(id.tenant, id.type, id.dimensionsKey, id.partition));
}

function sharedKeyOf(tenant: string, type: string, dimensionsKey: string, partition: number): string {
  return JSON.stringify([tenant, type, dimensionsKey, partition]);
}

function rowKeyOf(interval: Interval, bucketStart: number, sharedKey: string): string {
  return `${interval}|${bucketStart}|${sharedKey}`;
}

export function catalogRowKey(id: CatalogRowId): string {
  return JSON.stringify([id.tenant, id.type, id.partition]);
}

/**
 * The rollup rows a batch touches, worked out once per batch: the processor looks them up in its
 * cache and the store, then merges into them, and both need every event's rows and their keys.
 */
export interface RollupPlan {
  /** Every row the batch touches, by key, in first-touched order. */
  rows: Map<string, RollupRowId>;
  /** Per event (same order as the batch), the keys of its rows, one per interval. */
  keysOfEvent: string[][];
}

export function rollupPlanOf(events: readonly CountedEvent[]): RollupPlan {
  const rows = new Map<string, RollupRowId>();
  const keysOfEvent: string[][] = [];
  for (const { event, partition } of events) {
    const dimensions = dimensionsKey(event.dimensions);
    const shared = sharedKeyOf(event.tenant, event.type, dimensions, partition);
    const keys: string[] = [];
    for (const interval of INTERVALS) {
      const start = bucketStart(event.timestamp, interval);
      const key = rowKeyOf(interval, start, shared);
      keys.push(key);
      if (!rows.has(key)) {
        rows.set(key, { tenant: event.tenant, type: event.type, interval, bucketStart: start, dimensionsKey: dimensions, partition });
      }
    }
    keysOfEvent.push(keys);
  }
  return { rows, keysOfEvent };
}

/**
 * Merges the events into the rows (the stored ones, or new ones), skipping every event at or
 * below a row's applied offset. Returns only the rows that changed. Does not mutate `stored`.
 * `plan` is the events' own (rollupPlanOf), passed when the caller already has it.
 */
export function mergeIntoRollups(
  stored: readonly RollupRow[],
  events: readonly CountedEvent[],
  plan: RollupPlan = rollupPlanOf(events),
): RollupRow[] {
  const rows = new Map<string, RollupRow>();
  for (const row of stored) rows.set(rollupRowKey(row), row);
  const changed = new Map<string, RollupRow>();
  for (let i = 0; i < events.length; i++) {
    const counted = events[i]!;
    // Hashed lazily and once: an event updates a row per interval, and most events skip none.
    let hashes: DistinctHashes | null = null;
    for (const key of plan.keysOfEvent[i]!) {
      let row = changed.get(key);
      if (!row) {
        const base = rows.get(key);
        if (base && counted.offset <= base.appliedOffset) continue;
        row = base
          ? { ...base, aggregate: cloneAggregate(base.aggregate) }
          : {
              ...plan.rows.get(key)!,
              dimensions: dimensionsAsText(counted.event.dimensions),
              appliedOffset: -1,
              aggregate: emptyAggregate(),
            };
        changed.set(key, row);
      } else if (counted.offset <= row.appliedOffset) {
        continue;
      }
      hashes ??= distinctHashesOf(counted.event.distinct);
      addEvent(row.aggregate, counted.event.values, hashes);
      row.appliedOffset = counted.offset;
    }
  }
  return [...changed.values()];
}

/** An event's distinct values hashed for the sketches (own keys only: `constructor` is data). */
export function distinctHashesOf(distinct: Readonly<Record<string, string>> | undefined): DistinctHashes {
  return distinct ? Object.entries(distinct).map(([key, value]) => [key, distinctHash(value)] as const) : [];
}

/**
 * The rows minus the SECOND ones whose bucket starts before `purgeCut`, the cut of the SECOND
 * purge. The purge deletes those buckets and does not visit their windows again, so writing one
 * would bring back a purged row (from a late event, or from the processor's row cache holding
 * the deleted row) that only the TTL would remove. The events still count in the MINUTE and
 * coarser rows. SECOND_RETENTION covers ALLOWED_LATENESS + OUT_OF_ORDERNESS (config.ts), so
 * while the watermark keeps up with the clock the TOO_LATE quarantine already keeps such events
 * out; this holds the line when it does not (a backfill, a partition that fell behind).
 */
export function withoutPurgedSeconds(rows: RollupRow[], purgeCut: number): RollupRow[] {
  return rows.filter((row) => row.interval !== 'SECOND' || row.bucketStart >= purgeCut);
}

export function catalogRowIdsOfBatch(events: readonly CountedEvent[]): CatalogRowId[] {
  const ids = new Map<string, CatalogRowId>();
  for (const { event, partition } of events) {
    const id = { tenant: event.tenant, type: event.type, partition };
    ids.set(catalogRowKey(id), id);
  }
  return [...ids.values()];
}

/**
 * Most dimension keys, and most value keys, one catalog row (one type in one log partition)
 * lists. Honest data has a few dozen: 256 is eight events' worth of fresh keys at the ingest
 * maximum of 32 each, and keeps a row under about 17 KB per list (keys are at most 64
 * characters). Past it, keys are not listed but counted (`droppedDimensionKeys`), so a stream
 * of events with fresh random keys costs a bounded row, not one that grows with every event.
 */
export const MAX_CATALOG_KEYS = 256;

/** A catalog row while a batch merges into it: Sets make each key's check O(1). */
interface CatalogDraft {
  row: CatalogRow;
  dimensionKeys: Set<string>;
  valueKeys: Set<string>;
}

/**
 * The first `MAX_CATALOG_KEYS` of sorted keys, and how many were cut: a row stored before the
 * cap existed (or merged from several partitions) is brought under it.
 */
export function capCatalogKeys(sortedKeys: readonly string[]): { kept: string[]; cut: number } {
  if (sortedKeys.length <= MAX_CATALOG_KEYS) return { kept: [...sortedKeys], cut: 0 };
  return { kept: sortedKeys.slice(0, MAX_CATALOG_KEYS), cut: sortedKeys.length - MAX_CATALOG_KEYS };
}

function draftOf(row: CatalogRow): CatalogDraft {
  const dimensions = capCatalogKeys(row.dimensionKeys);
  const values = capCatalogKeys(row.valueKeys);
  return {
    row: {
      ...row,
      droppedDimensionKeys: row.droppedDimensionKeys + dimensions.cut,
      droppedValueKeys: row.droppedValueKeys + values.cut,
    },
    dimensionKeys: new Set(dimensions.kept),
    valueKeys: new Set(values.kept),
  };
}

/** Adds the keys the set has room for; returns how many it had no room for. */
function addKeys(keys: Set<string>, seen: Iterable<string>): number {
  let dropped = 0;
  for (const key of seen) {
    if (keys.has(key)) continue;
    if (keys.size < MAX_CATALOG_KEYS) keys.add(key);
    else dropped += 1;
  }
  return dropped;
}

/**
 * Same rule as rollups: an event changes a catalog row once, whatever the replays. Linear in
 * the batch: each event's keys are checked against Sets, and each changed row's keys are sorted
 * once, at the end.
 */
export function mergeIntoCatalog(stored: readonly CatalogRow[], events: readonly CountedEvent[]): CatalogRow[] {
  const rows = new Map<string, CatalogRow>();
  for (const row of stored) rows.set(catalogRowKey(row), row);
  const changed = new Map<string, CatalogDraft>();
  for (const { event, partition, offset } of events) {
    const key = catalogRowKey({ tenant: event.tenant, type: event.type, partition });
    let draft = changed.get(key);
    if (!draft) {
      const base = rows.get(key);
      if (base && offset <= base.appliedOffset) continue;
      draft = draftOf(
        base ?? {
          tenant: event.tenant,
          type: event.type,
          partition,
          appliedOffset: -1,
          count: 0,
          firstSeen: event.timestamp,
          lastSeen: event.timestamp,
          dimensionKeys: [],
          valueKeys: [],
          droppedDimensionKeys: 0,
          droppedValueKeys: 0,
        },
      );
      changed.set(key, draft);
    } else if (offset <= draft.row.appliedOffset) {
      continue;
    }
    const row = draft.row;
    row.count += 1;
    row.firstSeen = Math.min(row.firstSeen, event.timestamp);
    row.lastSeen = Math.max(row.lastSeen, event.timestamp);
    row.droppedDimensionKeys += addKeys(draft.dimensionKeys, Object.keys(event.dimensions));
    row.droppedValueKeys += addKeys(draft.valueKeys, Object.keys(event.values));
    row.appliedOffset = offset;
  }
  return [...changed.values()].map(({ row, dimensionKeys, valueKeys }) => ({
    ...row,
    dimensionKeys: [...dimensionKeys].sort(),
    valueKeys: [...valueKeys].sort(),
  }));
}
