/**
 * Production exposure and caching: GraphiQL and introspection off under NODE_ENV=production,
 * an allow-list of persisted operations, and series/top results over final buckets served
 * from the cache, never stale.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../support/server.ts';
import { query, waitForProcessing } from '../support/clients.ts';
import { IngestDocument, ListEventTypesDocument, ReadSeriesDocument, ReadTopDocument } from '../generated/operations.ts';

async function post(server: TestServer, body: unknown) {
  const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return {
    status: response.status,
    body: (await response.json()) as { data?: unknown; errors?: { message: string; extensions?: { code?: string } }[] },
  };
}

describe('production exposure', () => {
  let server: TestServer;
  const dir = mkdtempSync(join(tmpdir(), 'streamlens-persisted-'));
  const operations = join(dir, 'persisted-documents.json');

  beforeAll(async () => {
    writeFileSync(operations, JSON.stringify({ 'list-types': print(ListEventTypesDocument) }));
    server = await startServer({ env: { NODE_ENV: 'production', PERSISTED_OPERATIONS_FILE: operations } });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves no GraphiQL page', async () => {
    const page = await fetch(server.url, { headers: { accept: 'text/html' } });
    expect(await page.text()).not.toContain('<title>Streamlens</title>');
  });

  it('runs only allow-listed operations, by id', async () => {
    const listed = await post(server, { documentId: 'list-types' });
    expect(listed.body).toEqual({ data: { eventTypes: [] } });
    const arbitrary = await post(server, { query: '{ eventTypes { type } }' });
    expect(arbitrary.body.errors?.[0]?.message).toMatch(/PersistedQueryOnly|persisted/i);
    const unknown = await post(server, { documentId: 'no-such-operation' });
    expect(unknown.body.errors?.[0]?.message).toMatch(/PersistedQueryNotFound|not found/i);
  });

  it('refuses introspection', async () => {
    writeFileSync(operations, JSON.stringify({ 'list-types': print(ListEventTypesDocument) }));
    const introspecting = await startServer({ env: { NODE_ENV: 'production' } });
    try {
      const result = await post(introspecting, { query: '{ __schema { queryType { name } } }' });
      expect(result.body.errors?.[0]?.message).toContain('introspection');
      const normal = await post(introspecting, { query: '{ eventTypes { type } }' });
      expect(normal.body).toEqual({ data: { eventTypes: [] } });
    } finally {
      await introspecting.stop();
    }
  });
});

describe('result cache', () => {
  let server: TestServer;
  // Short bounds: buckets a few minutes old are final.
  beforeAll(async () => {
    server = await startServer({ env: { OUT_OF_ORDERNESS: '0s', ALLOWED_LATENESS: '1s' } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  const cacheCounter = async (result: 'hits' | 'misses', cache: string) => {
    const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
    const match = new RegExp(`^streamlens_cache_${result}_total\\{cache="${cache}"\\} (\\d+)$`, 'm').exec(text);
    return match ? Number(match[1]) : 0;
  };

  it('serves series and top over final buckets from the cache, and never stale results', async () => {
    const old = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
    const iso = (ms: number) => new Date(ms).toISOString();
    await query(server.url, IngestDocument, {
      events: [
        { id: 'c1', type: 'cached', timestamp: iso(old + 1_000), dimensions: { country: 'NL' }, values: { v: 2 } },
        { id: 'c2', type: 'cached', timestamp: iso(old + 2_000), dimensions: { country: 'DE' }, values: { v: 3 } },
      ],
    });
    // A current event moves the watermark past the old minute.
    await query(server.url, IngestDocument, { events: [{ id: 'now', type: 'cached', timestamp: iso(Date.now()) }] });
    await waitForProcessing(server.url);

    const finalRange = { type: 'cached', value: 'v', interval: 'MINUTE' as const, from: iso(old), to: iso(old + 60_000) };
    const first = await query(server.url, ReadSeriesDocument, { query: finalRange });
    expect(first.series[0]!.points.map((p) => [p.count, p.sum, p.final])).toEqual([[2, 5, true]]);
    const second = await query(server.url, ReadSeriesDocument, { query: finalRange });
    expect(second).toEqual(first);
    expect(await cacheCounter('misses', 'series')).toBe(1);
    expect(await cacheCounter('hits', 'series')).toBe(1);

    const top = { type: 'cached', by: 'country', value: 'v', from: iso(old), to: iso(old + 60_000) };
    expect((await query(server.url, ReadTopDocument, { query: top })).top).toEqual([
      { key: 'DE', count: 1, sum: 3 },
      { key: 'NL', count: 1, sum: 2 },
    ]);
    expect((await query(server.url, ReadTopDocument, { query: top })).top).toEqual([
      { key: 'DE', count: 1, sum: 3 },
      { key: 'NL', count: 1, sum: 2 },
    ]);
    expect(await cacheCounter('hits', 'top')).toBe(1);

    // A range that is not all final is never cached: it always shows the newest events.
    const open = { type: 'cached', interval: 'MINUTE' as const, from: iso(old), to: iso(Date.now() + 60_000) };
    await query(server.url, ReadSeriesDocument, { query: open });
    await query(server.url, IngestDocument, { events: [{ id: 'later', type: 'cached', timestamp: iso(Date.now()) }] });
    await waitForProcessing(server.url);
    const total = (await query(server.url, ReadSeriesDocument, { query: open })).series[0]!.points.reduce((n, p) => n + p.count, 0);
    expect(total).toBe(4);
    expect(await cacheCounter('hits', 'series')).toBe(1);
  });
});
