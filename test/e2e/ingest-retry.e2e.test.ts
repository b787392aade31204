/**
 * Item 9 of issue 12: an ingest call that fails with UNAVAILABLE after part of its batch was
 * written (on Kafka, a batch goes out in several produce requests, and each partition's write
 * succeeds or fails on its own), then retried by the client as it is, counts every event exactly
 * once, events without an `id` included, when the call names itself with `idempotencyKey`.
 *
 * The app runs in-process on each backend's real adapters, over real HTTP, with its event log
 * wrapped at the port boundary: the first append of more than one record writes the first half
 * of it through the real log, then fails as a lost produce request does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startApp, type RunningApp } from '../../src/app.ts';
import { ALL_PORTS, openAdapters } from '../../src/adapters/adapter-table.ts';
import type { EventLog } from '../../src/ports/event-log.ts';
import { unavailable } from '../../src/errors.ts';
import { BACKENDS, realServerEnv } from '../support/server.ts';
import { execute, query, waitForProcessing } from '../support/clients.ts';
import { IngestDocument, ListEventsDocument, ReadSeriesDocument, type EventInput } from '../generated/operations.ts';

const quiet = { info() {}, warn() {}, error() {} };

/** The log, except that its first multi-record append writes only its first half, then fails. */
function failingAfterHalfOfOneBatch(log: EventLog): { log: EventLog; written: () => number } {
  let written = 0;
  let failed = false;
  return {
    written: () => written,
    log: {
      ...log,
      async append(records) {
        if (failed || records.length < 2) return log.append(records);
        failed = true;
        const half = records.slice(0, Math.floor(records.length / 2));
        await log.append(half);
        written = half.length;
        throw unavailable('the Kafka event log is unavailable: injected failure after part of the batch was written');
      },
    },
  };
}

describe.each(BACKENDS)('item 9: a partly written batch (%s)', (backend) => {
  let app: RunningApp | null = null;
  let dataDir: string | null = null;

  afterEach(async () => {
    await app?.stop();
    app = null;
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('item 9: retried with its idempotency key after UNAVAILABLE, every event of the batch is counted exactly once', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'streamlens-test-'));
    const loaded = loadConfig({
      DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      ...(backend === 'real servers' ? realServerEnv() : {}),
    });
    if (!loaded.ok) throw new Error(loaded.problems.join('; '));
    const { adapters } = await openAdapters(loaded.config, ALL_PORTS);
    const faulty = failingAfterHalfOfOneBatch(adapters.log);
    app = await startApp(loaded.config, { ...adapters, log: faulty.log }, quiet);
    const url = app.server.url;

    const at = Date.now();
    // Ten events without ids, and two with ids of their own.
    const events: EventInput[] = Array.from({ length: 12 }, (_, i) => ({
      ...(i >= 10 ? { id: `own-${i}` } : {}),
      type: 'retried',
      timestamp: new Date(at).toISOString(),
      values: { n: i },
    }));
    const variables = { events, idempotencyKey: 'batch-2026-11-27-0001' };

    const failed = await execute(url, IngestDocument, variables);
    expect(failed.errors?.[0]?.extensions).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    expect(faulty.written()).toBe(6);

    const retried = await query(url, IngestDocument, variables);
    expect(retried.ingest.accepted).toBe(12);
    const ids = retried.ingest.acks.map((ack) => ack.id);
    expect(new Set(ids).size).toBe(12);
    expect(ids.slice(10)).toEqual(['own-10', 'own-11']);

    await waitForProcessing(url);
    const listed = await query(url, ListEventsDocument, { filter: { types: ['retried'] }, first: 100 });
    expect(listed.events.edges.map((edge) => edge.node.id).sort()).toEqual([...ids].sort());
    const series = await query(url, ReadSeriesDocument, {
      query: {
        type: 'retried',
        value: 'n',
        interval: 'DAY',
        from: new Date(at - 86_400_000).toISOString(),
        to: new Date(at + 86_400_000).toISOString(),
        fill: false,
      },
    });
    const points = series.series.flatMap((s) => s.points);
    expect(points.reduce((total, point) => total + point.count, 0)).toBe(12);
    // 0 + 1 + … + 11: each value once.
    expect(points.reduce((total, point) => total + (point.sum ?? 0), 0)).toBe(66);
  });
});
