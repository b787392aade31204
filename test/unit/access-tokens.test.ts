/**
 * Access tokens in-process: the pure token module (format, signature, strict parsing, expiry,
 * rotation, AccessToken.where), minting (what may and may not be minted), and the
 * authenticator's token branch (no store read in the request, the minting key's revocation).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { schema } from '../../src/schema/index.ts';
import {
  encodeToken,
  MAX_TOKEN_CHARACTERS,
  parseSigningKeys,
  signingKeys,
  verifyToken,
  whereAsJson,
  type TokenClaims,
} from '../../src/auth/access-tokens.ts';
import { createAccessTokenService, parseExpiresIn, type AccessTokenInput } from '../../src/auth/token-service.ts';
import { createAuthenticator, MINTING_KEY_REFRESH_MS, type Principal } from '../../src/auth/authenticator.ts';
import { createEmbeddedApiKeyStore } from '../../src/adapters/embedded/embedded-api-key-store.ts';
import { loadConfig } from '../../src/config.ts';
import { StreamlensError } from '../../src/errors.ts';
import type { ApiKeyRecord, ApiKeyStore } from '../../src/ports/api-key-store.ts';
import { PROTOTYPE_MEMBER_KEYS } from '../support/prototype-members.ts';
import { newDataDir, removeDataDir } from '../support/server.ts';

const T0 = Date.UTC(2026, 11, 2, 12);
const SECRET_1 = 'a'.repeat(43);
const SECRET_2 = 'b'.repeat(43);
const KEYS = signingKeys([{ kid: 'k1', secret: SECRET_1 }]);

const CLAIMS: TokenClaims = {
  id: 'AAAAAAAAAAAAAAAAAAAAAA',
  tenant: 'acme',
  keyId: 'Key0123456789abc',
  scopes: ['INGEST', 'READ'],
  issuedAt: T0,
  expiresAt: T0 + 60_000,
  types: ['click', 'visit'],
  where: [
    { key: 'customer', operator: 'eq', value: 'acme' },
    { key: 'plan', operator: 'in', values: new Set(['gold', 'silver']) },
    { key: 'trial', operator: 'exists', exists: false },
  ],
  queriesPerSecond: 5,
  eventsPerSecond: null,
};

/** The payload of a token as JSON, and a token of an edited payload signed with `secret`. */
const payloadOf = (token: string) => JSON.parse(Buffer.from(token.slice(4, token.indexOf('.')), 'base64url').toString('utf8'));
function signed(payload: unknown, secret = SECRET_1): string {
  const body = `slt_${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

describe('the token format', () => {
  it('round-trips every claim, signed with the first key', () => {
    const token = encodeToken(CLAIMS, KEYS);
    expect(token).toMatch(/^slt_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(payloadOf(token)).toEqual({
      v: 1,
      kid: 'k1',
      jti: CLAIMS.id,
      ten: 'acme',
      key: CLAIMS.keyId,
      scp: ['INGEST', 'READ'],
      iat: T0,
      exp: T0 + 60_000,
      typ: ['click', 'visit'],
      whr: [
        ['customer', 'eq', 'acme'],
        ['plan', 'in', ['gold', 'silver']],
        ['trial', 'exists', false],
      ],
      qps: 5,
      eps: null,
    });
    expect(verifyToken(token, KEYS, T0)).toEqual({ ok: true, claims: CLAIMS });
  });

  it('is expired from its expiry on, and only when its signature holds', () => {
    const token = encodeToken(CLAIMS, KEYS);
    expect(verifyToken(token, KEYS, CLAIMS.expiresAt - 1).ok).toBe(true);
    expect(verifyToken(token, KEYS, CLAIMS.expiresAt)).toEqual({ ok: false, reason: 'expired' });
    // A forged token says nothing about expiry: it is unknown, whatever its dates.
    expect(verifyToken(signed(payloadOf(token), SECRET_2), KEYS, CLAIMS.expiresAt + 1)).toEqual({ ok: false, reason: 'unknown' });
  });

  it('refuses every edit of the payload, the signature, the kid or the prefix', () => {
    const token = encodeToken(CLAIMS, KEYS);
    const [body, signature] = token.split('.') as [string, string];
    const payload = payloadOf(token);
    const cases: [string, string, 'malformed' | 'unknown'][] = [
      ['a widened scope', signed({ ...payload, scp: ['ADMIN', 'READ'] }, SECRET_2), 'malformed'],
      ['another tenant, re-signed with a wrong secret', signed({ ...payload, ten: 'other' }, SECRET_2), 'unknown'],
      ['another tenant, with the old signature', `${signed({ ...payload, ten: 'other' }).split('.')[0]}.${signature}`, 'unknown'],
      ['a later expiry, with the old signature', `${signed({ ...payload, exp: T0 + 86_400_000 }).split('.')[0]}.${signature}`, 'unknown'],
      ['an unknown kid', signed({ ...payload, kid: 'k9' }), 'unknown'],
      ['a kid named after a prototype member', signed({ ...payload, kid: 'constructor' }), 'unknown'],
      ['an alg field', signed({ ...payload, alg: 'none' }), 'malformed'],
      ['a missing field', signed({ ...payload, eps: undefined }), 'malformed'],
      ['an own __proto__ field', signed(JSON.parse(JSON.stringify(payload).replace('"v":1', '"__proto__":{},"v":1'))), 'malformed'],
      ['a version 2', signed({ ...payload, v: 2 }), 'malformed'],
      ['unsorted types', signed({ ...payload, typ: ['visit', 'click'] }), 'malformed'],
      ['a lifetime over 24h', signed({ ...payload, exp: T0 + 86_400_001 }), 'malformed'],
      ['a zero rate', signed({ ...payload, qps: 0 }), 'malformed'],
      ['a lone surrogate in a value', signed({ ...payload, whr: [['customer', 'eq', '\uD800']] }), 'malformed'],
      ['an unknown operator', signed({ ...payload, whr: [['customer', 'gt', 'a']] }), 'malformed'],
      ['no signature', body, 'malformed'],
      ['an empty signature', `${body}.`, 'malformed'],
      ['a signature of another secret', signed(payload, SECRET_2), 'unknown'],
      ['a truncated signature', `${body}.${signature.slice(0, -1)}`, 'malformed'],
      ['a padded signature', `${body}.${signature}=`, 'malformed'],
      ['a JWT-looking token', `eyJhbGciOiJub25lIn0.${body.slice(4)}.`, 'malformed'],
      ['another prefix', `sl_${token.slice(4)}`, 'malformed'],
      ['a base64 payload (not base64url)', `slt_${Buffer.from(JSON.stringify(payload)).toString('base64')}.${signature}`, 'malformed'],
      ['a payload that is not JSON', `slt_${Buffer.from('not json').toString('base64url')}.${signature}`, 'malformed'],
      ['a payload that is a JSON array', signed([payload]), 'malformed'],
      ['a token over the size bound', `slt_${'A'.repeat(MAX_TOKEN_CHARACTERS)}.${signature}`, 'malformed'],
    ];
    for (const [what, tampered, reason] of cases) {
      expect(verifyToken(tampered, KEYS, T0), what).toEqual({ ok: false, reason });
    }
  });

  it('refuses a signature whose unused last bits differ (only the canonical spelling is accepted)', () => {
    const token = encodeToken(CLAIMS, KEYS);
    const last = token.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // 43 characters carry 258 bits for 256: the last character's two low bits are unused.
    const sibling = alphabet[alphabet.indexOf(last) ^ 1]!;
    expect(verifyToken(token.slice(0, -1) + sibling, KEYS, T0).ok).toBe(false);
  });

  it('rotates without downtime: old tokens verify while their key is listed, new ones are signed with the first', () => {
    const old = encodeToken(CLAIMS, KEYS);
    const rotated = signingKeys([
      { kid: 'k2', secret: SECRET_2 },
      { kid: 'k1', secret: SECRET_1 },
    ]);
    expect(verifyToken(old, rotated, T0).ok).toBe(true);
    const fresh = encodeToken(CLAIMS, rotated);
    expect(payloadOf(fresh).kid).toBe('k2');
    expect(verifyToken(fresh, rotated, T0).ok).toBe(true);
    const retired = signingKeys([{ kid: 'k2', secret: SECRET_2 }]);
    expect(verifyToken(old, retired, T0)).toEqual({ ok: false, reason: 'unknown' });
    expect(verifyToken(fresh, KEYS, T0)).toEqual({ ok: false, reason: 'unknown' });
  });

  it('shows where as an object keyed by dimension key, prototype-member keys as plain data', () => {
    expect(whereAsJson([])).toBeNull();
    expect(whereAsJson(CLAIMS.where)).toEqual({ customer: { eq: 'acme' }, plan: { in: ['gold', 'silver'] }, trial: { exists: false } });
    for (const key of PROTOTYPE_MEMBER_KEYS) {
      const json = whereAsJson([
        { key, operator: 'eq', value: 'x' },
        { key, operator: 'neq', value: 'y' },
      ])!;
      expect(Object.keys(json), key).toEqual([key]);
      expect(Object.getOwnPropertyDescriptor(json, key)?.value, key).toEqual({ eq: 'x', neq: 'y' });
      expect(JSON.parse(JSON.stringify(json)), key).toEqual(JSON.parse(`{${JSON.stringify(key)}:{"eq":"x","neq":"y"}}`));
    }
    expect(Object.getPrototypeOf(whereAsJson([{ key: 'a', operator: 'eq', value: 'b' }]))).toBe(Object.prototype);
  });
});

describe('TOKEN_SIGNING_KEYS', () => {
  it('reads kid:secret pairs, the first signing', () => {
    expect(parseSigningKeys(`new:${SECRET_2}, old:${SECRET_1}`)).toEqual({
      ok: true,
      keys: [
        { kid: 'new', secret: SECRET_2 },
        { kid: 'old', secret: SECRET_1 },
      ],
    });
    const loaded = loadConfig({ TOKEN_SIGNING_KEYS: `k1:${SECRET_1}` });
    expect(loaded.ok && loaded.config.tokenSigningKeys).toEqual([{ kid: 'k1', secret: SECRET_1 }]);
    const unset = loadConfig({});
    expect(unset.ok && unset.config.tokenSigningKeys).toBeNull();
  });

  it('names every problem at start', () => {
    const loaded = loadConfig({ TOKEN_SIGNING_KEYS: `nocolon,k1:short,k2:${SECRET_1},k2:${SECRET_2},bad kid:${SECRET_1}` });
    expect(loaded).toEqual({
      ok: false,
      problems: [
        'TOKEN_SIGNING_KEYS: entry 1 is not "kid:secret" with a kid of 1 to 32 characters of A-Z, a-z, 0-9, _ and -',
        'TOKEN_SIGNING_KEYS: the secret of "k1" must be at least 43 characters without spaces (256 random bits); generate one with: openssl rand -base64 32',
        'TOKEN_SIGNING_KEYS: kid "k2" appears twice',
        'TOKEN_SIGNING_KEYS: entry 5 is not "kid:secret" with a kid of 1 to 32 characters of A-Z, a-z, 0-9, _ and -',
      ],
    });
  });

  it('refuses an ADMIN_KEY that looks like an access token', () => {
    const loaded = loadConfig({ ADMIN_KEY: `slt_${'x'.repeat(40)}` });
    expect(loaded).toEqual({ ok: false, problems: ['ADMIN_KEY: must not start with "slt_", the prefix of access tokens'] });
  });
});

const KEY_PRINCIPAL: Principal = {
  tenant: 'acme',
  keyId: 'Key0123456789abc',
  scopes: new Set(['READ', 'INGEST']),
  isRootAdmin: false,
};

function refusal(mint: () => unknown): { code: string; message: string } {
  try {
    mint();
  } catch (error) {
    if (error instanceof StreamlensError) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('not refused');
}

describe('minting', () => {
  const service = createAccessTokenService({
    signingKeys: KEYS,
    keyLimits: { operationsPerSecond: 100, ingestEventsPerSecond: 1_000 },
    now: () => T0,
  });
  const mint = (input: Partial<AccessTokenInput>, principal = KEY_PRINCIPAL) =>
    service.mint(principal, { scopes: ['READ'], expiresIn: '1h', ...input });

  it('mints what was asked, normalised, with a verifiable token', () => {
    const minted = mint({
      scopes: ['READ', 'INGEST', 'READ'],
      expiresIn: '90s',
      types: ['visit', 'click', 'visit'],
      where: [
        { key: 'customer', eq: 'acme' },
        { key: 'plan', notIn: ['free', 2, true] },
      ],
      queriesPerSecond: 100,
      eventsPerSecond: 1,
    });
    expect({ ...minted, token: undefined }).toEqual({
      token: undefined,
      expiresAt: new Date(T0 + 90_000),
      scopes: ['INGEST', 'READ'],
      types: ['click', 'visit'],
      where: { customer: { eq: 'acme' }, plan: { notIn: ['2', 'free', 'true'] } },
    });
    const verified = verifyToken(minted.token, KEYS, T0);
    expect(verified.ok && verified.claims).toMatchObject({
      tenant: 'acme',
      keyId: KEY_PRINCIPAL.keyId,
      queriesPerSecond: 100,
      eventsPerSecond: 1,
    });
  });

  it('reads the durations the config reads, more than 0 and at most 24h', () => {
    expect(['90s', '15m', '1h', '24h', '1d', '500ms', '1.5h'].map(parseExpiresIn)).toEqual([
      90_000, 900_000, 3_600_000, 86_400_000, 86_400_000, 500, 5_400_000,
    ]);
    expect(refusal(() => parseExpiresIn('0s'))).toEqual({ code: 'BAD_USER_INPUT', message: 'input.expiresIn: "0s" must be longer than 0' });
    expect(refusal(() => parseExpiresIn('25h'))).toEqual({
      code: 'BAD_USER_INPUT',
      message: 'input.expiresIn: "25h" is longer than 24h, the most a token may live',
    });
    for (const text of ['', '1', 'h', '-1h', '1 h', '1h30m', 'PT1H', '\uD800', '1e3s', 'x'.repeat(10_000)]) {
      expect(refusal(() => parseExpiresIn(text)).message, text).toMatch(
        /^input\.expiresIn: ".{0,32}" is not a duration such as 90s, 15m, 1h or 24h$/u,
      );
    }
  });

  it('never mints more than the minting key may', () => {
    const readOnly: Principal = { ...KEY_PRINCIPAL, scopes: new Set(['READ']) };
    expect(refusal(() => mint({ scopes: ['INGEST'] }, readOnly))).toEqual({
      code: 'FORBIDDEN',
      message: 'this API key lacks the INGEST scope, so its tokens cannot have it',
    });
    expect(refusal(() => mint({ scopes: ['ADMIN'] }, { ...KEY_PRINCIPAL, scopes: new Set(['ADMIN', 'READ']) }))).toEqual({
      code: 'BAD_USER_INPUT',
      message: 'input.scopes: an access token may hold READ and INGEST only, not ADMIN',
    });
    expect(refusal(() => mint({ scopes: [] }))).toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(refusal(() => mint({ queriesPerSecond: 101 }))).toEqual({
      code: 'BAD_USER_INPUT',
      message: "input.queriesPerSecond is 101, above the minting key's limit of 100 operations per second",
    });
    expect(refusal(() => mint({ eventsPerSecond: 1_001 }))).toEqual({
      code: 'BAD_USER_INPUT',
      message: "input.eventsPerSecond is 1001, above the minting key's limit of 1000 events per second",
    });
    for (const rate of [0, -1]) expect(refusal(() => mint({ queriesPerSecond: rate })).code).toBe('BAD_USER_INPUT');
  });

  it('is refused to an access token, the bootstrap admin and open mode', () => {
    const minted = mint({});
    const verified = verifyToken(minted.token, KEYS, T0);
    const tokenPrincipal: Principal = {
      ...KEY_PRINCIPAL,
      token: verified.ok
        ? { id: verified.claims.id, expiresAt: 0, slice: { types: null, where: [] }, queriesPerSecond: null, eventsPerSecond: null }
        : null,
    };
    expect(refusal(() => mint({}, tokenPrincipal)).code).toBe('FORBIDDEN');
    expect(refusal(() => mint({}, { tenant: null, keyId: null, scopes: new Set(['ADMIN']), isRootAdmin: true })).code).toBe('FORBIDDEN');
    expect(refusal(() => mint({}, { tenant: 'default', keyId: null, scopes: new Set(['READ']), isRootAdmin: true })).code).toBe(
      'FORBIDDEN',
    );
  });

  it('checks types and where as queries do, and refuses a second condition with the same key and operator', () => {
    expect(refusal(() => mint({ types: ['no spaces'] })).message).toBe(
      'input.types[0]: "no spaces" is not an event type (1 to 128 characters of A-Z, a-z, 0-9, _ . : -)',
    );
    expect(refusal(() => mint({ types: [] })).code).toBe('BAD_USER_INPUT');
    expect(refusal(() => mint({ where: [{ key: '__proto__', eq: 'x' }] })).code).toBe('BAD_USER_INPUT');
    expect(refusal(() => mint({ where: [{ key: 'customer', eq: '\uD800' }] })).code).toBe('BAD_USER_INPUT');
    expect(refusal(() => mint({ where: Array.from({ length: 21 }, (_, i) => ({ key: `k${i}`, exists: true })) })).code).toBe(
      'QUERY_TOO_LARGE',
    );
    expect(
      refusal(() =>
        mint({
          where: [
            { key: 'customer', eq: 'a' },
            { key: 'customer', eq: 'b' },
          ],
        }),
      ),
    ).toEqual({
      code: 'BAD_USER_INPUT',
      message:
        'input.where[1] (key "customer"): a second eq condition on the same key; merge them into one (in: [...] lists several values)',
    });
    for (const key of PROTOTYPE_MEMBER_KEYS) {
      expect(mint({ where: [{ key, eq: 'x' }] }).where, key).toEqual(JSON.parse(`{${JSON.stringify(key)}:{"eq":"x"}}`));
    }
  });

  it('refuses a token too long for a header, naming the bound', () => {
    const values = Array.from({ length: 100 }, (_, i) => `${'v'.repeat(200)}${i}`);
    expect(refusal(() => mint({ where: [{ key: 'customer', in: values }] })).message).toMatch(
      /^the token would be \d+ characters, above the 8192 a header can safely carry; name fewer types or condition values$/,
    );
  });
});

describe("the authenticator's token branch", () => {
  let dataDir: string;
  let store: ApiKeyStore;
  let clock: number;
  const key: ApiKeyRecord = {
    id: 'Key0123456789abc',
    tenant: 'acme',
    name: null,
    scopes: ['READ', 'INGEST'],
    createdAt: T0,
    revokedAt: null,
    secretHash: '00'.repeat(32),
  };
  const token = encodeToken(CLAIMS, KEYS);
  /** Lets the background read of a key settle. */
  const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

  beforeEach(async () => {
    dataDir = newDataDir();
    store = createEmbeddedApiKeyStore({ dataDir });
    await store.create(key);
    clock = T0;
  });
  afterEach(async () => {
    await store.close();
    removeDataDir(dataDir);
  });

  it('accepts a token as a principal of its tenant, minting key, scopes and slice', async () => {
    const authenticator = createAuthenticator({ store, adminKey: 'x'.repeat(32), signingKeys: KEYS, now: () => clock });
    await authenticator.start();
    expect(await authenticator.authenticate(`Bearer ${token}`)).toEqual({
      ok: true,
      principal: {
        tenant: 'acme',
        keyId: key.id,
        scopes: new Set(['INGEST', 'READ']),
        isRootAdmin: false,
        token: {
          id: CLAIMS.id,
          expiresAt: CLAIMS.expiresAt,
          slice: { types: CLAIMS.types, where: CLAIMS.where },
          queriesPerSecond: 5,
          eventsPerSecond: null,
        },
      },
    });
    clock = CLAIMS.expiresAt;
    expect(await authenticator.authenticate(`Bearer ${token}`)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses every token without signing keys, and tokens of another secret', async () => {
    const without = createAuthenticator({ store, adminKey: null, now: () => clock });
    expect(await without.authenticate(`Bearer ${token}`)).toEqual({ ok: false, reason: 'unknown' });
    const other = createAuthenticator({
      store,
      adminKey: null,
      signingKeys: signingKeys([{ kid: 'k1', secret: SECRET_2 }]),
      now: () => clock,
    });
    expect(await other.authenticate(`Bearer ${token}`)).toEqual({ ok: false, reason: 'unknown' });
  });

  it('never waits on the store in a request', async () => {
    const hanging: ApiKeyStore = { ...store, findById: () => new Promise(() => {}), count: async () => 1 };
    const authenticator = createAuthenticator({ store: hanging, adminKey: null, signingKeys: KEYS, now: () => clock });
    expect((await authenticator.authenticate(`Bearer ${token}`)).ok).toBe(true);
    clock += MINTING_KEY_REFRESH_MS * 3;
    expect((await authenticator.authenticate(`Bearer ${token}`)).ok).toBe(true);
  });

  it('refuses the tokens of a revoked key: at once when told, from the store within the refresh period, at start', async () => {
    const told = createAuthenticator({ store, adminKey: null, signingKeys: KEYS, now: () => clock });
    const untold = createAuthenticator({ store, adminKey: null, signingKeys: KEYS, now: () => clock });
    for (const instance of [told, untold]) expect((await instance.authenticate(`Bearer ${token}`)).ok).toBe(true);
    await settle();
    await store.revoke(key.id, clock);
    told.forget(key.id);
    expect(await told.authenticate(`Bearer ${token}`)).toEqual({ ok: false, reason: 'revoked' });
    // The other instance missed the message: it serves from what it read until that is stale, then reads again.
    expect((await untold.authenticate(`Bearer ${token}`)).ok).toBe(true);
    clock += MINTING_KEY_REFRESH_MS;
    expect((await untold.authenticate(`Bearer ${token}`)).ok).toBe(true);
    await settle();
    expect(await untold.authenticate(`Bearer ${token}`)).toEqual({ ok: false, reason: 'revoked' });
    // A new instance knows from its start.
    const started = createAuthenticator({ store, adminKey: null, signingKeys: KEYS, now: () => clock });
    await started.start();
    expect(await started.authenticate(`Bearer ${token}`)).toEqual({ ok: false, reason: 'revoked' });
  });

  it('reads every key once at start, then no key in a request until what it read is stale', async () => {
    let reads = 0;
    const counted: ApiKeyStore = {
      ...store,
      findById: (id) => {
        reads++;
        return store.findById(id);
      },
      count: async () => {
        reads++;
        return store.count();
      },
    };
    const authenticator = createAuthenticator({ store: counted, adminKey: null, signingKeys: KEYS, now: () => clock });
    await authenticator.start();
    for (let i = 0; i < 3; i++) expect((await authenticator.authenticate(`Bearer ${token}`)).ok).toBe(true);
    expect(reads).toBe(0);
    clock += MINTING_KEY_REFRESH_MS;
    expect((await authenticator.authenticate(`Bearer ${token}`)).ok).toBe(true);
    await settle();
    expect(reads).toBe(1);
  });

  it('refuses a token whose minting key does not exist, or belongs to another tenant', async () => {
    const authenticator = createAuthenticator({ store, adminKey: null, signingKeys: KEYS, now: () => clock });
    const ofNobody = encodeToken({ ...CLAIMS, keyId: 'Nobody0123456789' }, KEYS);
    const ofOther = encodeToken({ ...CLAIMS, tenant: 'other' }, KEYS);
    await authenticator.authenticate(`Bearer ${ofNobody}`);
    await authenticator.authenticate(`Bearer ${ofOther}`);
    await settle();
    expect(await authenticator.authenticate(`Bearer ${ofNobody}`)).toEqual({ ok: false, reason: 'revoked' });
    expect(await authenticator.authenticate(`Bearer ${ofOther}`)).toEqual({ ok: false, reason: 'revoked' });
  });
});

describe('docs/api.md "Access tokens: reference and operations"', () => {
  // graphql as Pothos loads it (CommonJS), so validate accepts the schema (see graphiql-examples.test.ts).
  const { parse, validate } = createRequire(import.meta.url)('graphql') as typeof import('graphql');
  const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
  const start = doc.indexOf('\n## Access tokens: reference and operations\n');
  const section = doc.slice(start, doc.indexOf('\n## ', start + 1));

  it('states the contract SDL and an example that validates against the schema', () => {
    const blocks = [...section.matchAll(/```graphql\n([\s\S]*?)```/g)].map((match) => match[1]!);
    expect(blocks).toHaveLength(2);
    expect(blocks[0]).toContain('createAccessToken(input: AccessTokenInput!): AccessToken!');
    const example = blocks[1]!.split('\n# →')[0]!;
    expect(validate(schema, parse(example))).toEqual([]);
  });
});
