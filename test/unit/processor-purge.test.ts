/**
 * The SECOND purge and the processor: a SECOND bucket the purge has passed is never written
 * again, whether the event comes late or the row comes from the processor's row cache. Driven
 * in-process over the embedded adapters, with the clock (Date only) moved by hand.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEmbeddedEventLog } from '../../src/adapters/embedded/embedded-event-log.ts';
import { createEmbeddedEventStore } from '../../src/adapters/embedded/embedded-event-store.ts';
import { createEmbeddedSeriesStore } from '../../src/adapters/embedded/embedded-series-store.ts';
import { createEmbeddedLiveBus } from '../../src/adapters/embedded/embedded-live-bus.ts';
import { createStreamProcessor, PROCESSOR_GROUP_ID } from '../../src/stream/processor.ts';
import type { AcceptedEvent } from '../../src/domain/event.ts';
import type { Interval } from '../../src/domain/interval.ts';
import { newDataDir, removeDataDir } from '../support/server.ts';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-11-27T12:00:00.000Z');
const POLICY = { outOfOrdernessMs: 5_000, idlePartitionMs: 30_000, allowedLatenessMs: 24 * HOUR, futureToleranceMs: 600_000 };
/** Shorter than the lateness, as config.ts refuses: the processor must hold the line anyway. */
const SECOND_RETENTION_MS = HOUR;

function event(id: string, timestamp: number, receivedAt: number): AcceptedEvent {
  return {
    tenant: 'acme',
    id,
    type: 'click',
    timestamp,
    receivedAt,
    clockCorrectionMs: 0,
    source: null,
    dimensions: {},
    values: { ms: 1 },
    properties: null,
  };
}
const record = (e: AcceptedEvent) => ({ key: `${e.tenant}:${e.type}`, value: JSON.stringify(e) });

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('stream processor: the SECOND purge', () => {
  it('item 11: a late event brings back no purged SECOND row, neither from the store nor from the row cache', async () => {
    // Only Date is faked: the log's polling and the processor's timers run on real time.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const dataDir = newDataDir();
    const log = createEmbeddedEventLog({ dataDir, retentionMs: 86_400_000 });
    const eventStore = createEmbeddedEventStore({ dataDir });
    const seriesStore = createEmbeddedSeriesStore({ dataDir });
    const processor = createStreamProcessor({
      log,
      eventStore,
      seriesStore,
      liveBus: createEmbeddedLiveBus(),
      policy: POLICY,
      secondRetentionMs: SECOND_RETENTION_MS,
      logger: { info() {}, warn() {}, error() {} },
    });
    cleanups.push(async () => {
      await processor.stop();
      await log.close();
      await eventStore.close();
      await seriesStore.close();
      removeDataDir(dataDir);
    });
    await processor.start();
    /** Waits (real time: 20 ms at a time, at most 1,000 times) until the processor has caught up. */
    const caughtUp = async () => {
      for (let attempt = 0; attempt < 1_000 && (await log.lag(PROCESSOR_GROUP_ID)) > 0; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(await log.lag(PROCESSOR_GROUP_ID)).toBe(0);
    };
    const counts = async (interval: Interval) =>
      (await seriesStore.readRollups({ tenant: 'acme', type: 'click', interval, from: T0 - 2 * HOUR, to: T0 + 3 * HOUR })).map((row) => [
        row.bucketStart - T0,
        row.aggregate.count,
      ]);
    const lateTime = T0 - 10_000;

    // An on-time event: its SECOND row is written, and kept in the processor's row cache.
    await log.append([record(event('first', lateTime, T0))]);
    await caughtUp();
    expect(await counts('SECOND')).toEqual([[-10_000, 1]]);

    // Two hours on, the purge deletes that bucket (it is past the one-hour retention).
    vi.setSystemTime(T0 + 2 * HOUR);
    expect(await seriesStore.deleteBucketsBefore('SECOND', Date.now() - SECOND_RETENTION_MS)).toBe(1);

    // An event for the same second, within the allowed lateness: it counts, in MINUTE and up,
    // but its SECOND row (merged into the cached copy of the deleted one) is not written back.
    await log.append([record(event('late', lateTime + 1, T0 + 2 * HOUR))]);
    await caughtUp();
    expect(await counts('SECOND')).toEqual([]);
    expect(await counts('MINUTE')).toEqual([[-60_000, 2]]);
  });
});
