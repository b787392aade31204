/**
 * Hostile access tokens and hostile minting input, end to end: forged, tampered and oversized
 * tokens over HTTP and graphql-ws, tokens used where only keys may act, and every input of
 * createAccessToken pushed past its bounds (lone surrogates, prototype-member names, huge lists
 * and strings, numbers past Int). Each answer is exact, and the service stays healthy.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, expectHealthy, startServer, type TestServer } from '../support/server.ts';
import { query } from '../support/clients.ts';
import { openRawGraphqlWs } from '../support/raw-graphql-ws.ts';
import { PROTOTYPE_MEMBER_KEYS, PROTOTYPE_MEMBERS } from '../support/prototype-members.ts';
import { CreateApiKeyDocument } from '../generated/operations.ts';

const ADMIN_KEY = 'hostile-admin-key-0123456789abcdefghijklmnop';
const SECRET = 'h'.repeat(43);
const MINT = `mutation Mint($input: AccessTokenInput!) { createAccessToken(input: $input) { token expiresAt scopes types where } }`;
const READ = '{ eventTypes { type } }';

interface Answer {
  status: number;
  body: { data?: Record<string, any> | null; errors?: { message: string; extensions?: Record<string, unknown> }[] };
  text: string;
}

async function post(server: TestServer, body: object, authorization?: string): Promise<Answer> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      ...(authorization === undefined ? {} : { authorization }),
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await response.text();
  return { status: response.status, body: text.startsWith('{') ? JSON.parse(text) : {}, text };
}

/** The one error of an answer: its code and message. */
function onlyError(answer: Answer): { code: unknown; message: string } {
  expect(answer.body.errors, answer.text).toHaveLength(1);
  return { code: answer.body.errors![0]!.extensions?.code, message: answer.body.errors![0]!.message };
}

