/**
 * The stream processor: consumes the log, dedupes, assigns event-time windows, rolls up, stores,
 * and publishes live updates. It runs inside the service process.
 *
 * Exactly-once effect with at-least-once delivery, per batch:
 *   1. claim every event in the event store, keyed by (tenant, id): the first log position to
 *      claim an id owns it, and only the owner is ever counted (dedupe across retries and replays);
 *   2. merge owned events into rollup and catalog rows that remember the highest offset they
 *      hold (a replay skips what a row already has);
 *   3. publish live updates, then return, so the log commits the batch's offsets.
 * A crash between any two steps replays the batch, and every step is harmless to repeat.
 *
 * Several instances, rebalances: a former owner of a partition may still be inside a batch
 * when the new owner starts on it. Neither can spoil the other's work (docs/architecture.md):
 *   - claims are insert-if-absent, so both owners read the same claim of every id and count
 *     the same events, with the same quarantine;
 *   - a row's content at a given appliedOffset is therefore the same whoever computes it, and
 *     the series store orders a row's versions by appliedOffset, so a late write of a lower
 *     offset changes nothing;
 *   - the progress row is the fencing token: a batch carries the version it read, and the
 *     store refuses it (PartitionFencedError) if another writer wrote in between. The batch is
 *     then abandoned: the partition's cached rows and progress are dropped and reloaded, and
 *     the log delivers the batch again (or the partition has gone). A fence is never a reason
 *     to set a record aside, and a record is set aside only after a fenced write confirmed
 *     that no other writer has written the partition since.
 *
 * Live updates may be lost (a bus is at most once), and subscribers must see that they were:
 * each tenant's events message names the range of the partition it covers (live-messages.ts),
 * from where this instance's previous message to that tenant ended (when it published every
 * batch of the partition in between) or else from just before the batch; a publish that fails
 * is retried in the background as a doorbell ("this range is stored, read it"), and the
 * series buckets it named are published again, until the bus takes them.
 *
 * A record it cannot count never halts the partition (batch-failures.ts does it, by the rule of
 * failure-policy.ts):
 *   - a record that is not an event is set aside (kept with its reason in the event store)
 *     before step 1, and the batch goes on;
 *   - a batch that fails is delivered again after a growing pause; after `maxAttempts` failed
 *     deliveries its records are isolated by bisection. Each part is processed as a batch of
 *     its own, in log order, through the same three steps, so the argument above holds for
 *     each part, and the log still commits only once the whole delivered batch is done;
 *   - a record that then fails alone, not for an outage, while the stores answer, is set aside:
 *     its entry is written and the claim its position made is released (so a replay of it, at
 *     a new position, can claim its id), then processing goes on with the next record. Both
 *     writes are harmless to repeat, so a crash before the commit replays them safely. The
 *     record's rollups were never written: rows only change in step 2, which failed for it.
 *   - an outage never sets anything aside: the batch is retried until the stores are back.
 * A set-aside record's id is free again: a later record with the same id (a client's retry) is
 * counted in its place, and a replay of the set-aside one is then a duplicate. Either way the
 * id is counted once.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventKey, type EventStore } from '../ports/event-store.ts';
import type { EventLog, LogConsumer, LogRecord } from '../ports/event-log.ts';
import type { SetAsideReason, SetAsideRecord } from '../domain/set-aside.ts';
import { backoffMs, DEFAULT_MAX_ATTEMPTS, type FailureCause } from './failure-policy.ts';
import { createBatchFailureHandling, type PartitionStall } from './batch-failures.ts';
import { setAsideEntry, whyUndecodable } from './set-aside.ts';
import { PartitionFencedError, type PartitionProgress, type SeriesStore } from '../ports/series-store.ts';
import { liveTopics, type LiveBus } from '../ports/live-bus.ts';
import type { StoredEvent } from '../domain/event.ts';
import type { Interval } from '../domain/interval.ts';
import { decodeLogRecord } from '../domain/log-record.ts';
import { quarantineReason, watermarkOf, type EventTimePolicy } from './event-time.ts';
import {
  catalogRowIdsOfBatch,
  mergeIntoCatalog,
  mergeIntoRollups,
  rollupRowIdsOfBatch,
  withoutPurgedSeconds,
  type CountedEvent,
} from './rollup-plan.ts';
import { encodeLiveMessage, mergeUnpublished, type EventsMessage, type LiveTopic, type SeriesMessage } from '../domain/live-messages.ts';
import { createRollupCache } from './rollup-cache.ts';
import { verifyLogIdentity } from './log-identity.ts';

export const PROCESSOR_GROUP_ID = 'streamlens-processor';

export interface ProcessorLogger {
  info(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

export interface StreamProcessorOptions {
  log: EventLog;
  eventStore: EventStore;
  seriesStore: SeriesStore;
  liveBus: LiveBus;
  policy: EventTimePolicy;
  /**
   * SECOND buckets older than this are deleted, and never written again (config.ts makes it
   * cover the allowed lateness).
   */
  secondRetentionMs: number;
  logger: ProcessorLogger;
  maxBatchSize?: number;
  /** Per-batch counts and freshness, for /metrics; nothing is reported without it. */
  metrics?: ProcessorMetrics;
  /** Failed deliveries of a batch before its records are isolated; default DEFAULT_MAX_ATTEMPTS. */
  maxAttempts?: number;
  /** The pause after the n-th failure in a row; default failure-policy's backoffMs (tests shorten it). */
  backoffMs?: (failures: number) => number;
}

