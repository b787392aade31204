/**
 * The stream processor's worker thread (started by src/stream/processor-thread.ts): a
 * composition root like main.ts. It opens the adapters the processor writes through from the
 * service's configuration, constructs the processor with the options the app always gave it,
 * and reports to the main thread what the main thread serves (metrics, stalls, counters, logs).
 *
 * The in-process live bus cannot be shared between threads: with it, the processor's publishes
 * are relayed to the main thread's bus, where the subscribers are. Redis is opened here.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openAdapters, type Port } from './adapters/adapter-table.ts';
import type { LiveBus } from './ports/live-bus.ts';
import { instrumentPorts, type StoreDurationHistogram } from './observability/instrumented-ports.ts';
import { summarizeBatch } from './observability/metrics.ts';
import { createStreamProcessor, type ProcessorLogger, type ProcessorMetrics } from './stream/processor.ts';
import type {
  FromProcessorWorker,
  LogLevel,
  ProcessorReport,
  ProcessorWorkerData,
  ToProcessorWorker,
} from './stream/processor-thread-messages.ts';

/**
 * Store durations and retries accumulate between batches; this bounds how stale /metrics can
 * be while the processor is idle or failing (a batch's end sends its report at once).
 */
const REPORT_EVERY_MS = 250;

const port = parentPort;
if (!port) throw new Error('src/processor-worker.ts runs as a worker thread (src/stream/processor-thread.ts starts it)');
const { config } = workerData as ProcessorWorkerData;
const send = (message: FromProcessorWorker) => port.postMessage(message);

/** An error as pino's serializer shows it: what survives the copy to the main thread. */
function plainError(error: Error): object {
  return { type: error.name, ...error, message: error.message, stack: error.stack };
}

/**
 * Log details as plain data for the copy to the main thread: errors become plain objects, big
 * integers text. A detail JSON cannot hold (a cycle inside a driver's error) is kept one level
 * deep rather than failing the log call, which would fail the batch that logs.
 */
function cloneable(details: object): object {
  try {
    return JSON.parse(
      JSON.stringify(details, (_key, value: unknown) =>
        value instanceof Error ? plainError(value) : typeof value === 'bigint' ? value.toString() : value,
      ),
    ) as object;
  } catch {
    return Object.fromEntries(
      Object.entries(details).map(([key, value]) => [
        key,
        value instanceof Error
          ? { type: value.name, message: value.message, stack: value.stack }
          : value === null || ['string', 'number', 'boolean'].includes(typeof value)
            ? value
            : String(value),
      ]),
    );
  }
}

const logAt =
  (level: LogLevel) =>
  (details: object, message: string): void =>
    send({ kind: 'log', level, details: cloneable(details), message });
const logger: ProcessorLogger = { info: logAt('info'), warn: logAt('warn'), error: logAt('error') };

function emptyReport(): ProcessorReport {
  return { batches: [], setAside: [], batchFailures: [], storeDurations: [], stalls: [] };
}
let report = emptyReport();
let readStalls: () => ProcessorReport['stalls'] = () => [];

/** Sends what accumulated, with the stalls as they are now. */
function sendReport(): void {
  const sent = { ...report, stalls: readStalls() };
  report = emptyReport();
  send({ kind: 'report', report: sent });
}

const metrics: ProcessorMetrics = {
  observeBatch(batch) {
    report.batches.push(summarizeBatch(batch));
    // At once: freshness and the counters are read by tests and dashboards right after a batch.
    sendReport();
  },
  observeSetAside(reason, count) {
    report.setAside.push([reason, count]);
  },
  observeBatchFailure(cause) {
    report.batchFailures.push(cause);
  },
};

const storeDurations: StoreDurationHistogram = {
  observe({ port, operation, outcome }, seconds) {
    report.storeDurations.push([port, operation, outcome, seconds]);
  },
};

/** The in-process bus's stand-in: each publish is handed to the main thread's bus, in order. */
const relayedLiveBus: LiveBus = {
  async publish(topic, message) {
    send({ kind: 'publish', topic, message });
  },
  async subscribe() {
    throw new Error('the processor thread publishes only; subscribers listen on the main thread');
  },
  async checkHealth() {},
  async close() {},
};

async function run(): Promise<void> {
  const ports: Port[] = config.redisUrl ? ['log', 'eventStore', 'seriesStore', 'liveBus'] : ['log', 'eventStore', 'seriesStore'];
  let opened: Awaited<ReturnType<typeof openAdapters<Port>>>;
  try {
    opened = await openAdapters(config, ports, { logger });
  } catch (error) {
    send({ kind: 'startFailed', message: (error as Error).message });
    return;
  }
  const { log, eventStore, seriesStore } = opened.adapters;
  const timed = instrumentPorts({ log, eventStore, seriesStore, liveBus: opened.adapters.liveBus ?? relayedLiveBus }, storeDurations);
  // A relayed publish is timed where it happens, by the main thread's bus, not twice.
  const adapters = opened.adapters.liveBus ? timed : { ...timed, liveBus: relayedLiveBus };
  const processor = createStreamProcessor({
    ...adapters,
    policy: config.eventTime,
    secondRetentionMs: config.secondRetentionMs,
    logger,
    metrics,
    maxAttempts: config.processingMaxAttempts,
  });
  readStalls = () => processor.stalledPartitions();
  try {
    await processor.start();
  } catch (error) {
    await opened.close();
    send({ kind: 'startFailed', message: (error as Error).message });
    return;
  }
  const reportTimer = setInterval(sendReport, REPORT_EVERY_MS);
  send({ kind: 'started' });

  port!.on('message', (message: ToProcessorWorker) => {
    if (message.kind === 'status') {
      // The report first: /metrics then agrees with the counters this answer carries.
      sendReport();
      const counters = message.tenant === null ? processor.stats() : processor.tenantStats(message.tenant);
      send({ kind: 'status', id: message.id, counters });
      return;
    }
    void (async () => {
      clearInterval(reportTimer);
      await processor.stop();
      // As the app always did: the log first (its consumer is done), then the rest.
      await opened.close();
      sendReport();
      send({ kind: 'stopped' });
    })();
  });
}

void run();
