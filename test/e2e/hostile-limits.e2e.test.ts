/**
 * Hostile use of the limits (issue 11, low findings): aliased ingest fields, keys minted to
 * multiply rate limits, mutations and unauthenticated calls that were never rate-limited, junk
 * operation names in the metric labels, client mistakes logged as server errors, terminal escapes
 * in key names, and an oversized batch that still took ingest tokens.
 *
 * Each case is a real request with its exact status and error code, and the service must still
 * answer GET /health within 100 ms afterwards.
 */
import { once } from 'node:events';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ExecutionResult } from 'graphql';
import WebSocket from 'ws';
import { newDataDir, realServerEnv, removeDataDir, startServer, type TestServer, expectHealthy } from '../support/server.ts';
import { sseClient, waitForProcessing, waitUntil, wsClient } from '../support/clients.ts';
import { createEmbeddedApiKeyStore } from '../../src/adapters/embedded/embedded-api-key-store.ts';

const ADMIN_KEY = 'hostile-limits-suite-admin-key-0123456789';
const MAX_BATCH = 100;
const INGEST = 'mutation Ingest($e: [EventInput!]!) { ingest(events: $e) { accepted rejected } }';
const TWO_ALIASED_INGESTS = 'mutation Twice($e: [EventInput!]!) { a: ingest(events: $e) { accepted } b: ingest(events: $e) { accepted } }';
const INGESTS_IN_A_FRAGMENT =
  'mutation Spread($e: [EventInput!]!) { ...Both } fragment Both on Mutation { a: ingest(events: $e) { accepted } b: ingest(events: $e) { accepted } }';
const CREATE_KEY =
  'mutation Create($t: String!, $s: [ApiScope!]!, $n: String) { createApiKey(tenant: $t, scopes: $s, name: $n) { key apiKey { id name } } }';
const REVOKE_KEY = 'mutation Revoke($id: ID!) { revokeApiKey(id: $id) { id } }';
const EVENT_TYPES = '{ eventTypes { type } }';
const EVENTS_OF_TYPE = 'query Stored($f: EventFilter) { events(filter: $f, first: 1000) { edges { node { id } } } }';

interface Answer {
  status: number;
  headers: Headers;
  result: ExecutionResult & { errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

async function post(
  server: TestServer,
  query: string,
  variables: Record<string, unknown> = {},
  apiKey: string | null = null,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
      ...headers,
    },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, headers: response.headers, result: (await response.json()) as Answer['result'] };
}

const codeOf = (answer: Answer) => (answer.result.errors?.[0]?.extensions?.code as string | undefined) ?? null;

async function createKey(
  server: TestServer,
  tenant: string,
  scopes: string[],
  name: string,
  by = ADMIN_KEY,
): Promise<{ key: string; id: string }> {
  const answer = await post(server, CREATE_KEY, { t: tenant, s: scopes, n: name }, by);
  const created = (answer.result.data as { createApiKey?: { key: string; apiKey: { id: string } } } | null)?.createApiKey;
  if (!created) throw new Error(`could not create a key: ${JSON.stringify(answer.result.errors)}`);
  return { key: created.key, id: created.apiKey.id };
}

const batch = (count: number, type: string, prefix: string) => Array.from({ length: count }, (_, i) => ({ id: `${prefix}-${i}`, type }));

