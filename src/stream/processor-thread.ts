/**
 * Runs the stream processor, on the main thread or in a worker thread of its own, behind one
 * interface the app reads streamStatus, /metrics and readiness from.
 *
 * In a worker (the service's default, PROCESSOR_THREAD=worker), the processor opens its own
 * adapters from the same configuration (src/processor-worker.ts), so its synchronous work (SQLite
 * reads and writes, decoding, rollup merges) runs on another core than HTTP, GraphQL and ingest.
 * What crossed nothing while both shared a thread now crosses the boundary:
 *   - the embedded log wakes consumers in other threads itself (a BroadcastChannel, see
 *     embedded-event-log.ts); Kafka needs nothing;
 *   - live messages for the in-process bus are relayed here and published on the main thread's
 *     bus, where the subscribers listen; Redis is opened by the worker and needs nothing;
 *   - metrics, stalled partitions and logs are relayed here in reports;
 *   - the DATA_DIR lock is the process's (a pid), taken once by main.ts: the worker is inside it.
 * Nothing on the main thread caches what the processor writes: the result cache holds final
 * buckets only, which the processor never changes.
 *
 * A worker that dies without being asked to stop (an uncaught error, out of memory) is not
 * restarted here: `failed` settles, readiness turns false, streamStatus fails, and main.ts stops
 * the service gracefully and exits non-zero, so its supervisor restarts it. The stores need no
 * repair: a batch not committed is delivered again and every step is harmless to repeat
 * (processor.ts), exactly as after a SIGKILL.
 */
import { Worker } from 'node:worker_threads';
import type { Config } from '../config.ts';
import type { EventLog } from '../ports/event-log.ts';
import type { LiveBus } from '../ports/live-bus.ts';
import type { StreamlensMetrics } from '../observability/metrics.ts';
import { unavailable } from '../errors.ts';
import type { PartitionStall } from './batch-failures.ts';
import { PROCESSOR_GROUP_ID, type ProcessorLogger, type StreamProcessor, type TenantStats } from './processor.ts';
import type { FromProcessorWorker, ProcessorReport, ProcessorWorkerData, ToProcessorWorker } from './processor-thread-messages.ts';

/** The worker thread's entry: a composition root beside main.ts, since it opens adapters. */
export const PROCESSOR_WORKER_ENTRY = new URL('../processor-worker.ts', import.meta.url);

/** A status read that waits longer than this on the worker is failed rather than left hanging. */
const STATUS_TIMEOUT_MS = 5_000;

export interface ProcessorStatus {
  /** Accepted events not yet processed and committed, over all partitions. */
  lag: number;
  /** The instance's counters (tenant null) or one tenant's. */
  counters: TenantStats;
}

/** The stream processor as the app sees it, wherever it runs. */
export interface RunningProcessor {
  /**
   * The lag, then the counters: read in that order, the counters include every event the lag
   * says is processed (the processor counts a batch before the log commits it), so a caller that
   * waits for lag 0 then sees every count.
   */
  status(tenant: string | null): Promise<ProcessorStatus>;
  /** Partitions whose batch keeps failing, now (as last reported, from a worker). */
  stalledPartitions(): PartitionStall[];
  /** Settles with the reason if the processor stopped without being asked to; never otherwise. */
  failed: Promise<Error>;
  /** Finishes and commits the batch in hand, and stops (in a worker: and closes its adapters). */
  stop(): Promise<void>;
}

/** The processor on the calling thread: what the app always did, and PROCESSOR_THREAD=main. */
export function processorOnThisThread(processor: StreamProcessor, log: EventLog): RunningProcessor {
  return {
    async status(tenant) {
      const lag = await log.lag(PROCESSOR_GROUP_ID);
      return { lag, counters: tenant === null ? processor.stats() : processor.tenantStats(tenant) };
    },
    stalledPartitions: () => processor.stalledPartitions(),
    failed: new Promise<Error>(() => {}),
    stop: () => processor.stop(),
  };
}

export interface ProcessorWorkerOptions {
  config: Config;
  /** The main thread's log: the lag is read here, with the same adapter the lag monitor uses. */
  log: EventLog;
  /** The main thread's live bus: relayed publishes go out on it (the in-process bus only). */
  liveBus: LiveBus;
  metrics: StreamlensMetrics;
  logger: ProcessorLogger;
  /** The worker's script; tests start a failing one to see what the service does. */
  entry?: URL;
}

