/**
 * Access tokens end to end (contract-2.md, "Access tokens for end users"): minting through
 * createAccessToken, using a token over HTTP and graphql-ws like a key, expiry (TOKEN_EXPIRED),
 * what a token may and may not be minted with, and revoking the minting key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, newDataDir, realServerEnv, removeDataDir, startServer, type TestServer } from '../support/server.ts';
import {
  execute,
  query,
  sseClient,
  subscribe,
  waitForLiveSubscriptions,
  waitUntil,
  wsClient,
  type Credentials,
} from '../support/clients.ts';
import { openRawGraphqlWs } from '../support/raw-graphql-ws.ts';
import {
  CreateAccessTokenDocument,
  CreateApiKeyDocument,
  IngestDocument,
  ListEventsDocument,
  ListEventTypesDocument,
  LiveEventsDocument,
  RevokeApiKeyDocument,
  type AccessTokenInput,
} from '../generated/operations.ts';

const ADMIN_KEY = 'test-admin-key-0123456789abcdefghijklmnop';
const admin: Credentials = { apiKey: ADMIN_KEY };
const SIGNING_KEYS = `k1:${'s'.repeat(43)}`;

/** The codes of an answer's errors (an empty list when it has none). */
const codesOf = (answer: { errors?: readonly { extensions?: Record<string, unknown> }[] }) =>
  (answer.errors ?? []).map((error) => error.extensions?.code);

async function mint(url: string, apiKey: string, input: AccessTokenInput): Promise<string> {
  return (await query(url, CreateAccessTokenDocument, { input }, { apiKey })).createAccessToken.token;
}

