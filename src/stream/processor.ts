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
 * live-publisher.ts sends each batch's updates with the log range they cover, and retries what
 * the bus refuses.
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
import type { LiveBus } from '../ports/live-bus.ts';
import type { StoredEvent } from '../domain/event.ts';
import { decodeLogRecord } from '../domain/log-record.ts';
import { quarantineReason, type EventTimePolicy } from './event-time.ts';
import {
  candidateWatermark,
  committedAfterBatch,
  decisionWatermark,
  heartbeatWatermark,
  shownWatermark,
  watermarkContribution,
  type PartitionView,
} from './watermark.ts';
import {
  catalogRowIdsOfBatch,
  mergeIntoCatalog,
  mergeIntoRollups,
  rollupPlanOf,
  withoutPurgedSeconds,
  type CountedEvent,
} from './rollup-plan.ts';
import { createLivePublisher, REPUBLISH_EVERY_MS } from './live-publisher.ts';
import { forgetEncoding } from '../domain/rollup.ts';
import { cachedRowWeight, createCatalogCache, createRollupCache } from './rollup-cache.ts';
import { assertLogNotBehindStores, verifyLogIdentity } from './log-identity.ts';

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
  /** The wall clock; default Date.now (tests move it). */
  now?: () => number;
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
  /**
   * "Data complete up to", or null before the first event: the lowest committed watermark over
   * the partitions as this instance last read them (src/stream/watermark.ts). Never above the
   * stored one, so what it calls final is final.
   */
  watermark(): number | null;
  lag(): Promise<number>;
  stats(): ProcessorStats;
  /** Partitions whose batch has failed STALLED_AFTER_FAILURES times or more in a row, now. */
  stalledPartitions(): PartitionStall[];
  /** This instance's counters of one tenant's records, since it started. */
  tenantStats(tenant: string): TenantStats;
}

/** What this instance processed of one tenant's records, since it started. */
export interface TenantStats {
  processed: number;
  duplicates: number;
  quarantined: number;
  /** Records set aside as not events that still named this tenant. */
  poison: number;
}

/**
 * Decoded rollup rows kept between batches: the live buckets of a few thousand dimension
 * combinations. A row weighs 1 plus one per KiB of its distinct sketches (cachedRowWeight), so
 * rows full of dense sketches (16 KiB each) take about 20 MiB of sketches at most, not 1.3 GiB.
 */
const ROLLUP_CACHE_ROWS = 20_000;
/** Catalog rows kept between batches: one per (tenant, type, partition), small (two key lists of 64 names at most). */
const CATALOG_CACHE_ROWS = 20_000;
/**
 * How often other instances' partition progress and the log's ends are read, and idle
 * partitions get their heartbeat: well inside the default idle timeout (30 s).
 */
