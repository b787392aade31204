/**
 * A grouped series over final buckets is served from the result cache (issue 14): the cached
 * answer holds the same groups, labels and groupKeys as the computed one (the cache stores JSON,
 * so groupKey comes back as an ordinary object with the same own keys, member names included),
 * and `groupBy` and `groupByDimensions` answers never serve each other's entries wrongly.
 */
import { describe, expect, it } from 'vitest';
import { createQueryService } from '../../src/query/query-service.ts';
import { wholeTenantAccess } from '../../src/auth/tenant-access.ts';
import { createEmbeddedResultCache } from '../../src/adapters/embedded/embedded-result-cache.ts';
import { mergeIntoRollups, type CountedEvent } from '../../src/stream/rollup-plan.ts';
import type { DimensionValue } from '../../src/domain/event.ts';
import type { EventStore } from '../../src/ports/event-store.ts';
import type { PartitionProgress, RollupRange, SeriesStore } from '../../src/ports/series-store.ts';

const base = Date.parse('2026-11-27T12:00:00Z');
let offset = 0;
function counted(dimensions: Record<string, DimensionValue>, amount: number): CountedEvent {
  offset += 1;
  return {
    partition: 0,
    offset,
    event: {
      tenant: 'default',
      id: `e${offset}`,
      type: 'purchase',
      timestamp: base + offset * 1_000,
      receivedAt: base,
      clockCorrectionMs: 0,
      source: null,
      dimensions,
      values: { amount },
      properties: null,
      position: { partition: 0, offset },
      quarantine: null,
    },
  };
}

const rows = mergeIntoRollups(
  [],
  [counted({ constructor: 'toString', plan: 'pro' }, 1), counted({ constructor: 'toString' }, 2), counted({ plan: 'pro' }, 4)],
);

/** A store whose watermark is a day past the rows, so every bucket is final and answers are cached. */
function finalStore(reads: RollupRange[]): SeriesStore {
  const progress: PartitionProgress = {
    maxEventTime: base + 86_400_000,
    storedThrough: offset,
    lastActiveAt: base,
    lastAppendedAt: null,
    committedWatermark: base + 86_400_000,
    version: 1,
  };
  return {
    async readRollups(range: RollupRange) {
      reads.push(range);
      return rows.filter((row) => row.interval === range.interval && row.bucketStart >= range.from && row.bucketStart < range.to);
    },
    async loadProgress() {
      return new Map([[0, progress]]);
    },
  } as unknown as SeriesStore;
}

describe('grouped series from the result cache', () => {
  it('answers the same groups and groupKeys from the cache as computed', async () => {
    const reads: RollupRange[] = [];
    const lookups: boolean[] = [];
    const queries = createQueryService({
      eventStore: {} as EventStore,
      seriesStore: finalStore(reads),
      policy: { outOfOrdernessMs: 0, idlePartitionMs: 0, allowedLatenessMs: 0, futureToleranceMs: 0 },
      cache: createEmbeddedResultCache({ maxEntries: 10, maxChars: 1_000_000 }),
      onCacheLookup: (_name, hit) => lookups.push(hit),
    });
    const request = {
      type: 'purchase',
      value: 'amount',
      interval: 'HOUR' as const,
      from: new Date(base),
      to: new Date(base + 3_600_000),
    };
    const expected = [
      { group: 'toString, pro', groupKey: { constructor: 'toString', plan: 'pro' }, sums: [1] },
      { group: 'toString, ', groupKey: { constructor: 'toString', plan: null }, sums: [2] },
      { group: ', pro', groupKey: { constructor: null, plan: 'pro' }, sums: [4] },
    ];
    const shown = (series: Awaited<ReturnType<typeof queries.series>>) =>
      series.map((s) => ({ group: s.group, groupKey: JSON.parse(JSON.stringify(s.groupKey)), sums: s.points.map((p) => p.sum) }));

    const computed = await queries.series(wholeTenantAccess('default'), { ...request, groupByDimensions: ['constructor', 'plan'] });
    const cached = await queries.series(wholeTenantAccess('default'), { ...request, groupByDimensions: ['constructor', 'plan'] });
    expect(lookups).toEqual([false, true]);
    expect(reads).toHaveLength(1);
    expect(shown(computed)).toEqual(expected);
    expect(shown(cached)).toEqual(expected);
    expect(JSON.stringify(cached.map((s) => s.groupKey))).toBe(JSON.stringify(computed.map((s) => s.groupKey)));

    // One key: groupBy and groupByDimensions answer alike, each from its own entry.
    const byGroupBy = await queries.series(wholeTenantAccess('default'), { ...request, groupBy: 'constructor' });
    const byDimensions = await queries.series(wholeTenantAccess('default'), { ...request, groupByDimensions: ['constructor'] });
    expect(lookups).toEqual([false, true, false, false]);
    expect(shown(byGroupBy)).toEqual([
      { group: 'toString', groupKey: { constructor: 'toString' }, sums: [3] },
      { group: null, groupKey: { constructor: null }, sums: [4] },
    ]);
    expect(shown(byDimensions)).toEqual(shown(byGroupBy));
  });
});
