import { afterEach, describe, expect, it } from 'vitest';
import type { EventLog, LogBatch } from '../../src/ports/event-log.ts';
import { eventLogAdapters, type AdapterHarness } from './adapters.ts';

function collectInto(batches: LogBatch[]) {
  return async (batch: LogBatch) => {
    batches.push(batch);
  };
}

async function until(check: () => boolean, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const values = (batches: LogBatch[]) => batches.flatMap((b) => b.records.map((r) => r.value));

describe.each(eventLogAdapters)('EventLog contract: $name', (factory) => {
  let harness: AdapterHarness<EventLog>;
  const open: EventLog[] = [];
  async function openLog() {
    const log = await harness.open();
    open.push(log);
    return log;
  }

  afterEach(async () => {
    for (const log of open.splice(0)) await log.close();
    await harness?.cleanup();
  });

  it('delivers appended records in order, once each, with increasing offsets', async () => {
    harness = factory.harness();
    const log = await openLog();
    await log.append([
      { key: 't:a', value: 'one' },
      { key: 't:a', value: 'two' },
    ]);
    await log.append([{ key: 't:a', value: 'three' }]);
    const batches: LogBatch[] = [];
    const consumer = await log.consume({ groupId: 'g', handleBatch: collectInto(batches) });
    await until(() => values(batches).length === 3, 'three records');
    await log.append([{ key: 't:a', value: 'four' }]);
    await until(() => values(batches).length === 4, 'the fourth record');
    await consumer.stop();
    expect(values(batches)).toEqual(['one', 'two', 'three', 'four']);
    const offsets = batches.flatMap((b) => b.records.map((r) => r.position.offset));
    expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);
    expect(new Set(offsets).size).toBe(4);
  });

  it('keeps appended records and committed positions across a reopen', async () => {
    harness = factory.harness();
    const first = await openLog();
    await first.append([
      { key: 'k', value: 'a' },
      { key: 'k', value: 'b' },
    ]);
    const seen: LogBatch[] = [];
    const consumer = await first.consume({ groupId: 'g', handleBatch: collectInto(seen) });
    await until(() => values(seen).length === 2, 'two records');
    await consumer.stop();
    await first.append([{ key: 'k', value: 'c' }]);
    await first.close();
    open.splice(open.indexOf(first), 1);

    const second = await openLog();
    const after: LogBatch[] = [];
    const resumed = await second.consume({ groupId: 'g', handleBatch: collectInto(after) });
    await until(() => values(after).length === 1, 'the uncommitted record');
    await resumed.stop();
    expect(values(after)).toEqual(['c']);
    expect(await second.lag('g')).toBe(0);
  });

  it('wakes a consumer of another open instance of the log when one appends, as the processor thread and ingest are', async () => {
    harness = factory.harness();
    const appender = await openLog();
    const consuming = await openLog();
    const seen: LogBatch[] = [];
    const consumer = await consuming.consume({ groupId: 'g', handleBatch: collectInto(seen) });
    // The consumer finds the log empty and waits: only a wake-up from the other instance ends it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await appender.append([{ key: 'k', value: 'from the other instance' }]);
    await until(() => values(seen).length === 1, 'the record appended by the other instance', 10_000);
    await appender.append([{ key: 'k', value: 'and a second' }]);
    await until(() => values(seen).length === 2, 'the second record', 10_000);
    await consumer.stop();
    expect(values(seen)).toEqual(['from the other instance', 'and a second']);
    expect(await appender.lag('g')).toBe(0);
  });

  it('lets the rest of its thread run between batches of a backlog (a status request, a timer, HTTP)', async () => {
    harness = factory.harness();
    const log = await openLog();
    await log.append(Array.from({ length: 5 }, (_, i) => ({ key: 't:a', value: `r${i}` })));
    const batches: LogBatch[] = [];
    /** How many batches had been handled when a callback queued during the first one ran. */
    let handledWhenOthersRan: number | null = null;
    const consumer = await log.consume({
      groupId: 'g',
      maxBatchSize: 1,
      handleBatch: async (batch) => {
        batches.push(batch);
        if (batches.length === 1) setImmediate(() => (handledWhenOthersRan ??= batches.length));
      },
    });
    await until(() => values(batches).length === 5, 'five records');
    await consumer.stop();
    expect(values(batches)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    // A handler that resolves at once (the embedded stores do) must not keep the thread until the
    // backlog is gone: the callback runs before the last batch is handed over.
    expect(handledWhenOthersRan).not.toBeNull();
    expect(handledWhenOthersRan!).toBeLessThan(5);
  });

  it('redelivers a batch whose handler failed, and commits nothing of it', async () => {
    harness = factory.harness();
    const log = await openLog();
    await log.append([{ key: 'k', value: 'x' }]);
    let attempts = 0;
    const delivered: string[] = [];
    const consumer = await log.consume({
      groupId: 'g',
      handleBatch: async (batch) => {
        attempts += 1;
        if (attempts === 1) {
          expect(await log.lag('g')).toBe(1);
          throw new Error('sink unavailable');
        }
        delivered.push(...batch.records.map((r) => r.value));
      },
    });
    await until(() => delivered.length === 1, 'redelivery');
    await consumer.stop();
    expect(delivered).toEqual(['x']);
    expect(attempts).toBe(2);
    expect(await log.lag('g')).toBe(0);
  });

  it('reports the lag of a group and keeps groups independent', async () => {
    harness = factory.harness();
    const log = await openLog();
    await log.append(Array.from({ length: 5 }, (_, i) => ({ key: 'k', value: String(i) })));
    expect(await log.lag('fresh')).toBe(5);
    const seen: LogBatch[] = [];
    const consumer = await log.consume({ groupId: 'a', handleBatch: collectInto(seen) });
    await until(() => values(seen).length === 5, 'five records');
    await consumer.stop();
    expect(await log.lag('a')).toBe(0);
    expect(await log.lag('fresh')).toBe(5);
  });

  it("tells each partition's newest offset, and when each delivered record was appended", async () => {
    harness = factory.harness();
    const log = await openLog();
    const before = await log.partitionEnds();
    expect(before.size).toBeGreaterThan(0);
    expect([...before.values()]).toEqual([...before.values()].map(() => null));
    const appendedFrom = Date.now();
    await log.append(Array.from({ length: 3 }, (_, i) => ({ key: 'one-key', value: String(i) })));
    const seen: LogBatch[] = [];
    const consumer = await log.consume({ groupId: 'ends', handleBatch: collectInto(seen) });
    await until(() => values(seen).length === 3, 'three records');
    await consumer.stop();
    const records = seen.flatMap((b) => b.records);
    const partition = records[0]!.position.partition;
    const ends = await log.partitionEnds();
    expect(ends.get(partition)).toBe(records.at(-1)!.position.offset);
    // The other partitions hold nothing: one key lands in one partition.
    expect([...ends].filter(([p]) => p !== partition).map(([, end]) => end)).toEqual([...ends.keys()].slice(1).map(() => null));
    for (const record of records) {
      // Kafka's timestamp is the producer's clock when it sent the record: a moment before the append.
      expect(record.appendedAt).toBeGreaterThanOrEqual(appendedFrom - 1_000);
      expect(record.appendedAt).toBeLessThanOrEqual(Date.now());
    }
  });

  it('makes every record of concurrent appends durable', async () => {
    harness = factory.harness();
    const log = await openLog();
    await Promise.all(
      Array.from({ length: 20 }, (_, batch) =>
        log.append(Array.from({ length: 10 }, (_, i) => ({ key: `k${batch % 3}`, value: `${batch}-${i}` }))),
      ),
    );
    await log.close();
    open.splice(open.indexOf(log), 1);
    const reopened = await openLog();
    expect(await reopened.lag('g')).toBe(200);
    const seen: LogBatch[] = [];
    const consumer = await reopened.consume({ groupId: 'g', handleBatch: collectInto(seen), maxBatchSize: 64 });
    await until(() => values(seen).length === 200, '200 records');
    await consumer.stop();
    expect(new Set(values(seen)).size).toBe(200);
    expect(seen.every((b) => b.records.length <= 64)).toBe(true);
  });

  it('answers health checks while open', async () => {
    harness = factory.harness();
    const log = await openLog();
    await expect(log.checkHealth()).resolves.toBeUndefined();
  });

  it("item 7: has an identity that stays across a reopen, and differs from another log's", async () => {
    harness = factory.harness();
    const first = await openLog();
    const identity = await first.identity();
    expect(identity).toMatch(/\S{8,}/);
    await first.close();
    const reopened = await openLog();
    expect(await reopened.identity()).toBe(identity);

    const otherHarness = factory.harness();
    try {
      const other = await otherHarness.open();
      open.push(other);
      expect(await other.identity()).not.toBe(identity);
    } finally {
      for (const log of open.splice(0)) await log.close();
      await otherHarness.cleanup();
    }
  });

  it('item 7: a log removed and created again in the same place (file, topic) has a new identity', async () => {
    harness = factory.harness();
    const original = await openLog();
    const identity = await original.identity();
    await original.close();
    open.splice(0);
    await harness.cleanup();
    // A Kafka topic's deletion completes in the background: until it has, opening finds the old topic.
    const deadline = Date.now() + 30_000;
    let recreated: string | null = null;
    while (recreated === null || recreated === identity) {
      if (Date.now() > deadline) throw new Error(`the log created again still has the identity ${recreated}`);
      const log = await openLog().catch(() => null);
      recreated = log ? await log.identity().catch(() => null) : null;
      if (recreated === null || recreated === identity) {
        for (const stale of open.splice(0)) await stale.close();
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    expect(recreated).not.toBe(identity);
  });
});
