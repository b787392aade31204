/**
 * The Kafka event log, over kafkajs. kafkajs is in maintenance mode, so it stays inside this
 * folder: the rest of Streamlens only sees the EventLog port.
 *
 * Two kafkajs clients with opposite failure policies share the brokers:
 * - the write path (producer, and the admin behind lag and health checks) fails fast, because a
 *   client is waiting: ingest answers UNAVAILABLE within seconds and the client retries;
 * - the read path (one consumer per consume() call) is patient, because nobody is waiting: it
 *   retries and restarts by itself until the brokers are back.
 *
 * Appends are group-committed like the embedded log's: the appends of one tick, and those made
 * while a send is in flight, leave together in the next send, and only one send is in flight at
 * a time, which also keeps the order of appends that follow one another.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Kafka,
  Partitioners,
  logLevel as kafkaLogLevels,
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type ISocketFactory,
  type KafkaConfig,
  type KafkaMessage,
  type LogEntry,
  type Producer,
  type RetryOptions,
} from 'kafkajs';
import type { AppendRecord, ConsumeOptions, EventLog, LogConsumer, LogRecord } from '../../ports/event-log.ts';
import { unavailable } from '../../errors.ts';

export type KafkaLogLevel = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

export interface KafkaEventLogOptions {
  brokers: string[];
  topic: string;
  /**
   * Partitions of the topic when this creates it; an existing topic keeps its own count.
   * Keys are hashed onto partitions, so changing the count later moves keys between partitions
   * and breaks their order while the old records drain.
   */
  partitions: number;
  clientId?: string;
  onError?: (error: unknown) => void;
  /**
   * kafkajs messages at this level or above are reported through onError. The default, 'error',
   * drops its warnings and info, which are routine chatter (rebalances, reconnections).
   */
  logLevel?: KafkaLogLevel;
  /** How kafkajs opens its sockets (a proxy, or a test that cuts the brokers off). */
  socketFactory?: ISocketFactory;
}

/** A live broker answers a connection in milliseconds; one that drops packets counts as down after a second. */
const CONNECTION_TIMEOUT_MS = 1_000;
/** Heartbeats while a chunk is handled: kafkajs sends at most one per heartbeat interval anyway. */
const HEARTBEAT_WHILE_HANDLING_MS = 1_000;
/** How long the broker may wait for every in-sync replica before it answers REQUEST_TIMED_OUT (then retried). */
const PRODUCE_ACK_TIMEOUT_MS = 3_000;
/** Longer than the ack timeout, so that the broker's own timeout answer wins over a client-side one. */
const WRITE_REQUEST_TIMEOUT_MS = 4_000;
/**
 * kafkajs nests retriers (a send retries, and so does the connection it reconnects inside each
 * attempt), so the total is a product. With these numbers a broker that refuses connections
 * fails an append in 0.5 to 1.3 s (test/contract/kafka-smoke.test.ts), while ~600 ms of backoff
 * still rides out a leader election, which takes well under a second on a healthy cluster.
 */
const WRITE_RETRY: RetryOptions = { retries: 2, initialRetryTime: 200, maxRetryTime: 1_000, factor: 0.2, multiplier: 2 };
/**
 * The bound on a send, whatever kafkajs does inside: a broker that accepts connections but never
 * answers only trips the request timeout, once per retry. Past it the append is UNAVAILABLE.
 */
const APPEND_DEADLINE_MS = 6_000;
/** Health checks and lag are polled by probes and dashboards that have their own short timeouts. */
const ADMIN_DEADLINE_MS = 4_000;
/** Creating a topic includes electing its leaders, which takes longer than a produce. */
const TOPIC_SETUP_TIMEOUT_MS = 10_000;
/**
 * kafkajs' defaults, spelled out because kafkajs swaps them for much shorter ones when NODE_ENV
 * is 'test'. A consumer that runs out of retries crashes and kafkajs restarts it.
 */
const READ_RETRY: RetryOptions = { retries: 5, initialRetryTime: 300, maxRetryTime: 30_000, factor: 0.2, multiplier: 2 };
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
/**
 * Brokers reject a partition's record batch above message.max.bytes (1 MiB by default), and one
 * send carries at most one batch per partition: sends stay under it with room for the framing.
 */
const MAX_SEND_BYTES = 900 * 1024;
/** Per-record framing (offset delta, timestamp delta, lengths, headers), rounded up. */
const RECORD_OVERHEAD_BYTES = 32;
const DEFAULT_MAX_BATCH = 1000;
/** How long a failed batch waits before it is delivered again: long enough not to spin. */
const REDELIVERY_BACKOFF_MS = 500;

