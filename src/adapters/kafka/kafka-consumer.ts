/**
 * The read side of the Kafka event log: one consumer-group member per consume() call, which
 * hands each batch to the handler in chunks, heartbeats while the handler works, and commits a
 * chunk's offsets only once the handler has returned.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';
import type { ConsumeOptions, LogConsumer, LogRecord } from '../../ports/event-log.ts';
import { unavailable } from '../../errors.ts';
import { READ_RETRY, messageOf } from './kafka-clients.ts';

/** Heartbeats while a chunk is handled: kafkajs sends at most one per heartbeat interval anyway. */
const HEARTBEAT_WHILE_HANDLING_MS = 1_000;
/**
 * How long the group coordinator waits for a silent member before it hands the member's
 * partitions to the others. kafkajs' default is 30 s, which is how long the records of a crashed
 * (SIGKILLed, OOM-killed) instance would sit unprocessed; 10 s moves them three times sooner,
 * at the price of more heartbeats. The broker refuses sessions below its
 * group.min.session.timeout.ms (6 s by default). A live member heartbeats from the fetch loop
 * and between the chunks of a long batch (deliverInChunks), so only one chunk's handling has to
 * fit in it; a member that overruns it is dropped and its chunk replayed: harmless once, but a
 * chunk that always takes longer would never be committed.
 */
const CONSUMER_SESSION_TIMEOUT_MS = 10_000;
/**
 * Far below a third of the session (Kafka's rule of thumb), so several lost heartbeats cost
 * nothing; kafkajs members also learn of a rebalance from a heartbeat's answer, so a live member
 * hands over partitions to a joining instance within about a second.
 */
const CONSUMER_HEARTBEAT_INTERVAL_MS = 1_000;
/**
 * How long a rebalance waits for the live members to rejoin. A member rejoins only once the
 * chunk in hand is handled and committed, so this bounds a chunk's handling, and stays kafkajs'
 * generous default (spelled out, as it matters). It does not delay recovery from a crash: the
 * coordinator drops a dead member when its session expires, without waiting for this.
 */
const CONSUMER_REBALANCE_TIMEOUT_MS = 60_000;
/**
 * How long an idle fetch waits at the broker for records. Records still arrive as soon as they
 * are written; this bounds how long stop() waits for an idle consumer to notice.
 */
const CONSUMER_MAX_WAIT_MS = 500;
/** How long a failed batch waits before it is delivered again: long enough not to spin. */
const REDELIVERY_BACKOFF_MS = 500;

/**
 * The Kafka consumer group of a logical group on a topic. Consumer groups are cluster-wide, and
 * kafkajs members of one group that subscribe to different topics leave each other's partitions
 * unconsumed; naming the group after the topic keeps two deployments (or test runs) that share
 * a cluster but not a topic apart.
 */
export function kafkaGroupId(topic: string, groupId: string): string {
  return `${topic}.${groupId}`;
}

/** Joins the group and starts handing batches over; stop() leaves the group once the chunk in hand is committed. */
export async function startKafkaConsumer(
  readClient: Kafka,
  topic: string,
  { groupId, handleBatch, maxBatchSize }: ConsumeOptions & { maxBatchSize: number },
): Promise<LogConsumer> {
  const consumer = readClient.consumer({
    groupId: kafkaGroupId(topic, groupId),
    maxWaitTimeInMs: CONSUMER_MAX_WAIT_MS,
    sessionTimeout: CONSUMER_SESSION_TIMEOUT_MS,
    heartbeatInterval: CONSUMER_HEARTBEAT_INTERVAL_MS,
    rebalanceTimeout: CONSUMER_REBALANCE_TIMEOUT_MS,
    allowAutoTopicCreation: false,
    retry: READ_RETRY,
  });
  try {
    await consumer.connect();
    // Only for a group without committed offsets: it starts at the oldest record, as lag() counts.
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // One batch at a time over all of this member's partitions. The port does not need it:
      // kafkajs keeps each partition's batches in order whatever this number, and every row
      // the processor rewrites is keyed by its log partition (rollup and catalog rows and
      // progress alike), so batches of different partitions never touch the same row; other
      // instances handle other partitions meanwhile anyway. One at a time bounds what one
      // instance asks of the stores and its event loop at once.
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => deliverInChunks(payload, consumer, topic, handleBatch, maxBatchSize),
    });
  } catch (error) {
    await consumer.disconnect().catch(() => {});
    throw unavailable(`the Kafka event log is unavailable: ${messageOf(error)}`, error);
  }
  let stopping: Promise<void> | null = null;
  return {
    stop() {
      // kafkajs' disconnect waits for the batch in hand, then leaves the group.
      stopping ??= consumer.disconnect();
      return stopping;
    },
  };
}

async function deliverInChunks(
  payload: EachBatchPayload,
  consumer: Consumer,
  topic: string,
  handleBatch: ConsumeOptions['handleBatch'],
  maxBatchSize: number,
): Promise<void> {
  const { batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale } = payload;
  const { partition } = batch;
  for (const chunk of chunksOf(batch.messages, maxBatchSize)) {
    // A stopping consumer finishes the chunk in hand only; the rest stays uncommitted for whoever resumes.
    if (!isRunning() || isStale()) return;
    const first = chunk[0]!;
    const last = chunk[chunk.length - 1]!;
    // Heartbeat while the stores work on the chunk, too: a slow chunk (a busy store) must not
    // cost the partition its group membership and turn into a replay loop.
    const keepAlive = setInterval(() => void heartbeat().catch(() => {}), HEARTBEAT_WHILE_HANDLING_MS);
    try {
      await handleBatch({ partition, records: chunk.map((message) => toLogRecord(partition, message)) });
    } catch {
      // Not reported here: the handler reports its own failures (once per streak, not per attempt).
      // Rewinds the fetch position only: with autoCommit off, kafkajs commits nothing on seek.
      consumer.seek({ topic, partition, offset: first.offset });
      if (isRunning()) await sleep(REDELIVERY_BACKOFF_MS);
      return;
    } finally {
      clearInterval(keepAlive);
    }
    // Not consumer.commitOffsets(): it silently skips the commit once stop() has begun, and
    // stop() must leave the batch in hand committed. This commits exactly the offsets given.
    await commitOffsetsIfNecessary({
      topics: [{ topic, partitions: [{ partition, offset: String(Number(last.offset) + 1) }] }],
    });
    resolveOffset(last.offset);
    // A batch of many chunks can outlast the session timeout without this.
    await heartbeat();
  }
}

function toLogRecord(partition: number, message: KafkaMessage): LogRecord {
  // The producer stamps each record when it sends it (CreateTime), a moment before the broker
  // appends it: close enough for telling an idle partition from a busy one.
  const appendedAt = Number(message.timestamp);
  return {
    position: { partition, offset: Number(message.offset) },
    value: message.value?.toString('utf8') ?? '',
    ...(Number.isFinite(appendedAt) && appendedAt > 0 ? { appendedAt } : {}),
  };
}

function* chunksOf<T>(items: T[], size: number): Generator<T[]> {
  for (let start = 0; start < items.length; start += size) yield items.slice(start, start + size);
}
