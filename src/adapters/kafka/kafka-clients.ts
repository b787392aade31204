/**
 * The two kafkajs clients of the Kafka event log, with opposite failure policies, and the
 * deadline every call that a client waits on is bounded by:
 * - the write path (producer, and the admin behind lag and health checks) fails fast, because a
 *   client is waiting: ingest answers UNAVAILABLE within seconds and the client retries;
 * - the read path (one consumer per consume() call) is patient, because nobody is waiting: it
 *   retries and restarts by itself until the brokers are back.
 */
import { Kafka, logLevel as kafkaLogLevels, type ISocketFactory, type KafkaConfig, type LogEntry, type RetryOptions } from 'kafkajs';

export type KafkaLogLevel = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

/** A live broker answers a connection in milliseconds; one that drops packets counts as down after a second. */
const CONNECTION_TIMEOUT_MS = 1_000;
/** Longer than the ack timeout (kafka-producer.ts), so that the broker's own timeout answer wins over a client-side one. */
const WRITE_REQUEST_TIMEOUT_MS = 4_000;
/**
 * kafkajs nests retriers (a send retries, and so does the connection it reconnects inside each
 * attempt), so the total is a product. With these numbers a broker that refuses connections
 * fails an append in 0.5 to 1.3 s (test/contract/kafka-smoke.test.ts), while ~600 ms of backoff
 * still rides out a leader election, which takes well under a second on a healthy cluster.
 */
export const WRITE_RETRY: RetryOptions = { retries: 2, initialRetryTime: 200, maxRetryTime: 1_000, factor: 0.2, multiplier: 2 };
/**
 * kafkajs' defaults, spelled out because kafkajs swaps them for much shorter ones when NODE_ENV
 * is 'test'. A consumer that runs out of retries crashes and kafkajs restarts it.
 */
export const READ_RETRY: RetryOptions = { retries: 5, initialRetryTime: 300, maxRetryTime: 30_000, factor: 0.2, multiplier: 2 };

const KAFKAJS_LEVEL_OF: Record<KafkaLogLevel, number> = {
  nothing: kafkaLogLevels.NOTHING,
  error: kafkaLogLevels.ERROR,
  warn: kafkaLogLevels.WARN,
  info: kafkaLogLevels.INFO,
  debug: kafkaLogLevels.DEBUG,
};

export interface KafkaClientOptions {
  brokers: string[];
  clientId?: string;
  logLevel?: KafkaLogLevel;
  socketFactory?: ISocketFactory;
}

/** kafkajs' own log messages at the chosen level or above go to `report`. */
export function createKafkaClients(
  options: KafkaClientOptions,
  report: (error: unknown) => void,
): { writeClient: Kafka; readClient: Kafka } {
  const sharedConfig: KafkaConfig = {
    brokers: options.brokers,
    clientId: options.clientId ?? 'streamlens',
    logLevel: KAFKAJS_LEVEL_OF[options.logLevel ?? 'error'],
    logCreator: () => (entry: LogEntry) => report(errorOfLogEntry(entry)),
    ...(options.socketFactory ? { socketFactory: options.socketFactory } : {}),
  };
  const writeClient = new Kafka({
    ...sharedConfig,
    connectionTimeout: CONNECTION_TIMEOUT_MS,
    requestTimeout: WRITE_REQUEST_TIMEOUT_MS,
    retry: WRITE_RETRY,
  });
  const readClient = new Kafka({ ...sharedConfig, retry: READ_RETRY });
  return { writeClient, readClient };
}

/** Settles with `work`, or rejects after `ms` (aborting `cutOff`, so work that checks it stops early). */
export function withinDeadline<T>(work: Promise<T>, ms: number, cutOff?: AbortController): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      const timeout = new Error(`Kafka did not answer within ${ms} ms`);
      cutOff?.abort(timeout);
      reject(timeout);
    }, ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function errorOfLogEntry({ namespace, label, log }: LogEntry): Error {
  const { message, timestamp: _timestamp, logger: _logger, ...details } = log;
  const where = namespace ? ` [${namespace}]` : '';
  return new Error(`kafkajs ${label}${where}: ${message}`, { cause: details });
}
