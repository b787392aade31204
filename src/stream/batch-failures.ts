/**
 * What makes a failing batch end, so that no record halts its partition for good:
 *   - a batch that fails is delivered again after a growing pause (the log redelivers what a
 *     rejected handleBatch held), and its failures in a row form a streak, logged once;
 *   - after `maxAttempts` failed deliveries its records are isolated by bisection, each part
 *     processed as a batch of its own, in log order, through the processor's three steps;
 *   - a record that then fails alone, not for an outage, while the stores answer, is set aside,
 *     and processing goes on with the next;
 *   - an outage never sets anything aside: the batch waits until the stores are back;
 *   - a fenced batch (another writer took the partition over, PartitionFencedError) is neither
 *     retried here nor isolated: it fails at once, whole, logged as 'partition fenced', and the
 *     log delivers it again (to this instance, whose processor reloaded the progress) or not at
 *     all (the partition was revoked). It does not count toward `maxAttempts`.
 * The rule that tells an outage from a poison record is failure-policy.ts's.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LogBatch, LogRecord } from '../ports/event-log.ts';
import type { SetAsideRecord } from '../domain/set-aside.ts';
import {
  ATTEMPTS_ALONE,
  describeFailure,
  failureCause,
  isFenced,
  isOutage,
  STALLED_AFTER_FAILURES,
  type FailureCause,
} from './failure-policy.ts';
import { setAsideEntry } from './set-aside.ts';

/** A partition whose batch keeps failing: /ready and the metrics report it. */
export interface PartitionStall {
  partition: number;
  /** The first offset of the batch that fails. */
  offset: number;
  /** Failed deliveries in a row. */
  failures: number;
  /** When the first of them failed (epoch ms). */
  since: number;
  /** Whether the last failure was an outage (a dependency unreachable) rather than an error of the data. */
  outage: boolean;
  lastError: string;
  /** Whether its records are being isolated (the failures reached the bound). */
  isolating: boolean;
}

/** A one-line reason naming the stalled partitions, for /ready. */
export function describeStalls(stalls: readonly PartitionStall[], now: number): string {
  const parts = stalls.map(
    (s) =>
      `partition ${s.partition} at offset ${s.offset} (${s.failures} failed attempts over ${Math.round((now - s.since) / 1000)} s, ` +
      `${s.outage ? 'a dependency is unavailable' : s.isolating ? 'isolating the record that fails' : 'retrying'}: ${s.lastError.slice(0, 200)})`,
  );
  return `the stream processor is stalled on ${parts.join('; ')}`;
}

/**
 * A failure streak not touched for this long is forgotten: its partition went to another
 * instance (a rebalance), which now reports it. Far above the longest pause between attempts.
 */
const FORGET_STREAK_AFTER_MS = 60_000;

interface FailureStreak extends PartitionStall {
  /** The last time a delivery of the partition started or failed: a streak not touched is stale. */
  touchedAt: number;
}

export interface BatchFailureOptions {
  /** The processor's three steps, for records of one partition in log order. */
  processRecords(partition: number, records: readonly LogRecord[]): Promise<void>;
  /** Keeps a record that failed alone (its entry, and the release of its claim), and reports it. */
  setAside(entry: SetAsideRecord): Promise<void>;
  /** Whether the stores the processor writes answer now. */
  storesAnswer(): Promise<boolean>;
  logger: { info(object: object, message: string): void; warn(object: object, message: string): void };
  observeBatchFailure?(cause: FailureCause): void;
  /** Failed deliveries of a batch before its records are isolated. */
  maxAttempts: number;
  /** The pause after the n-th failure in a row. */
  pauseAfter(failures: number): number;
  /** Aborted when the processor stops: the pauses are cut short. */
  stopping(): AbortSignal;
}

export interface BatchFailureHandling {
  /** What the log calls with each batch: the processor's steps, with retries, isolation and setting aside around them. */
  handleBatch(batch: LogBatch): Promise<void>;
  /** Partitions whose batch has failed STALLED_AFTER_FAILURES times or more in a row, now. */
  stalledPartitions(): PartitionStall[];
}