/** A token with this payload, signed with `secret` (the server's, or another). */
function forge(payload: object, secret: string): string {
  const body = `slt_${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

describe.each(BACKENDS)('hostile access tokens on %s', (backend) => {
  let server: TestServer;
  let key: string;
  let token: string;
  const mint = (input: object, as = key) => post(server, { query: MINT, variables: { input } }, `Bearer ${as}`);

  beforeAll(async () => {
    server = await startServer({ backend, env: { ADMIN_KEY, TOKEN_SIGNING_KEYS: `h1:${SECRET}` } });
    key = (await query(server.url, CreateApiKeyDocument, { tenant: 'acme', scopes: ['READ', 'INGEST'], name: 'k' }, { apiKey: ADMIN_KEY }))
      .createApiKey.key;
    token = (await mint({ scopes: ['READ'], expiresIn: '1h', types: ['visit'], where: [{ key: 'customer', eq: 'acme' }] })).body.data!
      .createAccessToken.token;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('refuses tampered and forged tokens with UNAUTHENTICATED, whatever was edited', async () => {
    const [body, signature] = token.split('.') as [string, string];
    const payload = JSON.parse(Buffer.from(body.slice(4), 'base64url').toString('utf8'));
    const forgeries: [string, string, string][] = [
      ['types widened, old signature', `${forge({ ...payload, typ: null }, SECRET).split('.')[0]}.${signature}`, 'is not valid'],
      ['where dropped, signed with a guessed secret', forge({ ...payload, whr: [] }, 'x'.repeat(43)), 'is not valid'],
      ['another tenant, signed with a guessed secret', forge({ ...payload, ten: 'other' }, 'x'.repeat(43)), 'is not valid'],
      ['the kid swapped', forge({ ...payload, kid: 'h2' }, SECRET), 'is not valid'],
      ['the kid a prototype member', forge({ ...payload, kid: 'constructor' }, SECRET), 'is not valid'],
      ['ADMIN smuggled into the scopes', forge({ ...payload, scp: ['ADMIN', 'READ'] }, SECRET), 'is not "Bearer <key>"'],
      ['an alg field', forge({ ...payload, alg: 'none' }, SECRET), 'is not "Bearer <key>"'],
      ['a JWT with alg none', `eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.${body.slice(4)}.`, 'is not "Bearer <key>"'],
      ['no signature', `${body}.`, 'is not "Bearer <key>"'],
      ['the signature upper-cased', `${body}.${signature.toUpperCase()}`, 'is not valid'],
      ['a 9 KB token', `slt_${'A'.repeat(9_000)}.${signature}`, 'is not "Bearer <key>"'],
      ['an API key shape with the token inside', `sl_${'A'.repeat(16)}_${signature}`, 'is not valid'],
    ];
    for (const [what, forged, message] of forgeries) {
      const answer = await post(server, { query: READ }, `Bearer ${forged}`);
      // As for a forged API key: a GraphQL answer (200) whose error says UNAUTHENTICATED.
      expect(answer.status, what).toBe(200);
      expect(onlyError(answer), what).toEqual({ code: 'UNAUTHENTICATED', message: expect.stringContaining(message) });
    }
    // The genuine token still works.
    expect((await post(server, { query: READ }, `Bearer ${token}`)).body.errors).toBeUndefined();
    await expectHealthy(server);
  });

  it('answers a 100 KB token header without reading it, and stays healthy', async () => {
    const answer = await post(server, { query: READ }, `Bearer slt_${'A'.repeat(100_000)}.${'B'.repeat(43)}`);
    // Node refuses headers past 16 KB before the service sees them.
    expect(answer.status).toBe(431);
    await expectHealthy(server);
  });

  it('closes a graphql-ws connection_init with a forged or oversized token with 4403', async () => {
    for (const init of [`Bearer ${token.slice(0, -2)}AA`, `Bearer slt_${'A'.repeat(100_000)}.${'B'.repeat(43)}`, `Bearer ${token}\uD800`]) {
      const session = await openRawGraphqlWs(server, { init, expectAck: false });
      expect(await session.closed).toEqual({ code: 4403, reason: expect.stringMatching(/^UNAUTHENTICATED: /) });
    }
    await expectHealthy(server);
  });

  it('keeps a token away from key management, and from minting', async () => {
    const cases = [
      '{ apiKeys { id } }',
      'mutation { createApiKey(tenant: "acme", scopes: [READ]) { key } }',
      'mutation { revokeApiKey(id: "AAAAAAAAAAAAAAAA") { id } }',
      'mutation { createAccessToken(input: { scopes: [READ], expiresIn: "1m" }) { token } }',
    ];
    for (const operation of cases) {
      const answer = await post(server, { query: operation }, `Bearer ${token}`);
      expect(onlyError(answer).code, operation).toBe('FORBIDDEN');
    }
    await expectHealthy(server);
  });

  it('refuses lone surrogates in every text input with BAD_USER_INPUT', async () => {
    const inputs = [
      { scopes: ['READ'], expiresIn: '1h\uD800' },
      { scopes: ['READ'], expiresIn: '1h', types: ['visit\uDC00'] },
      { scopes: ['READ'], expiresIn: '1h', where: [{ key: 'customer', eq: 'a\uD800' }] },
      { scopes: ['READ'], expiresIn: '1h', where: [{ key: 'customer', in: ['ok', '\uDFFF'] }] },
      { scopes: ['READ'], expiresIn: '1h', where: [{ key: 'c\uD800', exists: true }] },
    ];
    for (const input of inputs) {
      expect(onlyError(await mint(input)).code, JSON.stringify(input)).toBe('BAD_USER_INPUT');
    }
    await expectHealthy(server);
  });

  it('shows prototype-member keys of where as plain data, and refuses __proto__', async () => {
    const where = PROTOTYPE_MEMBER_KEYS.map((member) => ({ key: member, eq: member }));
    const answer = await mint({ scopes: ['READ'], expiresIn: '1m', where });
    expect(answer.body.errors).toBeUndefined();
    const expected = `{${PROTOTYPE_MEMBER_KEYS.map((member) => `${JSON.stringify(member)}:{"eq":${JSON.stringify(member)}}`).join(',')}}`;
    expect(answer.text).toContain(`"where":${expected}`);
    const minted = answer.body.data!.createAccessToken.token as string;
    expect((await post(server, { query: READ }, `Bearer ${minted}`)).body.errors).toBeUndefined();
    expect(PROTOTYPE_MEMBERS).toContain('__proto__');
    expect(onlyError(await mint({ scopes: ['READ'], expiresIn: '1m', where: [{ key: '__proto__', eq: 'x' }] })).code).toBe(
      'BAD_USER_INPUT',
    );
    await expectHealthy(server);
  });

  it('refuses inputs past their bounds promptly, naming the bound', async () => {
    const cases: [string, object, string, string][] = [
      [
        '21 conditions',
        { where: Array.from({ length: 21 }, (_, i) => ({ key: `k${i}`, exists: true })) },
        'QUERY_TOO_LARGE',
        'too many conditions',
      ],
      ['101 values', { where: [{ key: 'c', in: Array.from({ length: 101 }, (_, i) => `v${i}`) }] }, 'QUERY_TOO_LARGE', 'in'],
      ['10,000 types', { types: Array.from({ length: 10_000 }, (_, i) => `type-${i}`) }, 'BAD_USER_INPUT', 'above the 8192'],
      ['a 100 KB expiresIn', { expiresIn: 'x'.repeat(100_000) }, 'BAD_USER_INPUT', 'is not a duration'],
      ['a 100 KB number of hours', { expiresIn: `${'9'.repeat(100_000)}h` }, 'BAD_USER_INPUT', 'longer than 24h'],
      ['an expiresIn past 24h', { expiresIn: '99999999999999999999d' }, 'BAD_USER_INPUT', 'longer than 24h'],
      ['the largest Int as a rate', { queriesPerSecond: 2_147_483_647 }, 'BAD_USER_INPUT', "minting key's limit of 100"],
      ['a negative rate', { eventsPerSecond: -5 }, 'BAD_USER_INPUT', 'at least 1'],
    ];
    for (const [what, input, code, message] of cases) {
      const answer = await mint({ scopes: ['READ'], expiresIn: '1h', ...input });
      expect(onlyError(answer).code, what).toBe(code);
      expect(onlyError(answer).message, what).toContain(message);
      expect(answer.text.length, what).toBeLessThan(2_000);
    }
    // Past Int, GraphQL itself refuses the variable.
    expect(onlyError(await mint({ scopes: ['READ'], expiresIn: '1h', queriesPerSecond: 2 ** 31 })).code).toBe('BAD_USER_INPUT');
    await expectHealthy(server);
  });
});
