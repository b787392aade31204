/**
 * The orderings the processor's speed-ups introduce, each with exact outcomes read through the
 * ports: a catalog row kept in memory between batches while another instance writes the same
 * partition, a fenced batch of one partition while a batch of another is in flight on the same
 * instance (the log port allows several partitions' batches at once).
 *
 * The log here is driven by hand: each test delivers exactly the batches it names, in the order
 * it names, to the processor it names, as a rebalance or a lost commit would.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEmbeddedEventStore } from '../../src/adapters/embedded/embedded-event-store.ts';
import { createEmbeddedSeriesStore } from '../../src/adapters/embedded/embedded-series-store.ts';
import { createEmbeddedLiveBus } from '../../src/adapters/embedded/embedded-live-bus.ts';
import { createStreamProcessor, type StreamProcessor } from '../../src/stream/processor.ts';
import { encodeLogRecord } from '../../src/domain/log-record.ts';
import type { LiveBus } from '../../src/ports/live-bus.ts';
import { PartitionFencedError, type SeriesStore } from '../../src/ports/series-store.ts';
import type { EventStore } from '../../src/ports/event-store.ts';
import type { ConsumeOptions, EventLog, LogBatch, LogRecord } from '../../src/ports/event-log.ts';
import { newDataDir, removeDataDir } from '../support/server.ts';
import { event, NOW, POLICY } from '../support/processor-runs.ts';

const DAY = 86_400_000;

/** A log whose batches the test hands to each consumer itself. */
interface HandDrivenLog extends EventLog {
  /** The records of a partition, from `from` to `to` inclusive. */
  batch(partition: number, from: number, to: number): LogBatch;
  /** The handler each consume() call registered, in order (one per processor). */
  handlers: ConsumeOptions['handleBatch'][];
}

function handDrivenLog(partitions: LogRecord[][]): HandDrivenLog {
  const handlers: ConsumeOptions['handleBatch'][] = [];
  return {
    handlers,
    batch: (partition, from, to) => ({ partition, records: partitions[partition]!.slice(from, to + 1) }),
    async append() {
      throw new Error('the test writes the records itself');
    },
    async consume({ handleBatch }) {
      handlers.push(handleBatch);
      return { stop: async () => {} };
    },
    lag: async () => 0,
    partitionEnds: async () => new Map(partitions.map((records, partition) => [partition, records.length - 1])),
    checkHealth: async () => {},
    close: async () => {},
    identity: async () => 'hand-driven:test-log',
  };
}

