/**
 * How a batch of counted events changes the stored rollup and catalog rows. Pure.
 *
 * Each row remembers the highest log offset merged into it (per partition), so an event is
 * merged into a row only if its offset is above that: replaying a batch after a crash changes
 * nothing that was already written, and completes what was not.
 */
import { dimensionsAsText, dimensionsKey, type StoredEvent } from '../domain/event.ts';
import { bucketStart, INTERVALS } from '../domain/interval.ts';
import type { CatalogRow, CatalogRowId, RollupRow, RollupRowId } from '../ports/series-store.ts';
import { addEvent, cloneAggregate, emptyAggregate } from './rollup.ts';

/** An event that counts, with the log offset it was read at. */
export interface CountedEvent {
  event: StoredEvent;
  partition: number;
  offset: number;
}

export function rollupRowKey(id: RollupRowId): string {
  return JSON.stringify([id.tenant, id.type, id.interval, id.bucketStart, id.dimensionsKey, id.partition]);
}

export function catalogRowKey(id: CatalogRowId): string {
  return JSON.stringify([id.tenant, id.type, id.partition]);
}

/** The rollup rows an event updates: one per interval, for its own dimension combination. */
export function rollupRowIdsOf(counted: CountedEvent): RollupRowId[] {
  const key = dimensionsKey(counted.event.dimensions);
  return INTERVALS.map((interval) => ({
    tenant: counted.event.tenant,
    type: counted.event.type,
    interval,
    bucketStart: bucketStart(counted.event.timestamp, interval),
    dimensionsKey: key,
    partition: counted.partition,
  }));
}

/** The distinct rollup rows a batch touches. */
export function rollupRowIdsOfBatch(events: readonly CountedEvent[]): RollupRowId[] {
  const ids = new Map<string, RollupRowId>();
  for (const counted of events) for (const id of rollupRowIdsOf(counted)) ids.set(rollupRowKey(id), id);
  return [...ids.values()];
}

/**
 * Merges the events into the rows (the stored ones, or new ones), skipping every event at or
 * below a row's applied offset. Returns only the rows that changed. Does not mutate `stored`.
 */
export function mergeIntoRollups(stored: readonly RollupRow[], events: readonly CountedEvent[]): RollupRow[] {
  const rows = new Map<string, RollupRow>();
  for (const row of stored) rows.set(rollupRowKey(row), row);
  const changed = new Map<string, RollupRow>();
  for (const counted of events) {
    for (const id of rollupRowIdsOf(counted)) {
      const key = rollupRowKey(id);
      let row = changed.get(key);
      if (!row) {
        const base = rows.get(key);
        if (base && counted.offset <= base.appliedOffset) continue;
        row = base
          ? { ...base, aggregate: cloneAggregate(base.aggregate) }
          : { ...id, dimensions: dimensionsAsText(counted.event.dimensions), appliedOffset: -1, aggregate: emptyAggregate() };
        changed.set(key, row);
      } else if (counted.offset <= row.appliedOffset) {
        continue;
      }
      addEvent(row.aggregate, counted.event.values);
      row.appliedOffset = counted.offset;
    }
  }
  return [...changed.values()];
}

export function catalogRowIdsOfBatch(events: readonly CountedEvent[]): CatalogRowId[] {
  const ids = new Map<string, CatalogRowId>();
  for (const { event, partition } of events) {
    const id = { tenant: event.tenant, type: event.type, partition };
    ids.set(catalogRowKey(id), id);
  }
  return [...ids.values()];
}

/** Same rule as rollups: an event changes a catalog row once, whatever the replays. */
export function mergeIntoCatalog(stored: readonly CatalogRow[], events: readonly CountedEvent[]): CatalogRow[] {
  const rows = new Map<string, CatalogRow>();
  for (const row of stored) rows.set(catalogRowKey(row), row);
  const changed = new Map<string, CatalogRow>();
  for (const { event, partition, offset } of events) {
    const key = catalogRowKey({ tenant: event.tenant, type: event.type, partition });
    let row = changed.get(key);
    if (!row) {
      const base = rows.get(key);
      if (base && offset <= base.appliedOffset) continue;
      row = base
        ? { ...base, dimensionKeys: [...base.dimensionKeys], valueKeys: [...base.valueKeys] }
        : {
            tenant: event.tenant,
            type: event.type,
            partition,
            appliedOffset: -1,
            count: 0,
            firstSeen: event.timestamp,
            lastSeen: event.timestamp,
            dimensionKeys: [],
            valueKeys: [],
          };
      changed.set(key, row);
    } else if (offset <= row.appliedOffset) {
      continue;
    }
    row.count += 1;
    row.firstSeen = Math.min(row.firstSeen, event.timestamp);
    row.lastSeen = Math.max(row.lastSeen, event.timestamp);
    row.dimensionKeys = unionSorted(row.dimensionKeys, Object.keys(event.dimensions));
    row.valueKeys = unionSorted(row.valueKeys, Object.keys(event.values));
    row.appliedOffset = offset;
  }
  return [...changed.values()];
}

function unionSorted(a: readonly string[], b: readonly string[]): string[] {
  if (b.every((key) => a.includes(key))) return a as string[];
  return [...new Set([...a, ...b])].sort();
}
