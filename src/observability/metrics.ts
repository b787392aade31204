/**
 * Every Prometheus metric Streamlens exposes at /metrics, in one registry per app (never the
 * prom-client global one: two apps in one process, as some tests run, would collide).
 *
 * Labels are bounded on purpose. There is no tenant label anywhere: tenants are created at run
 * time without limit, every label value is one more time series per bucket in Prometheus, and a
 * metric per tenant multiplied by 15 histogram buckets and every operation is how a scrape grows
 * to millions of series. Per-tenant usage is data (the eventTypes query, the stores), not metrics.
 * The labels that remain take values from fixed lists (a result, a port operation, a schema
 * field) or from a capped set (GraphQL operation names, see graphql-metrics.ts).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ProcessorMetrics } from '../stream/processor.ts';
import type { PartitionStall } from '../stream/batch-failures.ts';
import { SET_ASIDE_REASONS } from '../domain/set-aside.ts';

/** What became of the events of ingest calls. */
export const INGEST_RESULTS = ['accepted', 'rejected', 'refused'] as const;
export type IngestEventResult = (typeof INGEST_RESULTS)[number];

/** What the processor did with each log record it read. */
export const PROCESSING_OUTCOMES = ['counted', 'duplicate', 'quarantined', 'poison'] as const;

/**
 * Why a delivered batch failed: a dependency was unreachable, its data made processing fail, or
 * another writer had taken its partition over (fenced: the batch is abandoned, never set aside).
 */
export const BATCH_FAILURE_CAUSES = ['outage', 'error', 'fenced'] as const;

/** The subscription root fields of the schema: the `kind` of an active subscription. */
export const SUBSCRIPTION_KINDS = ['events', 'series', 'top'] as const;

/**
 * Receipt to publication: a healthy embedded instance publishes within milliseconds, a loaded
 * one within a second or two; past 30 s the processor is behind and the lag gauge says by how much.
 */
const FRESHNESS_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** A SQLite read is tens of microseconds, a Cassandra or Kafka round trip milliseconds, a timeout seconds. */
const STORE_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** From a cached lookup to a year of SECOND buckets. */
const GRAPHQL_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface CacheMetrics {
  hit(count?: number): void;
  miss(count?: number): void;
}

/**
 * One processed batch as /metrics counts it: what ProcessorMetrics.observeBatch reports, reduced
 * to numbers, so that a processor in a worker thread can send it to the main thread's registry.
 */
export interface ProcessedBatchSummary {
  counted: number;
  duplicates: number;
  quarantined: number;
  poison: number;
  /** Per counted event, receipt by ingest to publication, in seconds. */
  freshnessSeconds: number[];
}

/** A processed batch's figures for /metrics (see ProcessedBatchSummary). */
export function summarizeBatch(batch: Parameters<ProcessorMetrics['observeBatch']>[0]): ProcessedBatchSummary {
  return {
    counted: batch.counted.length,
    duplicates: batch.duplicates,
    quarantined: batch.quarantined,
    poison: batch.poison,
    // receivedAt is another instance's clock when ingest and processing run apart: a slightly
    // fast clock there must not produce negative durations.
    freshnessSeconds: batch.counted.map(({ event }) => Math.max(0, batch.publishedAt - event.receivedAt) / 1000),
  };
}

export interface StreamlensMetrics {
  registry: Registry;
  ingestEvents: Counter<'result'>;
  storeOperationDuration: Histogram<'port' | 'operation' | 'outcome'>;
  graphqlOperationDuration: Histogram<'operation_type' | 'operation_name'>;
  activeSubscriptions: Gauge<'kind'>;
  cacheHits: Counter<'cache'>;
  cacheMisses: Counter<'cache'>;
  /** What the stream processor reports per batch (processed outcomes and freshness). */
  processor: ProcessorMetrics;
  /** The same count as processor.observeBatch, from a summary (a processor in a worker thread sends it). */
  observeProcessedBatch(summary: ProcessedBatchSummary): void;
  /** Where the lag gauge reads from: the lag monitor's last sample, so a scrape costs no log round trip. */
  readProcessingLagFrom(read: () => number | null): void;
  /** Where the stalled-partition gauges read from: the processor's failure streaks, in memory. */
  readStallsFrom(read: () => readonly PartitionStall[]): void;
  /** The hit/miss pair of one named cache (a fixed name per cache in the code, never data). */
  cache(name: string): CacheMetrics;
}

