/**
 * An EventLog of several partitions in memory, for in-process processor tests that need more
 * than the embedded log's one partition: the test says which partition a key goes to. Batches
 * of each partition are delivered one after another, committed when the handler resolves, and
 * redelivered (from the same offset) when it rejects, as the port requires. The records and the
 * committed offsets outlive a consumer, so a new processor over the same log is a restart.
 */
import type { AppendRecord, ConsumeOptions, EventLog, LogConsumer, LogRecord } from '../../src/ports/event-log.ts';

export interface MemoryLog extends EventLog {
  /** Records appended to the partition so far. */
  records(partition: number): readonly LogRecord[];
}

export function createMemoryLog(options: { partitions: number; partitionOf: (key: string) => number }): MemoryLog {
  const partitions = Array.from({ length: options.partitions }, () => [] as LogRecord[]);
  /** Per group and partition, the next offset to deliver. */
  const committed = new Map<string, number[]>();
  const wakers = new Set<() => void>();
  const wake = () => {
    for (const waker of wakers) waker();
    wakers.clear();
  };
  const committedOf = (groupId: string) => {
    let offsets = committed.get(groupId);
    if (!offsets) committed.set(groupId, (offsets = partitions.map(() => 0)));
    return offsets;
  };

  return {
    records: (partition) => partitions[partition]!,

    async append(records: AppendRecord[]) {
      const appendedAt = Date.now();
      for (const record of records) {
        const partition = options.partitionOf(record.key);
        const log = partitions[partition]!;
        log.push({ position: { partition, offset: log.length }, value: record.value, appendedAt });
      }
      wake();
    },

    async consume({ groupId, handleBatch, maxBatchSize = 1000 }: ConsumeOptions): Promise<LogConsumer> {
      const offsets = committedOf(groupId);
      let stopped = false;
      const loop = (async () => {
        while (!stopped) {
          let delivered = false;
          for (let partition = 0; partition < partitions.length && !stopped; partition++) {
            const from = offsets[partition]!;
            const batch = partitions[partition]!.slice(from, from + maxBatchSize);
            if (batch.length === 0) continue;
            delivered = true;
            try {
              await handleBatch({ partition, records: batch });
              offsets[partition] = from + batch.length;
            } catch {
              await new Promise((resolve) => setTimeout(resolve, 20));
            }
          }
          if (!delivered && !stopped) await new Promise<void>((resolve) => wakers.add(resolve));
        }
      })();
      return {
        async stop() {
          stopped = true;
          wake();
          await loop;
        },
      };
    },

    async lag(groupId) {
      const offsets = committedOf(groupId);
      return partitions.reduce((sum, log, partition) => sum + log.length - offsets[partition]!, 0);
    },

    // One log per test: it is its own log, always.
    identity: async () => 'memory:test-log',
    async partitionEnds() {
      return new Map(partitions.map((log, partition) => [partition, log.length > 0 ? log.length - 1 : null]));
    },

    async checkHealth() {},
    async close() {
      wake();
    },
  };
}
