/**
 * Access tokens end to end (contract-2.md, "Access tokens for end users"): minting through
 * createAccessToken, using a token over HTTP and graphql-ws like a key, expiry (TOKEN_EXPIRED),
 * what a token may and may not be minted with, and revoking the minting key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, startServer, type TestServer } from '../support/server.ts';
import { execute, query, subscribe, waitUntil, wsClient, type Credentials } from '../support/clients.ts';
import { openRawGraphqlWs } from '../support/raw-graphql-ws.ts';
import {
  CreateAccessTokenDocument,
  CreateApiKeyDocument,
  IngestDocument,
  ListEventTypesDocument,
  RevokeApiKeyDocument,
} from '../generated/operations.ts';

const ADMIN_KEY = 'test-admin-key-0123456789abcdefghijklmnop';
const admin: Credentials = { apiKey: ADMIN_KEY };
const SIGNING_KEYS = `k1:${'s'.repeat(43)}`;

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
});
