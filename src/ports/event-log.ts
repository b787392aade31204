import type { LogPosition } from '../domain/event.ts';

/** One record read from the log. `value` is the JSON of an AcceptedEvent, as ingest wrote it. */
export interface LogRecord {
  position: LogPosition;
  value: string;
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
   * Called with one batch at a time per partition. The log commits the batch's offsets only
   * after the returned promise resolves; when it rejects, the same records are delivered again
   * (from the same first offset), after a short pause. The log does not report the rejection:
   * the handler reports its own failures, and decides when a record is to be set aside.
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
   * log cannot take them; then none of them may be reported as accepted.
   */
  append(records: AppendRecord[]): Promise<void>;
  consume(options: ConsumeOptions): Promise<LogConsumer>;
  /** Records appended but not yet committed by the group, over all partitions. */
  lag(groupId: string): Promise<number>;
  /** Resolves when the log can be written and read; rejects otherwise. */
  checkHealth(): Promise<void>;
  close(): Promise<void>;
}
