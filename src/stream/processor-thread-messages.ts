/**
 * What the main thread and the processor's worker thread say to each other
 * (src/stream/processor-thread.ts on the main thread, src/processor-worker.ts in the worker).
 * Every message is structured-cloned, so it holds plain data only.
 *
 * One MessagePort carries everything, in order: a status answer comes after every report and
 * every relayed publish the worker sent before it, which is what lets the main thread answer
 * streamStatus consistently (see RunningProcessor.status).
 */
import type { Config } from '../config.ts';
import type { ProcessedBatchSummary } from '../observability/metrics.ts';
import type { SetAsideReason } from '../domain/set-aside.ts';
import type { PartitionStall } from './batch-failures.ts';
import type { FailureCause } from './failure-policy.ts';
import type { ProcessorStats, TenantStats } from './processor.ts';

/** What the worker is started with (its workerData): the service's configuration, as loaded. */
export interface ProcessorWorkerData {
  config: Config;
}

/** One call to the store-duration histogram, made in the worker: [port, operation, outcome, seconds]. */
export type StoreDurationSample = [port: string, operation: string, outcome: string, seconds: number];

/**
 * What the processor did since the last report, for /metrics and readiness. Counters travel as
 * increments, gauges (stalls) as their value now.
 */
export interface ProcessorReport {
  batches: ProcessedBatchSummary[];
  setAside: [reason: SetAsideReason, count: number][];
  batchFailures: FailureCause[];
  storeDurations: StoreDurationSample[];
  stalls: PartitionStall[];
}

export type LogLevel = 'info' | 'warn' | 'error';

export type ToProcessorWorker =
  /** Answer with the counters now: the whole instance's (tenant null) or one tenant's. */
  | { kind: 'status'; id: number; tenant: string | null }
  /** Finish and commit the batch in hand, close the adapters, and end the thread. */
  | { kind: 'stop' };

export type FromProcessorWorker =
  | { kind: 'started' }
  | { kind: 'startFailed'; message: string }
  | { kind: 'report'; report: ProcessorReport }
  /** A live message for the in-process bus, which only the main thread's subscribers listen to. */
  | { kind: 'publish'; topic: string; message: string }
  | { kind: 'log'; level: LogLevel; details: object; message: string }
  | { kind: 'status'; id: number; counters: ProcessorStats | TenantStats }
  | { kind: 'stopped' };