const PROGRESS_REFRESH_MS = 5_000;
/** How many times a batch retries the write that opens it after an idle gap before failing (another writer keeps winning). */
const OPENING_WRITE_ATTEMPTS = 5;
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
  /** Each partition's newest offset in the log, as last read (after the progress it is compared with). */
  let logEnds = new Map<number, number | null>();
  /**
   * Per partition, the highest offset an earlier attempt (this process's, or a predecessor's
   * before a crash or a rebalance) may have claimed: a batch at or below it replays claims whose
   * lateness decisions were made then, so it must not raise the committed watermark.
   */
  const claimedThrough = new Map<number, number>();
  /**
   * Partitions whose row this instance holds as written by itself: any other (its first batch
   * here, or after a failure) has its progress and the log's end read afresh before a decision.
   */
  const trusted = new Set<number>();
  /** One batch or heartbeat of a partition at a time on this instance. */
  const partitionTurns = new Map<number, Promise<unknown>>();
  let consumer: LogConsumer | null = null;
  let timers: NodeJS.Timeout[] = [];
  const stats: ProcessorStats = { processed: 0, duplicates: 0, quarantined: 0, poison: 0, setAside: 0 };
  const statsByTenant = new Map<string, TenantStats>();
  const rollupCache = createRollupCache(ROLLUP_CACHE_ROWS, cachedRowWeight);
  const catalogCache = createCatalogCache(CATALOG_CACHE_ROWS);
  /** What this instance holds of a partition's rows is behind another writer's: forget it. */
  const dropCachedRows = (partition: number) => {
    rollupCache.dropPartition(partition);
    catalogCache.dropPartition(partition);
  };
  /** Aborts the pauses between attempts when the processor stops. */
  let stopping = new AbortController();
  /** Who this processor is to the purge lease: only the instance that holds it purges. */
  const purgeLeaseHolder = randomUUID();
  /** A purge slower than its period must not have the next one start beside it. */
  let purging = false;
  const now = options.now ?? Date.now;

  const currentWatermark = () => shownWatermark(progress.values());
  // Live updates of stored batches, with their log ranges, retried when the bus refuses them.
  const livePublisher = createLivePublisher({ liveBus, logger, watermark: currentWatermark });

  const tenantStats = (tenant: string): TenantStats => {
    let entry = statsByTenant.get(tenant);
    if (!entry) statsByTenant.set(tenant, (entry = { processed: 0, duplicates: 0, quarantined: 0, poison: 0 }));
    return entry;
  };

  /** The partitions as this instance knows them: every progress row and every partition of the log. */
  function partitionViews(
    rows: ReadonlyMap<number, PartitionProgress>,
    ends: ReadonlyMap<number, number | null>,
  ): Map<number, PartitionView> {
    const views = new Map<number, PartitionView>();
    for (const partition of new Set([...rows.keys(), ...ends.keys()])) {
      views.set(partition, { progress: rows.get(partition), lastOffset: ends.has(partition) ? ends.get(partition) : undefined });
    }
    return views;
  }

  /** Runs `task` once every earlier batch or heartbeat of the partition on this instance is done. */
  function inTurn<T>(partition: number, task: () => Promise<T>): Promise<T> {
    const previous = partitionTurns.get(partition) ?? Promise.resolve();
    const mine = previous.then(task, task);
    const settled = mine.catch(() => {});
    partitionTurns.set(partition, settled);
    void settled.then(() => {
      if (partitionTurns.get(partition) === settled) partitionTurns.delete(partition);
    });
    return mine;
  }

  /** Merges rows read from the store with ours: a row written since the read has a higher version. */
  function mergeStored(stored: ReadonlyMap<number, PartitionProgress>): void {
    const merged = new Map(stored);
    for (const [partition, held] of progress) {
      const read = stored.get(partition);
      if (!read || read.version < held.version) merged.set(partition, held);
      // Another writer wrote the partition since: the rows cached for it may be behind theirs.
      else if (read.version > held.version) dropCachedRows(partition);
    }
    progress = merged;
  }

  /**
   * Other instances advance their partitions: read theirs (keep ours), then the log's ends (after
   * the rows, so a record appended meanwhile makes its partition look behind, never idle), and
   * raise the committed watermark of every partition that is caught up and idle.
   */
  async function refreshProgress(): Promise<void> {
    let stored: Map<number, PartitionProgress>;
    try {
      stored = await seriesStore.loadProgress();
      logEnds = await log.partitionEnds();
      mergeStored(stored);
    } catch (error) {
      logger.warn({ err: error }, 'reading the progress of other partitions failed; will retry');
      return;
    }
    await heartbeatIdlePartitions(stored, logEnds);
  }

  /**
   * An idle partition has no batch to carry its committed watermark forward, so it would hold
   * finality back for good: any instance raises it with a progress write without rows, fenced by
   * the row's version (a batch of its owner and a heartbeat cannot both win the same version).
   */
  async function heartbeatIdlePartitions(stored: ReadonlyMap<number, PartitionProgress>, ends: ReadonlyMap<number, number | null>) {
    const views = partitionViews(stored, ends);
    // Taken after the reads: a partition is idle only if it was quiet for the timeout before them.
    const at = now();
    for (const [partition, view] of views) {
      const raised = heartbeatWatermark(partition, views, policy, at);
      if (raised === null || !view.progress) continue;
      const row = view.progress;
      try {
        await inTurn(partition, async () => {
          const heartbeat: PartitionProgress = {
            ...row,
            committedWatermark: raised,
            lastActiveAt: at,
            // Kept as it was: a legacy row's quiet time must not restart with the heartbeat.
            lastAppendedAt: row.lastAppendedAt ?? row.lastActiveAt,
          };
          await seriesStore.saveBatch({ rollups: [], catalog: [], partition, progress: heartbeat });
          const written = { ...heartbeat, version: row.version + 1 };
          const own = progress.get(partition);
          if (!own || own.version <= row.version) progress = new Map(progress).set(partition, written);
        });
      } catch (error) {
        // Another writer (the owner's batch, another instance's heartbeat) won: nothing to do.
        if (!(error instanceof PartitionFencedError))
          logger.warn({ err: error, partition }, 'an idle partition heartbeat failed; will retry');
      }
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
    dropCachedRows(partition);
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

  /**
   * The progress that only confirms what is stored, before a record is set aside: nothing moves
   * but the version (and the activity time), so it fails if another writer has written since.
   */
  function confirmationOf(read: PartitionProgress | undefined, setAsideOffset: number): PartitionProgress {
    if (read) return { ...read, lastActiveAt: Math.max(now(), read.lastActiveAt) };
    return {
      maxEventTime: null,
      storedThrough: setAsideOffset - 1,
      lastActiveAt: now(),
      lastAppendedAt: null,
      committedWatermark: null,
      version: 0,
    };
  }

  /**
   * Before deciding anything: when this instance cannot trust what it holds of the partition (its
   * first batch here, a failure, a batch that does not follow its stored position), it reads the
   * progress and the log's end afresh, and takes every record up to that end as possibly claimed
   * by a predecessor. After an idle gap long enough for a heartbeat to have raised the committed
   * watermark, it writes the row first (a version bump): a heartbeat racing with this batch then
   * loses, or wins before any decision is made with a stale threshold.
   */
  async function openBatch(partition: number, records: readonly LogRecord[]): Promise<PartitionProgress | undefined> {
    const first = records[0]!.position.offset;
    let own = progress.get(partition);
    if (!own || !trusted.has(partition) || own.storedThrough + 1 !== first) {
      const stored = await seriesStore.loadProgress();
      mergeStored(stored);
      const ends = await log.partitionEnds();
      logEnds = ends;
      const end = ends.get(partition) ?? records.at(-1)!.position.offset;
      claimedThrough.set(partition, Math.max(claimedThrough.get(partition) ?? -1, end));
      trusted.add(partition);
      own = progress.get(partition);
    }
    if (!own) return undefined;
    const quietFor = (records[0]!.appendedAt ?? now()) - (own.lastAppendedAt ?? own.lastActiveAt);
    // Half the timeout: instance clocks are taken to agree within that (NTP keeps them within milliseconds).
    if (quietFor < policy.idlePartitionMs / 2) return own;
    for (let attempt = 1; ; attempt++) {
      try {
        const opening: PartitionProgress = { ...own, lastActiveAt: now() };
        await seriesStore.saveBatch({ rollups: [], catalog: [], partition, progress: opening });
        own = { ...opening, version: own.version + 1 };
        progress = new Map(progress).set(partition, own);
        return own;
      } catch (error) {
        if (!(error instanceof PartitionFencedError) || attempt >= OPENING_WRITE_ATTEMPTS) throw error;
        mergeStored(await seriesStore.loadProgress());
        own = progress.get(partition);
        if (!own) return undefined;
      }
    }
  }

  /** The three steps of the exactly-once argument, for records of one partition in log order. */
  function processRecords(partition: number, records: readonly LogRecord[]): Promise<void> {
    return inTurn(partition, async () => {
      try {
        await processInTurn(partition, records);
      } catch (error) {
        // Whatever was decided and claimed for these records may be replayed: trust nothing held.
        trusted.delete(partition);
        claimedThrough.set(partition, Math.max(claimedThrough.get(partition) ?? -1, records.at(-1)!.position.offset));
        throw error;
      }
    });
  }

  async function processInTurn(partition: number, records: readonly LogRecord[]): Promise<void> {
    rollupCache.startBatch(partition, records[0]!.position.offset);
    catalogCache.startBatch(partition, records[0]!.position.offset);
    const previous = await openBatch(partition, records);
    const mayBeClaimedThrough = claimedThrough.get(partition) ?? -1;
    const replaying = records[0]!.position.offset <= mayBeClaimedThrough;
    // Once this batch is stored, no record an earlier attempt may have claimed is left to count
    // unless the replay goes on past it: only then must the commitment wait.
    const replayGoesOn = replaying && records.at(-1)!.position.offset < mayBeClaimedThrough;
    claimedThrough.set(partition, Math.max(claimedThrough.get(partition) ?? -1, records.at(-1)!.position.offset));
    const views = partitionViews(progress, logEnds);
    const watermark = decisionWatermark({
      committed: previous?.committedWatermark ?? null,
      shown: currentWatermark(),
      candidate: candidateWatermark(views, policy, now(), partition),
      replaying,
    });
    const stored: StoredEvent[] = [];
    const undecodable: SetAsideRecord[] = [];
    for (const record of records) {
      const event = decodeLogRecord(record.value);
      if (!event) {
        undecodable.push(setAsideEntry(record, 'UNDECODABLE', whyUndecodable(record.value), 1, Date.now()));
        continue;
      }
      // The decoded event is this batch's own: it becomes the stored event without a copy.
      const quarantine = quarantineReason(event, watermark, policy);
      stored.push(Object.assign(event, { position: record.position, quarantine }));
    }
    // Before anything is counted: a record that is not an event is kept, never just skipped.
    if (undecodable.length > 0) await eventStore.setAside(undecodable);

    const claims = stored.length > 0 ? await eventStore.claim(stored) : new Map();
    const counted: CountedEvent[] = [];
    let duplicates = 0;
    let quarantined = 0;
    const byTenant: { tenant: string; outcome: 'counted' | 'duplicate' | 'quarantined' }[] = [];
    for (const event of stored) {
      const claim = claims.get(eventKey(event.tenant, event.id));
      if (!claim) throw new Error(`the event store returned no claim for event ${event.id}`);
      const owned = claim.position.partition === event.position.partition && claim.position.offset === event.position.offset;
      if (!owned) {
        duplicates += 1;
        byTenant.push({ tenant: event.tenant, outcome: 'duplicate' });
      } else if (claim.quarantine) {
        quarantined += 1;
        byTenant.push({ tenant: event.tenant, outcome: 'quarantined' });
      } else {
        // The claim's decision counts (an earlier attempt may have made it), and it said none.
        counted.push({
          event: event.quarantine === null ? event : { ...event, quarantine: null },
          partition,
          offset: event.position.offset,
        });
        byTenant.push({ tenant: event.tenant, outcome: 'counted' });
      }
    }

    const plan = rollupPlanOf(counted);
    const { cached, missing } = rollupCache.lookup([...plan.rows.values()]);
    const catalogRows = catalogCache.lookup(catalogRowIdsOfBatch(counted));
    const [loadedRollups, loadedCatalog] = await Promise.all([
      missing.length > 0 ? seriesStore.loadRollups(missing) : Promise.resolve([]),
      catalogRows.missing.length > 0 ? seriesStore.loadCatalog(catalogRows.missing) : Promise.resolve([]),
    ]);
    const changedRollups = withoutPurgedSeconds(mergeIntoRollups([...cached, ...loadedRollups], counted, plan), secondPurgeCut());
    const changedCatalog = mergeIntoCatalog([...catalogRows.cached, ...loadedCatalog], counted);

    // Progress last: "stored through" must never run ahead of what the stores hold.
    const batchMax = counted.length > 0 ? Math.max(...counted.map((c) => watermarkContribution(c.event))) : null;
    const maxEventTime = batchMax === null ? (previous?.maxEventTime ?? null) : Math.max(batchMax, previous?.maxEventTime ?? -Infinity);
    const last = records.at(-1)!;
    const base: PartitionProgress = {
      maxEventTime,
      storedThrough: last.position.offset,
      lastActiveAt: now(),
      lastAppendedAt: last.appendedAt ?? now(),
      committedWatermark: watermark,
      version: previous?.version ?? 0,
    };
    const after = partitionViews(new Map(progress).set(partition, base), logEnds);
    const next: PartitionProgress = {
      ...base,
      committedWatermark: committedAfterBatch({
        decided: watermark,
        candidate: candidateWatermark(after, policy, now(), partition),
        replaying: replayGoesOn,
      }),
    };
    // Fenced on the version read when the batch opened: a writer that wrote since makes it fail.
    await saveFenced({ rollups: changedRollups, catalog: changedCatalog, partition, progress: next });
    progress = new Map(progress).set(partition, { ...next, version: next.version + 1 });
    rollupCache.commitBatch(partition, next.storedThrough, [...loadedRollups, ...changedRollups]);
    catalogCache.commitBatch(partition, next.storedThrough, [...loadedCatalog, ...changedCatalog]);

    await livePublisher.publish(partition, records[0]!.position.offset, next.storedThrough, counted, changedRollups);
    // Stored and published, each from one encoding: the cached rows need not keep the texts.
    for (const row of changedRollups) forgetEncoding(row.aggregate);
    stats.processed += stored.length;
    stats.duplicates += duplicates;
    stats.quarantined += quarantined;
    stats.poison += undecodable.length;
    for (const { tenant, outcome } of byTenant) {
      const entry = tenantStats(tenant);
      entry.processed += 1;
      if (outcome === 'duplicate') entry.duplicates += 1;
      if (outcome === 'quarantined') entry.quarantined += 1;
    }
    for (const record of undecodable) if (record.tenant) tenantStats(record.tenant).poison += 1;
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
      await inTurn(partition, async () => {
        const confirmed = confirmationOf(progress.get(partition), offset);
        await saveFenced({ rollups: [], catalog: [], partition, progress: confirmed });
        progress = new Map(progress).set(partition, { ...confirmed, version: confirmed.version + 1 });
      });
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
      try {
        logEnds = await log.partitionEnds();
      } catch (error) {
        // Until it is read, no partition counts as caught up: none is idle, nothing jumps.
        logger.warn({ err: error }, "reading the log's partition ends failed; will retry");
      }
      // A log that ends below the stored progress was replaced under stores older than identities.
      assertLogNotBehindStores(progress, logEnds);
      consumer = await log.consume({
        groupId: PROCESSOR_GROUP_ID,
        handleBatch: failures.handleBatch,
        ...(options.maxBatchSize ? { maxBatchSize: options.maxBatchSize } : {}),
      });
      // At least twice per idle timeout, so an idle partition's heartbeat comes within 1.5 timeouts.
      const refreshEvery = Math.max(1, Math.min(PROGRESS_REFRESH_MS, policy.idlePartitionMs / 2));
      timers = [
        setInterval(() => void purgeOldSeconds(), PURGE_EVERY_MS),
        setInterval(() => void refreshProgress(), refreshEvery),
        setInterval(() => void livePublisher.retryUnpublished(), REPUBLISH_EVERY_MS),
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
    tenantStats: (tenant) => ({ ...(statsByTenant.get(tenant) ?? { processed: 0, duplicates: 0, quarantined: 0, poison: 0 }) }),
    stalledPartitions: failures.stalledPartitions,
  };
}
