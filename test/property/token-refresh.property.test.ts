/**
 * Property: a refresh never widens what an open subscription delivers.
 *
 * For random slices, subscription filters and events: the slice a subscription is judged by
 * (subscriptionSlice) holds exactly the events it can deliver (in the token's slice, of its own
 * types, meeting its own where), and when a refresh lets it go on (refusalOfRenewal is null), every
 * event it can deliver is in the new token's slice too.
 *
 * Default: a fixed seed. A larger random run: FUZZ_RUNS=2000 FUZZ_SEED=random npx vitest run test/property
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/authenticator.ts';
import { sliceHolds, type DataSlice } from '../../src/auth/data-slice.ts';
import { matchesConditions, type DimensionCondition } from '../../src/domain/dimension-conditions.ts';
import type { DimensionValue } from '../../src/domain/event.ts';
import { refusalOfRenewal, sliceOf, subscriptionSlice } from '../../src/live/connection-credentials.ts';
import { fuzzSettings } from './fuzz-settings.ts';

const { seed, numRuns } = fuzzSettings('token-refresh', { seed: 16_016_001, runs: 300 });

const TYPES = ['pageview', 'purchase', 'signup'] as const;
const KEYS = ['customer', 'plan', 'constructor'] as const;
const VALUES: readonly DimensionValue[] = ['7', '8', 'pro', '', 7, true];

const value = fc.constantFrom(...VALUES.map((v) => String(v)));
const condition: fc.Arbitrary<DimensionCondition> = fc.oneof(
  fc.record({ key: fc.constantFrom(...KEYS), operator: fc.constantFrom('eq' as const, 'neq' as const), value }),
  fc.record({
    key: fc.constantFrom(...KEYS),
    operator: fc.constantFrom('in' as const, 'notIn' as const),
    values: fc.uniqueArray(value, { minLength: 1, maxLength: 3 }).map((values) => new Set(values) as ReadonlySet<string>),
  }),
  fc.record({ key: fc.constantFrom(...KEYS), operator: fc.constant('exists' as const), exists: fc.boolean() }),
);
const types = fc.option(fc.uniqueArray(fc.constantFrom(...TYPES), { maxLength: 3 }).map((list) => [...list].sort()));
const slice: fc.Arbitrary<DataSlice> = fc.record({ types, where: fc.array(condition, { maxLength: 2 }) });
const event = fc.record({
  type: fc.constantFrom(...TYPES),
  dimensions: fc.dictionary(fc.constantFrom(...KEYS), fc.constantFrom(...VALUES), { maxKeys: 3 }),
});

/** A slice that holds at least what `narrower` holds: some of its conditions dropped, maybe every type. */
const widened = (narrower: DataSlice): fc.Arbitrary<DataSlice> =>
  fc.record({
    types: fc.constantFrom(narrower.types, null),
    where: fc.subarray([...narrower.where]),
  });

const tokenOf = (granted: DataSlice): Principal => ({
  tenant: 'acme',
  keyId: 'key-1',
  scopes: new Set(['READ']),
  isRootAdmin: false,
  token: { id: 't', expiresAt: 0, slice: granted, queriesPerSecond: null, eventsPerSecond: null },
});

describe('a refresh and what a subscription delivers', () => {
  it('judges a subscription by exactly the events it can deliver', () => {
    fc.assert(
      fc.property(slice, types, fc.option(fc.array(condition, { maxLength: 2 })), event, (granted, ownTypes, ownWhere, e) => {
        const delivers = subscriptionSlice(granted, ownTypes, ownWhere);
        const ofOwnTypes = ownTypes === null || ownTypes.length === 0 || ownTypes.includes(e.type);
        expect(sliceHolds(delivers, e)).toBe(sliceHolds(granted, e) && ofOwnTypes && matchesConditions(e.dimensions, ownWhere));
      }),
      { seed, numRuns },
    );
  });

  it('lets a subscription go on only under a token that holds every event it can deliver', () => {
    /** Refreshes that let the subscription go on: the property is about them, so there must be many. */
    let allowed = 0;
    fc.assert(
      fc.property(
        slice.chain((oldSlice) => fc.tuple(fc.constant(oldSlice), fc.oneof(slice, widened(oldSlice)))),
        types,
        fc.array(event, { maxLength: 20 }),
        ([oldSlice, newSlice], ownTypes, events) => {
          const opened = tokenOf(oldSlice);
          const delivers = subscriptionSlice(sliceOf(opened), ownTypes, null);
          if (refusalOfRenewal(opened, tokenOf(newSlice), delivers) !== null) return;
          allowed += 1;
          for (const e of events) if (sliceHolds(delivers, e)) expect(sliceHolds(newSlice, e)).toBe(true);
        },
      ),
      { seed, numRuns },
    );
    expect(allowed).toBeGreaterThan(numRuns / 4);
  });
});
