/**
 * Retention of the embedded log (LOG_RETENTION): a record is deleted once it is older than the
 * retention and every consumer group has committed past it, and never earlier. The log's clock
 * is faked (Date only: SQLite, timers and the group commit run for real), so records are stamped
 * with chosen times; the check runs every 20 ms, and what is left is read back through the port by
 * a new consumer group, which starts from the oldest record still held.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createEmbeddedEventLog } from '../../src/adapters/embedded/embedded-event-log.ts';
import type { EventLog, LogBatch } from '../../src/ports/event-log.ts';

const RETENTION_MS = 60_000;
const CHECK_MS = 20;
const T0 = Date.UTC(2026, 11, 1, 12);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let dataDir: string;
let log: EventLog;
let readers = 0;

/** Consumes every record the group has not committed, and commits them (resolves once it has). */
async function consumeAll(groupId: string): Promise<string[]> {
  const seen: string[] = [];
  let done: () => void = () => {};
  const caughtUp = new Promise<void>((resolve) => (done = resolve));
  const consumer = await log.consume({
    groupId,
    handleBatch: async (batch: LogBatch) => {
      seen.push(...batch.records.map((record) => record.value));
      done();
    },
  });
  // Every record is in one batch (fewer than the batch limit); none at all is a short wait.
  await Promise.race([caughtUp, sleep(200)]);
  await consumer.stop();
  return seen;
}

/** Every record the log still holds, read by a group that never read before. */
const held = () => consumeAll(`reader-${readers++}`);

/** Long enough for several checks, so that one has run since the state was set. */
const afterChecks = () => sleep(CHECK_MS * 5);

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(T0);
  dataDir = mkdtempSync(join(tmpdir(), 'streamlens-log-retention-'));
  log = createEmbeddedEventLog({ dataDir, retentionMs: RETENTION_MS, retentionCheckMs: CHECK_MS });
});

afterEach(async () => {
  await log.close();
  vi.useRealTimers();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('embedded log retention', () => {
  it('deletes what is expired and committed by every group, and keeps what a group has not committed yet', async () => {
    await log.append([{ key: 't:a', value: 'a' }]);
    expect(await consumeAll('slow')).toEqual(['a']);
    await log.append([{ key: 't:a', value: 'b' }]);
    expect(await consumeAll('fast')).toEqual(['a', 'b']);

    vi.setSystemTime(T0 + RETENTION_MS + 1);
    await log.append([{ key: 't:a', value: 'c' }]);
    await afterChecks();
    // a and b are expired; 'slow' committed only a, so b stays for it.
    expect(await held()).toEqual(['b', 'c']);

    expect(await consumeAll('slow')).toEqual(['b', 'c']);
    await afterChecks();
    // Every group is past b now; c is not expired.
    expect(await held()).toEqual(['c']);
  });

  it('keeps everything while nothing is expired, however much is committed', async () => {
    await log.append([
      { key: 't:a', value: 'a' },
      { key: 't:a', value: 'b' },
    ]);
    expect(await consumeAll('only')).toEqual(['a', 'b']);
    vi.setSystemTime(T0 + RETENTION_MS - 1);
    await afterChecks();
    expect(await held()).toEqual(['a', 'b']);
  });

  it('deletes every committed record once all are expired', async () => {
    await log.append([
      { key: 't:a', value: 'a' },
      { key: 't:b', value: 'b' },
    ]);
    expect(await consumeAll('only')).toEqual(['a', 'b']);
    vi.setSystemTime(T0 + 10 * RETENTION_MS);
    await afterChecks();
    expect(await held()).toEqual([]);
    // New records get new offsets after the deleted ones, and are read as usual.
    await log.append([{ key: 't:a', value: 'c' }]);
    const batches: LogBatch[] = [];
    const consumer = await log.consume({ groupId: 'later', handleBatch: async (batch) => void batches.push(batch) });
    await vi.waitFor(() => expect(batches.flatMap((batch) => batch.records.map((record) => record.value))).toEqual(['c']));
    await consumer.stop();
    expect(batches[0]!.records[0]!.position.offset).toBe(3);
  });

  it('after the clock steps back, keeps a record stamped earlier until the records before it expire', async () => {
    await log.append([{ key: 't:a', value: 'a' }]);
    vi.setSystemTime(T0 + RETENTION_MS);
    await log.append([{ key: 't:a', value: 'b' }]);
    // The clock steps back by two retentions: c is stamped as if long expired, after b.
    vi.setSystemTime(T0 - RETENTION_MS);
    await log.append([{ key: 't:a', value: 'c' }]);
    expect(await consumeAll('only')).toEqual(['a', 'b', 'c']);

    vi.setSystemTime(T0 + RETENTION_MS + RETENTION_MS / 2);
    await afterChecks();
    // a is expired; b is not, and c comes after it in the log: it stays (kept longer, never deleted early).
    expect(await held()).toEqual(['b', 'c']);

    vi.setSystemTime(T0 + 3 * RETENTION_MS);
    await afterChecks();
    expect(await held()).toEqual([]);
  });
});
