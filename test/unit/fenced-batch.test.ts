/**
 * A fenced batch (another writer took the partition over) is abandoned whole: never bisected,
 * never set aside, not counted toward the attempts that lead to isolation. Pure logic of
 * batch-failures.ts and failure-policy.ts, with processRecords played by the test.
 */
import { describe, expect, it } from 'vitest';
import { createBatchFailureHandling } from '../../src/stream/batch-failures.ts';
import { failureCause } from '../../src/stream/failure-policy.ts';
import { PartitionFencedError } from '../../src/ports/series-store.ts';
import { unavailable } from '../../src/errors.ts';
import type { LogBatch } from '../../src/ports/event-log.ts';
import type { SetAsideRecord } from '../../src/domain/set-aside.ts';

const batch: LogBatch = {
  partition: 2,
  records: [0, 1, 2, 3].map((offset) => ({ position: { partition: 2, offset }, value: '{}' })),
};

describe('item 1: a fenced batch', () => {
  it('item 1: is a fence, not an outage or an error of its data, even wrapped by an adapter', () => {
    const fence = new PartitionFencedError(2, 4, 5);
    expect(failureCause(fence)).toBe('fenced');
    expect(failureCause(unavailable('the series store could not write a batch', fence))).toBe('fenced');
    expect(failureCause(unavailable('the series store is down'))).toBe('outage');
    expect(failureCause(new TypeError('bad record'))).toBe('error');
  });

  it('item 1: fails whole on every delivery, is never bisected nor set aside, and counts as fenced', async () => {
    const attempts: number[] = [];
    const setAside: SetAsideRecord[] = [];
    const causes: string[] = [];
    const warnings: string[] = [];
    const handling = createBatchFailureHandling({
      async processRecords(_partition, records) {
        attempts.push(records.length);
        throw new PartitionFencedError(2, 4, 5);
      },
      setAside: async (entry) => void setAside.push(entry),
      storesAnswer: async () => true,
      logger: { info() {}, warn: (_object, message) => void warnings.push(message) },
      observeBatchFailure: (cause) => void causes.push(cause),
      maxAttempts: 1,
      pauseAfter: () => 0,
      stopping: () => new AbortController().signal,
    });
    // Far more deliveries than maxAttempts: a data error would have been isolated by now.
    for (let delivery = 0; delivery < 4; delivery++) {
      await expect(handling.handleBatch(batch)).rejects.toBeInstanceOf(PartitionFencedError);
    }
    expect(attempts).toEqual([4, 4, 4, 4]);
    expect(setAside).toEqual([]);
    expect(causes).toEqual(['fenced', 'fenced', 'fenced', 'fenced']);
    expect(warnings.every((message) => message.includes('partition 2 fenced'))).toBe(true);
    expect(handling.stalledPartitions()).toEqual([]);
  });

  it('item 1: met while isolating records after data errors, ends the isolation without setting anything aside', async () => {
    const setAside: SetAsideRecord[] = [];
    const handling = createBatchFailureHandling({
      async processRecords(_partition, records) {
        // A data error on the whole batch; once isolating, the second record finds the partition fenced.
        if (records.length > 1) throw new TypeError('a record this code cannot handle');
        if (records[0]!.position.offset === 1) throw new PartitionFencedError(2, 4, 5);
        if (records[0]!.position.offset === 0) throw new TypeError('a record this code cannot handle');
      },
      setAside: async (entry) => void setAside.push(entry),
      storesAnswer: async () => true,
      logger: { info() {}, warn() {} },
      maxAttempts: 1,
      pauseAfter: () => 0,
      stopping: () => new AbortController().signal,
    });
    await expect(handling.handleBatch(batch)).rejects.toBeInstanceOf(TypeError);
    // Isolating: offset 0 fails alone (set aside), offset 1 meets the fence: the batch stops there.
    await expect(handling.handleBatch(batch)).rejects.toBeInstanceOf(PartitionFencedError);
    expect(setAside.map((entry) => entry.position.offset)).toEqual([0]);
  });
});
