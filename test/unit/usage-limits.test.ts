import { describe, expect, it } from 'vitest';
import { createUsageLimits, type UsageLimitsConfig } from '../../src/limits/usage-limits.ts';
import { createEmbeddedRateLimitStore } from '../../src/adapters/embedded/embedded-rate-limit-store.ts';
import type { Principal } from '../../src/auth/authenticator.ts';
import { loadConfig } from '../../src/config.ts';
import { StreamlensError } from '../../src/errors.ts';
import { asGraphQLError } from '../../src/server/errors.ts';

const CONFIG: UsageLimitsConfig = {
  ingestEventsPerSecond: 100,
  tenantIngestEventsPerSecond: 150,
  maxBatchEvents: 100,
  operationsPerSecond: 10,
  tenantOperationsPerSecond: 15,
  unauthenticatedOperationsPerSecond: 1,
  maxSubscriptionsPerTenant: 5,
};
const keyOf = (keyId: string | null, tenant: string | null = 'acme'): Principal => ({
  tenant,
  keyId,
  scopes: new Set(['INGEST', 'READ']),
  isRootAdmin: false,
});

/** The limits on a frozen clock: no token comes back during a test. */
function limits() {
  const store = createEmbeddedRateLimitStore({ now: () => 1_000_000 });
  return createUsageLimits(store, CONFIG);
}

async function refusal(attempt: Promise<void>): Promise<{ message: string; extensions: Record<string, unknown> } | null> {
  try {
    await attempt;
    return null;
  } catch (error) {
    if (!(error instanceof StreamlensError)) throw error;
    // What the client receives for it.
    const shown = asGraphQLError(error);
    return { message: shown.message, extensions: shown.extensions as Record<string, unknown> };
  }
}

describe('usage limits', () => {
  it('shares a tenant bucket among its keys, on top of each key bucket', async () => {
    const usage = limits();
    expect(await refusal(usage.takeIngest(keyOf('key1'), 100))).toBeNull();
    // key2's own bucket is full, but the tenant has 50 of its 150 left.
    const refused = await refusal(usage.takeIngest(keyOf('key2'), 60));
    expect(refused?.message).toBe('this tenant may ingest 150 events per second over all its keys; retry this batch later');
    expect(refused?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter: 1, http: { headers: { 'Retry-After': '1' } } });
    // The refused call still cost key2's own bucket (60 of its 100), not the tenant's.
    expect(await refusal(usage.takeIngest(keyOf('key2'), 40))).toBeNull();
    // Another tenant has its own.
    expect(await refusal(usage.takeIngest(keyOf('key3', 'other'), 100))).toBeNull();
  });

  it('takes from the key first: a key refused by its own bucket costs its tenant nothing', async () => {
    const usage = limits();
    expect(await refusal(usage.takeIngest(keyOf('key1'), 100))).toBeNull();
    for (let i = 0; i < 5; i++) expect((await refusal(usage.takeIngest(keyOf('key1'), 40)))?.message).toContain('this key may ingest 100');
    expect(await refusal(usage.takeIngest(keyOf('key2'), 50))).toBeNull();
  });

  it('charges an ingest call at least one event, so empty calls are counted too', async () => {
    const usage = limits();
    for (let i = 0; i < 100; i++) await usage.takeIngest(keyOf('empty'), 0);
    expect((await refusal(usage.takeIngest(keyOf('empty'), 0)))?.extensions.code).toBe('RATE_LIMITED');
  });

  it('limits operations per key (bursts of twice the rate) and per tenant', async () => {
    const usage = limits();
    for (let i = 0; i < 20; i++) expect(await refusal(usage.takeOperation(keyOf('reader1')))).toBeNull();
    expect((await refusal(usage.takeOperation(keyOf('reader1'))))?.message).toBe('this key may start 10 operations per second');
    for (let i = 0; i < 10; i++) expect(await refusal(usage.takeOperation(keyOf('reader2')))).toBeNull();
    expect((await refusal(usage.takeOperation(keyOf('reader2'))))?.message).toBe(
      'this tenant may start 15 operations per second over all its keys',
    );
  });

  it('gives open mode and the bootstrap admin one bucket each, without a separate tenant bucket', async () => {
    const usage = limits();
    for (let i = 0; i < 20; i++) await usage.takeOperation(keyOf(null, 'default'));
    expect((await refusal(usage.takeOperation(keyOf(null, 'default'))))?.message).toBe('this key may start 10 operations per second');
    for (let i = 0; i < 20; i++) await usage.takeOperation(keyOf(null, null));
    expect((await refusal(usage.takeOperation(keyOf(null, null))))?.extensions.code).toBe('RATE_LIMITED');
  });

  it("gives each access token its own buckets at its own rates, under its tenant's", async () => {
    const usage = limits();
    const token = (id: string, queriesPerSecond: number | null, eventsPerSecond: number | null): Principal => ({
      ...keyOf('key1'),
      token: { id, expiresAt: 2_000_000, slice: { types: null, where: [] }, queriesPerSecond, eventsPerSecond },
    });
    // 3 operations per second: bursts of 6, then refused, naming the token's rate.
    for (let i = 0; i < 6; i++) expect(await refusal(usage.takeOperation(token('t1', 3, null)))).toBeNull();
    expect(await refusal(usage.takeOperation(token('t1', 3, null)))).toMatchObject({
      message: 'this access token may start 3 operations per second',
      extensions: { code: 'RATE_LIMITED', retryAfter: 1 },
    });
    // Its minting key and another token of the same key have buckets of their own; the tenant's 30 are shared.
    expect(await refusal(usage.takeOperation(keyOf('key1')))).toBeNull();
    for (let i = 0; i < 6; i++) expect(await refusal(usage.takeOperation(token('t2', 3, null)))).toBeNull();
    // Without its own rate, a token has the key's (10, bursts of 20), and the tenant bucket (30) still applies: 6 + 1 + 6 + 17 = 30.
    for (let i = 0; i < 17; i++) expect(await refusal(usage.takeOperation(token('t3', null, null)))).toBeNull();
    expect((await refusal(usage.takeOperation(token('t3', null, null))))?.message).toBe(
      'this tenant may start 15 operations per second over all its keys',
    );
    // Events: a token's bucket holds one second's worth, so a larger batch is refused at once.
    expect(await refusal(usage.takeIngest(token('t4', null, 5), 5))).toBeNull();
    expect((await refusal(usage.takeIngest(token('t4', null, 5), 1)))?.message).toBe(
      'this access token may ingest 5 events per second, and so at most 5 in one batch; retry later',
    );
    expect((await refusal(usage.takeIngest(token('t5', null, 5), 6)))?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
  });

  it('limits callers without a valid key per remote address', async () => {
    const usage = limits();
    await usage.takeUnauthenticated('10.0.0.1');
    await usage.takeUnauthenticated('10.0.0.1');
    const refused = await refusal(usage.takeUnauthenticated('10.0.0.1'));
    expect(refused?.message).toBe('calls without a valid API key may start 1 operations per second from one address');
    expect(refused?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter: 1 });
    expect(await refusal(usage.takeUnauthenticated('10.0.0.2'))).toBeNull();
  });
});

