/**
 * The key service in-process, over the embedded API key store and live bus: creating keys (who
 * may, for which tenant, with which names, up to the tenant's cap), listing them, revoking them
 * (once, here and on every instance), and what the authenticator then says of each key.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEmbeddedApiKeyStore } from '../../src/adapters/embedded/embedded-api-key-store.ts';
import { createEmbeddedLiveBus } from '../../src/adapters/embedded/embedded-live-bus.ts';
import { createAuthenticator, type Authentication, type Authenticator, type Principal } from '../../src/auth/authenticator.ts';
import { createKeyService, type KeyService } from '../../src/auth/key-service.ts';
import { StreamlensError } from '../../src/errors.ts';
import type { ApiKeyStore } from '../../src/ports/api-key-store.ts';
import type { LiveBus } from '../../src/ports/live-bus.ts';
import { newDataDir, removeDataDir } from '../support/server.ts';

const ADMIN_KEY = 'the-bootstrap-admin-key';
const MAX_KEYS = 2;
const T0 = Date.UTC(2026, 10, 27, 12);

/** One instance: its authenticator and key service, over a store and bus instances share. */
interface Instance {
  authenticator: Authenticator;
  keys: KeyService;
  /** Every key id the service reported revoked, in order. */
  revoked: string[];
}

let dataDir: string;
let store: ApiKeyStore;
let bus: LiveBus;
let clock: number;

function startInstance(adminKey: string | null = ADMIN_KEY): Instance {
  const authenticator = createAuthenticator({ store, adminKey, now: () => clock });
  const keys = createKeyService({ store, authenticator, liveBus: bus, maxKeysPerTenant: MAX_KEYS, now: () => clock });
  const revoked: string[] = [];
  keys.onRevoked((keyId) => revoked.push(keyId));
  return { authenticator, keys, revoked };
}

async function principalOf(instance: Instance, key: string): Promise<Principal> {
  const auth = await instance.authenticator.authenticate(`Bearer ${key}`);
  if (!auth.ok) throw new Error(`${key} does not authenticate: ${auth.reason}`);
  return auth.principal;
}

/** The code, message and details of an expected refusal. */
async function refusal(attempt: Promise<unknown>): Promise<{ code: string; message: string; details: object }> {
  try {
    await attempt;
  } catch (error) {
    if (error instanceof StreamlensError) return { code: error.code, message: error.message, details: error.details };
    throw error;
  }
  throw new Error('the call was not refused');
}

beforeEach(() => {
  dataDir = newDataDir();
  store = createEmbeddedApiKeyStore({ dataDir });
  bus = createEmbeddedLiveBus();
  clock = T0;
});

afterEach(async () => {
  await store.close();
  await bus.close();
  removeDataDir(dataDir);
});

