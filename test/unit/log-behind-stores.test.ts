/**
 * Item 7's second guard: a log that ends below what the stores hold is refused at start, before
 * anything is processed. Stores made before log identities were recorded adopt the first log
 * they start on, so the identity alone cannot tell them a replaced log; the offsets can.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEmbeddedEventStore } from '../../src/adapters/embedded/embedded-event-store.ts';
import { createEmbeddedSeriesStore } from '../../src/adapters/embedded/embedded-series-store.ts';
import { createEmbeddedLiveBus } from '../../src/adapters/embedded/embedded-live-bus.ts';
import { createStreamProcessor, PROCESSOR_GROUP_ID } from '../../src/stream/processor.ts';
import { LogIdentityMismatchError, partitionsBehindStores } from '../../src/stream/log-identity.ts';
import { encodeLogRecord, logKey } from '../../src/domain/log-record.ts';
import type { AcceptedEvent } from '../../src/domain/event.ts';
import type { PartitionProgress } from '../../src/ports/series-store.ts';
import { createMemoryLog, type MemoryLog } from '../support/memory-log.ts';
import { newDataDir, removeDataDir } from '../support/server.ts';

const NOW = Date.now();
const POLICY = { outOfOrdernessMs: 1_000, idlePartitionMs: 30_000, allowedLatenessMs: 60_000, futureToleranceMs: 600_000 };

function event(id: string): AcceptedEvent {
  return {
    tenant: 'acme',
    id,
    type: 'page_view',
    timestamp: NOW,
    receivedAt: NOW,
    clockCorrectionMs: 0,
    source: null,
    dimensions: {},
    values: {},
    properties: null,
  };
}
const records = (ids: string[]) => ids.map((id) => ({ key: logKey('acme', 'page_view'), value: encodeLogRecord(event(id)) }));
const row = (storedThrough: number): PartitionProgress => ({
  maxEventTime: NOW,
  storedThrough,
  lastActiveAt: NOW,
  lastAppendedAt: NOW,
  committedWatermark: null,
  version: 1,
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function processorOver(log: MemoryLog, dataDir: string) {
  const eventStore = createEmbeddedEventStore({ dataDir });
  const seriesStore = createEmbeddedSeriesStore({ dataDir });
  cleanups.push(async () => {
    await eventStore.close();
    await seriesStore.close();
  });
  return createStreamProcessor({
    log,
    eventStore,
    seriesStore,
    liveBus: createEmbeddedLiveBus(),
    policy: POLICY,
    secondRetentionMs: 25 * 3_600_000,
    logger: { info() {}, warn() {}, error() {} },
  });
}

describe('item 7: the log ends below the stored progress', () => {
  it('item 7: names exactly the partitions whose log ends before their stored-through offset', () => {
    const progress = new Map([
      [0, row(9)],
      [1, row(3)],
      [2, row(5)],
    ]);
    // 0: behind; 1: ahead (new records); 2: every record expired (null) says nothing; 3: no row.
    const ends = new Map<number, number | null>([
      [0, 4],
      [1, 7],
      [2, null],
      [3, 0],
    ]);
    expect(partitionsBehindStores(progress, ends)).toEqual([{ partition: 0, logEnd: 4, storedThrough: 9 }]);
    expect(partitionsBehindStores(progress, new Map())).toEqual([]);
  });

  it('item 7: a processor over stores that hold more than the log refuses to start, and processes nothing', async () => {
    const dataDir = newDataDir();
    cleanups.push(() => removeDataDir(dataDir));
    const original = createMemoryLog({ partitions: 1, partitionOf: () => 0 });
    await original.append(records(['a', 'b', 'c', 'd', 'e']));
    const first = processorOver(original, dataDir);
    await first.start();
    const deadline = Date.now() + 20_000;
    while ((await original.lag(PROCESSOR_GROUP_ID)) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await first.stop();

    // The same identity (as stores older than identities would have adopted), but a new log of two records.
    const replaced = createMemoryLog({ partitions: 1, partitionOf: () => 0 });
    await replaced.append(records(['x', 'y']));
    const second = processorOver(replaced, dataDir);
    const refusal = await second.start().then(
      () => null,
      (error: unknown) => error,
    );
    cleanups.push(() => second.stop());
    expect(refusal).toBeInstanceOf(LogIdentityMismatchError);
    expect((refusal as Error).message).toMatch(
      /^the event log ends before what the stores hold: partition 0 ends at offset 1, but the stores hold it through offset 4\./,
    );
    expect(await replaced.lag(PROCESSOR_GROUP_ID)).toBe(2);
  });
});
