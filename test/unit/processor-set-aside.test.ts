/**
 * The stream processor never halts on a record it cannot count: it sets the record aside after
 * bounded attempts and goes on, while an outage sets nothing aside. Driven in-process over the
 * embedded adapters, with a fault-injecting wrapper around the stores.
 */
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { createEmbeddedEventLog } from '../../src/adapters/embedded/embedded-event-log.ts';
import { createEmbeddedEventStore } from '../../src/adapters/embedded/embedded-event-store.ts';
import { createEmbeddedSeriesStore } from '../../src/adapters/embedded/embedded-series-store.ts';
import { createEmbeddedLiveBus } from '../../src/adapters/embedded/embedded-live-bus.ts';
import { createStreamProcessor, PROCESSOR_GROUP_ID, type StreamProcessor } from '../../src/stream/processor.ts';
import type { PartitionStall } from '../../src/stream/batch-failures.ts';
import { createSetAsideService } from '../../src/query/set-aside-service.ts';
import { unavailable } from '../../src/errors.ts';
import type { EventLog } from '../../src/ports/event-log.ts';
import type { EventStore } from '../../src/ports/event-store.ts';
import type { SeriesStore } from '../../src/ports/series-store.ts';
import type { AcceptedEvent } from '../../src/domain/event.ts';
import type { SetAsideReason } from '../../src/domain/set-aside.ts';
import { newDataDir, removeDataDir } from '../support/server.ts';

const NOW = Date.now();
const POLICY = { outOfOrdernessMs: 5_000, idlePartitionMs: 30_000, allowedLatenessMs: 86_400_000, futureToleranceMs: 600_000 };
const MAX_ATTEMPTS = 3;

function event(id: string, overrides: Partial<AcceptedEvent> = {}): AcceptedEvent {
  return {
    tenant: 'acme',
    id,
    type: 'click',
    timestamp: NOW,
    receivedAt: NOW,
    clockCorrectionMs: 0,
    source: null,
    dimensions: { country: 'NL' },
    values: { ms: 1 },
    properties: null,
    ...overrides,
  };
}
const record = (e: AcceptedEvent) => ({ key: `${e.tenant}:${e.type}`, value: JSON.stringify(e) });

/** What the faults switch on: a store that refuses one type's events, a store that is down. */
interface Faults {
  /** Claims of events of this type fail, always the same way (content the store refuses). */
  refusedType: string | null;
  /** Every write of the series store fails, and the health checks too. */
  down: boolean;
  /** How the down store fails: as the adapters report an outage, or with an unclassified error. */
  downError: () => Error;
}

function faultyEventStore(store: EventStore, faults: Faults): EventStore {
  return {
    ...store,
    claim: (events) =>
      events.some((e) => e.type === faults.refusedType)
        ? Promise.reject(new Error(`the store refuses events of type ${faults.refusedType}`))
        : store.claim(events),
    checkHealth: () => (faults.down ? Promise.reject(unavailable('the event store is down')) : store.checkHealth()),
  };
}

function faultySeriesStore(store: SeriesStore, faults: Faults): SeriesStore {
  return {
    ...store,
    saveBatch: (batch) => (faults.down ? Promise.reject(faults.downError()) : store.saveBatch(batch)),
    checkHealth: () => (faults.down ? Promise.reject(unavailable('the series store is down')) : store.checkHealth()),
  };
}

interface Run {
  dataDir: string;
  log: EventLog;
  eventStore: EventStore;
  seriesStore: SeriesStore;
  processor: StreamProcessor;
  faults: Faults;
  failures: ('outage' | 'error' | 'fenced')[];
  setAside: SetAsideReason[];
  stallsSeen: PartitionStall[];
  warnings: string[];
  close(): Promise<void>;
}

const runs: Run[] = [];
afterEach(async () => {
  for (const run of runs.splice(0)) {
    await run.close();
    removeDataDir(run.dataDir);
  }
});

async function startRun(
  dataDir = newDataDir(),
  faults: Faults = { refusedType: null, down: false, downError: () => unavailable('down') },
): Promise<Run> {
  const log = createEmbeddedEventLog({ dataDir, retentionMs: 86_400_000 });
  const rawEventStore = createEmbeddedEventStore({ dataDir });
  const rawSeriesStore = createEmbeddedSeriesStore({ dataDir });
  const eventStore = faultyEventStore(rawEventStore, faults);
  const seriesStore = faultySeriesStore(rawSeriesStore, faults);
  const failures: ('outage' | 'error' | 'fenced')[] = [];
  const setAside: SetAsideReason[] = [];
  const warnings: string[] = [];
  const processor = createStreamProcessor({
    log,
    eventStore,
    seriesStore,
    liveBus: createEmbeddedLiveBus(),
    policy: POLICY,
    secondRetentionMs: 3_600_000,
    logger: { info() {}, warn: (_o, message) => void warnings.push(message), error() {} },
    metrics: {
      observeBatch() {},
      observeSetAside: (reason, count) => void setAside.push(...Array<SetAsideReason>(count).fill(reason)),
      observeBatchFailure: (cause) => void failures.push(cause),
    },
    maxAttempts: MAX_ATTEMPTS,
    // Short pauses: the bound on attempts is what is under test, not the wall-clock backoff.
    backoffMs: () => 10,
  });
  await processor.start();
  const run: Run = {
    dataDir,
    log,
    eventStore,
    seriesStore,
    processor,
    faults,
    failures,
    setAside,
    warnings,
    stallsSeen: [],
    async close() {
      await processor.stop();
      await log.close();
      await rawEventStore.close();
      await rawSeriesStore.close();
    },
  };
  runs.push(run);
  return run;
}

