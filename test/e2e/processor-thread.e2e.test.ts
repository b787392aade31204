/**
 * Issue 13 item 4: the stream processor runs in a worker thread (src/stream/processor-thread.ts).
 * Through the public interfaces: what ingest appends on the main thread is processed in the
 * worker, counted in streamStatus and /metrics, and published to live subscribers on the main
 * thread; a worker that dies is reported (readiness false, streamStatus UNAVAILABLE) instead of
 * silently leaving ingest without a processor; PROCESSOR_THREAD=main still runs it beside HTTP.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startApp, type RunningApp } from '../../src/app.ts';
import { ALL_PORTS, openAdapters } from '../../src/adapters/adapter-table.ts';
import { BACKENDS, realServerEnv, startServer, type Backend, type TestServer } from '../support/server.ts';
import type { Client as WsClient } from 'graphql-ws';
import { execute, query, subscribe, waitForLiveSubscriptions, waitForProcessing, wsClient } from '../support/clients.ts';
import { IngestDocument, LiveEventsDocument, ReadStreamStatusDocument, type EventInput } from '../generated/operations.ts';

const quiet = { info() {}, warn() {}, error() {} };
const FAILING_WORKER = new URL('../support/failing-processor-worker.ts', import.meta.url);
/** What that worker throws (not imported from it: importing it would run a worker thread's code here). */
const FAILURE_MESSAGE = 'the processor thread fails on purpose';

function eventsOfType(type: string, count: number): EventInput[] {
  const at = new Date().toISOString();
  return Array.from({ length: count }, (_, i) => ({ id: `${type}-${i}`, type, timestamp: at, values: { n: i } }));
}

/** The value of one unlabelled-or-labelled sample line of a /metrics scrape, or null. */
function sample(scrape: string, line: string): number | null {
  const found = scrape.split('\n').find((text) => text.startsWith(`${line} `));
  return found === undefined ? null : Number(found.slice(line.length + 1));
}

describe.each(BACKENDS)('item 4: the processor in a worker thread (%s)', (backend: Backend) => {
  let app: RunningApp | null = null;
  let dataDir: string | null = null;
  let ws: WsClient | null = null;
  let server: TestServer | null = null;

  afterEach(async () => {
    await ws?.dispose();
    ws = null;
    await server?.stop();
    server = null;
    await app?.stop();
    app = null;
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    dataDir = null;
  });

  async function startWithWorker(workerEntry?: URL): Promise<RunningApp> {
    dataDir = mkdtempSync(join(tmpdir(), 'streamlens-test-'));
    const loaded = loadConfig({ DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', ...(backend === 'real servers' ? realServerEnv() : {}) });
    if (!loaded.ok) throw new Error(loaded.problems.join('; '));
    const { adapters } = await openAdapters(loaded.config, ALL_PORTS);
    return startApp(loaded.config, adapters, quiet, { thread: 'worker', ...(workerEntry ? { workerEntry } : {}) });
  }

  it('item 4: events ingested on the main thread are processed in the worker, counted in streamStatus and /metrics, and delivered live', async () => {
    // The service as `npm start` runs it: PROCESSOR_THREAD unset is the worker thread.
    server = await startServer({ backend });
    ws = wsClient(server.wsUrl);
    const live = await subscribe(ws, LiveEventsDocument, { filter: { types: ['threaded'] } });
    await waitForLiveSubscriptions(server.url, 1);

    const accepted = await query(server.url, IngestDocument, { events: eventsOfType('threaded', 5) });
    expect(accepted.ingest.accepted).toBe(5);
    // The same ids again: duplicates, counted as such by the worker's processor.
    await query(server.url, IngestDocument, { events: eventsOfType('threaded', 2) });
    await waitForProcessing(server.url);

    const status = (await query(server.url, ReadStreamStatusDocument)).streamStatus;
    // processed counts every record handled, duplicates included.
    expect(status).toMatchObject({ lag: 0, processed: 7, duplicates: 2, quarantined: 0, poisonRecords: 0, liveSubscriptions: 1 });
    const delivered = await live.waitFor(5);
    expect(delivered.map((item) => item.events.node.id).sort()).toEqual([
      'threaded-0',
      'threaded-1',
      'threaded-2',
      'threaded-3',
      'threaded-4',
    ]);

    const scrape = await (await fetch(`${server.baseUrl}/metrics`)).text();
    expect(sample(scrape, 'streamlens_processed_events_total{outcome="counted"}')).toBe(5);
    expect(sample(scrape, 'streamlens_processed_events_total{outcome="duplicate"}')).toBe(2);
    expect(sample(scrape, 'streamlens_event_freshness_seconds_count')).toBe(5);
    // The worker's store calls are timed in the main thread's histogram.
    expect(
      sample(scrape, 'streamlens_store_operation_duration_seconds_count{port="event_store",operation="claim",outcome="ok"}'),
    ).toBeGreaterThan(0);
    expect((await fetch(`${server.baseUrl}/ready`)).status).toBe(200);
    // A graceful stop: the worker finishes, commits and ends, and the process exits 0.
    expect(await server.stop()).toBe(0);
    server = null;
  });

  it('item 4: a worker that dies makes streamStatus UNAVAILABLE and readiness false, and settles processorFailed with the reason', async () => {
    app = await startWithWorker(FAILING_WORKER);
    const url = app.server.url;
    const base = url.replace(/\/graphql$/, '');
    await query(url, IngestDocument, { events: eventsOfType('doomed', 3) });
    expect((await fetch(`${base}/ready`)).status).toBe(200);

    // The failing worker dies when asked for its counters: that question is answered, not left hanging.
    const asked = await execute(url, ReadStreamStatusDocument, undefined);
    expect(asked.errors?.[0]?.extensions).toMatchObject({ code: 'UNAVAILABLE' });
    const failure = await app.processorFailed;
    expect(failure.message).toContain(FAILURE_MESSAGE);

    const again = await execute(url, ReadStreamStatusDocument, undefined);
    expect(again.errors?.[0]?.message).toBe('the stream processor is not running');
    expect(again.errors?.[0]?.extensions).toMatchObject({ code: 'UNAVAILABLE' });
    const ready = await fetch(`${base}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain(`the stream processor stopped: ${FAILURE_MESSAGE}`);
    // The rest still stops gracefully (main.ts then exits 1, for its supervisor to restart it).
    await app.stop();
    app = null;
  });
});

describe.each(BACKENDS)('item 4: PROCESSOR_THREAD=main (%s)', (backend: Backend) => {
  let server: TestServer | null = null;
  afterEach(async () => {
    await server?.stop();
    server = null;
  });

  it('item 4: runs the processor beside HTTP on the main thread, with the same results', async () => {
    server = await startServer({ backend, env: { PROCESSOR_THREAD: 'main' } });
    await query(server.url, IngestDocument, { events: eventsOfType('unthreaded', 4) });
    await waitForProcessing(server.url);
    expect((await query(server.url, ReadStreamStatusDocument)).streamStatus).toMatchObject({ lag: 0, processed: 4, duplicates: 0 });
    expect(await server.stop()).toBe(0);
    server = null;
  });
});