describe.each(BACKENDS)('access tokens on %s', (backend) => {
  let server: TestServer;
  let key: string;
  const bearer = (apiKey: string): Credentials => ({ apiKey });

  beforeAll(async () => {
    server = await startServer({ backend, env: { ADMIN_KEY, TOKEN_SIGNING_KEYS: SIGNING_KEYS } });
    key = (await query(server.url, CreateApiKeyDocument, { tenant: 'acme', scopes: ['READ', 'INGEST'], name: 'partner' }, admin))
      .createApiKey.key;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('mints a token that answers its own slice back, and reads with it over HTTP', async () => {
    const before = Date.now();
    const minted = (
      await query(
        server.url,
        CreateAccessTokenDocument,
        {
          input: {
            scopes: ['READ', 'READ'],
            expiresIn: '15m',
            types: ['visit', 'click', 'visit'],
            where: [
              { key: 'customer', eq: 'acme' },
              { key: 'plan', neq: 'free' },
              { key: 'customer', in: ['b', 'a'] },
            ],
          },
        },
        bearer(key),
      )
    ).createAccessToken;
    expect(minted.token).toMatch(/^slt_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(minted.scopes).toEqual(['READ']);
    expect(minted.types).toEqual(['click', 'visit']);
    expect(minted.where).toEqual({ customer: { eq: 'acme', in: ['a', 'b'] }, plan: { neq: 'free' } });
    const expiresAt = Date.parse(minted.expiresAt);
    expect(expiresAt - before).toBeGreaterThanOrEqual(15 * 60_000);
    expect(expiresAt - Date.now()).toBeLessThanOrEqual(15 * 60_000);
    const answer = await execute(server.url, ListEventTypesDocument, {}, bearer(minted.token));
    expect(answer.errors).toBeUndefined();
  });

  it('accepts a token on graphql-ws connection_init', async () => {
    const minted = (await query(server.url, CreateAccessTokenDocument, { input: { scopes: ['READ'], expiresIn: '1h' } }, bearer(key)))
      .createAccessToken;
    const session = await openRawGraphqlWs(server, { init: `Bearer ${minted.token}` });
    session.socket.close();
  });

  it('refuses an expired token with TOKEN_EXPIRED over HTTP and closes graphql-ws with 4403 TOKEN_EXPIRED', async () => {
    const minted = (await query(server.url, CreateAccessTokenDocument, { input: { scopes: ['READ'], expiresIn: '1s' } }, bearer(key)))
      .createAccessToken;
    const expired = await waitUntil(
      async () => {
        const answer = await execute(server.url, ListEventTypesDocument, {}, bearer(minted.token));
        return answer.errors ? answer : null;
      },
      10_000,
      'the token to expire',
    );
    expect(expired.errors!.map((error) => error.extensions?.code)).toEqual(['TOKEN_EXPIRED']);
    const session = await openRawGraphqlWs(server, { init: `Bearer ${minted.token}`, expectAck: false });
    expect(await session.closed).toEqual({ code: 4403, reason: expect.stringMatching(/^TOKEN_EXPIRED: /) });
    // An SSE subscription with it is refused with the same code.
    const sse = sseClient(server.url, bearer(minted.token));
    try {
      const live = await subscribe(sse, LiveEventsDocument, {});
      await expect(live.waitFor(1)).rejects.toThrow('TOKEN_EXPIRED');
    } finally {
      sse.dispose();
    }
  });

  it('refuses a token minting a token with FORBIDDEN', async () => {
    const minted = (await query(server.url, CreateAccessTokenDocument, { input: { scopes: ['READ'], expiresIn: '1h' } }, bearer(key)))
      .createAccessToken;
    const answer = await execute(
      server.url,
      CreateAccessTokenDocument,
      { input: { scopes: ['READ'], expiresIn: '1m' } },
      bearer(minted.token),
    );
    expect(answer.errors!.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
  });

  it('refuses with BAD_USER_INPUT or FORBIDDEN what would widen the key or cannot be shown, naming the problem', async () => {
    const readOnly = (await query(server.url, CreateApiKeyDocument, { tenant: 'acme', scopes: ['READ'], name: 'ro' }, admin)).createApiKey
      .key;
    const adminKey = (await query(server.url, CreateApiKeyDocument, { tenant: 'acme', scopes: ['ADMIN', 'READ'], name: 'adm' }, admin))
      .createApiKey.key;
    const cases: [string, string, AccessTokenInput, string, string][] = [
      ['a scope the key lacks', readOnly, { scopes: ['INGEST'], expiresIn: '1h' }, 'FORBIDDEN', 'lacks the INGEST scope'],
      ['ADMIN', adminKey, { scopes: ['ADMIN'], expiresIn: '1h' }, 'BAD_USER_INPUT', 'READ and INGEST only, not ADMIN'],
      ['no scope', key, { scopes: [], expiresIn: '1h' }, 'BAD_USER_INPUT', 'at least one scope'],
      ['25h', key, { scopes: ['READ'], expiresIn: '25h' }, 'BAD_USER_INPUT', 'longer than 24h'],
      ['0s', key, { scopes: ['READ'], expiresIn: '0s' }, 'BAD_USER_INPUT', 'must be longer than 0'],
      ['not a duration', key, { scopes: ['READ'], expiresIn: 'soon' }, 'BAD_USER_INPUT', 'is not a duration such as 90s, 15m, 1h or 24h'],
      ['a bad type', key, { scopes: ['READ'], expiresIn: '1h', types: ['a b'] }, 'BAD_USER_INPUT', 'is not an event type'],
      [
        'two eq on one key',
        key,
        {
          scopes: ['READ'],
          expiresIn: '1h',
          where: [
            { key: 'c', eq: 'a' },
            { key: 'c', eq: 'b' },
          ],
        },
        'BAD_USER_INPUT',
        'a second eq condition on the same key',
      ],
      [
        'qps above the key',
        key,
        { scopes: ['READ'], expiresIn: '1h', queriesPerSecond: 101 },
        'BAD_USER_INPUT',
        "the minting key's limit of 100",
      ],
      [
        'eps above the key',
        key,
        { scopes: ['INGEST'], expiresIn: '1h', eventsPerSecond: 20_001 },
        'BAD_USER_INPUT',
        'limit of 20000 events',
      ],
      ['a zero rate', key, { scopes: ['READ'], expiresIn: '1h', queriesPerSecond: 0 }, 'BAD_USER_INPUT', 'at least 1'],
    ];
    for (const [what, minter, input, code, message] of cases) {
      const answer = await execute(server.url, CreateAccessTokenDocument, { input }, bearer(minter));
      expect(codesOf(answer), what).toEqual([code]);
      expect(answer.errors![0]!.message, what).toContain(message);
    }
    // The bootstrap admin key manages keys: it has no key whose revocation would end a token.
    expect(codesOf(await execute(server.url, CreateAccessTokenDocument, { input: { scopes: ['READ'], expiresIn: '1h' } }, admin))).toEqual([
      'FORBIDDEN',
    ]);
  });

  it('holds a token to its scopes: a READ token cannot ingest, an INGEST token cannot read', async () => {
    const reader = await mint(server.url, key, { scopes: ['READ'], expiresIn: '1h' });
    const writer = await mint(server.url, key, { scopes: ['INGEST'], expiresIn: '1h' });
    expect(codesOf(await execute(server.url, IngestDocument, { events: [{ type: 'visit' }] }, bearer(reader)))).toEqual(['FORBIDDEN']);
    expect(codesOf(await execute(server.url, ListEventTypesDocument, {}, bearer(writer)))).toEqual(['FORBIDDEN']);
    const ingested = await query(server.url, IngestDocument, { events: [{ id: 'by-token', type: 'visit' }] }, bearer(writer));
    expect(ingested.ingest.accepted).toBe(1);
  });

  it('serves a live subscription over graphql-ws and SSE with a token', async () => {
    const reader = await mint(server.url, key, { scopes: ['READ'], expiresIn: '1h' });
    const ws = wsClient(server.wsUrl, bearer(reader));
    const sse = sseClient(server.url, bearer(reader));
    try {
      const overWs = await subscribe(ws, LiveEventsDocument, { filter: { types: ['live'] } });
      const overSse = await subscribe(sse, LiveEventsDocument, { filter: { types: ['live'] } });
      await waitForLiveSubscriptions(server.url, 2, bearer(key));
      await query(server.url, IngestDocument, { events: [{ id: 'live-1', type: 'live' }] }, bearer(key));
      for (const collected of [overWs, overSse]) {
        const [item] = await collected.waitFor(1);
        expect(item!.events.node).toMatchObject({ id: 'live-1', type: 'live' });
        collected.stop();
      }
    } finally {
      await ws.dispose();
      sse.dispose();
    }
  });

  it("revokes a key's tokens with the key, at once on this instance, open subscriptions included", async () => {
    const created = (await query(server.url, CreateApiKeyDocument, { tenant: 'acme', scopes: ['READ'], name: 'doomed' }, admin))
      .createApiKey;
    const token = await mint(server.url, created.key, { scopes: ['READ'], expiresIn: '1h' });
    expect(codesOf(await execute(server.url, ListEventTypesDocument, {}, bearer(token)))).toEqual([]);
    // The earlier tests' subscriptions are released first, so the count below is this one's.
    await waitForLiveSubscriptions(server.url, 0, bearer(key));
    const ws = wsClient(server.wsUrl, bearer(token));
    try {
      const live = await subscribe(ws, LiveEventsDocument, { filter: { types: ['doomed'] } });
      await waitForLiveSubscriptions(server.url, 1, bearer(key));
      await query(server.url, RevokeApiKeyDocument, { id: created.apiKey.id }, admin);
      const answer = await execute(server.url, ListEventTypesDocument, {}, bearer(token));
      expect(codesOf(answer)).toEqual(['UNAUTHENTICATED']);
      expect(answer.errors![0]!.message).toBe('the API key has been revoked');
      await expect(live.waitFor(1, 10_000)).rejects.toThrow('revoked');
    } finally {
      await ws.dispose();
    }
  });
});

describe('access tokens on two instances sharing the real servers', () => {
  let first: TestServer;
  let second: TestServer;
  let key: string;

  beforeAll(async () => {
    // No TOKEN_SIGNING_KEYS: the instances share the secret the first of them stored in MongoDB.
    const env = { ADMIN_KEY, QUERY_RATE_PER_KEY: '100', ...realServerEnv() };
    first = await startServer({ backend: 'real servers', env });
    second = await startServer({ backend: 'real servers', env });
    key = (await query(first.url, CreateApiKeyDocument, { tenant: 'acme', scopes: ['READ', 'INGEST'], name: 'partner' }, admin))
      .createApiKey.key;
  });
  afterAll(async () => {
    await Promise.all([first?.stop(), second?.stop()]);
  });

  it('verifies on one instance a token minted on the other', async () => {
    const token = await mint(first.url, key, { scopes: ['READ'], expiresIn: '10m' });
    expect(codesOf(await execute(second.url, ListEventTypesDocument, {}, { apiKey: token }))).toEqual([]);
  });

  it('ends a token on the other instance when its minting key is revoked', async () => {
    const created = (await query(first.url, CreateApiKeyDocument, { tenant: 'acme', scopes: ['READ'], name: 'doomed' }, admin))
      .createApiKey;
    const token = await mint(first.url, created.key, { scopes: ['READ'], expiresIn: '10m' });
    expect(codesOf(await execute(second.url, ListEventTypesDocument, {}, { apiKey: token }))).toEqual([]);
    await query(first.url, RevokeApiKeyDocument, { id: created.apiKey.id }, admin);
    // Pushed over Redis at once; at worst the second re-reads the key within 5 s (MINTING_KEY_REFRESH_MS).
    await waitUntil(
      async () => codesOf(await execute(second.url, ListEventTypesDocument, {}, { apiKey: token }))[0] === 'UNAUTHENTICATED',
      10_000,
      'the revocation to reach the second instance',
    );
  });

  it("holds a token's queriesPerSecond across both instances (its bucket lives in Redis)", async () => {
    const token = await mint(first.url, key, { scopes: ['READ'], expiresIn: '10m', queriesPerSecond: 2 });
    // 20 queries at once, half on each instance, against a bucket of 4 (bursts of twice the rate)
    // that regains 2 a second: at most 4 + 2·t pass in t seconds, wherever they land.
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => execute((i % 2 ? second : first).url, ListEventTypesDocument, {}, { apiKey: token })),
    );
    const seconds = (performance.now() - started) / 1000;
    const codes = answers.map((answer) => codesOf(answer)[0] ?? null);
    expect(codes.filter((code) => code !== null && code !== 'RATE_LIMITED')).toEqual([]);
    const passed = codes.filter((code) => code === null).length;
    expect(passed).toBeGreaterThanOrEqual(4);
    expect(passed).toBeLessThanOrEqual(4 + 2 * seconds);
    const refusal = answers.find((answer) => codesOf(answer)[0] === 'RATE_LIMITED')!;
    expect(refusal.errors![0]!.message).toBe('this access token may start 2 operations per second');
    // The minting key's own bucket is untouched.
    expect(codesOf(await execute(first.url, ListEventTypesDocument, {}, { apiKey: key }))).toEqual([]);
  });
});

describe('signing keys across restarts (embedded)', () => {
  const dataDir = newDataDir();
  let server: TestServer | null = null;
  const restart = async (env: Record<string, string | undefined>) => {
    await server?.stop();
    server = await startServer({ dataDir, env: { ADMIN_KEY, ...env } });
    return server;
  };
  const works = async (url: string, token: string) => codesOf(await execute(url, ListEventTypesDocument, {}, { apiKey: token }));
  const kidOf = (token: string) => JSON.parse(Buffer.from(token.slice(4, token.indexOf('.')), 'base64url').toString('utf8')).kid;

  afterAll(async () => {
    await server?.stop();
    removeDataDir(dataDir);
  });

  it('keeps the stored secret across a restart, and rotates TOKEN_SIGNING_KEYS without downtime', async () => {
    let running = await restart({ TOKEN_SIGNING_KEYS: undefined });
    const key = (await query(running.url, CreateApiKeyDocument, { tenant: 'acme', scopes: ['READ'], name: 'k' }, admin)).createApiKey.key;
    const stored = await mint(running.url, key, { scopes: ['READ'], expiresIn: '1h' });
    running = await restart({ TOKEN_SIGNING_KEYS: undefined });
    expect(await works(running.url, stored)).toEqual([]);

    const OLD = `old:${'o'.repeat(43)}`;
    const NEW = `new:${'n'.repeat(43)}`;
    running = await restart({ TOKEN_SIGNING_KEYS: OLD });
    // The configured keys replace the stored secret.
    expect(await works(running.url, stored)).toEqual(['UNAUTHENTICATED']);
    const signedOld = await mint(running.url, key, { scopes: ['READ'], expiresIn: '1h' });
    // Step 1: the new key is added after the old one; tokens are still signed with the old.
    running = await restart({ TOKEN_SIGNING_KEYS: `${OLD},${NEW}` });
    expect(kidOf(await mint(running.url, key, { scopes: ['READ'], expiresIn: '1h' }))).toBe('old');
    // Step 2: the new key first; old tokens still verify.
    running = await restart({ TOKEN_SIGNING_KEYS: `${NEW},${OLD}` });
    const signedNew = await mint(running.url, key, { scopes: ['READ'], expiresIn: '1h' });
    expect(kidOf(signedNew)).toBe('new');
    expect(await works(running.url, signedOld)).toEqual([]);
    // Step 3: the old key retired; its tokens are refused, the new ones work.
    running = await restart({ TOKEN_SIGNING_KEYS: NEW });
    expect(await works(running.url, signedOld)).toEqual(['UNAUTHENTICATED']);
    expect(await works(running.url, signedNew)).toEqual([]);
  });

  it('refuses to start with a malformed TOKEN_SIGNING_KEYS, naming the problem', async () => {
    await server?.stop();
    server = null;
    await expect(startServer({ dataDir, env: { ADMIN_KEY, TOKEN_SIGNING_KEYS: 'k1:too-short' } })).rejects.toThrow(
      'the secret of \"k1\" must be at least 43 characters',
    );
  });
});