/** How the service closes a graphql-ws connection whose connection_init carries this key. */
async function refusedConnection(server: TestServer, apiKey: string): Promise<{ code: number; reason: string }> {
  const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  socket.on('error', () => {});
  await once(socket, 'open');
  socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${apiKey}` } }));
  return closed;
}

/** One operation over graphql-ws: its single result. */
async function overWebSocket(
  server: TestServer,
  query: string,
  variables: Record<string, unknown>,
  apiKey?: string,
): Promise<ExecutionResult> {
  const client = wsClient(server.wsUrl, apiKey ? { apiKey } : undefined);
  try {
    return await new Promise<ExecutionResult>((resolve, reject) => {
      let first: ExecutionResult | null = null;
      client.subscribe(
        { query, variables },
        {
          next: (result) => void (first ??= result as ExecutionResult),
          error: (error) => (first ? resolve(first) : reject(error instanceof Error ? error : new Error(JSON.stringify(error)))),
          complete: () => (first ? resolve(first) : reject(new Error('completed without a result'))),
        },
      );
    });
  } finally {
    await client.dispose();
  }
}

describe('hostile limits: one server with tight batch and ingest limits', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({
      env: {
        ADMIN_KEY,
        INGEST_MAX_BATCH_EVENTS: String(MAX_BATCH),
        // Just over a full batch: a refused 101-event batch that took its tokens would leave
        // the bucket empty for a whole second.
        INGEST_RATE_PER_KEY: '101',
        LOG_LEVEL: 'debug',
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(async () => {
    if (server) await expectHealthy(server);
  });

  describe('finding 8.2: the batch bound holds per request, not per ingest field', () => {
    it.each([
      ['two aliased ingest fields sharing one variable', TWO_ALIASED_INGESTS],
      ['two aliased ingest fields inside a fragment spread', INGESTS_IN_A_FRAGMENT],
    ])('HTTP: refuses %s as a whole, with extensions.limit, and stores nothing', async (_name, document) => {
      const { key } = await createKey(server, 'aliased', ['INGEST', 'READ'], 'aliased');
      const type = `aliased_${document.length}`;
      const answer = await post(server, document, { e: batch(60, type, `al-${document.length}`) }, key);
      expect(answer.status).toBe(200);
      expect(codeOf(answer)).toBe('BAD_USER_INPUT');
      expect(answer.result.errors?.[0]?.extensions?.limit).toBe(MAX_BATCH);
      expect(answer.result.errors?.[0]?.message).toContain(`at most ${MAX_BATCH} events`);
      expect(answer.result.errors?.[0]?.message).toContain('120');
      expect(answer.result.data ?? null).toBeNull();
      await waitForProcessing(server.url, 30_000, { apiKey: key });
      const stored = await post(server, EVENTS_OF_TYPE, { f: { types: [type] } }, key);
      expect((stored.result.data as { events: { edges: unknown[] } }).events.edges).toEqual([]);
    });

    it('HTTP: still accepts two ingest fields whose events together stay within the bound', async () => {
      const { key } = await createKey(server, 'aliased', ['INGEST'], 'within');
      const answer = await post(server, TWO_ALIASED_INGESTS, { e: batch(40, 'aliased_ok', 'ok') }, key);
      expect(answer.status).toBe(200);
      expect(answer.result.errors).toBeUndefined();
      expect(answer.result.data).toEqual({ a: { accepted: 40 }, b: { accepted: 40 } });
    });

    it('graphql-ws: refuses aliased ingest fields over the bound as a whole', async () => {
      const { key } = await createKey(server, 'aliased', ['INGEST'], 'ws');
      const result = await overWebSocket(server, TWO_ALIASED_INGESTS, { e: batch(60, 'aliased_ws', 'ws') }, key);
      expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(result.errors?.[0]?.extensions?.limit).toBe(MAX_BATCH);
      expect(result.data ?? null).toBeNull();
    });
  });

  describe('finding 8.9: a refused oversized batch takes no ingest tokens', () => {
    it('refuses a batch over the bound with BAD_USER_INPUT, then accepts a full valid batch at once', async () => {
      const { key } = await createKey(server, 'oversized', ['INGEST'], 'oversized');
      const oversized = await post(server, INGEST, { e: batch(MAX_BATCH + 1, 'oversized', 'over') }, key);
      expect(oversized.status).toBe(200);
      expect(codeOf(oversized)).toBe('BAD_USER_INPUT');
      expect(oversized.result.errors?.[0]?.extensions?.limit).toBe(MAX_BATCH);
      // The key's bucket holds 101 events and regains 101 a second: had the refused batch taken
      // its tokens, this one would be RATE_LIMITED for about a second.
      const valid = await post(server, INGEST, { e: batch(MAX_BATCH, 'oversized', 'valid') }, key);
      expect(valid.status).toBe(200);
      expect(valid.result.errors).toBeUndefined();
      expect((valid.result.data as { ingest: { accepted: number } }).ingest.accepted).toBe(MAX_BATCH);
    });
  });

  describe('finding 8.5: unauthenticated junk operation names do not fill the metric labels', () => {
    it('labels unauthenticated operations "unauthenticated" and keeps a label for an authenticated name', async () => {
      for (let i = 0; i < 55; i++) {
        const answer = await post(server, `query Junk${i} ${EVENT_TYPES}`, {}, null);
        expect(answer.status).toBe(200);
        expect(['UNAUTHENTICATED', 'RATE_LIMITED']).toContain(codeOf(answer));
      }
      const { key } = await createKey(server, 'metrics', ['READ'], 'metrics');
      const real = await post(server, `query RealDashboardName ${EVENT_TYPES}`, {}, key);
      expect(real.status).toBe(200);
      expect(real.result.errors).toBeUndefined();
      const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
      expect(metrics).toContain('operation_name="RealDashboardName"');
      expect(metrics).toContain('operation_name="unauthenticated"');
      expect(metrics).not.toMatch(/operation_name="Junk\d+"/);
      // The junk calls emptied this address's bucket. Wait until it is full again (40 calls at
      // 20 a second: two seconds), so the next test's unauthenticated call is judged on its key
      // and not on this test's burst; a probe call here would itself take the first token back.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    });
  });

  describe('finding 8.6: client mistakes are logged at debug, not error', () => {
    it('logs no error line for a batch of client mistakes, and one debug line each', async () => {
      const { key } = await createKey(server, 'mistakes', ['INGEST', 'READ'], 'mistakes');
      const mistakes: [string, () => Promise<Answer>, string][] = [
        ['coercion', () => post(server, INGEST, { e: 5 }, key, { 'x-request-id': 'mistake-coercion' }), 'BAD_USER_INPUT'],
        [
          'bad tenant',
          () => post(server, CREATE_KEY, { t: 'BAD TENANT', s: ['READ'] }, ADMIN_KEY, { 'x-request-id': 'mistake-tenant' }),
          'BAD_USER_INPUT',
        ],
        [
          'forbidden',
          () => post(server, CREATE_KEY, { t: 'mistakes', s: ['READ'] }, key, { 'x-request-id': 'mistake-forbidden' }),
          'FORBIDDEN',
        ],
        [
          'unauthenticated',
          () => post(server, EVENT_TYPES, {}, 'sl_AAAAAAAAAAAAAAAA_' + 'B'.repeat(43), { 'x-request-id': 'mistake-unauth' }),
          'UNAUTHENTICATED',
        ],
        [
          'oversized',
          () => post(server, INGEST, { e: batch(MAX_BATCH + 1, 'mistake', 'm') }, key, { 'x-request-id': 'mistake-batch' }),
          'BAD_USER_INPUT',
        ],
        [
          'bad cursor',
          () => post(server, EVENTS_OF_TYPE.replace('first: 1000', 'after: "forged"'), {}, key, { 'x-request-id': 'mistake-cursor' }),
          'BAD_USER_INPUT',
        ],
      ];
      for (const [, send, code] of mistakes) expect(codeOf(await send())).toBe(code);
      const lines = () =>
        server
          .output()
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as { level: number; requestId?: string; code?: string; msg: string });
      // The mistakes whose errors graphql-yoga reports (the masked and coerced ones) have a debug line.
      const debugLine = (requestId: string) => lines().find((line) => line.requestId === requestId && line.level === 20);
      await waitUntil(
        async () => debugLine('mistake-coercion') && debugLine('mistake-tenant') && debugLine('mistake-cursor'),
        5_000,
        'debug lines',
      );
      expect(debugLine('mistake-tenant')).toMatchObject({ code: 'BAD_USER_INPUT', msg: 'client error' });
      const aboutMistakes = lines().filter((line) => line.requestId?.startsWith('mistake-'));
      expect(aboutMistakes.filter((line) => line.level >= 40)).toEqual([]);
    });
  });

  describe('finding 8.7: key names cannot carry terminal escapes', () => {
    const ESCAPES = '\u001b]0;owned\u0007\u001b[2J\u001b[31mred\u001b[0m';

    it('HTTP: createApiKey refuses a name with control characters', async () => {
      const answer = await post(server, CREATE_KEY, { t: 'names', s: ['READ'], n: `evil${ESCAPES}` }, ADMIN_KEY);
      expect(answer.status).toBe(200);
      expect(codeOf(answer)).toBe('BAD_USER_INPUT');
      expect(answer.result.errors?.[0]?.message).toContain('control characters');
    });

    it('graphql-ws: createApiKey refuses a name with a bidirectional override', async () => {
      const result = await overWebSocket(server, CREATE_KEY, { t: 'names', s: ['READ'], n: 'invoice\u202Etxt.exe' }, ADMIN_KEY);
      expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      expect(result.errors?.[0]?.message).toContain('control characters');
    });
  });
});

describe('finding 8.7: the key CLI escapes control characters in what it prints', () => {
  const execFileAsync = promisify(execFile);
  const root = join(import.meta.dirname, '..', '..');
  let dataDir: string;
  beforeAll(() => {
    dataDir = newDataDir();
  });
  afterAll(() => removeDataDir(dataDir));

  const runCli = async (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    const env: Record<string, string | undefined> = { ...process.env, DATA_DIR: dataDir };
    for (const name of ['MONGODB_URL', 'REDIS_URL', 'KAFKA_BROKERS', 'CASSANDRA_CONTACT_POINTS']) delete env[name];
    try {
      const { stdout, stderr } = await execFileAsync(process.execPath, ['src/cli/keys.ts', ...args], { cwd: root, env, timeout: 30_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  };

  it('lists a stored key whose name holds ESC sequences with them escaped', async () => {
    // A key stored before names were checked (or written by another tool) goes through the port.
    const store = createEmbeddedApiKeyStore({ dataDir });
    await store.create({
      id: 'AAAAAAAAAAAAAAAA',
      tenant: 'acme',
      name: 'ops\u001b]0;owned\u0007\u001b[2J\u001b[31mred\u001b[0m\u009b\u202E',
      scopes: ['READ'],
      createdAt: Date.UTC(2026, 0, 1),
      revokedAt: null,
      secretHash: '0'.repeat(64),
    });
    await store.close();
    const listed = await runCli(['list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    expect(listed.stdout).toBe(
      'AAAAAAAAAAAAAAAA  acme  READ  2026-01-01T00:00:00.000Z  active  ops\\x1b]0;owned\\x07\\x1b[2J\\x1b[31mred\\x1b[0m\\x9b\\u202e\n',
    );
  });

  it('refuses to create a key whose name holds control characters', async () => {
    const created = await runCli(['create', '--tenant', 'acme', '--scopes', 'READ', '--name', 'x\u001b[31my']);
    expect(created.code).toBe(1);
    expect(created.stdout).toBe('');
    expect(created.stderr).toContain('control characters');
    expect(created.stderr).not.toContain('\u001b');
  });
});

describe('hostile limits: tenant-wide limits, key cap, and rate limits on every operation', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({
      env: {
        ADMIN_KEY,
        INGEST_MAX_BATCH_EVENTS: String(MAX_BATCH),
        // Generous per key, tight per tenant: only a tenant-wide bucket can refuse below.
        INGEST_RATE_PER_KEY: '100000',
        INGEST_RATE_PER_TENANT: '10',
        QUERY_RATE_PER_KEY: '1000',
        QUERY_RATE_PER_TENANT: '1',
        MAX_KEYS_PER_TENANT: '3',
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(async () => {
    if (server) await expectHealthy(server);
  });

  it('finding 8.3: caps the active keys of a tenant with KEY_LIMIT; a revoked key frees its place', async () => {
    const keys = [];
    for (let i = 0; i < 3; i++) keys.push(await createKey(server, 'capped', ['READ'], `k${i}`));
    const refused = await post(server, CREATE_KEY, { t: 'capped', s: ['READ'], n: 'one too many' }, ADMIN_KEY);
    expect(refused.status).toBe(200);
    expect(codeOf(refused)).toBe('KEY_LIMIT');
    expect(refused.result.errors?.[0]?.extensions?.limit).toBe(3);
    expect(refused.result.errors?.[0]?.message).toContain('3 active keys');
    const revoked = await post(server, REVOKE_KEY, { id: keys[0]!.id }, ADMIN_KEY);
    expect(revoked.result.errors).toBeUndefined();
    await createKey(server, 'capped', ['READ'], 'replacement');
  });

  it('finding 8.3: the ingest rate is shared by every key of a tenant', async () => {
    const first = await createKey(server, 'shared-ingest', ['INGEST'], 'first');
    const second = await createKey(server, 'shared-ingest', ['INGEST'], 'second');
    const full = await post(server, INGEST, { e: batch(MAX_BATCH, 'shared', 'first') }, first.key);
    expect((full.result.data as { ingest: { accepted: number } }).ingest.accepted).toBe(MAX_BATCH);
    // The tenant's bucket (a full batch, regaining 10 events a second) is empty: a fresh key of
    // the same tenant waits too.
    const refused = await post(server, INGEST, { e: batch(50, 'shared', 'second') }, second.key);
    expect(refused.status).toBe(200);
    expect(codeOf(refused)).toBe('RATE_LIMITED');
    expect(refused.result.errors?.[0]?.message).toContain('this tenant may ingest 10 events per second');
    expect(refused.result.errors?.[0]?.extensions?.retryAfter).toBeGreaterThanOrEqual(1);
    expect(Number(refused.headers.get('retry-after'))).toBe(refused.result.errors?.[0]?.extensions?.retryAfter);
  });

  it('finding 8.3: the operation rate is shared by every key of a tenant', async () => {
    const first = await createKey(server, 'shared-queries', ['READ'], 'first');
    const second = await createKey(server, 'shared-queries', ['READ'], 'second');
    // Bursts of twice the tenant's rate of 1 a second.
    expect(codeOf(await post(server, EVENT_TYPES, {}, first.key))).toBeNull();
    expect(codeOf(await post(server, EVENT_TYPES, {}, first.key))).toBeNull();
    const refused = await post(server, EVENT_TYPES, {}, second.key);
    expect(refused.status).toBe(200);
    expect(codeOf(refused)).toBe('RATE_LIMITED');
    expect(refused.result.errors?.[0]?.message).toContain('this tenant may start 1 operations per second');
  });

  it('finding 8.4: key management mutations are rate-limited too', async () => {
    const admin = await createKey(server, 'key-spam', ['ADMIN'], 'tenant admin');
    const codes: (string | null)[] = [];
    for (let i = 0; i < 3; i++) codes.push(codeOf(await post(server, REVOKE_KEY, { id: `nope${i}` }, admin.key)));
    expect(codes).toEqual(['NOT_FOUND', 'NOT_FOUND', 'RATE_LIMITED']);
  });
});

describe('hostile limits: unauthenticated calls are rate-limited by remote address', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ env: { ADMIN_KEY, UNAUTHENTICATED_RATE_PER_ADDRESS: '1' } });
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(async () => {
    if (server) await expectHealthy(server);
  });

  it('HTTP, graphql-ws and SSE: missing and forged keys share one bucket per address; keys keep theirs', async () => {
    const forged = `sl_${'A'.repeat(16)}_${'B'.repeat(43)}`;
    // A burst of twice the rate of 1 a second, then RATE_LIMITED: a key guesser learns nothing more.
    const answers = [
      await post(server, EVENT_TYPES, {}, null),
      await post(server, EVENT_TYPES, {}, forged),
      await post(server, EVENT_TYPES, {}, forged),
    ];
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
    expect(answers.map(codeOf)).toEqual(['UNAUTHENTICATED', 'UNAUTHENTICATED', 'RATE_LIMITED']);
    const refused = answers[2]!;
    expect(refused.result.errors?.[0]?.extensions?.retryAfter).toBe(1);
    expect(refused.headers.get('retry-after')).toBe('1');
    // Over graphql-ws the key is checked at connection_init: past the address's rate the
    // connection is closed with 4429 and RATE_LIMITED, before any operation.
    expect(await refusedConnection(server, forged)).toEqual({
      code: 4429,
      reason: 'RATE_LIMITED: calls without a valid API key may start 1 operations per second from one address',
    });
    const client = sseClient(server.url, { apiKey: forged });
    const overSse = await new Promise<unknown>((resolve) => {
      client.subscribe(
        { query: 'subscription { events { cursor } }' },
        {
          next: (result) => resolve(result),
          error: (error) => resolve(error),
          complete: () => resolve('completed'),
        },
      );
    });
    client.dispose();
    expect(overSse).toEqual({
      errors: [
        {
          message: 'calls without a valid API key may start 1 operations per second from one address',
          extensions: { code: 'RATE_LIMITED', retryAfter: 1 },
        },
      ],
    });
    // A valid key from the same address is not affected.
    const { key } = await createKey(server, 'addressed', ['READ'], 'valid');
    expect(codeOf(await post(server, EVENT_TYPES, {}, key))).toBeNull();
  });
});

describe('hostile limits on real servers: a tenant-wide bucket holds across instances (Redis)', () => {
  let first: TestServer;
  let second: TestServer;
  beforeAll(async () => {
    const env = { ADMIN_KEY, ...realServerEnv(), INGEST_MAX_BATCH_EVENTS: String(MAX_BATCH), INGEST_RATE_PER_TENANT: '10' };
    [first, second] = await Promise.all([startServer({ backend: 'real servers', env }), startServer({ backend: 'real servers', env })]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([first?.stop(), second?.stop()]);
  });

  it('refuses a second key of the tenant on another instance once the first emptied the tenant bucket', async () => {
    const one = await createKey(first, 'across', ['INGEST'], 'one');
    const two = await createKey(first, 'across', ['INGEST'], 'two');
    const full = await post(first, INGEST, { e: batch(MAX_BATCH, 'across', 'one') }, one.key);
    expect((full.result.data as { ingest: { accepted: number } }).ingest.accepted).toBe(MAX_BATCH);
    const refused = await post(second, INGEST, { e: batch(50, 'across', 'two') }, two.key);
    expect(refused.status).toBe(200);
    expect(codeOf(refused)).toBe('RATE_LIMITED');
    expect(refused.result.errors?.[0]?.message).toContain('this tenant may ingest 10 events per second');
    await expectHealthy(first);
    await expectHealthy(second);
  });
});

describe('hostile limits: the request body bound is MAX_REQUEST_BYTES, whatever its size', () => {
  const LIMIT = 30_000_000;
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ env: { MAX_REQUEST_BYTES: String(LIMIT) } });
  });
  afterAll(async () => {
    await server?.stop();
  });
  const padded = (bytes: number) => `{"query": "{ eventTypes { type } }", "extensions": { "pad": "${'x'.repeat(bytes)}" }}`;
  const postBody = (body: string) =>
    fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body,
    });

  it('serves a 26 MB body under a 30 MB limit, and refuses one over it with PAYLOAD_TOO_LARGE', async () => {
    // 26 MB is past graphql-yoga's own default bound (25 MB), which must not answer first.
    const served = await postBody(padded(26_000_000));
    expect({ status: served.status, body: await served.json() }).toEqual({ status: 200, body: { data: { eventTypes: [] } } });
    const refused = await postBody(padded(LIMIT));
    expect(refused.status).toBe(413);
    expect(((await refused.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('PAYLOAD_TOO_LARGE');
    await expectHealthy(server);
  });
});
