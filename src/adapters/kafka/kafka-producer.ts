/**
 * The write side of the Kafka event log: appends, sent with acks=all by an idempotent producer
 * that is replaced after a failed send.
 *
 * Appends are group-committed like the embedded log's (../group-commit.ts): the appends of one
 * tick, and those made while a send is in flight, leave together in the next send, and only one
 * send is in flight at a time, which also keeps the order of appends that follow one another.
 */
import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import type { AppendRecord } from '../../ports/event-log.ts';
import { unavailable } from '../../errors.ts';
import { createGroupCommit } from '../group-commit.ts';
import { WRITE_RETRY, messageOf, withinDeadline } from './kafka-clients.ts';

/** How long the broker may wait for every in-sync replica before it answers REQUEST_TIMED_OUT (then retried). */
const PRODUCE_ACK_TIMEOUT_MS = 3_000;
/**
 * The bound on a send, whatever kafkajs does inside: a broker that accepts connections but never
 * answers only trips the request timeout, once per retry. Past it the append is UNAVAILABLE.
 */
const APPEND_DEADLINE_MS = 6_000;
/**
 * Brokers reject a partition's record batch above message.max.bytes (1 MiB by default), and one
 * send carries at most one batch per partition: sends stay under it with room for the framing.
 */
const MAX_SEND_BYTES = 900 * 1024;
/** Per-record framing (offset delta, timestamp delta, lengths, headers), rounded up. */
const RECORD_OVERHEAD_BYTES = 32;

interface OutgoingMessage {
  key: string;
  value: string;
}

/**
 * A producer and its connection attempt. A send that failed may have been written all the same
 * (only its answer lost); the idempotent producer would then give the next records the same
 * sequence numbers, and the broker would drop them as duplicates while we report them accepted.
 * So a producer whose send failed is retired, and the next append gets a new producer id.
 */
interface ProducerSession {
  producer: Producer;
  connected: Promise<void>;
}

export interface KafkaAppender {
  /** Connects the first producer, so that a start without reachable brokers fails at once. */
  connect(): Promise<void>;
  append(records: AppendRecord[]): Promise<void>;
  /** Settles once every append accepted so far is sent or failed. */
  flushed(): Promise<void>;
  /** Disconnects the producer in use and waits for the retired ones; the outcome of each. */
  disconnect(): Promise<PromiseSettledResult<unknown>[]>;
  /** After a failed start: disconnects the producer in use at once, whatever its connection is doing. */
  abandon(): Promise<void>;
}

export function createKafkaAppender(writeClient: Kafka, topic: string, report: (error: unknown) => void): KafkaAppender {
  let producerSession: ProducerSession | null = null;
  const retirements = new Set<Promise<void>>();

  function openProducerSession(): ProducerSession {
    const producer = writeClient.producer({
      idempotent: true,
      // Bounded, unlike the idempotent default of forever: an append must fail within seconds.
      // The duplicate risk that kafkajs warns about is what retiring the producer removes.
      retry: WRITE_RETRY,
      allowAutoTopicCreation: false,
      // Java's murmur2 partitioner: a key lands where any other Kafka client would put it.
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    return { producer, connected: producer.connect() };
  }

  function retireProducer(session: ProducerSession, inFlight: Promise<unknown>): void {
    if (producerSession === session) producerSession = null;
    // Disconnecting under a send that is still retrying would only make it reconnect.
    const retirement = inFlight
      .catch(() => {})
      .then(() => session.connected.catch(() => {}))
      .then(() => session.producer.disconnect())
      .catch(report)
      .finally(() => retirements.delete(retirement));
    retirements.add(retirement);
  }

  async function sendInSizedChunks(session: ProducerSession, messages: OutgoingMessage[], cutOff: AbortSignal): Promise<void> {
    await session.connected;
    for (const chunk of chunksWithinBytes(messages, MAX_SEND_BYTES)) {
      cutOff.throwIfAborted();
      await session.producer.send({ topic, messages: chunk, acks: -1, timeout: PRODUCE_ACK_TIMEOUT_MS });
    }
  }

  /**
   * One group of appends in one send (or a few, by size); a failure fails the whole group. A
   * failed group may still be partly written: the chunks sent before the failure, and within a
   * send the partitions whose leader took its records. Ingest does not try to make this all or
   * nothing; retries are made exact by event ids instead (derivedEventId in ingest-service.ts).
   */
  async function sendGroup(group: AppendRecord[][]): Promise<void> {
    const messages = group.flatMap((records) => records.map(({ key, value }): OutgoingMessage => ({ key, value })));
    let session: ProducerSession | null = null;
    let sending: Promise<void> = Promise.resolve();
    try {
      session = producerSession ??= openProducerSession();
      const cutOff = new AbortController();
      sending = sendInSizedChunks(session, messages, cutOff.signal);
      await withinDeadline(sending, APPEND_DEADLINE_MS, cutOff);
    } catch (error) {
      if (session) retireProducer(session, sending);
      throw unavailable(`the Kafka event log is unavailable: ${messageOf(error)}`, error);
    }
  }

  const appends = createGroupCommit(sendGroup);

  return {
    connect() {
      producerSession = openProducerSession();
      return producerSession.connected;
    },

    append: (records) => appends.add(records),
    flushed: () => appends.flushed(),

    disconnect() {
      const session = producerSession;
      producerSession = null;
      return Promise.allSettled([session?.connected.then(() => session.producer.disconnect()), ...retirements]);
    },

    async abandon() {
      const session = producerSession;
      producerSession = null;
      await session?.producer.disconnect();
    },
  };
}

function* chunksWithinBytes(messages: OutgoingMessage[], maxBytes: number): Generator<OutgoingMessage[]> {
  let chunk: OutgoingMessage[] = [];
  let chunkBytes = 0;
  for (const message of messages) {
    const bytes = Buffer.byteLength(message.key) + Buffer.byteLength(message.value) + RECORD_OVERHEAD_BYTES;
    if (chunk.length > 0 && chunkBytes + bytes > maxBytes) {
      yield chunk;
      chunk = [];
      chunkBytes = 0;
    }
    chunk.push(message);
    chunkBytes += bytes;
  }
  if (chunk.length > 0) yield chunk;
}
