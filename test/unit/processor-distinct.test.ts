/**
 * Distinct counts through the stream processor, in-process over the embedded adapters: the
 * sketches are part of the rollup rows, so they survive replays exactly like counts do. A batch
 * delivered again, or a process that dies between the rows and the progress, leaves every
 * interval with the same distinct count as one clean pass, and a duplicate id carrying another
 * user is not counted (the claim decides, as for counts). The harness is that of
 * processor-exactly-once.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEmbeddedEventLog } from '../../src/adapters/embedded/embedded-event-log.ts';
import { createEmbeddedEventStore } from '../../src/adapters/embedded/embedded-event-store.ts';
import { createEmbeddedSeriesStore } from '../../src/adapters/embedded/embedded-series-store.ts';
import { createEmbeddedLiveBus } from '../../src/adapters/embedded/embedded-live-bus.ts';
import { createStreamProcessor, PROCESSOR_GROUP_ID, type StreamProcessor } from '../../src/stream/processor.ts';
import { unavailable } from '../../src/errors.ts';
import { encodeLogRecord, logKey } from '../../src/domain/log-record.ts';
import { distinctCount, emptyAggregate, mergeSelected } from '../../src/domain/rollup.ts';
import { bucketStart, INTERVALS } from '../../src/domain/interval.ts';
import type { AcceptedEvent } from '../../src/domain/event.ts';
import type { EventLog, LogBatch } from '../../src/ports/event-log.ts';
import type { EventStore } from '../../src/ports/event-store.ts';
import type { SeriesStore } from '../../src/ports/series-store.ts';
import { newDataDir, removeDataDir } from '../support/server.ts';

const DAY = 86_400_000;
const NOW = Date.now();
const POLICY = { outOfOrdernessMs: 5_000, idlePartitionMs: 30_000, allowedLatenessMs: DAY, futureToleranceMs: 600_000 };
/** A progress that claims nothing: the embedded store keeps the highest of each field. */
const NO_PROGRESS = { maxEventTime: null, storedThrough: 0, lastActiveAt: 0, lastAppendedAt: null, committedWatermark: null };

function event(id: string, ms: number, overrides: Partial<AcceptedEvent> = {}): AcceptedEvent {
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
const record = (e: AcceptedEvent) => ({ key: logKey(e.tenant, e.type), value: encodeLogRecord(e) });

/** What the wrappers switch on. */
interface Faults {
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

interface Run {
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
afterEach(async () => {
  for (const run of runs.splice(0)) await run.close();
  for (const dir of dataDirs.splice(0)) removeDataDir(dir);
});

function newRunDir(): string {
  const dir = newDataDir();
  dataDirs.push(dir);
  return dir;
}

async function startRun(dataDir: string, faults: Partial<Faults> = {}): Promise<Run> {
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

async function stopRun(run: Run): Promise<void> {
  runs.splice(runs.indexOf(run), 1);
  await run.close();
}

async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const caughtUp = (run: Run) => until(async () => (await run.log.lag(PROCESSOR_GROUP_ID)) === 0, 'the log to be committed');

/** Count and distinct users of the type, per interval, merged over every row the store holds: all four intervals agree. */
async function totals(run: Run): Promise<Record<string, { count: number; users: number | null }>> {
  const result: Record<string, { count: number; users: number | null }> = {};
  for (const interval of INTERVALS) {
    const rows = await run.seriesStore.readRollups({
      tenant: 'acme',
      type: 'click',
      interval,
      from: bucketStart(NOW - 3 * DAY, 'DAY'),
      to: NOW + DAY,
      valueKey: null,
    });
    const merged = emptyAggregate();
    for (const row of rows) mergeSelected(merged, row.aggregate, null, 'user');
    result[interval] = { count: merged.count, users: distinctCount(merged, 'user') };
  }
  return result;
}

function everyInterval(count: number, users: number) {
  return Object.fromEntries(INTERVALS.map((interval) => [interval, { count, users }]));
}

const withUser = (id: string, user: string, timestamp = NOW - 1_000) => record(event(id, 1, { distinct: { user }, timestamp }));

describe('stream processor: distinct counts survive replays', () => {
  it('changes no distinct count when a batch it completed is delivered again', async () => {
    const run = await startRun(newRunDir(), { redeliverEachBatch: true });
    await run.log.append([withUser('a', 'u1'), withUser('b', 'u2'), withUser('c', 'u1')]);
    await caughtUp(run);
    await run.log.append([withUser('d', 'u3'), withUser('e', 'u2')]);
    await caughtUp(run);
    expect(await totals(run)).toEqual(everyInterval(5, 3));
    expect(run.failures).toBe(0);
  });

  it('after dying between the rollup rows and the rest, completes the batch on redelivery with the same counts', async () => {
    const dataDir = newRunDir();
    const first = await startRun(dataDir);
    await first.log.append([withUser('a', 'u1'), withUser('b', 'u2')]);
    await caughtUp(first);
    first.faults.dieAfterRows = true;
    await first.log.append([withUser('c', 'u3'), withUser('d', 'u1')]);
    await until(() => first.failures >= 1, 'the write that dies');
    expect(await totals(first)).toEqual(everyInterval(4, 3));
    await stopRun(first);

    const second = await startRun(dataDir);
    await caughtUp(second);
    expect(await totals(second)).toEqual(everyInterval(4, 3));
    expect(second.processor.stats()).toMatchObject({ processed: 2, duplicates: 0 });
  });

  it("counts a duplicate id's user once: the first occurrence's, as for counts", async () => {
    const run = await startRun(newRunDir());
    await run.log.append([withUser('a', 'u1'), withUser('a', 'u2')]);
    await caughtUp(run);
    await run.log.append([withUser('a', 'u3'), withUser('b', 'u1')]);
    await caughtUp(run);
    expect(await totals(run)).toEqual(everyInterval(2, 1));
    const [stored] = await run.eventStore.findByIds('acme', ['a']);
    expect(stored!.distinct).toEqual({ user: 'u1' });
  });

  it('merges the hours of a day by union: the DAY row counts each user once', async () => {
    const run = await startRun(newRunDir());
    // The same two users in three different minutes (all within the last hour of processing time).
    await run.log.append([
      withUser('a', 'u1', NOW - 1_000),
      withUser('b', 'u2', NOW - 1_000),
      withUser('c', 'u1', NOW - 61_000),
      withUser('d', 'u2', NOW - 61_000),
      withUser('e', 'u1', NOW - 121_000),
    ]);
    await caughtUp(run);
    const minuteRows = await run.seriesStore.readRollups({
      tenant: 'acme',
      type: 'click',
      interval: 'MINUTE',
      from: bucketStart(NOW - DAY, 'MINUTE'),
      to: NOW + DAY,
    });
    const perMinute = minuteRows.map((row) => distinctCount(row.aggregate, 'user')!);
    expect(perMinute.reduce((sum, n) => sum + n, 0)).toBe(5);
    expect((await totals(run)).DAY).toEqual({ count: 5, users: 2 });
  });
});
