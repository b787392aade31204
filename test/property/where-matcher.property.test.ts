/**
 * Property: every place that decides a `where` decides it the same way.
 *
 * - The in-process matcher (validateWhere + matchesConditions) agrees with a naive reference
 *   written straight from the contract's words, on events whose dimensions are drawn from a small
 *   pool of keys (prototype-member names among them) and values (numbers, booleans and the
 *   strings they print as, so "compared as text" is exercised).
 * - Each event store's translation (SQL over SQLite's dimension_text, a MongoDB filter) returns
 *   exactly the events the matcher keeps, in the store's order.
 * - Series and top over rollup rows (one row per dimension combination) count exactly the events
 *   the matcher keeps.
 *
 * Default: a fixed seed. A larger random run: FUZZ_RUNS=2000 FUZZ_SEED=random npx vitest run test/property
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchesConditions } from '../../src/domain/dimension-conditions.ts';
import type { DimensionValue, StoredEvent } from '../../src/domain/event.ts';
import type { EventStore } from '../../src/ports/event-store.ts';
import { validateWhere, type DimensionConditionInput } from '../../src/query/event-filter.ts';
import { buildSeries, buildTop } from '../../src/query/series-view.ts';
import { mergeIntoRollups } from '../../src/stream/rollup-plan.ts';
import { eventStoreAdapters, type AdapterHarness } from '../contract/adapters.ts';
import { fuzzSettings } from './fuzz-settings.ts';

/** A fixed seed, so `npm test` is deterministic; each run is one store query per adapter. */
const { seed, numRuns } = fuzzSettings('where-matcher', { seed: 14_014_001, runs: 150 });

const KEYS = ['country', 'plan', 'n', 'constructor', 'toString', '0'] as const;
/** Values that print alike (1 and "1", true and "true") and some that need care in SQL and JSON. */
const VALUES: readonly DimensionValue[] = [
  'NL',
  'DE',
  '',
  '1',
  'true',
  '1.5',
  'a"b',
  "it's",
  '%_',
  'ÄÖ',
  '😀',
  '[object Object]',
  1,
  1.5,
  -2,
  0,
  true,
  false,
];

const dimensionsArbitrary = fc.dictionary(fc.constantFrom(...KEYS), fc.constantFrom(...VALUES), { maxKeys: KEYS.length });
const valueArbitrary = fc.constantFrom(...VALUES);
const conditionArbitrary: fc.Arbitrary<DimensionConditionInput> = fc.oneof(
  fc.record({ key: fc.constantFrom(...KEYS), eq: valueArbitrary }),
  fc.record({ key: fc.constantFrom(...KEYS), neq: valueArbitrary }),
  fc.record({ key: fc.constantFrom(...KEYS), in: fc.array(valueArbitrary, { maxLength: 4 }) }),
  fc.record({ key: fc.constantFrom(...KEYS), notIn: fc.array(valueArbitrary, { maxLength: 4 }) }),
  fc.record({ key: fc.constantFrom(...KEYS), exists: fc.boolean() }),
);
const whereArbitrary = fc.array(conditionArbitrary, { minLength: 1, maxLength: 4 });

/** The contract, read literally: compare the dimension's text; absent passes neq and notIn. */
function reference(dimensions: Record<string, DimensionValue>, where: readonly DimensionConditionInput[]): boolean {
  return where.every((condition) => {
    const present = Object.keys(dimensions).includes(condition.key);
    const text = present ? `${dimensions[condition.key]}` : null;
    const texts = (list: readonly DimensionValue[]) => list.map((value) => `${value}`);
    if (condition.eq != null) return text === `${condition.eq}`;
    if (condition.neq != null) return text !== `${condition.neq}`;
    if (condition.in != null) return text !== null && texts(condition.in).includes(text);
    if (condition.notIn != null) return text === null || !texts(condition.notIn).includes(text);
    return present === condition.exists;
  });
}

const T0 = Date.parse('2026-11-27T12:00:00.000Z');

