/**
 * Observability end to end: /metrics in Prometheus format after real traffic (ingest, a query,
 * a subscription), request ids in response headers, and the request id in a masked error.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { print, type ExecutionResult, type FormattedExecutionResult } from 'graphql';
import type { Client as WsClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../support/server.ts';
import { query, subscribe, waitForLiveSubscriptions, waitForProcessing, waitUntil, wsClient } from '../support/clients.ts';
import { IngestDocument, ListEventsDocument, LiveEventsDocument, ReadSeriesDocument, type EventInput } from '../generated/operations.ts';
import { loadConfig } from '../../src/config.ts';
import { startApp, type RunningApp } from '../../src/app.ts';
import { createEmbeddedEventLog } from '../../src/adapters/embedded/embedded-event-log.ts';
import { createEmbeddedEventStore } from '../../src/adapters/embedded/embedded-event-store.ts';
import { createEmbeddedSeriesStore } from '../../src/adapters/embedded/embedded-series-store.ts';
import { createEmbeddedLiveBus } from '../../src/adapters/embedded/embedded-live-bus.ts';
import { createEmbeddedApiKeyStore } from '../../src/adapters/embedded/embedded-api-key-store.ts';
import { createEmbeddedRateLimitStore } from '../../src/adapters/embedded/embedded-rate-limit-store.ts';
import { createEmbeddedResultCache } from '../../src/adapters/embedded/embedded-result-cache.ts';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (comments skipped). */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with this name and these labels (others may exist), or undefined. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

