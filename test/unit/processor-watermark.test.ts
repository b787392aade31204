/**
 * The watermark through the ports, in-process: the stream processor over a log of two
 * partitions in memory (test/support/memory-log.ts) and the embedded event and series stores.
 * Outcomes are read from the stores: the quarantine, the rollups, the committed watermarks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEmbeddedEventStore } from '../../src/adapters/embedded/embedded-event-store.ts';
import { createEmbeddedSeriesStore } from '../../src/adapters/embedded/embedded-series-store.ts';
import { createEmbeddedLiveBus } from '../../src/adapters/embedded/embedded-live-bus.ts';
import { createStreamProcessor, PROCESSOR_GROUP_ID, type StreamProcessor } from '../../src/stream/processor.ts';
import { encodeLogRecord, logKey } from '../../src/domain/log-record.ts';
import type { AcceptedEvent } from '../../src/domain/event.ts';
import type { EventStore } from '../../src/ports/event-store.ts';
import type { SeriesStore } from '../../src/ports/series-store.ts';
import type { EventTimePolicy } from '../../src/stream/event-time.ts';
import { createMemoryLog, type MemoryLog } from '../support/memory-log.ts';
import { newDataDir, removeDataDir } from '../support/server.ts';

const HOUR = 3_600_000;
const NOW = Date.now();
/** Short enough that a test can wait it out; the lateness short enough that a jump shows. */
const POLICY: EventTimePolicy = { outOfOrdernessMs: 1_000, idlePartitionMs: 300, allowedLatenessMs: 60_000, futureToleranceMs: 600_000 };
/** The event's type names its partition: `p0:…` goes to partition 0, anything else to 1. */
const partitionOf = (key: string) => (key.split(':')[1]!.startsWith('p0') ? 0 : 1);

function event(id: string, type: string, timestamp: number, tenant = 'acme', receivedAt = NOW): AcceptedEvent {
  return {
    tenant,
    id,
    type,
    timestamp,
    receivedAt,
    clockCorrectionMs: 0,
    source: null,
    dimensions: {},
    values: {},
    properties: null,
  };
}
const record = (e: AcceptedEvent) => ({ key: logKey(e.tenant, e.type), value: encodeLogRecord(e) });

interface Stores {
  log: MemoryLog;
  eventStore: EventStore;
  seriesStore: SeriesStore;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function openStores(): Stores {
  const dataDir = newDataDir();
  const stores = {
    log: createMemoryLog({ partitions: 2, partitionOf }),
    eventStore: createEmbeddedEventStore({ dataDir }),
    seriesStore: createEmbeddedSeriesStore({ dataDir }),
  };
  cleanups.push(async () => {
    await stores.eventStore.close();
    await stores.seriesStore.close();
    removeDataDir(dataDir);
  });
  return stores;
}

async function startProcessor(stores: Stores, policy = POLICY): Promise<StreamProcessor> {
  const processor = createStreamProcessor({
    ...stores,
    liveBus: createEmbeddedLiveBus(),
    policy,
    secondRetentionMs: 24 * HOUR,
    logger: { info() {}, warn() {}, error() {} },
    backoffMs: () => 10,
  });
  await processor.start();
  let stopped = false;
  const stop = processor.stop;
  processor.stop = async () => {
    if (!stopped) await stop();
    stopped = true;
  };
  cleanups.push(() => processor.stop());
  return processor;
}

async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
const processed = (stores: Stores) => until(async () => (await stores.log.lag(PROCESSOR_GROUP_ID)) === 0, 'the log to be processed');
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function quarantined(stores: Stores, tenant = 'acme'): Promise<string[]> {
  return (await stores.eventStore.listQuarantine(tenant, 1000)).map((e) => `${e.id}:${e.quarantine?.split(':')[0]}`).sort();
}

async function counted(stores: Stores, type: string, tenant = 'acme'): Promise<number> {
  const rows = await stores.seriesStore.readRollups({ tenant, type, interval: 'DAY', from: 0, to: NOW + 48 * HOUR });
  return rows.reduce((sum, row) => sum + row.aggregate.count, 0);
}

describe('item 4: idleness from the log, not from processing', () => {
  it('item 4: a backfill on one partition survives a restart longer than IDLE_PARTITION_TIMEOUT (nothing quarantined)', async () => {
    const stores = openStores();
    // Partition 1 is current; partition 0 replays two hours ago, in order, a minute per event.
    const backfillStart = NOW - 2 * HOUR;
    await stores.log.append([record(event('live-1', 'live', NOW - 2_000))]);
    await stores.log.append(Array.from({ length: 5 }, (_, i) => record(event(`old-${i}`, 'p0_backfill', backfillStart + i * 60_000))));
    const first = await startProcessor(stores);
    await processed(stores);
    await first.stop();

    // The rest of the backfill is appended while the processor is down, for longer than the idle
    // timeout: partition 1 is caught up and quiet, partition 0 is behind.
    await stores.log.append(
      Array.from({ length: 5 }, (_, i) => record(event(`old-${5 + i}`, 'p0_backfill', backfillStart + (5 + i) * 60_000))),
    );
    await pause(POLICY.idlePartitionMs * 3);
    await startProcessor(stores);
    await processed(stores);

    expect(await quarantined(stores)).toEqual([]);
    expect(await counted(stores, 'p0_backfill')).toBe(10);
    expect(await counted(stores, 'live')).toBe(1);
  });
});

describe('item 6: tenants do not move each other clocks', () => {
  it("item 6: tenant A's future-dated events do not make tenant B's on-time events TOO_LATE", async () => {
    const stores = openStores();
    await startProcessor(stores);
    // Nine minutes ahead: within FUTURE_TOLERANCE (10 min), so counted, for tenant A.
    await stores.log.append([record(event('ahead', 'p0_a', NOW + 9 * 60_000, 'tenant-a'))]);
    await processed(stores);
    // Tenant B, thirty seconds behind its receive time: well within ALLOWED_LATENESS (1 min).
    await stores.log.append([record(event('on-time', 'p0_b', NOW - 30_000, 'tenant-b'))]);
    await processed(stores);

    expect(await quarantined(stores, 'tenant-a')).toEqual([]);
    expect(await quarantined(stores, 'tenant-b')).toEqual([]);
    expect(await counted(stores, 'p0_a', 'tenant-a')).toBe(1);
    expect(await counted(stores, 'p0_b', 'tenant-b')).toBe(1);
  });
});
