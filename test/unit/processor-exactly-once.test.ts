/**
 * The stream processor's exactly-once effect, in-process over the embedded adapters: a duplicate
 * id counts once, a redelivered batch changes nothing already written and completes what was
 * not, a poison record and a quarantined event are not counted, and a batch's progress is
 * written after its rows. Outcomes are read through the ports: rollup counts and sums of every
 * interval from the SeriesStore, claims and quarantine from the EventStore.
 * (Records set aside after failed attempts: processor-set-aside.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { PROCESSOR_GROUP_ID } from '../../src/stream/processor.ts';
import { emptyAggregate, mergeInto, pointStats } from '../../src/domain/rollup.ts';
import { bucketStart, INTERVALS } from '../../src/domain/interval.ts';
import {
  caughtUp,
  closeRunsAfterEach,
  DAY,
  event,
  newRunDir,
  NOW,
  POLICY,
  record,
  startRun,
  stopRun,
  until,
  type Run,
} from '../support/processor-runs.ts';

closeRunsAfterEach();

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