async function scrape(baseUrl: string): Promise<{ text: string; samples: Sample[] }> {
  const response = await fetch(`${baseUrl}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  return { text, samples: parseMetrics(text) };
}

async function postGraphQL(url: string, body: object, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body: JSON.stringify(body),
  });
  return { requestId: response.headers.get('x-request-id'), result: (await response.json()) as ExecutionResult };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('observability (embedded)', () => {
  let server: TestServer;
  let ws: WsClient;

  beforeAll(async () => {
    server = await startServer();
    ws = wsClient(server.wsUrl);
  });
  afterAll(async () => {
    await ws?.dispose();
    await server?.stop();
  });

  it('exposes ingest, processing, subscription, store and GraphQL metrics', async () => {
    const live = await subscribe(ws, LiveEventsDocument, { filter: { types: ['obs_click'] } });
    await waitForLiveSubscriptions(server.url, 1);
    const subscribed = await scrape(server.baseUrl);
    expect(valueOf(subscribed.samples, 'streamlens_active_subscriptions', { kind: 'events' })).toBe(1);
    expect(valueOf(subscribed.samples, 'streamlens_active_subscriptions', { kind: 'series' })).toBe(0);

    const valid: EventInput[] = Array.from({ length: 5 }, (_, i) => ({
      id: `obs-${i}`,
      type: 'obs_click',
      dimensions: { country: i % 2 ? 'NL' : 'DE' },
      values: { ms: i + 1 },
    }));
    const invalid: EventInput[] = [{ type: 'bad type!' }, { type: 'also bad!' }];
    const { ingest } = await query(server.url, IngestDocument, { events: [...valid, ...invalid] });
    expect({ accepted: ingest.accepted, rejected: ingest.rejected }).toEqual({ accepted: 5, rejected: 2 });
    await live.waitFor(5);
    await waitForProcessing(server.url);
    const from = new Date(Date.now() - 3_600_000).toISOString();
    const to = new Date(Date.now() + 60_000).toISOString();
    const { series } = await query(server.url, ReadSeriesDocument, {
      query: { type: 'obs_click', value: 'ms', interval: 'MINUTE', from, to },
    });
    expect(series[0]!.points.reduce((n, p) => n + p.count, 0)).toBe(5);

    const { text, samples } = await scrape(server.baseUrl);
    expect(text).toContain('streamlens_ingest_events_total{result="accepted"} 5\n');
    expect(text).toContain('streamlens_ingest_events_total{result="rejected"} 2\n');
    expect(text).toContain('streamlens_ingest_events_total{result="refused"} 0\n');
    expect(valueOf(samples, 'streamlens_processed_events_total', { outcome: 'counted' })).toBe(5);
    expect(valueOf(samples, 'streamlens_processed_events_total', { outcome: 'duplicate' })).toBe(0);

    // Freshness: one observation per counted event, in seconds, the +Inf bucket holding them all.
    expect(valueOf(samples, 'streamlens_event_freshness_seconds_count')).toBe(5);
    expect(valueOf(samples, 'streamlens_event_freshness_seconds_bucket', { le: '+Inf' })).toBe(5);
    const freshnessSum = valueOf(samples, 'streamlens_event_freshness_seconds_sum')!;
    expect(freshnessSum).toBeGreaterThan(0);
    expect(freshnessSum).toBeLessThan(5 * 30);
    expect(valueOf(samples, 'streamlens_event_freshness_seconds_bucket', { le: '0.001' })).toBeDefined();
    expect(valueOf(samples, 'streamlens_event_freshness_seconds_bucket', { le: '30' })).toBe(5);

    // Store latencies of the processor's and the query's port calls.
    const storeCount = (port: string, operation: string) =>
      valueOf(samples, 'streamlens_store_operation_duration_seconds_count', { port, operation, outcome: 'ok' }) ?? 0;
    expect(storeCount('event_store', 'claim')).toBeGreaterThan(0);
    expect(storeCount('series_store', 'saveBatch')).toBeGreaterThan(0);
    expect(storeCount('series_store', 'loadRollups')).toBeGreaterThan(0);
    expect(storeCount('series_store', 'readRollups')).toBeGreaterThan(0);
    expect(storeCount('event_log', 'append')).toBe(1);
    expect(storeCount('live_bus', 'publish')).toBeGreaterThan(0);

    // GraphQL operations by type and name.
    const operationCount = (type: string, name: string) =>
      valueOf(samples, 'streamlens_graphql_operation_duration_seconds_count', { operation_type: type, operation_name: name }) ?? 0;
    expect(operationCount('mutation', 'Ingest')).toBe(1);
    expect(operationCount('query', 'ReadSeries')).toBe(1);
    expect(operationCount('query', 'ReadStreamStatus')).toBeGreaterThan(0);
    expect(operationCount('subscription', 'LiveEvents')).toBe(1);

    // Default Node process metrics.
    expect(valueOf(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(valueOf(samples, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);

    // The lag gauge follows the lag monitor, which samples twice a second.
    await waitUntil(
      async () => valueOf((await scrape(server.baseUrl)).samples, 'streamlens_processing_lag_events') === 0,
      5_000,
      'lag gauge 0',
    );

    live.stop();
    await waitForLiveSubscriptions(server.url, 0);
    await waitUntil(
      async () => valueOf((await scrape(server.baseUrl)).samples, 'streamlens_active_subscriptions', { kind: 'events' }) === 0,
      5_000,
      'subscriptions gauge back to 0',
    );
  });

  it('gives every request an id, keeping a sane one the client sent', async () => {
    const ingest = { query: print(IngestDocument), variables: { events: [{ type: 'obs_ping' }] } };
    const kept = await postGraphQL(server.url, ingest, { 'x-request-id': 'test-123' });
    expect(kept.requestId).toBe('test-123');
    expect(kept.result.errors).toBeUndefined();

    expect((await postGraphQL(server.url, ingest)).requestId).toMatch(UUID);
    // Not a token: replaced, since the id goes into headers and log lines.
    expect((await postGraphQL(server.url, ingest, { 'x-request-id': 'a b<script>' })).requestId).toMatch(UUID);
    expect((await postGraphQL(server.url, ingest, { 'x-request-id': 'x'.repeat(129) })).requestId).toMatch(UUID);

    const badInput = await postGraphQL(
      server.url,
      { query: print(ListEventsDocument), variables: { after: 'not-a-cursor' } },
      { 'x-request-id': 'test-bad-1' },
    );
    expect(badInput.result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(badInput.requestId).toBe('test-bad-1');

    for (const path of ['/metrics', '/health', '/ready']) {
      const response = await fetch(`${server.baseUrl}${path}`, { headers: { 'x-request-id': `test-${path.slice(1)}` } });
      await response.arrayBuffer();
      expect(response.headers.get('x-request-id'), path).toBe(`test-${path.slice(1)}`);
    }
  });
});

/**
 * An unexpected failure cannot be caused honestly through the API of a healthy server, so this
 * app runs in-process on the embedded adapters with an event store whose listEvents breaks the
 * way a driver bug would: the masked error and its log line must carry the request id.
 */
describe('masked errors (embedded, in-process)', () => {
  let app: RunningApp;
  let dataDir: string;
  const logged: { level: string; object: Record<string, unknown>; message: string }[] = [];
  const logger = {
    info: (object: object, message: string) => void logged.push({ level: 'info', object: object as Record<string, unknown>, message }),
    warn: (object: object, message: string) => void logged.push({ level: 'warn', object: object as Record<string, unknown>, message }),
    error: (object: object, message: string) => void logged.push({ level: 'error', object: object as Record<string, unknown>, message }),
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'streamlens-test-'));
    const loaded = loadConfig({ DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' });
    if (!loaded.ok) throw new Error(loaded.problems.join('; '));
    const eventStore = createEmbeddedEventStore({ dataDir, retentionMs: null });
    app = await startApp(
      loaded.config,
      {
        log: createEmbeddedEventLog({ dataDir, retentionMs: loaded.config.logRetentionMs }),
        eventStore: {
          claim: (events) => eventStore.claim(events),
          findByIds: (tenant, ids) => eventStore.findByIds(tenant, ids),
          listEvents: () => Promise.reject(new TypeError("Cannot read properties of undefined (reading 'rows')")),
          listAfterPositions: (tenant, after, limit, through) => eventStore.listAfterPositions(tenant, after, limit, through),
          listQuarantine: (tenant, limit, after) => eventStore.listQuarantine(tenant, limit, after),
          setAside: (records) => eventStore.setAside(records),
          listSetAside: (scope, limit, after) => eventStore.listSetAside(scope, limit, after),
          findSetAside: (positions) => eventStore.findSetAside(positions),
          deleteSetAside: (positions) => eventStore.deleteSetAside(positions),
          checkHealth: () => eventStore.checkHealth(),
          close: () => eventStore.close(),
        },
        seriesStore: createEmbeddedSeriesStore({ dataDir }),
        liveBus: createEmbeddedLiveBus(),
        apiKeys: createEmbeddedApiKeyStore({ dataDir }),
        rateLimits: createEmbeddedRateLimitStore(),
        resultCache: createEmbeddedResultCache({ maxEntries: 100, maxChars: 1_000_000 }),
      },
      logger,
    );
  });
  afterAll(async () => {
    await app?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers INTERNAL_SERVER_ERROR with the error id and the request id, both in the log line', async () => {
    const { requestId, result } = await postGraphQL(
      app.server.url,
      { query: print(ListEventsDocument), variables: {} },
      { 'x-request-id': 'test-err-1' },
    );
    expect(requestId).toBe('test-err-1');
    const extensions = result.errors?.[0]?.extensions;
    expect(extensions).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', requestId: 'test-err-1', errorId: expect.stringMatching(UUID) });
    expect(result.errors?.[0]?.message).not.toContain('rows');
    const line = logged.find((entry) => entry.level === 'error' && entry.object.errorId === extensions?.errorId);
    expect(line?.object.requestId).toBe('test-err-1');

    // The failure is timed as an error outcome of the port.
    const { samples } = await scrape(app.server.url.replace(/\/graphql$/, ''));
    expect(
      valueOf(samples, 'streamlens_store_operation_duration_seconds_count', {
        port: 'event_store',
        operation: 'listEvents',
        outcome: 'error',
      }),
    ).toBe(1);
  });

  it('names the request id in a masked error over graphql-ws too', async () => {
    const client = wsClient(app.server.url.replace(/^http/, 'ws'));
    try {
      const result = await new Promise<FormattedExecutionResult>((resolve, reject) => {
        client.subscribe({ query: print(ListEventsDocument) }, { next: resolve, error: reject, complete: () => {} });
      });
      expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', requestId: expect.stringMatching(UUID) });
    } finally {
      await client.dispose();
    }
  });
});