const KAFKAJS_LEVEL_OF: Record<KafkaLogLevel, number> = {
  nothing: kafkaLogLevels.NOTHING,
  error: kafkaLogLevels.ERROR,
  warn: kafkaLogLevels.WARN,
  info: kafkaLogLevels.INFO,
  debug: kafkaLogLevels.DEBUG,
};

interface PendingAppend {
  records: AppendRecord[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

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

/**
 * The Kafka consumer group of a logical group on a topic. Consumer groups are cluster-wide, and
 * kafkajs members of one group that subscribe to different topics leave each other's partitions
 * unconsumed; naming the group after the topic keeps two deployments (or test runs) that share
 * a cluster but not a topic apart.
 */
export function kafkaGroupId(topic: string, groupId: string): string {
  return `${topic}.${groupId}`;
}

export async function createKafkaEventLog(options: KafkaEventLogOptions): Promise<EventLog> {
  const { topic, partitions } = options;
  if (options.brokers.length === 0) throw new Error('the Kafka event log needs at least one broker');
  if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`the partition count must be a positive integer, not ${partitions}`);
  const report = options.onError ?? ((error: unknown) => console.error(error));

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

  const admin: Admin = writeClient.admin();
  let producerSession: ProducerSession | null = null;
  const retirements = new Set<Promise<void>>();
  const consumers = new Set<LogConsumer>();
  let queued: PendingAppend[] = [];
  let draining: Promise<void> | null = null;
  let closing: Promise<void> | null = null;

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

  async function sendInSizedChunks(session: ProducerSession, group: PendingAppend[], cutOff: AbortSignal): Promise<void> {
    const messages = group.flatMap((pending) => pending.records.map(({ key, value }): OutgoingMessage => ({ key, value })));
    await session.connected;
    for (const chunk of chunksWithinBytes(messages, MAX_SEND_BYTES)) {
      cutOff.throwIfAborted();
      await session.producer.send({ topic, messages: chunk, acks: -1, timeout: PRODUCE_ACK_TIMEOUT_MS });
    }
  }

  /** Never rejects: every append of the group is settled, so the drain loop cannot stall. */
  async function sendGroup(group: PendingAppend[]): Promise<void> {
    let session: ProducerSession | null = null;
    let sending: Promise<void> = Promise.resolve();
    try {
      session = producerSession ??= openProducerSession();
      const cutOff = new AbortController();
      sending = sendInSizedChunks(session, group, cutOff.signal);
      await withinDeadline(sending, APPEND_DEADLINE_MS, cutOff);
    } catch (error) {
      if (session) retireProducer(session, sending);
      const failure = unavailable(`the Kafka event log is unavailable: ${messageOf(error)}`, error);
      for (const pending of group) pending.reject(failure);
      return;
    }
    for (const pending of group) pending.resolve();
  }

  async function drain(): Promise<void> {
    // Appends made in the same tick as the first one join its send.
    await new Promise((resolve) => setImmediate(resolve));
    while (queued.length > 0) {
      const group = queued;
      queued = [];
      await sendGroup(group);
    }
    draining = null;
  }

  async function askAdmin<T>(what: string, question: (admin: Admin) => Promise<T>): Promise<T> {
    if (closing) throw unavailable('the Kafka event log is closed');
    try {
      return await withinDeadline(question(admin), ADMIN_DEADLINE_MS);
    } catch (error) {
      throw unavailable(`the Kafka event log is unavailable: ${what}: ${messageOf(error)}`, error);
    }
  }

  async function deliverInChunks(
    payload: EachBatchPayload,
    consumer: Consumer,
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

  try {
    await withinDeadline(admin.connect(), TOPIC_SETUP_TIMEOUT_MS);
    await withinDeadline(ensureTopic(admin, topic, partitions, report), TOPIC_SETUP_TIMEOUT_MS);
    producerSession = openProducerSession();
    await withinDeadline(producerSession.connected, TOPIC_SETUP_TIMEOUT_MS);
  } catch (error) {
    const startup = producerSession;
    await Promise.allSettled([admin.disconnect(), startup?.producer.disconnect()]);
    throw unavailable(`the Kafka event log is unavailable: ${messageOf(error)}`, error);
  }

  return {
    append(records) {
      if (closing) return Promise.reject(unavailable('the Kafka event log is closed'));
      if (records.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        queued.push({ records, resolve, reject });
        draining ??= drain();
      });
    },

    async consume({ groupId, handleBatch, maxBatchSize = DEFAULT_MAX_BATCH }: ConsumeOptions) {
      if (closing) throw unavailable('the Kafka event log is closed');
      if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) throw new Error(`maxBatchSize must be a positive integer, not ${maxBatchSize}`);
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
          eachBatch: (payload) => deliverInChunks(payload, consumer, handleBatch, maxBatchSize),
        });
      } catch (error) {
        await consumer.disconnect().catch(() => {});
        throw unavailable(`the Kafka event log is unavailable: ${messageOf(error)}`, error);
      }
      let stopping: Promise<void> | null = null;
      const logConsumer: LogConsumer = {
        stop() {
          // kafkajs' disconnect waits for the batch in hand, then leaves the group.
          stopping ??= consumer.disconnect().finally(() => consumers.delete(logConsumer));
          return stopping;
        },
      };
      consumers.add(logConsumer);
      return logConsumer;
    },

    async lag(groupId) {
      const [ends, committed] = await askAdmin(`reading the lag of group ${groupId}`, (admin) =>
        Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId: kafkaGroupId(topic, groupId), topics: [topic] })]),
      );
      const committedByPartition = new Map(
        (committed.find((entry) => entry.topic === topic)?.partitions ?? []).map((entry) => [entry.partition, Number(entry.offset)]),
      );
      let lag = 0;
      for (const { partition, high, low } of ends) {
        // -1 means never committed: the group starts at the oldest record still kept (fromBeginning).
        // A commit below the low watermark points at records retention already deleted.
        const from = Math.max(committedByPartition.get(partition) ?? -1, Number(low));
        lag += Math.max(0, Number(high) - from);
      }
      return lag;
    },

    async checkHealth() {
      const metadata = await askAdmin('reading the topic metadata', (admin) => admin.fetchTopicMetadata({ topics: [topic] }));
      const partitionsOfTopic = metadata.topics.find((entry) => entry.name === topic)?.partitions ?? [];
      // A partition without a leader can be neither written nor read until an election gives it one.
      const leaderless = partitionsOfTopic.filter((entry) => entry.leader < 0).length;
      if (partitionsOfTopic.length === 0 || leaderless > 0) {
        throw unavailable(`the Kafka event log is unavailable: ${leaderless} of ${partitionsOfTopic.length} partitions of ${topic} have no leader`);
      }
    },

    close() {
      closing ??= (async () => {
        // Appends already accepted by append() are still sent (or failed) before the producer goes.
        await draining;
        const stops = await Promise.allSettled([...consumers].map((consumer) => consumer.stop()));
        const session = producerSession;
        producerSession = null;
        const disconnects = await Promise.allSettled([
          session?.connected.then(() => session.producer.disconnect()),
          ...retirements,
          admin.disconnect(),
        ]);
        for (const outcome of [...stops, ...disconnects]) if (outcome.status === 'rejected') report(outcome.reason);
      })();
      return closing;
    },
  };
}