/** Starts the processor in a worker thread; resolves once it has started (its consumer runs). */
export async function startProcessorWorker(options: ProcessorWorkerOptions): Promise<RunningProcessor> {
  const { metrics, logger } = options;
  const workerData: ProcessorWorkerData = { config: options.config };
  const worker = new Worker(options.entry ?? PROCESSOR_WORKER_ENTRY, { workerData });
  let stalls: PartitionStall[] = [];
  let stopRequested = false;
  let stoppedCleanly = false;
  let nextStatusId = 0;
  const pendingStatus = new Map<number, { resolve: (counters: TenantStats) => void; reject: (error: Error) => void }>();

  let settleStart: { resolve: () => void; reject: (error: Error) => void } | null = null;
  const started = new Promise<void>((resolve, reject) => (settleStart = { resolve, reject }));
  let reportFailure: (error: Error) => void = () => {};
  const failed = new Promise<Error>((resolve) => (reportFailure = resolve));
  let failure: Error | null = null;
  let onStopped: () => void = () => {};
  const stoppedMessage = new Promise<void>((resolve) => (onStopped = resolve));

  function applyReport(report: ProcessorReport): void {
    for (const batch of report.batches) metrics.observeProcessedBatch(batch);
    for (const [reason, count] of report.setAside) metrics.processor.observeSetAside(reason, count);
    for (const cause of report.batchFailures) metrics.processor.observeBatchFailure(cause);
    for (const [port, operation, outcome, seconds] of report.storeDurations) {
      metrics.storeOperationDuration.observe({ port, operation, outcome }, seconds);
    }
    stalls = report.stalls;
  }

  worker.on('message', (message: FromProcessorWorker) => {
    switch (message.kind) {
      case 'started':
        settleStart?.resolve();
        return;
      case 'startFailed':
        settleStart?.reject(new Error(message.message));
        return;
      case 'report':
        applyReport(message.report);
        return;
      case 'publish':
        // The in-process bus calls its listeners synchronously and never fails a publish.
        void options.liveBus.publish(message.topic, message.message);
        return;
      case 'log':
        logger[message.level](message.details, message.message);
        return;
      case 'status': {
        const pending = pendingStatus.get(message.id);
        pendingStatus.delete(message.id);
        pending?.resolve(message.counters);
        return;
      }
      case 'stopped':
        stoppedCleanly = true;
        onStopped();
        return;
    }
  });

  /** The worker is gone: nothing it was asked will be answered. */
  function workerGone(error: Error): void {
    if (failure) return;
    failure = error;
    settleStart?.reject(error);
    for (const pending of pendingStatus.values()) pending.reject(unavailable('the stream processor is not running', error));
    pendingStatus.clear();
    if (!stopRequested) {
      logger.error({ err: error }, 'the stream processor thread died; the service stops so that it can be restarted');
      reportFailure(error);
    }
  }
  worker.on('error', (error) => workerGone(error));
  worker.on('messageerror', (error) => workerGone(error));
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  void exited.then((code) => {
    if (!stoppedCleanly) workerGone(new Error(`the stream processor thread exited with code ${code} before it was stopped`));
    onStopped();
  });

  try {
    await started;
  } catch (error) {
    stopRequested = true;
    await worker.terminate();
    throw error;
  }
  settleStart = null;

  const post = (message: ToProcessorWorker) => worker.postMessage(message);
  return {
    async status(tenant) {
      const lag = await options.log.lag(PROCESSOR_GROUP_ID);
      if (failure) throw unavailable('the stream processor is not running', failure);
      const id = nextStatusId++;
      const counters = await new Promise<TenantStats>((resolve, reject) => {
        const timer = setTimeout(() => {
          pendingStatus.delete(id);
          reject(unavailable(`the stream processor did not answer within ${STATUS_TIMEOUT_MS} ms`));
        }, STATUS_TIMEOUT_MS);
        pendingStatus.set(id, {
          resolve: (value) => {
            clearTimeout(timer);
            resolve(value);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
        post({ kind: 'status', id, tenant });
      });
      return { lag, counters };
    },
    stalledPartitions: () => stalls,
    failed,
    async stop() {
      if (stopRequested) return;
      stopRequested = true;
      if (failure) return;
      post({ kind: 'stop' });
      // Every message the worker sent before 'stopped' (the last batch's publishes and counts)
      // has been handled once it arrives. Its adapters are closed by then: what is left of the
      // thread (a client library's stray handle) must not hold the shutdown.
      await stoppedMessage;
      await worker.terminate();
    },
  };
}
