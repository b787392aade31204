/**
 * Two stream processors handling the same log partition at once, as after a rebalance: the
 * former owner is still inside a batch when the new owner takes the partition over. Built through
 * the ports: two createStreamProcessor instances share one event store and one series store, and
 * each consumes a hand-driven log whose batches the test delivers, in an interleaving where the
 * former owner's write lands last. Run on the embedded stores and on the real ones (MongoDB and
 * Cassandra); every count must be exact.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStreamProcessor, type StreamProcessor } from '../../src/stream/processor.ts';
import { createEmbeddedLiveBus } from '../../src/adapters/embedded/embedded-live-bus.ts';
import { encodeLogRecord } from '../../src/domain/log-record.ts';
import { emptyAggregate, mergeInto, pointStats } from '../../src/domain/rollup.ts';
import { bucketStart, INTERVALS } from '../../src/domain/interval.ts';
import type { AcceptedEvent } from '../../src/domain/event.ts';
import type { EventLog, LogBatch, LogRecord } from '../../src/ports/event-log.ts';
import type { EventStore } from '../../src/ports/event-store.ts';
import { PartitionFencedError, type SeriesStore } from '../../src/ports/series-store.ts';
import { eventStoreAdapters, seriesStoreAdapters, type AdapterFactory, type AdapterHarness } from './adapters.ts';

const DAY = 86_400_000;
const NOW = Date.now();
const POLICY = { outOfOrdernessMs: 5_000, idlePartitionMs: 30_000, allowedLatenessMs: DAY, futureToleranceMs: 600_000 };
const PARTITION = 0;

/** The embedded pair and the real pair (MongoDB claims, Cassandra rows). */
const stacks: { name: string; events: AdapterFactory<EventStore>; series: AdapterFactory<SeriesStore> }[] = [
  { name: 'embedded stores', events: eventStoreAdapters[0]!, series: seriesStoreAdapters[0]! },
  { name: 'MongoDB and Cassandra', events: eventStoreAdapters.at(-1)!, series: seriesStoreAdapters.at(-1)! },
];

/** Offsets from..to (inclusive) of partition 0: event i has id e<i>, value i + 1, all in one MINUTE bucket. */
function records(from: number, to: number): LogRecord[] {
  const list: LogRecord[] = [];
  for (let offset = from; offset <= to; offset++) {
    const event: AcceptedEvent = {
      tenant: 'acme',
      id: `e${offset}`,
      type: 'click',
      timestamp: bucketStart(NOW - 120_000, 'MINUTE') + offset,
      receivedAt: NOW,
      clockCorrectionMs: 0,
      source: null,
      dimensions: { country: 'NL' },
      values: { ms: offset + 1 },
      properties: null,
    };
    list.push({ position: { partition: PARTITION, offset }, value: encodeLogRecord(event) });
  }
  return list;
}
const batch = (from: number, to: number): LogBatch => ({ partition: PARTITION, records: records(from, to) });

/** A log whose batches the test hands over one by one, as the consumer of the partition would get them. */
function handDrivenLog(): EventLog & { deliver(batch: LogBatch): Promise<void> } {
  let handleBatch: ((batch: LogBatch) => Promise<void>) | null = null;
  /** The newest offset handed over per partition: the log's end, as far as the processors can tell. */
  const ends = new Map<number, number | null>();
  return {
    async append() {
      throw new Error('the test delivers records itself');
    },
    async consume(options) {
      handleBatch = options.handleBatch;
      return { stop: async () => void (handleBatch = null) };
    },
    lag: async () => 0,
    identity: async () => 'hand-driven:fenced-writers',
    partitionEnds: async () => new Map(ends),
    checkHealth: async () => {},
    close: async () => {},
    deliver: (delivered) => {
      const last = delivered.records.at(-1)!.position.offset;
      ends.set(delivered.partition, Math.max(ends.get(delivered.partition) ?? -1, last));
      return handleBatch!(delivered);
    },
  };
}

/** The series store as one processor sees it, with a gate that holds its next saveBatch until opened. */
function gatedSeriesStore(store: SeriesStore) {
  let held: { reached: () => void; opened: Promise<void> } | null = null;
  const gate = {
    /** Arms the gate; resolves `reached` when a saveBatch arrives, which then waits for `open`. */
    arm() {
      let open!: () => void;
      let reached!: () => void;
      const arrived = new Promise<void>((resolve) => (reached = resolve));
      held = { reached, opened: new Promise<void>((resolve) => (open = resolve)) };
      return { arrived, open };
    },
  };
  const gated: SeriesStore = {
    ...store,
    async saveBatch(processed) {
      const hold = held;
      held = null;
      if (hold) {
        hold.reached();
        await hold.opened;
      }
      return store.saveBatch(processed);
    },
  };
  return { gate, gated };
}

interface Instance {
  log: ReturnType<typeof handDrivenLog>;
  processor: StreamProcessor;
  gate: ReturnType<typeof gatedSeriesStore>['gate'];
  failures: string[];
  warnings: string[];
}

