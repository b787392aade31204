/**
 * Tenants and API keys end to end: isolation through every query, subscription, filter and
 * cursor; scopes; revocation (open subscriptions included); open mode and its refusal on a
 * non-loopback HOST; the key CLI.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as WsClient } from 'graphql-ws';
import { BACKENDS, newDataDir, removeDataDir, startServer, type TestServer } from '../support/server.ts';
import { execute, query, subscribe, waitForLiveSubscriptions, waitForProcessing, wsClient, type Credentials } from '../support/clients.ts';
import {
  CreateApiKeyDocument,
  IngestDocument,
  ListApiKeysDocument,
  ListEventsDocument,
  ListEventTypesDocument,
  ListQuarantineDocument,
  LiveEventsDocument,
  LiveSeriesDocument,
  ReadEventDocument,
  ReadSeriesDocument,
  ReadStreamStatusDocument,
  ReadTopDocument,
  RevokeApiKeyDocument,
} from '../generated/operations.ts';

const ADMIN_KEY = 'test-admin-key-0123456789abcdefghijklmnop';
const admin: Credentials = { apiKey: ADMIN_KEY };
const root = join(import.meta.dirname, '..', '..');

describe.each(BACKENDS)('tenants and API keys on %s', (backend) => {
  let server: TestServer;
  const keys: Record<string, string> = {};
  const as = (name: string): Credentials => ({ apiKey: keys[name]! });
  const from = new Date(Date.now() - 3_600_000).toISOString();
  const to = new Date(Date.now() + 3_600_000).toISOString();

  beforeAll(async () => {
    server = await startServer({ backend, env: { ADMIN_KEY } });
    for (const [name, tenant, scopes] of [
      ['a', 'tenant-a', ['INGEST', 'READ']],
      ['aRead', 'tenant-a', ['READ']],
      ['aAdmin', 'tenant-a', ['ADMIN']],
      ['b', 'tenant-b', ['INGEST', 'READ']],
    ] as const) {
      keys[name] = (await query(server.url, CreateApiKeyDocument, { tenant, scopes: [...scopes], name }, admin)).createApiKey.key;
    }
    for (const [name, country] of [
      ['a', 'NL'],
      ['b', 'DE'],
    ] as const) {
      const events = Array.from({ length: 3 }, (_, i) => ({ id: `shared-${i}`, type: 'visit', dimensions: { country }, values: { n: i } }));
      expect((await query(server.url, IngestDocument, { events }, as(name))).ingest.accepted).toBe(3);
    }
    await waitForProcessing(server.url, 30_000, as('a'));
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('refuses calls without a valid key with UNAUTHENTICATED, saying why', async () => {
    const cases: [Record<string, string>, string][] = [
      [{}, 'an API key is required'],
      [{ authorization: 'Basic dXNlcjpwYXNz' }, 'is not "Bearer <key>"'],
      [{ authorization: 'Bearer not-a-streamlens-key' }, 'is not "Bearer <key>"'],
      [{ authorization: `Bearer ${keys.a!.slice(0, -4)}AAAA` }, 'is not valid'],
      [{ authorization: 'Bearer sl_AAAAAAAAAAAAAAAA_' + 'A'.repeat(43) }, 'is not valid'],
    ];
    for (const [headers, message] of cases) {
      const response = await fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query: '{ eventTypes { type } }' }),
      });
      const body = (await response.json()) as { errors: { message: string; extensions: { code: string } }[] };
      expect(body.errors[0]!.extensions.code, JSON.stringify(headers)).toBe('UNAUTHENTICATED');
      expect(body.errors[0]!.message).toContain(message);
    }
  });

  it('keeps each tenant to its own data in every query, filter and cursor', async () => {
    for (const [name, country] of [
      ['a', 'NL'],
      ['b', 'DE'],
    ] as const) {
      const events = await query(server.url, ListEventsDocument, { filter: { types: ['visit'] } }, as(name));
      expect(events.events.edges.map((e) => [e.node.id, e.node.dimensions.country])).toEqual([
        ['shared-2', country],
        ['shared-1', country],
        ['shared-0', country],
      ]);
      expect((await query(server.url, ReadEventDocument, { id: 'shared-1' }, as(name))).event!.dimensions).toEqual({ country });
      const { series } = await query(
        server.url,
        ReadSeriesDocument,
        { query: { type: 'visit', value: 'n', interval: 'DAY', from, to, groupBy: 'country' } },
        as(name),
      );
      expect(series.map((s) => [s.group, s.points.reduce((n, p) => n + p.count, 0)])).toEqual([[country, 3]]);
      const { top } = await query(server.url, ReadTopDocument, { query: { type: 'visit', by: 'country', from, to } }, as(name));
      expect(top).toEqual([{ key: country, count: 3, sum: null }]);
      const { eventTypes } = await query(server.url, ListEventTypesDocument, undefined, as(name));
      expect(eventTypes.map((t) => [t.type, t.count])).toEqual([['visit', 3]]);
      expect((await query(server.url, ListQuarantineDocument, {}, as(name))).quarantine.edges).toEqual([]);
    }
    // A filter naming the other tenant's values finds nothing, and a cursor from tenant a's
    // pages is only a position in time: used by tenant b, it pages through b's own events
    // older than that position (b ingested after a, so none).
    const aPage = await query(server.url, ListEventsDocument, { filter: { types: ['visit'] }, first: 3 }, as('a'));
    const bWithACursor = await query(
      server.url,
      ListEventsDocument,
      { filter: { types: ['visit'] }, after: aPage.events.pageInfo.endCursor },
      as('b'),
    );
    expect(bWithACursor.events.edges).toEqual([]);
    expect((await query(server.url, ListEventsDocument, { filter: { dimensions: { country: 'NL' } } }, as('b'))).events.edges).toEqual([]);
  });

  it('keeps each tenant to its own live updates, from any cursor', async () => {
    let ws: WsClient | null = null;
    let wsA: WsClient | null = null;
    try {
      ws = wsClient(server.wsUrl, as('b'));
      wsA = wsClient(server.wsUrl, as('a'));
      const aCursor = (await query(server.url, ListEventsDocument, {}, as('a'))).events.streamCursor;
      const bEvents = await subscribe(ws, LiveEventsDocument, { filter: { types: ['visit', 'live'] }, after: null });
      const bFromACursor = await subscribe(ws, LiveEventsDocument, { filter: { types: ['live'] }, after: aCursor });
      const bSeries = await subscribe(ws, LiveSeriesDocument, { query: { type: 'live', interval: 'DAY' } });
      const aEvents = await subscribe(wsA, LiveEventsDocument, { filter: { types: ['live'] } });
      // A tenant's key counts that tenant's subscriptions only (streamStatus is per tenant).
      await waitForLiveSubscriptions(server.url, 3, as('b'));
      await waitForLiveSubscriptions(server.url, 1, as('a'));
      await query(server.url, IngestDocument, { events: [{ id: 'live-a', type: 'live' }] }, as('a'));
      await query(server.url, IngestDocument, { events: [{ id: 'live-b', type: 'live' }] }, as('b'));
      await aEvents.waitFor(1);
      await bEvents.waitFor(1);
      await bFromACursor.waitFor(1);
      await expect.poll(() => bSeries.items.at(-1)?.series.point.count, { timeout: 10_000 }).toBe(1);
      await waitForProcessing(server.url, 30_000, as('a'));
      expect(aEvents.items.map((i) => i.events.node.id)).toEqual(['live-a']);
      expect(bEvents.items.map((i) => i.events.node.id)).toEqual(['live-b']);
      expect(bFromACursor.items.map((i) => i.events.node.id)).toEqual(['live-b']);
      for (const s of [aEvents, bEvents, bFromACursor, bSeries]) s.stop();
    } finally {
      await ws?.dispose();
      await wsA?.dispose();
    }
  });

  it('answers FORBIDDEN for a key without the scope an operation needs', async () => {
    const ingestWithRead = await execute(server.url, IngestDocument, { events: [{ type: 'x' }] }, as('aRead'));
    expect(ingestWithRead.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(ingestWithRead.errors?.[0]?.message).toContain('INGEST scope');
    const readWithAdmin = await execute(server.url, ListEventTypesDocument, undefined, as('aAdmin'));
    expect(readWithAdmin.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const readWithRoot = await execute(server.url, ListEventTypesDocument, undefined, admin);
    expect(readWithRoot.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const keysWithIngest = await execute(server.url, ListApiKeysDocument, undefined, as('a'));
    expect(keysWithIngest.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const otherTenantsKey = await execute(server.url, CreateApiKeyDocument, { tenant: 'tenant-b', scopes: ['READ'] }, as('aAdmin'));
    expect(otherTenantsKey.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const adminSocket = wsClient(server.wsUrl, as('aAdmin'));
    try {
      const subscription = await subscribe(adminSocket, LiveEventsDocument, { filter: null });
      await expect(subscription.waitFor(1, 5_000)).rejects.toThrow('FORBIDDEN');
    } finally {
      await adminSocket.dispose();
    }
  });

  it('lists keys without their secrets, per tenant for a tenant admin', async () => {
    const all = await query(server.url, ListApiKeysDocument, undefined, admin);
    expect(all.apiKeys.map((k) => [k.name, k.tenant, k.scopes])).toEqual([
      ['a', 'tenant-a', ['INGEST', 'READ']],
      ['aRead', 'tenant-a', ['READ']],
      ['aAdmin', 'tenant-a', ['ADMIN']],
      ['b', 'tenant-b', ['INGEST', 'READ']],
    ]);
    // The secret is what follows `sl_<16-character id>_`; it may itself hold underscores.
    expect(JSON.stringify(all)).not.toContain(keys.a!.slice('sl_'.length + 16 + 1));
    const own = await query(server.url, ListApiKeysDocument, undefined, as('aAdmin'));
    expect(own.apiKeys.map((k) => k.name)).toEqual(['a', 'aRead', 'aAdmin']);
  });

  it('stops a revoked key at once, and ends the subscriptions opened with it', async () => {
    const created = await query(
      server.url,
      CreateApiKeyDocument,
      { tenant: 'tenant-a', scopes: ['READ', 'INGEST'], name: 'temporary' },
      as('aAdmin'),
    );
    const temporary: Credentials = { apiKey: created.createApiKey.key };
    const ws = wsClient(server.wsUrl, temporary);
    try {
      const live = await subscribe(ws, LiveEventsDocument, { filter: { types: ['revoked'] } });
      await waitForLiveSubscriptions(server.url, 1, as('a'));
      const revoked = await query(server.url, RevokeApiKeyDocument, { id: created.createApiKey.apiKey.id }, as('aAdmin'));
      expect(revoked.revokeApiKey.revokedAt).not.toBeNull();
      await expect(live.waitFor(1, 10_000)).rejects.toThrow('revoked');
      const afterwards = await execute(server.url, ListEventTypesDocument, undefined, temporary);
      expect(afterwards.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(afterwards.errors?.[0]?.message).toContain('revoked');
    } finally {
      await ws.dispose();
    }
  });
});

describe.each(BACKENDS)('streamStatus per tenant on %s', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ backend, env: { ADMIN_KEY } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("item 11: streamStatus shows a tenant its own counters and the shared watermark, not another tenant's activity", async () => {
    // Two tenants of their own, so the other tests' exact answers are untouched.
    const key = async (tenant: string) =>
      (await query(server.url, CreateApiKeyDocument, { tenant, scopes: ['INGEST', 'READ'], name: tenant }, admin)).createApiKey.key;
    const quiet = { apiKey: await key('tenant-status-quiet') };
    const busy = { apiKey: await key('tenant-status-busy') };
    const events = (prefix: string, ids: number[]) => ids.map((i) => ({ id: `${prefix}-${i}`, type: 'status_visit' }));
    expect((await query(server.url, IngestDocument, { events: events('q', [0, 1]) }, quiet)).ingest.accepted).toBe(2);
    // The busy tenant sends five, one of them a duplicate: the quiet tenant's status must not move with them.
    expect((await query(server.url, IngestDocument, { events: events('b', [0, 1, 2, 3, 3]) }, busy)).ingest.accepted).toBe(5);
    await waitForProcessing(server.url, 30_000, busy);
    const [forQuiet, forBusy] = await Promise.all(
      [quiet, busy].map(async (credentials) => (await query(server.url, ReadStreamStatusDocument, undefined, credentials)).streamStatus),
    );
    expect(forQuiet!).toMatchObject({
      lag: 0,
      processed: 2,
      duplicates: 0,
      quarantined: 0,
      poisonRecords: 0,
      liveSubscriptions: 0,
      tenantScoped: true,
    });
    expect(forBusy!).toMatchObject({
      lag: 0,
      processed: 5,
      duplicates: 1,
      quarantined: 0,
      poisonRecords: 0,
      liveSubscriptions: 0,
      tenantScoped: true,
    });
    // The watermark decides every tenant's `final`: one, the same for both.
    expect(forQuiet!.watermark).toBe(forBusy!.watermark);
  });
});

describe('open mode', () => {
  it('serves tenant "default" without keys on a loopback HOST, and refuses to start open elsewhere', async () => {
    const dataDir = newDataDir();
    try {
      const server = await startServer({ dataDir });
      try {
        expect(server.output()).toContain('running OPEN');
        expect((await query(server.url, ReadStreamStatusDocument)).streamStatus.lag).toBe(0);
      } finally {
        await server.stop();
      }
      const refused = spawnSync(process.execPath, ['src/main.ts'], {
        cwd: root,
        env: {
          ...process.env,
          HOST: '0.0.0.0',
          PORT: '0',
          DATA_DIR: dataDir,
          KAFKA_BROKERS: '',
          MONGODB_URL: '',
          CASSANDRA_CONTACT_POINTS: '',
          REDIS_URL: '',
        },
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('HOST=0.0.0.0 is reachable from other machines, and no API key exists');
    } finally {
      removeDataDir(dataDir);
    }
  });

  it('ends when a key is created with the CLI, which prints the key once', async () => {
    const dataDir = newDataDir();
    try {
      const env = { ...process.env, DATA_DIR: dataDir, MONGODB_URL: '' };
      const created = spawnSync(process.execPath, ['src/cli/keys.ts', 'create', '--tenant', 'cli', '--scopes', 'READ,INGEST'], {
        cwd: root,
        env,
        encoding: 'utf8',
      });
      expect(created.status).toBe(0);
      const key = created.stdout.trim();
      expect(key).toMatch(/^sl_[A-Za-z0-9]{16}_[A-Za-z0-9_-]{43}$/);
      const listed = spawnSync(process.execPath, ['src/cli/keys.ts', 'list'], { cwd: root, env, encoding: 'utf8' });
      expect(listed.stdout).toMatch(/^[A-Za-z0-9]{16} {2}cli {2}READ,INGEST {2}\S+ {2}active$/m);

      const server = await startServer({ dataDir });
      try {
        expect(server.output()).not.toContain('running OPEN');
        expect((await execute(server.url, ReadStreamStatusDocument)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
        expect((await query(server.url, ReadStreamStatusDocument, undefined, { apiKey: key })).streamStatus.lag).toBe(0);
        const id = key.split('_')[1]!;
        const revoked = spawnSync(process.execPath, ['src/cli/keys.ts', 'revoke', id], { cwd: root, env, encoding: 'utf8' });
        expect(revoked.stdout).toContain('revoked');
      } finally {
        await server.stop();
      }
    } finally {
      removeDataDir(dataDir);
    }
  });
});