/** The partition's records: `count` clicks of tenant acme, `ms` 1 each, ids `<prefix><offset>`. */
function clicks(partition: number, count: number, prefix: string): LogRecord[] {
  return Array.from({ length: count }, (_, offset) => ({
    position: { partition, offset },
    value: encodeLogRecord(event(`${prefix}${offset}`, 1)),
    appendedAt: NOW,
  }));
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Stores {
  eventStore: EventStore;
  seriesStore: SeriesStore;
  liveBus: LiveBus;
}

function openStores(): Stores {
  const dataDir = newDataDir();
  const stores = {
    eventStore: createEmbeddedEventStore({ dataDir }),
    seriesStore: createEmbeddedSeriesStore({ dataDir }),
    liveBus: createEmbeddedLiveBus(),
  };
  cleanups.push(async () => {
    await stores.eventStore.close();
    await stores.seriesStore.close();
    removeDataDir(dataDir);
  });
  return stores;
}

/** A processor over the log and stores; `seriesStore` may wrap the shared one. */
async function startProcessor(
  log: HandDrivenLog,
  stores: Stores,
  seriesStore = stores.seriesStore,
): Promise<{ processor: StreamProcessor; deliver: (batch: LogBatch) => Promise<void> }> {
  const processor = createStreamProcessor({
    log,
    eventStore: stores.eventStore,
    seriesStore,
    liveBus: stores.liveBus,
    policy: POLICY,
    secondRetentionMs: DAY,
    logger: { info() {}, warn() {}, error() {} },
    backoffMs: () => 0,
  });
  await processor.start();
  cleanups.push(() => processor.stop());
  const handler = log.handlers.at(-1)!;
  return { processor, deliver: handler };
}

/** The tenant's click count and sum of `ms` in the DAY rollups, and the count its catalog rows hold, summed over partitions. */
async function totals(stores: Stores): Promise<{ rollupCount: number; rollupSum: number; catalogCount: number }> {
  const rows = await stores.seriesStore.readRollups({ tenant: 'acme', type: 'click', interval: 'DAY', from: NOW - 3 * DAY, to: NOW + DAY });
  const catalog = await stores.seriesStore.readCatalog('acme');
  return {
    rollupCount: rows.reduce((sum, row) => sum + row.aggregate.count, 0),
    rollupSum: rows.reduce((sum, row) => sum + (row.aggregate.values.get('ms')?.sum ?? 0), 0),
    catalogCount: catalog.filter((row) => row.type === 'click').reduce((sum, row) => sum + row.count, 0),
  };
}

/** A promise the test resolves when it chooses. */
function gate(): { opened: Promise<void>; open(): void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('the catalog rows a processor keeps between batches', () => {
  it('are not trusted once another instance wrote the partition: every event counted once, in rollups and catalog', async () => {
    const stores = openStores();
    const log = handDrivenLog([clicks(0, 8, 'e')]);
    const a = await startProcessor(log, stores);
    const b = await startProcessor(log, stores);

    await a.deliver(log.batch(0, 0, 1));
    // A rebalance: B takes the partition and goes two batches further.
    await b.deliver(log.batch(0, 2, 3));
    await b.deliver(log.batch(0, 4, 5));
    // A, not told yet, gets the batch after its own: it follows what A committed, so A's kept
    // rows (a catalog count of 2) look current, but B wrote the partition since. The write is
    // refused, and A drops what it kept.
    await expect(a.deliver(log.batch(0, 2, 3))).rejects.toBeInstanceOf(PartitionFencedError);
    expect(await totals(stores)).toEqual({ rollupCount: 6, rollupSum: 6, catalogCount: 6 });

    // The partition comes back to A: it starts from the stored rows, not the ones it kept.
    await a.deliver(log.batch(0, 6, 7));
    expect(await totals(stores)).toEqual({ rollupCount: 8, rollupSum: 8, catalogCount: 8 });
    const [catalogRow] = await stores.seriesStore.loadCatalog([{ tenant: 'acme', type: 'click', partition: 0 }]);
    expect(catalogRow).toMatchObject({ appliedOffset: 7, count: 8 });
  });

  it('are read again after a fence, when the redelivered batch follows the last one committed', async () => {
    const stores = openStores();
    const log = handDrivenLog([clicks(0, 6, 'e')]);
    const a = await startProcessor(log, stores);
    const b = await startProcessor(log, stores);

    await a.deliver(log.batch(0, 0, 1));
    // B writes the same batch A is about to write (both owned it for a moment), then A's is fenced.
    await b.deliver(log.batch(0, 2, 3));
    await expect(a.deliver(log.batch(0, 2, 3))).rejects.toBeInstanceOf(PartitionFencedError);
    // The log delivers A's batch again, as the port says it does after a rejection.
    await a.deliver(log.batch(0, 2, 3));
    await a.deliver(log.batch(0, 4, 5));
    expect(await totals(stores)).toEqual({ rollupCount: 6, rollupSum: 6, catalogCount: 6 });
    expect((await stores.seriesStore.loadProgress()).get(0)?.storedThrough).toBe(5);
  });
});

describe('batches of several partitions in flight on one instance', () => {
  it("a fenced batch of one partition spoils nothing of another partition's batch in flight", async () => {
    const stores = openStores();
    const log = handDrivenLog([clicks(0, 4, 'p0-'), clicks(1, 4, 'p1-')]);
    const held = gate();
    let holding = true;
    const slowPartitionOne: SeriesStore = {
      ...stores.seriesStore,
      async saveBatch(batch) {
        if (batch.partition === 1 && batch.rollups.length > 0 && holding) await held.opened;
        return stores.seriesStore.saveBatch(batch);
      },
    };
    const a = await startProcessor(log, stores, slowPartitionOne);
    const b = await startProcessor(log, stores);

    await a.deliver(log.batch(0, 0, 1));
    await b.deliver(log.batch(0, 2, 3));
    // Partition 1's batch waits in its series store write while partition 0's batch is fenced.
    const inFlight = a.deliver(log.batch(1, 0, 1));
    await expect(a.deliver(log.batch(0, 2, 3))).rejects.toBeInstanceOf(PartitionFencedError);
    holding = false;
    held.open();
    await inFlight;
    await a.deliver(log.batch(1, 2, 3));

    expect(await totals(stores)).toEqual({ rollupCount: 8, rollupSum: 8, catalogCount: 8 });
    const progress = await stores.seriesStore.loadProgress();
    expect([progress.get(0)?.storedThrough, progress.get(1)?.storedThrough]).toEqual([3, 3]);
    expect(a.processor.stats()).toMatchObject({ processed: 6, duplicates: 0 });
  });

  it('two partitions processed at once each count their own events once', async () => {
    const stores = openStores();
    const log = handDrivenLog([clicks(0, 50, 'p0-'), clicks(1, 50, 'p1-')]);
    const a = await startProcessor(log, stores);
    const deliveries: Promise<void>[] = [];
    for (const partition of [0, 1]) {
      deliveries.push(
        (async () => {
          for (let from = 0; from < 50; from += 10) await a.deliver(log.batch(partition, from, from + 9));
        })(),
      );
    }
    await Promise.all(deliveries);
    expect(await totals(stores)).toEqual({ rollupCount: 100, rollupSum: 100, catalogCount: 100 });
    const progress = await stores.seriesStore.loadProgress();
    expect([progress.get(0)?.storedThrough, progress.get(1)?.storedThrough]).toEqual([49, 49]);
  });
});
