/**
 * The stream processor's exactly-once effect, in-process over the embedded adapters: a duplicate
 * id counts once, a redelivered batch changes nothing already written and completes what was
 * not, a poison record and a quarantined event are not counted, and a batch's progress is
 * written after its rows. Outcomes are read through the ports: rollup counts and sums of every
 * interval from the SeriesStore, claims and quarantine from the EventStore.
 * (Records set aside after failed attempts: processor-set-aside.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEmbeddedEventLog } from '../../src/adapters/embedded/embedded-event-log.ts';
import { createEmbeddedEventStore } from '../../src/adapters/embedded/embedded-event-store.ts';
import { createEmbeddedSeriesStore } from '../../src/adapters/embedded/embedded-series-store.ts';
import { createEmbeddedLiveBus } from '../../src/adapters/embedded/embedded-live-bus.ts';
import { createStreamProcessor, PROCESSOR_GROUP_ID, type StreamProcessor } from '../../src/stream/processor.ts';
import { unavailable } from '../../src/errors.ts';
import { encodeLogRecord, logKey } from '../../src/domain/log-record.ts';
import { emptyAggregate, mergeInto, pointStats } from '../../src/domain/rollup.ts';
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

/**
 * Count and sum of `ms` of the type, per interval, merged over every row the store holds. Every
 * interval's rollups hold the same events, so all four must agree.
 */
async function totals(run: Run, type = 'click', tenant = 'acme'): Promise<Record<string, { count: number; sum: number | null }>> {
  const result: Record<string, { count: number; sum: number | null }> = {};
  for (const interval of INTERVALS) {
    const rows = await run.seriesStore.readRollups({ tenant, type, interval, from: bucketStart(NOW - 3 * DAY, 'DAY'), to: NOW + DAY });
    const merged = emptyAggregate();
    for (const row of rows) mergeInto(merged, row.aggregate);
    const { count, sum } = pointStats(merged, 'ms');
    result[interval] = { count, sum };
  }
  return result;
}

function everyInterval(count: number, sum: number | null) {
  return Object.fromEntries(INTERVALS.map((interval) => [interval, { count, sum }]));
}

async function catalogCount(run: Run, type = 'click', tenant = 'acme'): Promise<number> {
  return (await run.seriesStore.readCatalog(tenant)).filter((row) => row.type === type).reduce((sum, row) => sum + row.count, 0);
}

async function storedThrough(run: Run): Promise<number | undefined> {
  return (await run.seriesStore.loadProgress()).get(0)?.storedThrough;
}