async function ensureTopic(admin: Admin, topic: string, partitions: number, report: (error: unknown) => void): Promise<void> {
  // Asking first: creating a topic that exists makes kafkajs log an error on every restart.
  if (!(await admin.listTopics()).includes(topic)) {
    // A concurrent creation by another instance is fine: kafkajs answers false for it.
    await admin.createTopics({
      // replicationFactor -1: the broker's default.replication.factor (1 on a single broker).
      topics: [{ topic, numPartitions: partitions, replicationFactor: -1 }],
      waitForLeaders: true,
      timeout: TOPIC_SETUP_TIMEOUT_MS,
    });
    return;
  }
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  const existing = metadata.topics[0]?.partitions.length ?? 0;
  if (existing !== partitions) {
    report(new Error(`the Kafka topic ${topic} has ${existing} partitions, not the ${partitions} configured: it keeps its own count`));
  }
}

function toLogRecord(partition: number, message: KafkaMessage): LogRecord {
  return { position: { partition, offset: Number(message.offset) }, value: message.value?.toString('utf8') ?? '' };
}

function* chunksOf<T>(items: T[], size: number): Generator<T[]> {
  for (let start = 0; start < items.length; start += size) yield items.slice(start, start + size);
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

/** Settles with `work`, or rejects after `ms` (aborting `cutOff`, so work that checks it stops early). */
function withinDeadline<T>(work: Promise<T>, ms: number, cutOff?: AbortController): Promise<T> {
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

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function errorOfLogEntry({ namespace, label, log }: LogEntry): Error {
  const { message, timestamp: _timestamp, logger: _logger, ...details } = log;
  const where = namespace ? ` [${namespace}]` : '';
  return new Error(`kafkajs ${label}${where}: ${message}`, { cause: details });
}