/**
 * What the processor reports about each batch it finished (stored and published). An interface
 * here, implemented in observability/, so the processor knows nothing of Prometheus.
 */
export interface ProcessorMetrics {
  observeBatch(batch: {
    counted: readonly CountedEvent[];
    duplicates: number;
    quarantined: number;
    poison: number;
    publishedAt: number;
  }): void;
  /** Records set aside (kept in the event store with their reason). */
  observeSetAside(reason: SetAsideReason, count: number): void;
  /**
   * A delivered batch failed: for an outage (a dependency unreachable), for an error of its data,
   * or fenced (another writer took its partition over).
   */
  observeBatchFailure(cause: FailureCause): void;
}

export interface ProcessorStats {
  processed: number;
  duplicates: number;
  quarantined: number;
  /** Records that were not events (set aside as UNDECODABLE). */
  poison: number;
  /** Records set aside, for any reason (UNDECODABLE included). */
  setAside: number;
}

export interface StreamProcessor {
  start(): Promise<void>;
  /** Finishes the batch in hand, commits it, and stops. */
  stop(): Promise<void>;
  /** "Data complete up to", or null before the first event. */
  watermark(): number | null;
  lag(): Promise<number>;
  stats(): ProcessorStats;
  /** Partitions whose batch has failed STALLED_AFTER_FAILURES times or more in a row, now. */
  stalledPartitions(): PartitionStall[];
}

/** Decoded rollup rows kept between batches: the live buckets of a few thousand dimension combinations. */
const ROLLUP_CACHE_ROWS = 20_000;
/** How often other instances' partition progress is read: well inside the idle timeout. */
const PROGRESS_REFRESH_MS = 5_000;
/** How often live messages that could not be published are tried again: a bus outage lasts seconds. */
const REPUBLISH_EVERY_MS = 1_000;
/** Live messages kept for a retry: one per topic (merged), so this bounds the topics, not the traffic. */
const MAX_UNPUBLISHED_TOPICS = 10_000;
/**
 * Tenants whose last message this instance remembers per partition. Forgetting costs only a
 * store read per subscriber (its next message starts at its batch), so the bound is memory's.
 */
const MAX_ANNOUNCED_TENANTS = 10_000;
/** How often old SECOND buckets are purged; retention is hours, so once a minute is plenty. */
const PURGE_EVERY_MS = 60_000;
/**
 * The purge lease lasts three purge periods: a holder renews it each minute, a renewal that
 * fails once does not hand it over, and a holder that died is replaced within three minutes.
 */
