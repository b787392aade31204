/**
 * The series store's offsets belong to one event log. Rows skip every offset at or below their
 * `appliedOffset`, and the progress says how far the log is stored: applied to another log whose
 * offsets start again at 0 (a Kafka topic deleted and created again, the embedded log.sqlite
 * removed while the stores were kept), they would silently skip its events. So the stores record
 * the identity of their log on the first start, and a start on another log is refused.
 */
import type { EventLog } from '../ports/event-log.ts';
import type { PartitionProgress, SeriesStore } from '../ports/series-store.ts';

/** The one error a start on another log fails with; its message is all an operator needs. */
export class LogIdentityMismatchError extends Error {
  override name = 'LogIdentityMismatchError';
}

/** What the operator reads, on one line: what happened, why it matters, and what to do. */
export function logIdentityMismatchMessage(recorded: string, current: string): string {
  return (
    `the event log is not the one the stores were built from: the series store recorded the log ${recorded}, and the log now ` +
    `is ${current}. The log was replaced (a Kafka topic deleted and created again, or the embedded log.sqlite removed), so its ` +
    'offsets started again at 0, and the stored rollups and progress, which skip every offset they already hold, would ignore ' +
    'its events. Nothing was processed. Either bring back the original log (restore log.sqlite from a backup, or set ' +
    'KAFKA_TOPIC to the original topic), or start over with empty stores: a new CASSANDRA_KEYSPACE and MONGODB_URL database, ' +
    'or, embedded, remove series.sqlite and events.sqlite from DATA_DIR (the rollups are rebuilt only from events still in the log)'
  );
}

/**
 * Records the log's identity in the series store when it holds none (a first start), and
 * throws LogIdentityMismatchError when it holds another. Stores made before identities existed
 * record the log they run on at their first start with this version: they cannot tell.
 */
export async function verifyLogIdentity(log: EventLog, seriesStore: SeriesStore): Promise<void> {
  const current = await log.identity();
  const recorded = await seriesStore.recordLogIdentity(current);
  if (recorded !== current) throw new LogIdentityMismatchError(logIdentityMismatchMessage(recorded, current));
}

/**
 * The partitions whose log ends below what the stores hold: a log's newest offset only grows
 * (retention deletes the oldest records, never the offsets), so a log that ends before a
 * partition's stored-through offset is not the log the stores were built from. This catches a
 * replaced log that the identity cannot: stores made before identities were recorded adopt the
 * first log they start on. A partition whose end is unknown or that holds no record (null: all
 * expired, or a new log) says nothing here; the identity covers a new log.
 */
export function partitionsBehindStores(
  progress: ReadonlyMap<number, PartitionProgress>,
  logEnds: ReadonlyMap<number, number | null>,
): { partition: number; logEnd: number; storedThrough: number }[] {
  const behind: { partition: number; logEnd: number; storedThrough: number }[] = [];
  for (const [partition, row] of progress) {
    const logEnd = logEnds.get(partition);
    if (logEnd === undefined || logEnd === null) continue;
    if (logEnd < row.storedThrough) behind.push({ partition, logEnd, storedThrough: row.storedThrough });
  }
  return behind;
}

/** Throws LogIdentityMismatchError when the log ends below the stored progress (see partitionsBehindStores). */
export function assertLogNotBehindStores(
  progress: ReadonlyMap<number, PartitionProgress>,
  logEnds: ReadonlyMap<number, number | null>,
): void {
  const behind = partitionsBehindStores(progress, logEnds);
  if (behind.length === 0) return;
  const first = behind[0]!;
  throw new LogIdentityMismatchError(
    `the event log ends before what the stores hold: partition ${first.partition} ends at offset ${first.logEnd}, but the ` +
      `stores hold it through offset ${first.storedThrough}` +
      (behind.length > 1 ? ` (and ${behind.length - 1} more partitions)` : '') +
      '. The log was replaced or truncated, so the stored rollups and progress, which skip every offset they already hold, ' +
      'would ignore its events. Nothing was processed. Either bring back the original log, or start over with empty stores ' +
      '(a new CASSANDRA_KEYSPACE and MONGODB_URL database, or, embedded, remove series.sqlite and events.sqlite from DATA_DIR)',
  );
}
