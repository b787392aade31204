/**
 * Distinct counts through the stream processor, in-process over the embedded adapters: the
 * sketches are part of the rollup rows, so they survive replays exactly like counts do. A batch
 * delivered again, or a process that dies between the rows and the progress, leaves every
 * interval with the same distinct count as one clean pass, and a duplicate id carrying another
 * user is not counted (the claim decides, as for counts). The harness (test/support/processor-runs.ts)
 * is the exactly-once tests' one.
 */
import { describe, expect, it } from 'vitest';
import { distinctCount, emptyAggregate, mergeSelected } from '../../src/domain/rollup.ts';
import { bucketStart, INTERVALS } from '../../src/domain/interval.ts';
import {
  caughtUp,
  closeRunsAfterEach,
  DAY,
  event,
  newRunDir,
  NOW,
  record,
  startRun,
  stopRun,
  until,
  type Run,
} from '../support/processor-runs.ts';

closeRunsAfterEach();

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