/** Polls until the check holds, noting every stalled partition seen on the way. */
async function until(run: Run, check: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    run.stallsSeen.push(...run.processor.stalledPartitions());
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function countOf(run: Run, type: string, tenant = 'acme'): Promise<number> {
  return (await run.seriesStore.readCatalog(tenant)).filter((row) => row.type === type).reduce((sum, row) => sum + row.count, 0);
}

const caughtUp = (run: Run) => async () => (await run.log.lag(PROCESSOR_GROUP_ID)) === 0;

describe('stream processor: records it cannot count are set aside, never a halt', () => {
  it('sets aside a record whose processing fails deterministically after the bounded attempts, and counts the others exactly', async () => {
    const run = await startRun();
    run.faults.refusedType = 'poison';
    await run.log.append([record(event('a')), record(event('p', { type: 'poison' })), record(event('b')), record(event('c'))]);
    await until(run, caughtUp(run), 'the batch to be committed');

    expect(await countOf(run, 'click')).toBe(3);
    expect(await countOf(run, 'poison')).toBe(0);
    expect((await run.eventStore.listEvents({ tenant: 'acme' }, 10)).events.map((e) => e.id).sort()).toEqual(['a', 'b', 'c']);
    const [entry, ...others] = await run.eventStore.listSetAside({ tenant: 'acme' }, 10);
    expect(others).toEqual([]);
    expect(entry).toMatchObject({
      position: { partition: 0, offset: 2 },
      tenant: 'acme',
      eventId: 'p',
      reason: 'UNPROCESSABLE',
      attempts: MAX_ATTEMPTS + 2,
      record: JSON.stringify(event('p', { type: 'poison' })),
    });
    expect(entry!.error).toContain('the store refuses events of type poison');
    // Bounded: exactly MAX_ATTEMPTS failed deliveries, then isolation; the partition was reported stalled meanwhile.
    expect(run.failures).toEqual(Array(MAX_ATTEMPTS).fill('error'));
    expect(run.setAside).toEqual(['UNPROCESSABLE']);
    expect(run.stallsSeen.some((stall) => stall.partition === 0 && stall.offset === 1 && !stall.outage)).toBe(true);
    expect(run.processor.stalledPartitions()).toEqual([]);
    expect(run.warnings.filter((w) => w.startsWith('set aside')).length).toBe(1);

    // And the partition goes on: later records are counted at once.
    await run.log.append([record(event('d'))]);
    await until(run, caughtUp(run), 'the next batch');
    expect(await countOf(run, 'click')).toBe(4);
    expect(run.failures.length).toBe(MAX_ATTEMPTS);
  });

  it.each([
    ['reported as UNAVAILABLE', () => unavailable('the series store could not write rollups')],
    ['unclassified, while the health checks fail', () => new Error('socket hang up')],
  ])(
    'retries through an outage (%s) without setting anything aside, and counts everything once the store is back',
    async (_, downError) => {
      const run = await startRun(undefined, { refusedType: null, down: true, downError });
      await run.log.append([record(event('a')), record(event('b')), record(event('c'))]);
      // Well past the bound on attempts: an outage keeps retrying, isolation included.
      await until(run, () => run.failures.length >= MAX_ATTEMPTS + 3, 'failed attempts during the outage');
      expect(await run.eventStore.listSetAside('ALL', 10)).toEqual([]);
      expect(run.processor.stalledPartitions()).toMatchObject([{ partition: 0, offset: 1 }]);

      run.faults.down = false;
      await until(run, caughtUp(run), 'the backlog after the outage');
      expect(await countOf(run, 'click')).toBe(3);
      expect(await run.eventStore.listSetAside('ALL', 10)).toEqual([]);
      expect(run.setAside).toEqual([]);
      expect(run.processor.stalledPartitions()).toEqual([]);
      // One line for the whole outage, not one per attempt.
      expect(run.warnings.filter((w) => w.startsWith('processing partition 0 failed')).length).toBe(1);
    },
  );

  it('sets aside an undecodable record at once, with its reason, and counts the rest', async () => {
    const run = await startRun();
    await run.log.append([
      { key: 'x', value: '{"tenant": "acme", "id": "half' },
      record(event('a')),
      { key: 'x', value: JSON.stringify({ ...event('no-values'), values: 'none' }) },
      { key: 'x', value: '[1, 2, 3]' },
    ]);
    await until(run, caughtUp(run), 'the batch');
    expect(await countOf(run, 'click')).toBe(1);
    const entries = await run.eventStore.listSetAside('ALL', 10);
    expect(entries.map((e) => [e.position.offset, e.reason, e.tenant, e.eventId])).toEqual([
      [4, 'UNDECODABLE', null, null],
      [3, 'UNDECODABLE', 'acme', 'no-values'],
      [1, 'UNDECODABLE', null, null],
    ]);
    expect(entries[2]!.error).toMatch(/^not JSON: /);
    expect(entries[1]!.error).toBe('not an event as ingest writes it: "values" is missing or of the wrong type');
    expect(entries[0]!.error).toBe('not a JSON object');
    expect(entries[2]!.record).toBe('{"tenant": "acme", "id": "half');
    // No failure, no stall: a record that is not an event costs nothing but its entry.
    expect(run.failures).toEqual([]);
    expect(run.setAside).toEqual(['UNDECODABLE', 'UNDECODABLE', 'UNDECODABLE']);
    expect(run.processor.stats()).toMatchObject({ poison: 3, setAside: 3 });
    // A tenant sees only its own; a record of no readable tenant is in the operator's view only.
    expect((await run.eventStore.listSetAside({ tenant: 'acme' }, 10)).map((e) => e.position.offset)).toEqual([3]);
  });

  it('counts a replayed record exactly once once the fault is gone', async () => {
    const run = await startRun();
    run.faults.refusedType = 'poison';
    await run.log.append([record(event('a')), record(event('p', { type: 'poison' }))]);
    await until(run, caughtUp(run), 'the poisoned batch');
    const [entry] = await run.eventStore.listSetAside({ tenant: 'acme' }, 10);
    expect(entry!.eventId).toBe('p');

    run.faults.refusedType = null;
    const service = createSetAsideService({ eventStore: run.eventStore, log: run.log });
    // Another tenant cannot replay it.
    expect(await service.replay({ tenant: 'other' }, ['0:2'])).toEqual({ replayed: [], notFound: ['0:2'] });
    const result = await service.replay({ tenant: 'acme' }, ['0:2', '0:99']);
    expect(result.replayed.map((r) => r.eventId)).toEqual(['p']);
    expect(result.notFound).toEqual(['0:99']);
    await until(run, caughtUp(run), 'the replayed record');
    expect(await countOf(run, 'poison')).toBe(1);
    expect(await run.eventStore.listSetAside('ALL', 10)).toEqual([]);

    // The same record once more (a second replay, a client retry): deduplicated by (tenant, id).
    await run.log.append([record(event('p', { type: 'poison' }))]);
    await until(run, caughtUp(run), 'the duplicate');
    expect(await countOf(run, 'poison')).toBe(1);
    expect(await countOf(run, 'click')).toBe(1);
  });

  it('keeps the guarantee across a restart in the middle of a stall, and across a replay of the whole log', async () => {
    const dataDir = newDataDir();
    const faults: Faults = { refusedType: 'poison', down: false, downError: () => unavailable('down') };
    const first = await startRun(dataDir, faults);
    await first.log.append([record(event('a')), record(event('p', { type: 'poison' })), record(event('b'))]);
    await until(first, () => first.failures.length >= 1, 'the first failure');
    await first.close();
    runs.splice(runs.indexOf(first), 1);

    const second = await startRun(dataDir, faults);
    await until(second, caughtUp(second), 'the batch after the restart');
    expect(await countOf(second, 'click')).toBe(2);
    expect((await second.eventStore.listSetAside('ALL', 10)).map((e) => e.position.offset)).toEqual([2]);
    await second.close();
    runs.splice(runs.indexOf(second), 1);

    // A crash after the set-aside and before the commit replays the batch: rewind the group.
    const db = new Database(join(dataDir, 'log.sqlite'));
    db.prepare('UPDATE committed_offsets SET last_offset = 0 WHERE group_id = ?').run(PROCESSOR_GROUP_ID);
    db.close();
    const third = await startRun(dataDir, faults);
    await until(third, caughtUp(third), 'the replayed log');
    expect(await countOf(third, 'click')).toBe(2);
    const entries = await third.eventStore.listSetAside('ALL', 10);
    expect(entries.map((e) => [e.position.offset, e.eventId])).toEqual([[2, 'p']]);
  });
});