const PURGE_LEASE_MS = 3 * PURGE_EVERY_MS;
/** A store's health check answers in milliseconds; one that does not within this is not answering. */
const HEALTH_CHECK_TIMEOUT_MS = 2_000;
export function createStreamProcessor(options: StreamProcessorOptions): StreamProcessor {
  const { log, eventStore, seriesStore, liveBus, policy, logger } = options;
  /** Every partition's progress: this instance's own, and the others' as last read from the store. */
  let progress = new Map<number, PartitionProgress>();
  /** The watermark never goes back, even when an idle partition wakes up behind it. */
  let emittedWatermark: number | null = null;
  let consumer: LogConsumer | null = null;
  let timers: NodeJS.Timeout[] = [];
  const stats: ProcessorStats = { processed: 0, duplicates: 0, quarantined: 0, poison: 0, setAside: 0 };
  const rollupCache = createRollupCache(ROLLUP_CACHE_ROWS);
  /** Aborts the pauses between attempts when the processor stops. */
  let stopping = new AbortController();
  /** Who this processor is to the purge lease: only the instance that holds it purges. */
  const purgeLeaseHolder = randomUUID();
  /** A purge slower than its period must not have the next one start beside it. */
  let purging = false;
  /**
   * Per partition, what this instance announced on the bus: the last offset of the last batch
   * it published, and per tenant where that tenant's last message ended. While batches follow
   * each other in one instance, a tenant's next message starts where its last one ended: the
   * batches in between held nothing of the tenant, so its subscribers, who heard nothing, have
   * no gap to fill.
   */
  const announced = new Map<number, { through: number; tenantFrom: Map<string, number> }>();
  /** Live messages the bus refused, to try again: by topic (events: per partition). */
  const unpublished = new Map<string, { topic: string; message: EventsMessage | SeriesMessage }>();

  const currentWatermark = () => {
    const computed = watermarkOf(progress, policy, Date.now());
    if (computed !== null && (emittedWatermark === null || computed > emittedWatermark)) emittedWatermark = computed;
    return emittedWatermark;
  };

  /**
   * Other instances advance their partitions: read theirs, keep ours unless another writer has
   * written it since (a higher version): then theirs is the truth, and the rows this instance
   * cached for the partition may be behind it, so they are dropped.
   */
  async function refreshProgress(): Promise<void> {
    try {
      const stored = await seriesStore.loadProgress();
      const merged = new Map(stored);
      for (const [partition, own] of progress) {
        const theirs = stored.get(partition);
        if (!theirs || theirs.version <= own.version) merged.set(partition, own);
        else rollupCache.dropPartition(partition);
      }
      progress = merged;
    } catch (error) {
      logger.warn({ err: error }, 'reading the progress of other partitions failed; will retry');
    }
  }

  /** Whether the stores the processor writes answer their health checks now. */
  async function storesAnswer(): Promise<boolean> {
    const checks = Promise.all([eventStore.checkHealth(), seriesStore.checkHealth()]);
    const deadline = sleep(HEALTH_CHECK_TIMEOUT_MS, 'timeout' as const, { ref: false });
    try {
      return (await Promise.race([checks.then(() => 'ok' as const), deadline])) === 'ok';
    } catch {
      return false;
    }
  }

  /**
   * Logs and counts records once they are kept and their batch is done: a batch that fails
   * after keeping them (and is delivered again) must not report them twice.
   */
  function announceSetAside(records: readonly SetAsideRecord[]): void {
    for (const record of records) {
      logger.warn(
        {
          position: record.position,
          reason: record.reason,
          tenant: record.tenant,
          eventId: record.eventId,
          attempts: record.attempts,
          error: record.error,
        },
        `set aside the log record at partition ${record.position.partition} offset ${record.position.offset}: ${record.reason}`,
      );
      options.metrics?.observeSetAside(record.reason, 1);
    }
    stats.setAside += records.length;
  }

  /**
   * A progress write of the partition was fenced: another writer wrote it since this instance
   * read it. What this instance holds of the partition may be behind: its cached rows and its
   * progress are dropped, and the progress read again, so a redelivered batch starts from the
   * store. Throws what the reload throws (an outage is then retried as one).
   */
  async function onFenced(fence: PartitionFencedError): Promise<void> {
    const { partition } = fence;
    rollupCache.dropPartition(partition);
    const withoutIt = new Map(progress);
    withoutIt.delete(partition);
    progress = withoutIt;
    logger.info(
      { partition, expectedVersion: fence.expectedVersion, storedVersion: fence.storedVersion },
      `partition ${partition} fenced: another writer wrote its progress since this instance read it; dropping its cached rows and reloading`,
    );
    const reloaded = (await seriesStore.loadProgress()).get(partition);
    if (reloaded) progress = new Map(progress).set(partition, reloaded);
  }

  /** saveBatch, reacting to a fence before passing it on. */
  async function saveFenced(batch: Parameters<SeriesStore['saveBatch']>[0]): Promise<void> {
    try {
      await seriesStore.saveBatch(batch);
    } catch (error) {
      if (error instanceof PartitionFencedError) await onFenced(error);
      throw error;
    }
  }

  /** The progress a batch ending at `lastOffset` leaves, from the one it read (its version is the one read). */
  function progressAfter(read: PartitionProgress | undefined, lastOffset: number, batchMaxEventTime: number | null): PartitionProgress {
    const maxEventTime =
      batchMaxEventTime === null ? (read?.maxEventTime ?? null) : Math.max(batchMaxEventTime, read?.maxEventTime ?? -Infinity);
    return {
      maxEventTime,
      storedThrough: Math.max(lastOffset, read?.storedThrough ?? -1),
      lastActiveAt: Math.max(Date.now(), read?.lastActiveAt ?? 0),
      version: read?.version ?? 0,
    };
  }

  /** The three steps of the exactly-once argument, for records of one partition in log order. */
  async function processRecords(partition: number, records: readonly LogRecord[]): Promise<void> {
    // The fencing token: the progress as read before anything of this batch is done.
    const progressRead = progress.get(partition);
    rollupCache.startBatch(partition, records[0]!.position.offset);
    const watermark = currentWatermark();
    const stored: StoredEvent[] = [];
    const undecodable: SetAsideRecord[] = [];
    for (const record of records) {
      const event = decodeLogRecord(record.value);
      if (!event) {
        undecodable.push(setAsideEntry(record, 'UNDECODABLE', whyUndecodable(record.value), 1, Date.now()));
        continue;
      }
      stored.push({ ...event, position: record.position, quarantine: quarantineReason(event, watermark, policy) });
    }
    // Before anything is counted: a record that is not an event is kept, never just skipped.
    if (undecodable.length > 0) await eventStore.setAside(undecodable);

    const claims = stored.length > 0 ? await eventStore.claim(stored) : new Map();
    const counted: CountedEvent[] = [];
    let duplicates = 0;
    let quarantined = 0;
    for (const event of stored) {
      const claim = claims.get(eventKey(event.tenant, event.id));
      if (!claim) throw new Error(`the event store returned no claim for event ${event.id}`);
      const owned = claim.position.partition === event.position.partition && claim.position.offset === event.position.offset;
      if (!owned) duplicates += 1;
      else if (claim.quarantine) quarantined += 1;
      else counted.push({ event: { ...event, quarantine: null }, partition, offset: event.position.offset });
    }

    const { cached, missing } = rollupCache.lookup(rollupRowIdsOfBatch(counted));
    const [loadedRollups, storedCatalog] = await Promise.all([
      missing.length > 0 ? seriesStore.loadRollups(missing) : Promise.resolve([]),
      seriesStore.loadCatalog(catalogRowIdsOfBatch(counted)),
    ]);
    const changedRollups = withoutPurgedSeconds(mergeIntoRollups([...cached, ...loadedRollups], counted), secondPurgeCut());
    const changedCatalog = mergeIntoCatalog(storedCatalog, counted);

    // Progress last: "stored through" must never run ahead of what the stores hold. Fenced on
    // the version read at the start: a writer that wrote since then makes this batch fail.
    const batchMax = counted.length > 0 ? Math.max(...counted.map((c) => c.event.timestamp)) : null;
    const next = progressAfter(progressRead, records.at(-1)!.position.offset, batchMax);
    await saveFenced({ rollups: changedRollups, catalog: changedCatalog, partition, progress: next });
    progress = new Map(progress).set(partition, { ...next, version: next.version + 1 });
    rollupCache.commitBatch(partition, next.storedThrough, [...loadedRollups, ...changedRollups]);

    await publish(partition, records[0]!.position.offset, next.storedThrough, counted, changedRollups);
    stats.processed += stored.length;
    stats.duplicates += duplicates;
    stats.quarantined += quarantined;
    stats.poison += undecodable.length;
    options.metrics?.observeBatch({ counted, duplicates, quarantined, poison: undecodable.length, publishedAt: Date.now() });
    announceSetAside(undecodable);
  }

  // What makes a failing batch end: retries with backoff, isolation, setting aside (batch-failures.ts).
  const failures = createBatchFailureHandling({
    processRecords,
    async setAside(entry) {
      // Releasing the record's claim is safe only if no other writer counted it: a fenced write
      // of the progress first (no rows) fails if another writer has written the partition since
      // this instance read it, and makes any write of theirs from before fail from now on.
      const { partition, offset } = entry.position;
      const read = progress.get(partition);
      const confirmed = progressAfter(read, offset - 1, null);
      await saveFenced({ rollups: [], catalog: [], partition, progress: confirmed });
      progress = new Map(progress).set(partition, { ...confirmed, version: confirmed.version + 1 });
      await eventStore.setAside([entry]);
      announceSetAside([entry]);
    },
    storesAnswer,
    logger,
    ...(options.metrics ? { observeBatchFailure: (cause: FailureCause) => options.metrics!.observeBatchFailure(cause) } : {}),
    maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    pauseAfter: options.backoffMs ?? backoffMs,
    stopping: () => stopping.signal,
  });

  /**
   * Publishes the batch's live updates: per tenant its counted events with the range they cover,
   * per (tenant, interval, type) the changed buckets. The bus is best effort: the data is stored,
   * so a failed publish does not fail the batch; it is kept and tried again (retryUnpublished),
   * and the tenant's next message starts at its batch, so its subscribers see the gap and read it.
   */
  async function publish(
    partition: number,
    firstOffset: number,
    lastOffset: number,
    counted: CountedEvent[],
    changedRollups: ReturnType<typeof mergeIntoRollups>,
  ): Promise<void> {
    let partitionState = announced.get(partition);
    // Another instance may have processed the records in between: nothing is known of them.
    if (!partitionState || partitionState.through !== firstOffset - 1) {
      partitionState = { through: firstOffset - 1, tenantFrom: new Map() };
      announced.set(partition, partitionState);
    }
    if (partitionState.tenantFrom.size > MAX_ANNOUNCED_TENANTS) partitionState.tenantFrom.clear();
    const eventsByTenant = new Map<string, StoredEvent[]>();
    for (const { event } of counted) {
      const list = eventsByTenant.get(event.tenant) ?? [];
      list.push(event);
      eventsByTenant.set(event.tenant, list);
    }
    const watermark = currentWatermark();
    const bucketsByTopic = new Map<LiveTopic<SeriesMessage>, SeriesMessage>();
    for (const row of changedRollups) {
      const topic = liveTopics.series(row.tenant, row.interval as Interval, row.type);
      let message = bucketsByTopic.get(topic);
      if (!message) bucketsByTopic.set(topic, (message = { watermark, buckets: [] }));
      message.buckets.push({ start: row.bucketStart, dimensions: row.dimensions });
    }
    const publications: Promise<void>[] = [];
    for (const [tenant, events] of eventsByTenant) {
      const message: EventsMessage = { partition, from: partitionState.tenantFrom.get(tenant) ?? firstOffset - 1, to: lastOffset, events };
      const tenantFrom = partitionState.tenantFrom;
      publications.push(
        liveBus.publish(liveTopics.events(tenant), encodeLiveMessage(message)).then(
          () => {
            tenantFrom.set(tenant, lastOffset);
          },
          (error: unknown) => {
            tenantFrom.delete(tenant);
            keepUnpublished(liveTopics.events(tenant), { ...message, events: null });
            throw error;
          },
        ),
      );
    }
    for (const [topic, message] of bucketsByTopic) {
      publications.push(
        liveBus.publish(topic, encodeLiveMessage(message)).catch((error: unknown) => {
          keepUnpublished(topic, message);
          throw error;
        }),
      );
    }
    const results = await Promise.allSettled(publications);
    partitionState.through = lastOffset;
    for (const result of results) {
      if (result.status === 'rejected') logger.warn({ err: result.reason }, 'a live update could not be published; it will be tried again');
    }
  }

  /** Keeps a refused message for a retry, merged with what its topic already waits with. */
  function keepUnpublished(topic: string, message: EventsMessage | SeriesMessage): void {
    const key = 'partition' in message ? `${topic}\u0000${message.partition}` : topic;
    const waiting = unpublished.get(key)?.message;
    if (!waiting && unpublished.size >= MAX_UNPUBLISHED_TOPICS) {
      logger.error({ topic }, 'too many live updates wait for the bus; this one is dropped (subscribers catch up by their periodic check)');
      return;
    }
    unpublished.set(key, { topic, message: waiting ? mergeUnpublished(waiting, message) : message });
  }

  async function retryUnpublished(): Promise<void> {
    for (const [key, { topic, message }] of [...unpublished]) {
      try {
        // The topic was bound to its message's type when the message was first published.
        const text: string = 'partition' in message ? encodeLiveMessage(message) : encodeLiveMessage(message);
        await liveBus.publish(topic, text);
        if (unpublished.get(key)?.message === message) unpublished.delete(key);
      } catch {
        // Still refused (the bus is down): the next round tries again.
        return;
      }
    }
  }

  /** SECOND buckets starting before this are purged, and so never written. */
  function secondPurgeCut(): number {
    return Date.now() - options.secondRetentionMs;
  }

  /** Every instance runs the timer; the one holding the purge lease purges. */
  async function purgeOldSeconds(): Promise<void> {
    if (purging) return;
    purging = true;
    try {
      if (!(await seriesStore.holdPurgeLease(purgeLeaseHolder, PURGE_LEASE_MS))) return;
      const deleted = await seriesStore.deleteBucketsBefore('SECOND', secondPurgeCut());
      if (deleted > 0) logger.info({ deleted }, 'purged SECOND buckets past retention');
    } catch (error) {
      logger.warn({ err: error }, 'purging old SECOND buckets failed; will retry');
    } finally {
      purging = false;
    }
  }

  return {
    async start() {
      stopping = new AbortController();
      // Before anything is read or written: the stored offsets must be this log's (log-identity.ts).
      await verifyLogIdentity(log, seriesStore);
      progress = await seriesStore.loadProgress();
      consumer = await log.consume({
        groupId: PROCESSOR_GROUP_ID,
        handleBatch: failures.handleBatch,
        ...(options.maxBatchSize ? { maxBatchSize: options.maxBatchSize } : {}),
      });
      timers = [
        setInterval(() => void purgeOldSeconds(), PURGE_EVERY_MS),
        setInterval(() => void refreshProgress(), PROGRESS_REFRESH_MS),
        setInterval(() => void retryUnpublished(), REPUBLISH_EVERY_MS),
      ];
      for (const timer of timers) timer.unref();
    },
    async stop() {
      stopping.abort();
      for (const timer of timers) clearInterval(timer);
      await consumer?.stop();
      consumer = null;
    },
    watermark: currentWatermark,
    lag: () => log.lag(PROCESSOR_GROUP_ID),
    stats: () => ({ ...stats }),
    stalledPartitions: failures.stalledPartitions,
  };
}