describe('usage limit configuration', () => {
  it('defaults the tenant rates to five keys worth, and reads the new limits', () => {
    const defaults = loadConfig({});
    expect(defaults.ok && defaults.config.usage).toEqual({
      ingestEventsPerSecond: 20_000,
      tenantIngestEventsPerSecond: 100_000,
      operationsPerSecond: 100,
      tenantOperationsPerSecond: 500,
      unauthenticatedOperationsPerSecond: 20,
      maxSubscriptionsPerTenant: 10_000,
    });
    expect(defaults.ok && defaults.config.maxKeysPerTenant).toBe(100);
    const derived = loadConfig({ INGEST_RATE_PER_KEY: '10', QUERY_RATE_PER_KEY: '3' });
    expect(derived.ok && derived.config.usage).toMatchObject({ tenantIngestEventsPerSecond: 50, tenantOperationsPerSecond: 15 });
    const set = loadConfig({
      INGEST_RATE_PER_TENANT: '7',
      QUERY_RATE_PER_TENANT: '2',
      UNAUTHENTICATED_RATE_PER_ADDRESS: '4',
      MAX_KEYS_PER_TENANT: '3',
    });
    expect(set.ok && set.config.usage).toMatchObject({
      tenantIngestEventsPerSecond: 7,
      tenantOperationsPerSecond: 2,
      unauthenticatedOperationsPerSecond: 4,
    });
    expect(set.ok && set.config.maxKeysPerTenant).toBe(3);
  });

  it('names every bad limit', () => {
    const result = loadConfig({
      INGEST_RATE_PER_TENANT: 'lots',
      QUERY_RATE_PER_TENANT: '0',
      UNAUTHENTICATED_RATE_PER_ADDRESS: '-1',
      MAX_KEYS_PER_TENANT: '0',
    });
    expect(result.ok).toBe(false);
    expect((result.ok ? [] : result.problems).map((problem) => problem.split(':')[0]).sort()).toEqual([
      'INGEST_RATE_PER_TENANT',
      'MAX_KEYS_PER_TENANT',
      'QUERY_RATE_PER_TENANT',
      'UNAUTHENTICATED_RATE_PER_ADDRESS',
    ]);
  });
});