export function createBatchFailureHandling(options: BatchFailureOptions): BatchFailureHandling {
  /** The partitions whose current batch has failed, by partition. */
  const streaks = new Map<number, FailureStreak>();

  /** Pauses between attempts; cut short when the processor stops. */
  async function pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: options.stopping() }).catch(() => {});
  }

  /**
   * Processes the records by bisection: the whole range first, and on a failure each half in
   * turn (left first: log order), down to single records. k culprits among n records cost
   * about 2·k·log2(n) attempts. An outage ends the isolation: it is retried as a whole later.
   */
  async function isolate(partition: number, records: readonly LogRecord[], deliveries: number): Promise<void> {
    touch(partition);
    if (records.length === 1) return processAlone(partition, records[0]!, deliveries);
    try {
      await options.processRecords(partition, records);
      return;
    } catch (error) {
      if (isOutage(error) || isFenced(error)) throw error;
    }
    const middle = Math.ceil(records.length / 2);
    await isolate(partition, records.slice(0, middle), deliveries);
    await isolate(partition, records.slice(middle), deliveries);
  }

  /**
   * One record on its own: tried ATTEMPTS_ALONE times, then set aside, unless the failure is an
   * outage or the stores do not answer, which leaves it for the next delivery.
   */
  async function processAlone(partition: number, record: LogRecord, deliveries: number): Promise<void> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= ATTEMPTS_ALONE; attempt++) {
      try {
        await options.processRecords(partition, [record]);
        return;
      } catch (error) {
        if (isOutage(error) || isFenced(error)) throw error;
        lastError = error;
      }
    }
    if (!(await options.storesAnswer())) throw lastError;
    await options.setAside(setAsideEntry(record, 'UNPROCESSABLE', describeFailure(lastError), deliveries + ATTEMPTS_ALONE, Date.now()));
  }

  function touch(partition: number): void {
    const streak = streaks.get(partition);
    if (streak) streak.touchedAt = Date.now();
  }

  /** Counts a failed delivery; logs the first of a streak only, so an outage is one line, not one per attempt. */
  function noteFailure(partition: number, offset: number, error: unknown): FailureStreak {
    const outage = isOutage(error);
    const lastError = describeFailure(error);
    options.observeBatchFailure?.(outage ? 'outage' : 'error');
    const now = Date.now();
    let streak = streaks.get(partition);
    if (!streak) {
      streak = { partition, offset, failures: 0, since: now, outage, lastError, isolating: false, touchedAt: now };
      streaks.set(partition, streak);
      options.logger.warn(
        { partition, offset, outage, error: lastError },
        `processing partition ${partition} failed at offset ${offset}; retrying with backoff (logged again when it recovers or its records are isolated)`,
      );
    }
    streak.failures += 1;
    streak.outage = outage;
    streak.lastError = lastError;
    streak.touchedAt = now;
    return streak;
  }

  async function handleBatch(batch: LogBatch): Promise<void> {
    const { partition } = batch;
    const offset = batch.records[0]!.position.offset;
    let streak = streaks.get(partition);
    // A batch that starts elsewhere: the failing one was handled meanwhile (by another instance).
    if (streak && streak.offset !== offset) {
      streaks.delete(partition);
      streak = undefined;
    }
    try {
      if (streak && streak.failures >= options.maxAttempts) {
        if (!streak.isolating) {
          streak.isolating = true;
          options.logger.warn(
            { partition, offset, failures: streak.failures, error: streak.lastError },
            `partition ${partition} failed ${streak.failures} times at offset ${offset}; isolating the records that fail`,
          );
        }
        await isolate(partition, batch.records, streak.failures);
      } else {
        touch(partition);
        await options.processRecords(partition, batch.records);
      }
    } catch (error) {
      if (failureCause(error) === 'fenced') {
        // Not a failure of this batch's data or of a store: no streak, no pause, no isolation.
        options.observeBatchFailure?.('fenced');
        options.logger.warn(
          { partition, offset, error: describeFailure(error) },
          `partition ${partition} fenced at offset ${offset}: another writer took it over; the batch is abandoned and delivered again`,
        );
        throw error;
      }
      const failed = noteFailure(partition, offset, error);
      await pause(options.pauseAfter(failed.failures));
      throw error;
    }
    if (streak) {
      streaks.delete(partition);
      options.logger.info(
        { partition, offset, failures: streak.failures, stalledMs: Date.now() - streak.since },
        `partition ${partition} advances again after ${streak.failures} failed attempts`,
      );
    }
  }

  return {
    handleBatch,
    stalledPartitions() {
      const now = Date.now();
      const stalled: PartitionStall[] = [];
      for (const [partition, streak] of streaks) {
        if (now - streak.touchedAt > FORGET_STREAK_AFTER_MS) streaks.delete(partition);
        else if (streak.failures >= STALLED_AFTER_FAILURES) {
          const { touchedAt: _touchedAt, ...stall } = streak;
          stalled.push(stall);
        }
      }
      return stalled;
    },
  };
}