describe('key service: create', () => {
  it('creates a key whose secret is returned once and authenticates as its tenant with its scopes', async () => {
    const instance = startInstance();
    const root = await principalOf(instance, ADMIN_KEY);
    const { key, apiKey } = await instance.keys.create(root, 'acme', ['READ', 'INGEST', 'READ'], 'dashboard');

    expect(key).toMatch(/^sl_[A-Za-z0-9]{16}_[A-Za-z0-9_-]{43}$/);
    expect(apiKey).toEqual({
      id: key.slice(3, 19),
      tenant: 'acme',
      name: 'dashboard',
      scopes: ['READ', 'INGEST'],
      createdAt: T0,
      revokedAt: null,
      secretHash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(apiKey.secretHash).not.toContain(key.slice(20));
    expect(await store.findById(apiKey.id)).toEqual(apiKey);
    expect(await instance.authenticator.authenticate(`Bearer ${key}`)).toEqual({
      ok: true,
      principal: { tenant: 'acme', keyId: apiKey.id, scopes: new Set(['READ', 'INGEST']), isRootAdmin: false },
    });
    // The id with another secret is not the key, and says nothing about whether the id exists.
    expect(await instance.authenticator.authenticate(`Bearer sl_${apiKey.id}_${'x'.repeat(43)}`)).toEqual({ ok: false, reason: 'unknown' });
  });

  it('ends open mode with the first key', async () => {
    const instance = startInstance(null);
    const open = await instance.authenticator.authenticate(null);
    expect(open).toEqual({
      ok: true,
      principal: { tenant: 'default', keyId: null, scopes: new Set(['INGEST', 'READ', 'ADMIN']), isRootAdmin: true },
    });
    await instance.keys.create((open as Extract<Authentication, { ok: true }>).principal, 'acme', ['READ'], null);
    expect(await instance.authenticator.authenticate(null)).toEqual({ ok: false, reason: 'missing' });
  });

  it('refuses a tenant, scopes or a name that break the rules, with BAD_USER_INPUT, and stores nothing', async () => {
    const instance = startInstance();
    const root = await principalOf(instance, ADMIN_KEY);
    const create = (tenant: string, scopes: ('READ' | 'INGEST' | 'ADMIN')[], name: string | null) =>
      refusal(instance.keys.create(root, tenant, scopes, name));

    const badTenant = 'tenant must be 1 to 63 characters of a-z, 0-9, _ and -, starting with a letter or digit';
    for (const tenant of ['', 'Acme', '-acme', 'a'.repeat(64), 'acme corp', 'acme:1']) {
      expect(await create(tenant, ['READ'], null)).toEqual({ code: 'BAD_USER_INPUT', message: badTenant, details: {} });
    }
    expect(await create('acme', [], null)).toEqual({ code: 'BAD_USER_INPUT', message: 'a key needs at least one scope', details: {} });
    for (const name of ['', 'n'.repeat(129)]) {
      expect(await create('acme', ['READ'], name)).toEqual({
        code: 'BAD_USER_INPUT',
        message: 'name must be 1 to 128 characters',
        details: {},
      });
    }
    const unsafe = 'name must not contain control characters (terminal escape sequences) or bidirectional formatting characters';
    for (const name of ['build\u001b[2J', 'tab\there', 'evil\u202Eexe.txt', 'isolate\u2066x\u2069', 'c1\u009b']) {
      expect(await create('acme', ['READ'], name)).toEqual({ code: 'BAD_USER_INPUT', message: unsafe, details: {} });
    }
    expect((await create('acme', ['READ'], 'lone \uD800 surrogate')).code).toBe('BAD_USER_INPUT');

    expect(await store.count()).toBe(0);
    // The longest name, and any printable text, is a name.
    const longest = 'Données é 🚀 '.padEnd(128, 'n');
    expect((await instance.keys.create(root, 'acme', ['READ'], longest)).apiKey.name).toBe(longest);
  });

  it("lets the bootstrap admin create keys for any tenant and a tenant's ADMIN key for its own only", async () => {
    const instance = startInstance();
    const root = await principalOf(instance, ADMIN_KEY);
    const acmeAdmin = await principalOf(instance, (await instance.keys.create(root, 'acme', ['ADMIN'], null)).key);
    const acmeReader = await principalOf(instance, (await instance.keys.create(root, 'globex', ['READ'], null)).key);

    expect((await instance.keys.create(acmeAdmin, 'acme', ['INGEST'], null)).apiKey.tenant).toBe('acme');
    expect(await refusal(instance.keys.create(acmeAdmin, 'globex', ['INGEST'], null))).toEqual({
      code: 'FORBIDDEN',
      message: "an ADMIN key manages only its own tenant's keys",
      details: {},
    });
    expect(await refusal(instance.keys.create(acmeReader, 'globex', ['READ'], null))).toEqual({
      code: 'FORBIDDEN',
      message: 'managing API keys needs the ADMIN scope',
      details: {},
    });
  });

  it(`holds a tenant to ${MAX_KEYS} active keys (KEY_LIMIT), concurrent creations included; revoking one makes room`, async () => {
    const instance = startInstance();
    const root = await principalOf(instance, ADMIN_KEY);
    const attempts = await Promise.allSettled([1, 2, 3].map((n) => instance.keys.create(root, 'acme', ['READ'], `key ${n}`)));
    expect(attempts.map((attempt) => attempt.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect(await refusal(Promise.reject((attempts[2] as PromiseRejectedResult).reason))).toEqual({
      code: 'KEY_LIMIT',
      message: `tenant acme already has ${MAX_KEYS} active keys, the most it may hold (${MAX_KEYS}); revoke one first`,
      details: { limit: MAX_KEYS },
    });
    // Another tenant has its own cap.
    expect((await instance.keys.create(root, 'globex', ['READ'], null)).apiKey.tenant).toBe('globex');

    const acmeKey = (await instance.keys.list(root)).find((key) => key.tenant === 'acme')!;
    await instance.keys.revoke(root, acmeKey.id);
    expect((await instance.keys.create(root, 'acme', ['READ'], 'key 4')).apiKey.name).toBe('key 4');
    expect((await refusal(instance.keys.create(root, 'acme', ['READ'], 'key 5'))).code).toBe('KEY_LIMIT');
  });
});

describe('key service: list', () => {
  it("lists every tenant's keys, oldest first, to the bootstrap admin, and a tenant's own to its ADMIN keys", async () => {
    const instance = startInstance();
    const root = await principalOf(instance, ADMIN_KEY);
    const created = [];
    for (const [tenant, name] of [
      ['acme', 'a1'],
      ['globex', 'g1'],
      ['acme', 'a2'],
    ] as const) {
      clock += 1_000;
      created.push((await instance.keys.create(root, tenant, ['READ'], name)).apiKey);
    }
    expect(await instance.keys.list(root)).toEqual(created);

    clock += 1_000;
    const globexAdmin = await principalOf(instance, (await instance.keys.create(root, 'globex', ['ADMIN'], 'g2')).key);
    expect((await instance.keys.list(globexAdmin)).map((key) => key.name)).toEqual(['g1', 'g2']);

    const reader = await principalOf(instance, (await instance.keys.create(root, 'initech', ['READ', 'INGEST'], null)).key);
    expect(await refusal(instance.keys.list(reader))).toEqual({
      code: 'FORBIDDEN',
      message: 'managing API keys needs the ADMIN scope',
      details: {},
    });
  });
});

describe('key service: revoke', () => {
  it('revokes a key once: it stops authenticating, and the revocation hook (which ends its subscriptions) is called with its id', async () => {
    const instance = startInstance();
    const root = await principalOf(instance, ADMIN_KEY);
    const { key, apiKey } = await instance.keys.create(root, 'acme', ['READ'], null);
    const other = await instance.keys.create(root, 'acme', ['READ'], null);
    // Cached as valid before the revocation: the revocation must not wait for the cache to expire.
    await principalOf(instance, key);

    clock = T0 + 60_000;
    expect(await instance.keys.revoke(root, apiKey.id)).toEqual({ ...apiKey, revokedAt: T0 + 60_000 });
    expect(instance.revoked).toEqual([apiKey.id]);
    expect(await instance.authenticator.authenticate(`Bearer ${key}`)).toEqual({ ok: false, reason: 'revoked' });
    expect((await principalOf(instance, other.key)).keyId).toBe(other.apiKey.id);

    // Revoking it again changes nothing: the first revocation time stays.
    clock = T0 + 120_000;
    expect((await instance.keys.revoke(root, apiKey.id)).revokedAt).toBe(T0 + 60_000);
    expect((await store.findById(apiKey.id))?.revokedAt).toBe(T0 + 60_000);
    expect(await instance.authenticator.authenticate(`Bearer ${key}`)).toEqual({ ok: false, reason: 'revoked' });
  });

  it('tells every instance: their revocation hooks are called and their cached keys stop authenticating at once', async () => {
    const here = startInstance();
    const there = startInstance();
    await here.keys.start();
    await there.keys.start();
    const root = await principalOf(here, ADMIN_KEY);
    const { key, apiKey } = await here.keys.create(root, 'acme', ['READ'], null);
    expect((await principalOf(there, key)).keyId).toBe(apiKey.id);

    await here.keys.revoke(root, apiKey.id);
    expect(there.revoked).toEqual([apiKey.id]);
    // The clock has not moved: without the revocation, `there` would trust its cached key for seconds.
    expect(await there.authenticator.authenticate(`Bearer ${key}`)).toEqual({ ok: false, reason: 'revoked' });
  });

  it("answers NOT_FOUND for an unknown key and for another tenant's (without saying it exists), FORBIDDEN without ADMIN", async () => {
    const instance = startInstance();
    const root = await principalOf(instance, ADMIN_KEY);
    const globexKey = (await instance.keys.create(root, 'globex', ['READ'], null)).apiKey;
    const acmeAdmin = await principalOf(instance, (await instance.keys.create(root, 'acme', ['ADMIN'], null)).key);
    const acmeReader = await principalOf(instance, (await instance.keys.create(root, 'acme', ['READ'], null)).key);

    expect(await refusal(instance.keys.revoke(acmeAdmin, globexKey.id))).toEqual({
      code: 'NOT_FOUND',
      message: `no API key with id ${globexKey.id}`,
      details: {},
    });
    expect(await refusal(instance.keys.revoke(root, 'AAAAAAAAAAAAAAAA'))).toEqual({
      code: 'NOT_FOUND',
      message: 'no API key with id AAAAAAAAAAAAAAAA',
      details: {},
    });
    expect(await refusal(instance.keys.revoke(acmeReader, globexKey.id))).toEqual({
      code: 'FORBIDDEN',
      message: 'managing API keys needs the ADMIN scope',
      details: {},
    });
    expect(await refusal(instance.keys.revoke(acmeReader, acmeReader.keyId!))).toEqual({
      code: 'FORBIDDEN',
      message: 'managing API keys needs the ADMIN scope',
      details: {},
    });

    expect(instance.revoked).toEqual([]);
    expect((await store.findById(globexKey.id))?.revokedAt).toBeNull();
  });
});