describe('stream processor: every event counted exactly once', () => {
  it('counts an id once per tenant, within a batch and across batches, whatever the duplicate carries', async () => {
    const run = await startRun(newRunDir());
    await run.log.append([record(event('a', 1)), record(event('a', 1)), record(event('b', 2)), record(event('a', 1, { tenant: 'other' }))]);
    await caughtUp(run);
    // A client's retry with other content, and the same id under another type: still the first occurrence's.
    await run.log.append([record(event('a', 100)), record(event('b', 200, { type: 'view' })), record(event('c', 4))]);
    await caughtUp(run);

    expect(await totals(run)).toEqual(everyInterval(3, 7));
    expect(await totals(run, 'view')).toEqual(everyInterval(0, null));
    expect(await totals(run, 'click', 'other')).toEqual(everyInterval(1, 1));
    expect(await catalogCount(run)).toBe(3);
    expect(run.processor.stats()).toMatchObject({ processed: 7, duplicates: 3, quarantined: 0, poison: 0 });
    const [stored] = await run.eventStore.findByIds('acme', ['a']);
    expect(stored).toMatchObject({ values: { ms: 1 }, position: { partition: 0, offset: 1 } });
  });

  it('changes nothing when a batch it completed is delivered again', async () => {
    const run = await startRun(newRunDir(), { redeliverEachBatch: true });
    await run.log.append([record(event('a', 1)), record(event('b', 2))]);
    await caughtUp(run);
    await run.log.append([record(event('c', 4)), record(event('a', 8))]);
    await caughtUp(run);

    expect(await totals(run)).toEqual(everyInterval(3, 7));
    expect(await catalogCount(run)).toBe(3);
    expect(await storedThrough(run)).toBe(4);
    expect(run.failures).toBe(0);
  });

  it('after dying between the rollup rows and the rest, completes the batch on redelivery without counting its rows twice', async () => {
    const dataDir = newRunDir();
    const first = await startRun(dataDir);
    await first.log.append([record(event('a', 1)), record(event('b', 2))]);
    await caughtUp(first);
    first.faults.dieAfterRows = true;
    await first.log.append([record(event('c', 4)), record(event('d', 8))]);
    await until(() => first.failures >= 1, 'the write that dies');
    // The rows hold the batch; the catalog and the progress do not; the log has not committed it.
    expect(await totals(first)).toEqual(everyInterval(4, 15));
    expect(await catalogCount(first)).toBe(2);
    expect(await storedThrough(first)).toBe(2);
    expect(await first.log.lag(PROCESSOR_GROUP_ID)).toBe(2);
    await stopRun(first);

    const second = await startRun(dataDir);
    await caughtUp(second);
    expect(await totals(second)).toEqual(everyInterval(4, 15));
    expect(await catalogCount(second)).toBe(4);
    expect(await storedThrough(second)).toBe(4);
    expect(second.processor.stats()).toMatchObject({ processed: 2, duplicates: 0 });
  });

  it("writes a batch's progress last: a store that fails the write leaves it where it was, and the redelivery completes it", async () => {
    const run = await startRun(newRunDir());
    await run.log.append([record(event('a', 1))]);
    await caughtUp(run);
    run.faults.seriesStoreDown = true;
    await run.log.append([record(event('b', 2)), record(event('c', 4))]);
    await until(() => run.failures >= 2, 'two failed deliveries');
    // The claims are in (the step before), yet nothing after them counts: progress stays behind them.
    expect((await run.eventStore.findByIds('acme', ['b', 'c'])).map((e) => e.id).sort()).toEqual(['b', 'c']);
    expect(await storedThrough(run)).toBe(1);
    expect(await totals(run)).toEqual(everyInterval(1, 1));
    expect(await catalogCount(run)).toBe(1);

    run.faults.seriesStoreDown = false;
    await caughtUp(run);
    expect(await storedThrough(run)).toBe(3);
    expect(await totals(run)).toEqual(everyInterval(3, 7));
    expect(await catalogCount(run)).toBe(3);
    // The claims the failed deliveries made are the redelivery's own: not duplicates.
    expect(run.processor.stats()).toMatchObject({ processed: 3, duplicates: 0 });
  });

  it('counts around a poison record, whose offset the progress still covers, and keeps it once across a redelivery', async () => {
    const run = await startRun(newRunDir(), { redeliverEachBatch: true });
    await run.log.append([record(event('a', 1)), { key: 'acme:click', value: '{"tenant":"acme","id":"half' }, record(event('b', 2))]);
    await caughtUp(run);

    expect(await totals(run)).toEqual(everyInterval(2, 3));
    expect(await catalogCount(run)).toBe(2);
    expect(await storedThrough(run)).toBe(3);
    const entries = await run.eventStore.listSetAside('ALL', 10);
    expect(entries.map((e) => [e.position.offset, e.reason])).toEqual([[2, 'UNDECODABLE']]);
  });

  it('stores a too-late and a future event without counting them, and a redelivery keeps its decision', async () => {
    const run = await startRun(newRunDir());
    await run.log.append([record(event('first', 5, { timestamp: NOW }))]);
    await caughtUp(run);
    run.faults.redeliverEachBatch = true;
    await run.log.append([
      record(event('late', 100, { timestamp: NOW - 2 * DAY })),
      record(event('future', 1_000, { timestamp: NOW + 2 * POLICY.futureToleranceMs })),
      record(event('on-time', 7, { timestamp: NOW - 1_000 })),
    ]);
    await caughtUp(run);

    expect(await totals(run)).toEqual(everyInterval(2, 12));
    expect(await catalogCount(run)).toBe(2);
    expect(await storedThrough(run)).toBe(4);
    const quarantine = await run.eventStore.listQuarantine('acme', 10);
    expect(quarantine.map((e) => [e.id, e.quarantine]).sort()).toEqual([
      ['future', 'FUTURE'],
      ['late', 'TOO_LATE'],
    ]);
    expect((await run.eventStore.findByIds('acme', ['late', 'future', 'on-time'])).map((e) => e.id)).toEqual(['on-time']);
  });
});