export function createMetrics(): StreamlensMetrics {
  const registry = new Registry();
  // process_* and nodejs_* under their standard names, so stock Node dashboards work as they are.
  collectDefaultMetrics({ register: registry });

  const ingestEvents = new Counter({
    name: 'streamlens_ingest_events_total',
    help: 'Events received by the ingest mutation, by result: accepted (durable in the log), rejected (invalid, acknowledged REJECTED), refused (the whole call failed: overload, log unavailable, shutting down, batch too large; the client retries).',
    labelNames: ['result'],
    registers: [registry],
  });
  // Every series exists from the start, so rate() sees the first increment instead of a new series.
  for (const result of INGEST_RESULTS) ingestEvents.inc({ result }, 0);

  const processedEvents = new Counter({
    name: 'streamlens_processed_events_total',
    help: 'Log records handled by the stream processor, by outcome: counted, duplicate (an id already owned by an earlier record), quarantined (too late or too far in the future), poison (not an event: set aside as UNDECODABLE). A replayed batch counts again.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  for (const outcome of PROCESSING_OUTCOMES) processedEvents.inc({ outcome }, 0);

  const freshness = new Histogram({
    name: 'streamlens_event_freshness_seconds',
    help: 'Per counted event, from its receipt by ingest (receivedAt) to the end of the batch that stored it and published its live updates.',
    buckets: FRESHNESS_BUCKETS_SECONDS,
    registers: [registry],
  });

  let readLag: () => number | null = () => null;
  new Gauge({
    name: 'streamlens_processing_lag_events',
    help: 'Events appended to the log and not yet committed by the stream processor, over all partitions (last sample of the lag monitor; NaN while the log cannot tell).',
    registers: [registry],
    collect() {
      // NaN rather than 0: "unknown" must not read as "caught up".
      this.set(readLag() ?? Number.NaN);
    },
  });

  const setAsideRecords = new Counter({
    name: 'streamlens_set_aside_records_total',
    help: 'Log records the stream processor set aside instead of counting them, by reason: UNDECODABLE (not an event), UNPROCESSABLE (failed alone, repeatedly, while the stores answered). They are kept, with the reason, in the setAsideRecords query, and can be replayed.',
    labelNames: ['reason'],
    registers: [registry],
  });
  for (const reason of SET_ASIDE_REASONS) setAsideRecords.inc({ reason }, 0);

  const batchFailures = new Counter({
    name: 'streamlens_processing_batch_failures_total',
    help: 'Deliveries of a log batch the stream processor failed to process (each is delivered again after a pause), by cause: outage (a store or the log unreachable), error (an error of the data or the code) or fenced (another instance wrote the partition meanwhile).',
    labelNames: ['cause'],
    registers: [registry],
  });
  for (const cause of BATCH_FAILURE_CAUSES) batchFailures.inc({ cause }, 0);

  let readStalls: () => readonly PartitionStall[] = () => [];
  new Gauge({
    name: 'streamlens_stalled_partitions',
    help: 'Log partitions whose batch has failed twice or more in a row on this instance, now: processing of the partition does not advance.',
    registers: [registry],
    collect() {
      this.set(readStalls().length);
    },
  });
  new Gauge({
    name: 'streamlens_processing_stalled_seconds',
    help: 'How long the longest current stall of a partition has lasted, since its first failed attempt (0 when none is stalled).',
    registers: [registry],
    collect() {
      const oldest = Math.min(...readStalls().map((stall) => stall.since));
      this.set(Number.isFinite(oldest) ? Math.max(0, Date.now() - oldest) / 1000 : 0);
    },
  });

  const storeOperationDuration = new Histogram({
    name: 'streamlens_store_operation_duration_seconds',
    help: 'Duration of calls to the event log, event store, series store and live bus, by port, operation and outcome (ok, error).',
    labelNames: ['port', 'operation', 'outcome'],
    buckets: STORE_BUCKETS_SECONDS,
    registers: [registry],
  });

  const graphqlOperationDuration = new Histogram({
    name: 'streamlens_graphql_operation_duration_seconds',
    help: 'Execution time of GraphQL operations (parsing and validation excluded; for a subscription, the time to set it up), by operation type and operation name (anonymous; other past the first names seen).',
    labelNames: ['operation_type', 'operation_name'],
    buckets: GRAPHQL_BUCKETS_SECONDS,
    registers: [registry],
  });

  const activeSubscriptions = new Gauge({
    name: 'streamlens_active_subscriptions',
    help: 'Subscriptions this instance serves now, over WebSocket and SSE, by kind (the subscription field).',
    labelNames: ['kind'],
    registers: [registry],
  });
  for (const kind of SUBSCRIPTION_KINDS) activeSubscriptions.set({ kind }, 0);

  const cacheHits = new Counter({
    name: 'streamlens_cache_hits_total',
    help: 'Lookups answered from a result cache, by cache.',
    labelNames: ['cache'],
    registers: [registry],
  });
  const cacheMisses = new Counter({
    name: 'streamlens_cache_misses_total',
    help: 'Lookups a result cache could not answer, by cache.',
    labelNames: ['cache'],
    registers: [registry],
  });

  const observeProcessedBatch = ({ counted, duplicates, quarantined, poison, freshnessSeconds }: ProcessedBatchSummary) => {
    processedEvents.inc({ outcome: 'counted' }, counted);
    processedEvents.inc({ outcome: 'duplicate' }, duplicates);
    processedEvents.inc({ outcome: 'quarantined' }, quarantined);
    processedEvents.inc({ outcome: 'poison' }, poison);
    for (const seconds of freshnessSeconds) freshness.observe(seconds);
  };
  const processor: ProcessorMetrics = {
    observeBatch: (batch) => observeProcessedBatch(summarizeBatch(batch)),
    observeSetAside(reason, count) {
      setAsideRecords.inc({ reason }, count);
    },
    observeBatchFailure(cause) {
      batchFailures.inc({ cause });
    },
  };

  return {
    registry,
    ingestEvents,
    storeOperationDuration,
    graphqlOperationDuration,
    activeSubscriptions,
    cacheHits,
    cacheMisses,
    processor,
    observeProcessedBatch,
    readProcessingLagFrom(read) {
      readLag = read;
    },
    readStallsFrom(read) {
      readStalls = read;
    },
    cache(name) {
      // Both series exist once the cache does, so a hit ratio is defined before the first miss.
      cacheHits.inc({ cache: name }, 0);
      cacheMisses.inc({ cache: name }, 0);
      return {
        hit: (count = 1) => cacheHits.inc({ cache: name }, count),
        miss: (count = 1) => cacheMisses.inc({ cache: name }, count),
      };
    },
  };
}
