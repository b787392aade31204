/**
 * The stream processor in-process over the embedded adapters, with faults a test switches on: a
 * series store that is down or dies between the rows and the progress, and a log that delivers
 * every batch twice. Shared by the exactly-once and the distinct-count processor tests.
 */
import { afterEach } from 'vitest';
import { createEmbeddedEventLog } from '../../src/adapters/embedded/embedded-event-log.ts';
import { createEmbeddedEventStore } from '../../src/adapters/embedded/embedded-event-store.ts';
import { createEmbeddedSeriesStore } from '../../src/adapters/embedded/embedded-series-store.ts';
import { createEmbeddedLiveBus } from '../../src/adapters/embedded/embedded-live-bus.ts';
import { createStreamProcessor, PROCESSOR_GROUP_ID, type StreamProcessor } from '../../src/stream/processor.ts';
import { unavailable } from '../../src/errors.ts';
import { encodeLogRecord, logKey } from '../../src/domain/log-record.ts';
import type { AcceptedEvent } from '../../src/domain/event.ts';
import type { EventLog, LogBatch } from '../../src/ports/event-log.ts';
import type { EventStore } from '../../src/ports/event-store.ts';
import type { SeriesStore } from '../../src/ports/series-store.ts';
import { newDataDir, removeDataDir } from './server.ts';

export const DAY = 86_400_000;
export const NOW = Date.now();
export const POLICY = { outOfOrdernessMs: 5_000, idlePartitionMs: 30_000, allowedLatenessMs: DAY, futureToleranceMs: 600_000 };
/** A progress that claims nothing: the embedded store keeps the highest of each field. */
const NO_PROGRESS = { maxEventTime: null, storedThrough: 0, lastActiveAt: 0, lastAppendedAt: null, committedWatermark: null };

export function event(id: string, ms: number, overrides: Partial<AcceptedEvent> = {}): AcceptedEvent {
  return {
    tenant: 'acme',
    id,
    type: 'click',
    timestamp: NOW - 1_000,
    receivedAt: NOW,
    clockCorrectionMs: 0,
    source: null,
    dimensions: { country: 'NL' },
    values: { ms },
    properties: null,
    ...overrides,
  };
}
export const record = (e: AcceptedEvent) => ({ key: logKey(e.tenant, e.type), value: encodeLogRecord(e) });

/** What the wrappers switch on. */
export interface Faults {
  /** Every saveBatch fails as an outage, before writing anything. */
  seriesStoreDown: boolean;
  /**
   * The next saveBatch writes the rollup rows only, and from then on every write fails: the
   * process dies between the rows and the rest (as a store without transactions can leave it).
   */
  dieAfterRows: boolean;
  /** Each batch is handled twice, as when the log loses a commit and delivers the batch again. */
  redeliverEachBatch: boolean;
}

function faultySeriesStore(store: SeriesStore, faults: Faults): SeriesStore {
  let dead = false;
  return {
    ...store,
    async saveBatch(batch) {
      if (dead || faults.seriesStoreDown) throw unavailable('the series store is down');
      if (faults.dieAfterRows) {
        dead = true;
        await store.saveBatch({
          rollups: batch.rollups,
          catalog: [],
          partition: batch.partition,
          progress: { ...NO_PROGRESS, version: batch.progress.version },
        });
        throw unavailable('the process died after writing the rollup rows');
      }
      return store.saveBatch(batch);
    },
  };
}

function redeliveringLog(log: EventLog, faults: Faults): EventLog {
  return {
    ...log,
    consume: (options) =>
      log.consume({
        ...options,
        async handleBatch(batch: LogBatch) {
          await options.handleBatch(batch);
          if (faults.redeliverEachBatch) await options.handleBatch(batch);
        },
      }),
  };
}

export interface Run {
  log: EventLog;
  eventStore: EventStore;
  /** The store itself, without the faults: what a reader sees. */
  seriesStore: SeriesStore;
  processor: StreamProcessor;
  faults: Faults;
  failures: number;
  close(): Promise<void>;
}

const dataDirs: string[] = [];
const runs: Run[] = [];
/** Closes every run and removes its data directory after each test of the file that calls it. */
export function closeRunsAfterEach(): void {
  afterEach(async () => {
    for (const run of runs.splice(0)) await run.close();
    for (const dir of dataDirs.splice(0)) removeDataDir(dir);
  });
}

export function newRunDir(): string {
  const dir = newDataDir();
  dataDirs.push(dir);
  return dir;
}

export async function startRun(dataDir: string, faults: Partial<Faults> = {}): Promise<Run> {
  const allFaults: Faults = { seriesStoreDown: false, dieAfterRows: false, redeliverEachBatch: false, ...faults };
  const log = createEmbeddedEventLog({ dataDir, retentionMs: DAY });
  const eventStore = createEmbeddedEventStore({ dataDir });
  const seriesStore = createEmbeddedSeriesStore({ dataDir });
  const run: Run = {
    log,
    eventStore,
    seriesStore,
    faults: allFaults,
    failures: 0,
    processor: createStreamProcessor({
      log: redeliveringLog(log, allFaults),
      eventStore,
      seriesStore: faultySeriesStore(seriesStore, allFaults),
      liveBus: createEmbeddedLiveBus(),
      policy: POLICY,
      secondRetentionMs: DAY,
      logger: { info() {}, warn() {}, error() {} },
      metrics: { observeBatch() {}, observeSetAside() {}, observeBatchFailure: () => void (run.failures += 1) },
      backoffMs: () => 10,
    }),
    async close() {
      await run.processor.stop();
      await log.close();
      await eventStore.close();
      await seriesStore.close();
    },
  };
  await run.processor.start();
  runs.push(run);
  return run;
}

export async function stopRun(run: Run): Promise<void> {
  runs.splice(runs.indexOf(run), 1);
  await run.close();
}

export async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export const caughtUp = (run: Run) => until(async () => (await run.log.lag(PROCESSOR_GROUP_ID)) === 0, 'the log to be committed');
