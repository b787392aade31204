import type { LogPosition } from '../domain/event.ts';

/** One record read from the log. `value` is the JSON of an AcceptedEvent, as ingest wrote it. */
export interface LogRecord {
  position: LogPosition;
  value: string;
  /** When the log appended it (ms; Kafka: the record's timestamp), if the log says. */
  appendedAt?: number;
}

/** Records of one partition, in offset order. */
export interface LogBatch {
  partition: number;
  records: LogRecord[];
}

export interface AppendRecord {
  /** Records with the same key keep their order (Kafka: they land in the same partition). */
  key: string;
  value: string;
}

export interface ConsumeOptions {
  groupId: string;
  /**
   * Called with the batches of each partition strictly one after another, in offset order: the
   * next batch of a partition is delivered only once the promise of the one before resolved and
   * the log committed its offsets. When it rejects, the log commits nothing and delivers the
   * same partition again from the same first offset (not necessarily as many records),
   * after a short pause, before anything later of that partition. The log does not report the
   * rejection: the handler reports its own failures, and decides when a record is set aside.
   *
   * Batches of different partitions may be handled at the same time (on one instance or on
   * several), in any order relative to each other. The stream processor needs no more: every row
   * it reads and rewrites (rollup, catalog and progress rows) belongs to one partition, so each
   * row has one writer, and a claim in the event store is atomic per event id. What it does need
   * is the order within a partition: a row's `appliedOffset` skips a replay only if offsets are
   * merged in order, and "stored through" may only move over records already stored.
   */
  handleBatch: (batch: LogBatch) => Promise<void>;
  /** Upper bound on records per batch. */
  maxBatchSize?: number;
}

export interface LogConsumer {
  /** Stops fetching, waits for the batch in hand to finish and be committed. */
  stop(): Promise<void>;
}

/** The durable, ordered log between ingest and the stream processor. */
export interface EventLog {
  /**
   * Appends the records. Resolves only when every record is durable (fsync'd locally, or
   * acknowledged by all in-sync replicas). Rejects with an UNAVAILABLE StreamlensError when the
   * log cannot take them; then none of them may be reported as accepted, though some may have
   * been written (Kafka writes each partition's share on its own): they will be delivered.
   */
  append(records: AppendRecord[]): Promise<void>;
  consume(options: ConsumeOptions): Promise<LogConsumer>;
  /** Records appended but not yet committed by the group, over all partitions. */
  lag(groupId: string): Promise<number>;
  /**
   * Every partition of the log, with the offset of its newest record still held (null when it
   * holds none). Read fresh on each call: the stream processor compares it with its stored
   * positions to tell a caught-up partition from one that is behind (src/stream/watermark.ts).
   */
  partitionEnds(): Promise<Map<number, number | null>>;
  /** Resolves when the log can be written and read; rejects otherwise. */
  checkHealth(): Promise<void>;
  close(): Promise<void>;
  /**
   * What names this log, and changes whenever the log is replaced by another whose offsets start
   * again (a Kafka topic deleted and created again, the embedded log.sqlite removed): stores
   * that remember offsets record it, so that they are never applied to another log's offsets.
   */
  identity(): Promise<string>;
}
