/**
 * Property: a slice applied by src/auth/tenant-access.ts keeps exactly what the slice holds.
 *
 * For random events, random query filters and random slices:
 * - the events query narrowed to the slice matches exactly the events the unrestricted query
 *   matches and `sliceHolds` keeps; when narrowing refuses (FORBIDDEN: only types outside the
 *   slice asked for), the unrestricted answer within the slice is empty anyway;
 * - the conditions a rollup read uses (narrowWhere) hold for exactly the dimension combinations
 *   the query's and the slice's conditions both hold for;
 * - an ingested event is refused (outsideSliceReason) exactly when the slice does not hold it.
 *
 * Pure: the stores are held to matchesEventQuery by where-matcher.property.test.ts and the
 * event-store contract. Default: a fixed seed (see fuzz-settings.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sliceHolds, type DataSlice } from '../../src/auth/data-slice.ts';
import { narrowEventQuery, narrowWhere, outsideSliceReason, type TenantAccess } from '../../src/auth/tenant-access.ts';
import { matchesConditions } from '../../src/domain/dimension-conditions.ts';
import type { DimensionValue, StoredEvent } from '../../src/domain/event.ts';
import { StreamlensError } from '../../src/errors.ts';
import type { EventQuery } from '../../src/ports/event-store.ts';
import { matchesEventQuery, validateWhere, type DimensionConditionInput } from '../../src/query/event-filter.ts';
import { fuzzSettings } from './fuzz-settings.ts';

const { seed, numRuns } = fuzzSettings('slice-narrowing', { seed: 16_016_001, runs: 300 });

const TYPES = ['visit', 'click', 'buy'] as const;
const KEYS = ['customer', 'plan', 'constructor'] as const;
const VALUES: readonly DimensionValue[] = ['A', 'B', '1', 1, true, 'true', ''];
const T0 = Date.parse('2026-12-01T00:00:00.000Z');

const dimensionsArbitrary = fc.dictionary(fc.constantFrom(...KEYS), fc.constantFrom(...VALUES), { maxKeys: KEYS.length });
const valueArbitrary = fc.constantFrom(...VALUES);
const conditionArbitrary: fc.Arbitrary<DimensionConditionInput> = fc.oneof(
  fc.record({ key: fc.constantFrom(...KEYS), eq: valueArbitrary }),
  fc.record({ key: fc.constantFrom(...KEYS), neq: valueArbitrary }),
  fc.record({ key: fc.constantFrom(...KEYS), in: fc.array(valueArbitrary, { maxLength: 3 }) }),
  fc.record({ key: fc.constantFrom(...KEYS), notIn: fc.array(valueArbitrary, { maxLength: 3 }) }),
  fc.record({ key: fc.constantFrom(...KEYS), exists: fc.boolean() }),
);
const whereArbitrary = fc.array(conditionArbitrary, { maxLength: 3 });
const typesArbitrary = fc.option(fc.uniqueArray(fc.constantFrom(...TYPES), { maxLength: TYPES.length }), { nil: null });

const eventArbitrary = fc.record({ type: fc.constantFrom(...TYPES), dimensions: dimensionsArbitrary, minute: fc.nat(10) });

function storedEvent(index: number, drawn: { type: string; dimensions: Record<string, DimensionValue>; minute: number }): StoredEvent {
  return {
    tenant: 'acme',
    id: `e${index}`,
    type: drawn.type,
    timestamp: T0 + drawn.minute * 60_000,
    receivedAt: T0,
    clockCorrectionMs: 0,
    source: null,
    dimensions: drawn.dimensions,
    values: {},
    properties: null,
    position: { partition: 0, offset: index },
    quarantine: null,
  };
}

const sliceArbitrary: fc.Arbitrary<DataSlice> = fc
  .record({ types: typesArbitrary, where: whereArbitrary })
  .map(({ types, where }) => ({ types: types ? [...types].sort() : null, where: validateWhere(where, 'slice.where') ?? [] }));

const queryArbitrary: fc.Arbitrary<EventQuery> = fc
  .record({
    types: typesArbitrary,
    where: whereArbitrary,
    dimensions: fc.option(dimensionsArbitrary, { nil: null }),
    from: fc.option(fc.nat(10), { nil: null }),
  })
  .map(({ types, where, dimensions, from }) => ({
    tenant: 'acme',
    types,
    source: null,
    from: from === null ? null : T0 + from * 60_000,
    to: null,
    dimensions,
    where: validateWhere(where, 'filter.where'),
  }));

describe('the slice, applied by tenant-access.ts', () => {
  it('narrows an events query to exactly the events of the unrestricted answer that the slice holds', () => {
    fc.assert(
      fc.property(fc.array(eventArbitrary, { maxLength: 30 }), queryArbitrary, sliceArbitrary, (drawn, query, slice) => {
        const events = drawn.map((event, index) => storedEvent(index, event));
        const access: TenantAccess = { tenant: 'acme', slice };
        const expected = events.filter((event) => matchesEventQuery(event, query) && sliceHolds(slice, event)).map((e) => e.id);
        let narrowed: EventQuery;
        try {
          narrowed = narrowEventQuery(access, query);
        } catch (error) {
          expect(error).toBeInstanceOf(StreamlensError);
          expect((error as StreamlensError).code).toBe('FORBIDDEN');
          expect(expected).toEqual([]);
          return;
        }
        expect(events.filter((event) => matchesEventQuery(event, narrowed)).map((e) => e.id)).toEqual(expected);
      }),
      { seed, numRuns },
    );
  });

  it("ANDs the slice's conditions into a rollup read's conditions", () => {
    fc.assert(
      fc.property(fc.array(dimensionsArbitrary, { maxLength: 20 }), whereArbitrary, sliceArbitrary, (rows, where, slice) => {
        const conditions = validateWhere(where, 'query.where');
        const narrowed = narrowWhere({ tenant: 'acme', slice }, conditions);
        for (const dimensions of rows) {
          expect(matchesConditions(dimensions, narrowed)).toBe(
            matchesConditions(dimensions, conditions) && matchesConditions(dimensions, slice.where),
          );
        }
      }),
      { seed, numRuns },
    );
  });

  it('refuses an ingested event exactly when the slice does not hold it', () => {
    fc.assert(
      fc.property(fc.array(eventArbitrary, { maxLength: 20 }), sliceArbitrary, (drawn, slice) => {
        for (const event of drawn) {
          expect(outsideSliceReason({ tenant: 'acme', slice }, event) === null).toBe(sliceHolds(slice, event));
        }
      }),
      { seed, numRuns },
    );
  });
});