/** A pool of events drawn once from the seed: the stores are filled once and queried per run. */
const pool: StoredEvent[] = fc
  .sample(fc.array(dimensionsArbitrary, { minLength: 80, maxLength: 80 }), { seed, numRuns: 1 })[0]!
  .map((dimensions, i) => ({
    tenant: 'acme',
    id: `e${String(i).padStart(3, '0')}`,
    type: 'purchase',
    // Two events per minute: series buckets merge several combinations.
    timestamp: T0 + Math.floor(i / 2) * 60_000 + (i % 2) * 1_000,
    receivedAt: T0,
    clockCorrectionMs: 0,
    source: null,
    dimensions,
    values: { amount: i },
    properties: null,
    position: { partition: 0, offset: i + 1 },
    quarantine: null,
  }));
/** Newest first, ties by id descending: the stores' order. */
const newestFirst = [...pool].sort((a, b) => b.timestamp - a.timestamp || (a.id < b.id ? 1 : -1));

describe('where: the matcher against the contract read literally', () => {
  it('agrees on every event and condition list', () => {
    fc.assert(
      fc.property(dimensionsArbitrary, whereArbitrary, (dimensions, where) => {
        expect(matchesConditions(dimensions, validateWhere(where, 'where'))).toBe(reference(dimensions, where));
      }),
      { seed, numRuns: numRuns * 20 },
    );
  });
});

describe('where: series and top over rollup rows', () => {
  const rows = mergeIntoRollups(
    [],
    pool.map((event) => ({ partition: 0, offset: event.position.offset, event })),
  ).filter((row) => row.interval === 'MINUTE');

  it('count and sum exactly the events the matcher keeps', () => {
    fc.assert(
      fc.property(whereArbitrary, (where) => {
        const conditions = validateWhere(where, 'where');
        const kept = pool.filter((event) => reference(event.dimensions, where));
        const [series] = buildSeries(
          rows,
          { interval: 'MINUTE', value: 'amount', where: conditions, from: T0, to: T0 + pool.length * 60_000 },
          { watermark: null, allowedLatenessMs: 0 },
        );
        expect(series!.points.reduce((sum, p) => sum + p.count, 0)).toBe(kept.length);
        expect(series!.points.reduce((sum, p) => sum + (p.sum ?? 0), 0)).toBe(kept.reduce((sum, e) => sum + e.values.amount!, 0));

        const expectedTop = new Map<string, number>();
        for (const event of kept) {
          if (!Object.hasOwn(event.dimensions, 'plan')) continue;
          const key = `${event.dimensions.plan}`;
          expectedTop.set(key, (expectedTop.get(key) ?? 0) + 1);
        }
        const top = buildTop(rows, { by: 'plan', where: conditions, limit: 1000 });
        expect(new Map(top.map((entry) => [entry.key, entry.count]))).toEqual(expectedTop);
      }),
      { seed, numRuns },
    );
  });
});

describe.each(eventStoreAdapters)('where: the $name translation against the matcher', (factory) => {
  let harness: AdapterHarness<EventStore>;
  let store: EventStore;
  beforeAll(async () => {
    harness = factory.harness();
    store = await harness.open();
    await store.claim(pool);
  });
  afterAll(async () => {
    await store?.close();
    await harness?.cleanup();
  });

  it('returns exactly the events the matcher keeps, newest first', async () => {
    await fc.assert(
      fc.asyncProperty(whereArbitrary, fc.option(fc.constantFrom(...KEYS)), async (where, equalityKey) => {
        const conditions = validateWhere(where, 'where');
        // ANDed with the equality filter now and then, on a value the pool holds.
        const dimensions = equalityKey ? { [equalityKey]: 'NL' } : null;
        const expected = newestFirst
          .filter((event) => matchesConditions(event.dimensions, conditions))
          .filter((event) => !dimensions || (Object.hasOwn(event.dimensions, equalityKey!) && `${event.dimensions[equalityKey!]}` === 'NL'))
          .map((event) => event.id);
        const { events, scannedUpTo } = await store.listEvents({ tenant: 'acme', where: conditions, dimensions }, pool.length + 1);
        expect(events.map((event) => event.id)).toEqual(expected);
        expect(scannedUpTo).toBeNull();
      }),
      { seed, numRuns },
    );
  });
});
