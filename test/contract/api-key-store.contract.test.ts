/**
 * The ApiKeyStore contract, run against the embedded (SQLite) and the MongoDB adapter: what the
 * key service and the authenticator rely on, whatever the store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApiKeyRecord, ApiKeyStore } from '../../src/ports/api-key-store.ts';
import { apiKeyStoreAdapters, type AdapterHarness } from './adapters.ts';

const T0 = Date.parse('2026-11-27T12:00:00.000Z');

function key(id: string, overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id,
    tenant: 'acme',
    name: `key ${id}`,
    scopes: ['INGEST', 'READ'],
    createdAt: T0,
    revokedAt: null,
    secretHash: 'ab'.repeat(32),
    ...overrides,
  };
}

describe.each(apiKeyStoreAdapters)('ApiKeyStore contract: $name', (factory) => {
  let harness: AdapterHarness<ApiKeyStore>;
  let store: ApiKeyStore;

  beforeEach(async () => {
    harness = factory.harness();
    store = await harness.open();
  });
  afterEach(async () => {
    await store.close();
    await harness.cleanup();
  });

  it('returns a created key exactly as given, and null for an unknown id', async () => {
    const record = key('sk_1', { name: 'Grafana — ünïcode ✓', scopes: ['READ'] });
    await store.create(record);
    expect(await store.findById('sk_1')).toEqual(record);
    expect(await store.findById('sk_unknown')).toBeNull();
  });

  it('refuses a second key with the same id and keeps the first', async () => {
    await store.create(key('sk_1', { tenant: 'acme' }));
    await expect(store.create(key('sk_1', { tenant: 'other', secretHash: 'cd'.repeat(32) }))).rejects.toThrow();
    expect(await store.findById('sk_1')).toMatchObject({ tenant: 'acme', secretHash: 'ab'.repeat(32) });
  });

  it("lists one tenant's keys oldest first, or every tenant's with null", async () => {
    await store.create(key('sk_c', { createdAt: T0 + 2 }));
    await store.create(key('sk_a', { createdAt: T0 + 1, tenant: 'other' }));
    await store.create(key('sk_b', { createdAt: T0 }));
    expect((await store.list('acme')).map((k) => k.id)).toEqual(['sk_b', 'sk_c']);
    expect((await store.list('other')).map((k) => k.id)).toEqual(['sk_a']);
    expect((await store.list(null)).map((k) => k.id)).toEqual(['sk_b', 'sk_a', 'sk_c']);
    expect(await store.list('nobody')).toEqual([]);
  });

  it('treats tenant names that are prototype members or operators as plain text', async () => {
    for (const [i, tenant] of ['constructor', '__proto__', 'toString', '{"$ne":null}'].entries()) {
      await store.create(key(`sk_${i}`, { tenant, createdAt: T0 + i }));
    }
    expect((await store.list('constructor')).map((k) => k.id)).toEqual(['sk_0']);
    expect((await store.list('__proto__')).map((k) => k.id)).toEqual(['sk_1']);
    expect((await store.list('{"$ne":null}')).map((k) => k.id)).toEqual(['sk_3']);
    expect(await store.findById('{"$ne":null}')).toBeNull();
  });

  it('revokes once: the first revocation time stays, and an unknown id gives null', async () => {
    await store.create(key('sk_1'));
    expect(await store.revoke('sk_1', T0 + 10)).toEqual(key('sk_1', { revokedAt: T0 + 10 }));
    expect((await store.revoke('sk_1', T0 + 20))?.revokedAt).toBe(T0 + 10);
    expect((await store.findById('sk_1'))?.revokedAt).toBe(T0 + 10);
    expect(await store.revoke('sk_unknown', T0)).toBeNull();
    expect(await store.findById('sk_unknown')).toBeNull();
  });

  it('counts every key ever created, revoked ones included', async () => {
    expect(await store.count()).toBe(0);
    await store.create(key('sk_1'));
    await store.create(key('sk_2', { tenant: 'other' }));
    await store.revoke('sk_1', T0 + 1);
    expect(await store.count()).toBe(2);
  });

  it('keeps keys across a reopen, as a restarted process sees them', async () => {
    await store.create(key('sk_1'));
    await store.revoke('sk_1', T0 + 5);
    await store.close();
    store = await harness.open();
    expect(await store.findById('sk_1')).toEqual(key('sk_1', { revokedAt: T0 + 5 }));
    await expect(store.checkHealth()).resolves.toBeUndefined();
  });

  it('stores the first token signing secret offered and returns it ever after, across instances and reopens', async () => {
    const first = 'first-secret-'.padEnd(43, 'a');
    expect(await store.signingSecret(first)).toBe(first);
    expect(await store.signingSecret('second-secret-'.padEnd(43, 'b'))).toBe(first);
    // Several instances starting at once each offer their own: all end up with one stored secret.
    const others = await Promise.all([harness.open(), harness.open(), harness.open()]);
    try {
      const offered = others.map((other, i) => other.signingSecret(`candidate-${i}`.padEnd(43, 'c')));
      expect(await Promise.all(offered)).toEqual([first, first, first]);
    } finally {
      await Promise.all(others.map((other) => other.close()));
    }
    await store.close();
    store = await harness.open();
    expect(await store.signingSecret('after-reopen'.padEnd(43, 'd'))).toBe(first);
  });

  it('converges on one signing secret when instances offer theirs at the same time', async () => {
    const instances = [store, ...(await Promise.all([harness.open(), harness.open(), harness.open()]))];
    try {
      const secrets = await Promise.all(instances.map((instance, i) => instance.signingSecret(`racer-${i}`.padEnd(43, 'r'))));
      expect(new Set(secrets).size).toBe(1);
      expect(secrets[0]).toMatch(/^racer-\d/);
    } finally {
      await Promise.all(instances.slice(1).map((instance) => instance.close()));
    }
  });
});
