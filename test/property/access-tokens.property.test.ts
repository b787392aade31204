/**
 * Properties of the access token format (src/auth/access-tokens.ts):
 * - any token minted from any claims verifies back to exactly those claims;
 * - flipping any bits of any one character of a token (payload, signature, separator or prefix)
 *   makes it refused: a forger cannot edit a token and keep it valid.
 *
 * Default: a fixed seed. A larger random run: FUZZ_RUNS=2000 FUZZ_SEED=random npx vitest run test/property
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeToken, signingKeys, verifyToken, type TokenClaims } from '../../src/auth/access-tokens.ts';
import type { DimensionCondition } from '../../src/domain/dimension-conditions.ts';
import { fuzzSettings } from './fuzz-settings.ts';

const { seed, numRuns } = fuzzSettings('access-tokens', { seed: 16_016_001, runs: 300 });

const KEYS = signingKeys([{ kid: 'k1', secret: 'S'.repeat(43) }]);
const T0 = Date.UTC(2026, 11, 2, 12);
/** Keys and values with prototype-member names, quotes and non-ASCII text among them. */
const DIMENSION_KEYS = ['customer', 'plan', 'constructor', 'toString', '0', 'a:b'];
const VALUES = ['acme', '', 'it\'s "quoted"', 'ünïcode ✓', '𝄞', '1', 'true'];

const condition: fc.Arbitrary<DimensionCondition> = fc.oneof(
  fc.record({
    key: fc.constantFrom(...DIMENSION_KEYS),
    operator: fc.constantFrom('eq' as const, 'neq' as const),
    value: fc.constantFrom(...VALUES),
  }),
  fc.record({
    key: fc.constantFrom(...DIMENSION_KEYS),
    operator: fc.constantFrom('in' as const, 'notIn' as const),
    values: fc.uniqueArray(fc.constantFrom(...VALUES), { minLength: 1 }).map((values) => new Set(values)),
  }),
  fc.record({ key: fc.constantFrom(...DIMENSION_KEYS), operator: fc.constant('exists' as const), exists: fc.boolean() }),
);

const claims: fc.Arbitrary<TokenClaims> = fc.record({
  id: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => Buffer.from(bytes).toString('base64url')),
  tenant: fc.constantFrom('acme', 'tenant-b', '0'),
  keyId: fc.constantFrom('Key0123456789abc', 'AAAAAAAAAAAAAAAA'),
  scopes: fc.constantFrom<TokenClaims['scopes'][]>(['READ'], ['INGEST'], ['INGEST', 'READ']),
  issuedAt: fc.constant(T0),
  expiresAt: fc.integer({ min: T0 + 1, max: T0 + 86_400_000 }),
  types: fc.option(
    fc.uniqueArray(fc.constantFrom('visit', 'click', 'a.b:c-d_e', 'constructor'), { minLength: 1 }).map((types) => types.sort()),
  ),
  where: fc.array(condition, { maxLength: 4 }),
  queriesPerSecond: fc.option(fc.integer({ min: 1, max: 1_000_000 })),
  eventsPerSecond: fc.option(fc.integer({ min: 1, max: 1_000_000 })),
});

describe('access token format (property)', () => {
  it('verifies back to exactly the claims it was minted from', () => {
    fc.assert(
      fc.property(claims, (minted) => {
        const verified = verifyToken(encodeToken(minted, KEYS), KEYS, T0);
        expect(verified).toEqual({ ok: true, claims: minted });
      }),
      { seed, numRuns },
    );
  });

  it('refuses a token with any bits of any one character flipped', () => {
    fc.assert(
      fc.property(claims, fc.nat(), fc.integer({ min: 1, max: 0x7f }), (minted, at, mask) => {
        const token = encodeToken(minted, KEYS);
        const index = at % token.length;
        const flipped = token.slice(0, index) + String.fromCharCode(token.charCodeAt(index) ^ mask) + token.slice(index + 1);
        expect(verifyToken(flipped, KEYS, T0).ok).toBe(false);
      }),
      { seed, numRuns },
    );
  });
});
