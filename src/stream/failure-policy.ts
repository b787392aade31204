/**
 * How the stream processor tells an outage from a poison record, and how long it waits between
 * attempts. Pure: no I/O, no clock.
 *
 * The rule (docs/observability.md, "Set-aside records and stalled partitions"):
 * - a batch that fails is delivered again, after a growing pause, up to `maxAttempts` times;
 * - then its records are isolated (the batch is bisected), and a record that fails on its own,
 *   with an error that is not an outage, while the stores answer their health checks, is set
 *   aside; every other record is counted as usual;
 * - an outage (a store or the log unreachable) never sets anything aside: the partition waits,
 *   retrying, and says so on /ready and in the metrics until the outage ends.
 */
import { StreamlensError } from '../errors.ts';
import { PartitionFencedError } from '../ports/series-store.ts';

/**
 * Deliveries of a failing batch before its records are isolated; PROCESSING_MAX_ATTEMPTS
 * overrides it. Small, because isolating costs nothing during an outage (it stops at the first
 * outage error) while every attempt before it holds the whole partition back (about 3 s here).
 */
export const DEFAULT_MAX_ATTEMPTS = 3;
/** First pause after a failure: long enough not to spin, short enough that a blip costs little. */
const FIRST_BACKOFF_MS = 250;
/** The pause doubles per failure up to this: an outage is retried every few seconds, not hammered. */
const MAX_BACKOFF_MS = 8_000;
/** How many times a record that failed alone is tried alone before it is set aside (one retry rules out a blip). */
export const ATTEMPTS_ALONE = 2;
/** A partition counts as stalled from its second failure in a row: one failure may be a blip. */
export const STALLED_AFTER_FAILURES = 2;

/** The pause before the next attempt, after `failures` failures in a row (1, 2, ...). */
export function backoffMs(failures: number): number {
  return Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.max(0, failures - 1));
}

/**
 * Errors of our own code on this data: the same record fails the same way every time, whoever
 * wrapped the error on its way up (the SQLite adapters wrap every failure as UNAVAILABLE).
 */
const DETERMINISTIC_ERRORS = [RangeError, TypeError, SyntaxError, ReferenceError];

/** Driver error names that mean "cannot reach the server now" (MongoDB, Cassandra, Kafka, Node). */
const OUTAGE_ERROR_NAMES = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongoTopologyClosedError',
  'MongoNotConnectedError',
  'MongoWriteConcernError',
  'NoHostAvailableError',
  'OperationTimedOutError',
  'BusyConnectionError',
  'KafkaJSConnectionError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSNumberOfRetriesExceeded',
  'AbortError',
  'TimeoutError',
]);

/** Node system and SQLite error codes of an unreachable or full resource. */
const OUTAGE_CODE_PREFIXES = [
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOSPC',
  'EIO',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_FULL',
  'SQLITE_IOERR',
  'SQLITE_CANTOPEN',
  'SQLITE_READONLY',
  'SQLITE_PROTOCOL',
  'SQLITE_NOMEM',
];

/**
 * Server answers that refuse this content, not the request: the same record is refused every
 * time although the server is up. MongoDB: BadValue (2), InvalidBSON (22), BSONObjectTooLarge
 * (10334), a key too long for an index (17280). Cassandra (cassandra-driver ResponseError):
 * Invalid (0x2200), SyntaxError (0x2000).
 */
const REFUSAL_CODES: Record<string, ReadonlySet<number>> = {
  MongoServerError: new Set([2, 22, 10334, 17280]),
  MongoBulkWriteError: new Set([2, 22, 10334, 17280]),
  ResponseError: new Set([0x2200, 0x2000]),
};

/** At most this many causes are followed: a cause chain is short, and a cyclic one must not hang. */
const MAX_CAUSE_DEPTH = 8;

function chainOf(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = error;
  while (current !== undefined && current !== null && chain.length < MAX_CAUSE_DEPTH && !chain.includes(current)) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

function isRefusal(error: unknown): boolean {
  const { name, code } = error as { name?: unknown; code?: unknown };
  return typeof name === 'string' && typeof code === 'number' && (REFUSAL_CODES[name]?.has(code) ?? false);
}

function signalsOutage(error: unknown): boolean {
  if (error instanceof StreamlensError) return error.code === 'UNAVAILABLE' || error.retryable;
  if (typeof error !== 'object' || error === null) return false;
  const { name, code, retriable, errorLabels } = error as { name?: unknown; code?: unknown; retriable?: unknown; errorLabels?: unknown };
  if (retriable === true) return true; // kafkajs marks the errors a retry can fix
  if (typeof name === 'string' && OUTAGE_ERROR_NAMES.has(name)) return true;
  if (typeof code === 'string' && OUTAGE_CODE_PREFIXES.some((prefix) => code.startsWith(prefix))) return true;
  // MongoDB labels the errors after which the driver itself would retry.
  const labels = errorLabels instanceof Set ? [...errorLabels] : Array.isArray(errorLabels) ? errorLabels : [];
  return labels.some((label) => label === 'RetryableWriteError' || label === 'TransientTransactionError' || label === 'ResetPool');
}

/**
 * True when the error says a dependency is unreachable (retry later, never set anything aside),
 * false when it is about this data (a bug of ours on this record, or a store refusing it).
 * An error of our own code or a content refusal anywhere in the cause chain wins: an adapter
 * may report it as UNAVAILABLE, but retrying will not change it.
 */
export function isOutage(error: unknown): boolean {
  const chain = chainOf(error);
  if (chain.some((link) => DETERMINISTIC_ERRORS.some((kind) => link instanceof kind) || isRefusal(link))) return false;
  return chain.some(signalsOutage);
}

/**
 * True when the batch was fenced: another writer (the partition's new owner after a rebalance)
 * wrote the partition's progress since this batch read it. That says nothing about the data or
 * the stores: the batch is abandoned whole, as it is, and delivered again (or goes with the
 * partition), never bisected and never set aside.
 */
export function isFenced(error: unknown): boolean {
  return chainOf(error).some((link) => link instanceof PartitionFencedError);
}

/** What a failed batch is, for its handling and the metrics: fenced wins, then outage. */
export type FailureCause = 'fenced' | 'outage' | 'error';

export function failureCause(error: unknown): FailureCause {
  return isFenced(error) ? 'fenced' : isOutage(error) ? 'outage' : 'error';
}

/** A message for logs and the dead letter: one line, bounded, well-formed. */
export function describeFailure(error: unknown, maxLength = 1_000): string {
  const chain = chainOf(error);
  const text = chain.map((link) => (link instanceof Error ? `${link.name}: ${link.message}` : String(link))).join(' <- caused by ');
  const oneLine = text.replace(/\s+/g, ' ').toWellFormed();
  return oneLine.length > maxLength ? `${oneLine.slice(0, maxLength - 1)}…` : oneLine;
}