describe.each(stacks)('item 1: two owners of one partition, $name', (stack) => {
  let eventHarness: AdapterHarness<EventStore>;
  let seriesHarness: AdapterHarness<SeriesStore>;
  let eventStore: EventStore;
  let seriesStore: SeriesStore;
  let instances: Instance[];

  beforeEach(async () => {
    eventHarness = stack.events.harness();
    seriesHarness = stack.series.harness();
    eventStore = await eventHarness.open();
    seriesStore = await seriesHarness.open();
    instances = [];
  });
  afterEach(async () => {
    for (const instance of instances) await instance.processor.stop();
    await eventStore.close();
    await seriesStore.close();
    await eventHarness.cleanup();
    await seriesHarness.cleanup();
  });

  async function startInstance(): Promise<Instance> {
    const log = handDrivenLog();
    const { gate, gated } = gatedSeriesStore(seriesStore);
    const instance: Instance = { log, gate, failures: [], warnings: [], processor: null! };
    instance.processor = createStreamProcessor({
      log,
      eventStore,
      seriesStore: gated,
      liveBus: createEmbeddedLiveBus(),
      policy: POLICY,
      secondRetentionMs: DAY,
      logger: { info() {}, warn: (_object, message) => void instance.warnings.push(message), error() {} },
      metrics: { observeBatch() {}, observeSetAside() {}, observeBatchFailure: (cause) => void instance.failures.push(cause) },
      maxAttempts: 1,
      backoffMs: () => 0,
    });
    await instance.processor.start();
    instances.push(instance);
    return instance;
  }

  /** Count and sum of `ms` per interval, merged over every row the store holds. */
  async function totals(): Promise<Record<string, { count: number; sum: number | null }>> {
    const result: Record<string, { count: number; sum: number | null }> = {};
    for (const interval of INTERVALS) {
      const rows = await seriesStore.readRollups({
        tenant: 'acme',
        type: 'click',
        interval,
        from: bucketStart(NOW - 3 * DAY, 'DAY'),
        to: NOW + DAY,
      });
      const merged = emptyAggregate();
      for (const row of rows) mergeInto(merged, row.aggregate);
      const { count, sum } = pointStats(merged, 'ms');
      result[interval] = { count, sum };
    }
    return result;
  }
  const everyInterval = (count: number, sum: number) => Object.fromEntries(INTERVALS.map((interval) => [interval, { count, sum }]));
  const catalogCount = async () => (await seriesStore.readCatalog('acme')).reduce((sum, row) => sum + row.count, 0);
  /** 1 + 2 + ... + n: the sum of `ms` over the events of offsets 0..n-1. */
  const sumTo = (n: number) => (n * (n + 1)) / 2;

  it("item 1: the former owner's late write of offsets 0-9 does not undo the new owner's 0-19; every count exact", async () => {
    const former = await startInstance();
    const held = former.gate.arm();
    // The former owner is inside its batch (claimed, rows merged) when the partition moves.
    const formerBatch = former.log.deliver(batch(0, 9)).then(
      () => 'stored' as const,
      (error: unknown) => error,
    );
    await held.arrived;

    // The new owner starts from the last commit (none): the whole partition so far.
    const owner = await startInstance();
    await owner.log.deliver(batch(0, 19));
    expect(await totals()).toEqual(everyInterval(20, sumTo(20)));

    // The former owner's write lands last.
    held.open();
    const outcome = await formerBatch;
    expect(await totals()).toEqual(everyInterval(20, sumTo(20)));
    expect(await catalogCount()).toBe(20);
    expect(outcome).toBeInstanceOf(PartitionFencedError);
    expect(former.failures).toEqual(['fenced']);
    expect(former.warnings.filter((message) => message.includes('fenced'))).toHaveLength(1);
    expect((await seriesStore.loadProgress()).get(PARTITION)).toMatchObject({ storedThrough: 19, version: 1 });

    // The log delivers the former owner's batch again (it was not committed): it reloaded the
    // progress, so it now writes, and changes no count. The new owner, whose version that write
    // has passed, is fenced once in turn, and its redelivery goes on from the store.
    await former.log.deliver(batch(0, 9));
    await expect(owner.log.deliver(batch(20, 29))).rejects.toBeInstanceOf(PartitionFencedError);
    await owner.log.deliver(batch(20, 29));
    expect(await totals()).toEqual(everyInterval(30, sumTo(30)));
    expect(await catalogCount()).toBe(30);
    expect(owner.failures).toEqual(['fenced']);
    expect((await seriesStore.loadProgress()).get(PARTITION)).toMatchObject({ storedThrough: 29, version: 3 });
    // A fence is not an error of the data: nothing was set aside.
    expect(await eventStore.listSetAside('ALL', 10)).toEqual([]);
  });

  it("item 1: a former owner's batch from its cached rows, after the new owner moved on, changes no count", async () => {
    const former = await startInstance();
    await former.log.deliver(batch(0, 9));
    // The new owner takes over from offset 10 and gets further than the former owner will.
    const owner = await startInstance();
    await owner.log.deliver(batch(10, 24));
    // The former owner, still running, goes on from its cache (rows of offset 9) with 10-14.
    const outcome = await former.log.deliver(batch(10, 14)).then(
      () => 'stored' as const,
      (error: unknown) => error,
    );
    expect(await totals()).toEqual(everyInterval(25, sumTo(25)));
    expect(await catalogCount()).toBe(25);
    expect(outcome).toBeInstanceOf(PartitionFencedError);
    expect((await seriesStore.loadProgress()).get(PARTITION)).toMatchObject({ storedThrough: 24, version: 2 });
    expect(await eventStore.listSetAside('ALL', 10)).toEqual([]);
  });
});
