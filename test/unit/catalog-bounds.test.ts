/**
 * The type catalog is bounded per type and merged in time linear in the batch (issue 11,
 * finding 5): keys past MAX_CATALOG_KEYS are counted, not listed, and a batch sorts each
 * changed row's keys once, not once per event.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { StoredEvent } from '../../src/domain/event.ts';
import type { CatalogRow } from '../../src/ports/series-store.ts';
import { mergeCatalog } from '../../src/query/query-service.ts';
import { MAX_CATALOG_KEYS, mergeIntoCatalog, type CountedEvent } from '../../src/stream/rollup-plan.ts';

const T0 = Date.parse('2026-11-27T12:00:00.000Z');
/** The ingest maximum of keys per event. */
const KEYS_PER_EVENT = 32;

function counted(offset: number, dimensions: Record<string, string>, values: Record<string, number> = {}): CountedEvent {
  const event = {
    tenant: 'acme',
    id: `e${offset}`,
    type: 'noisy',
    timestamp: T0 + offset,
    receivedAt: T0 + offset,
    dimensions,
    values,
    source: null,
    properties: null,
  } as unknown as StoredEvent;
  return { event, partition: 0, offset };
}

/** Events carrying `total` fresh keys, KEYS_PER_EVENT each, in order k00000, k00001, … */
function freshKeyEvents(total: number, firstOffset = 0): { events: CountedEvent[]; keys: string[] } {
  const keys = Array.from({ length: total }, (_, i) => `k${String(i).padStart(5, '0')}`);
  const events: CountedEvent[] = [];
  for (let start = 0; start < total; start += KEYS_PER_EVENT) {
    const dimensions = Object.fromEntries(keys.slice(start, start + KEYS_PER_EVENT).map((key) => [key, 'v']));
    events.push(counted(firstOffset + events.length, dimensions, { [`m${start}`]: 1 }));
  }
  return { events, keys };
}

const row = (overrides: Partial<CatalogRow>): CatalogRow => ({
  tenant: 'acme',
  type: 'noisy',
  partition: 0,
  appliedOffset: -1,
  count: 0,
  firstSeen: T0,
  lastSeen: T0,
  dimensionKeys: [],
  valueKeys: [],
  droppedDimensionKeys: 0,
  droppedValueKeys: 0,
  ...overrides,
});

afterEach(() => vi.restoreAllMocks());

describe('mergeIntoCatalog', () => {
  it('lists the first 256 keys seen, sorted, and counts the 9,744 others of a 10,000-key batch', () => {
    // Fresh keys in a shuffled order, so "first seen" and "first by name" differ.
    const { events } = freshKeyEvents(10_000);
    events.reverse().forEach((e, index) => (e.offset = index));
    const firstSeen = events.flatMap((e) => Object.keys(e.event.dimensions)).slice(0, MAX_CATALOG_KEYS);

    const [merged] = mergeIntoCatalog([], events);
    expect(MAX_CATALOG_KEYS).toBe(256);
    expect(merged!.dimensionKeys).toEqual([...firstSeen].sort());
    expect(merged!.droppedDimensionKeys).toBe(10_000 - 256);
    // One value key per event: 313 events, 256 listed.
    expect(merged!.valueKeys.length).toBe(256);
    expect(merged!.droppedValueKeys).toBe(313 - 256);
    expect(merged!.count).toBe(313);
    expect(merged!.appliedOffset).toBe(312);
  });

  it('sorts each changed row once per batch, however many events it holds', () => {
    const { events } = freshKeyEvents(10_000);
    const sort = vi.spyOn(Array.prototype, 'sort');
    mergeIntoCatalog([], events);
    // Once for the dimension keys, once for the value keys of the one changed row.
    expect(sort).toHaveBeenCalledTimes(2);
  });

  it('adds no key to a full row, counts every event that brings one, and keeps replays harmless', () => {
    const full = row({
      appliedOffset: 9,
      count: 10,
      dimensionKeys: Array.from({ length: 256 }, (_, i) => `d${String(i).padStart(3, '0')}`),
      valueKeys: ['amount'],
    });
    const events = [
      counted(8, { fresh: 'x' }), // at or below the applied offset: already merged
      counted(10, { d000: 'x', fresh: 'x', other: 'y' }, { amount: 1, qty: 2 }),
      counted(11, { fresh: 'x' }),
    ];
    const [merged] = mergeIntoCatalog([full], events);
    expect(merged!.dimensionKeys).toEqual(full.dimensionKeys);
    expect(merged!.droppedDimensionKeys).toBe(3);
    expect(merged!.valueKeys).toEqual(['amount', 'qty']);
    expect(merged!.count).toBe(12);
    expect(mergeIntoCatalog([merged!], events)).toEqual([]);
  });

  it('brings a row stored before the cap under it, counting the keys it cuts', () => {
    const oversized = row({ appliedOffset: 0, count: 1, dimensionKeys: freshKeyEvents(300).keys });
    const [merged] = mergeIntoCatalog([oversized], [counted(1, { k00000: 'x' })]);
    expect(merged!.dimensionKeys).toEqual(oversized.dimensionKeys.slice(0, 256));
    expect(merged!.droppedDimensionKeys).toBe(44);
  });
});

describe('mergeCatalog (the eventTypes answer)', () => {
  it('caps the union of partitions, sorted, and adds what each partition dropped', () => {
    const keys = freshKeyEvents(400).keys;
    const summaries = mergeCatalog([
      row({ partition: 0, count: 2, dimensionKeys: keys.slice(0, 200), droppedDimensionKeys: 5, valueKeys: ['b'] }),
      row({ partition: 1, count: 3, dimensionKeys: keys.slice(150, 350), droppedValueKeys: 1, valueKeys: ['a'] }),
      row({ type: 'quiet', count: 1, dimensionKeys: ['country'] }),
    ]);
    expect(summaries.map((s) => s.type)).toEqual(['noisy', 'quiet']);
    const [noisy, quiet] = summaries;
    expect(noisy).toMatchObject({ count: 5, values: ['a', 'b'], droppedDimensionKeys: 5 + (350 - 256), droppedValueKeys: 1 });
    expect(noisy!.dimensions).toEqual(keys.slice(0, 256));
    expect(quiet).toMatchObject({ dimensions: ['country'], droppedDimensionKeys: 0, droppedValueKeys: 0 });
  });
});
