/**
 * The Kafka event log, over kafkajs. kafkajs is in maintenance mode, so it stays inside this
 * folder: the rest of Streamlens only sees the EventLog port.
 *
 * This file composes the parts, each in a file of its own:
 * - kafka-clients.ts: the two kafkajs clients, fail-fast for writes and patient for reads;
 * - kafka-producer.ts: appends, group-committed, with acks=all, and the producer session that
 *   is replaced after a failed send;
 * - kafka-consumer.ts: the consumer-group members, their heartbeats and offset commits;
 * - kafka-topic-admin.ts: creating the topic, its partitions, lag and health;
 * - kafka-topic-id.ts: the topic's id, the log's identity, which kafkajs cannot read.
 */
import type { ISocketFactory } from 'kafkajs';
import type { EventLog, LogConsumer } from '../../ports/event-log.ts';
import { unavailable } from '../../errors.ts';
import { createKafkaClients, messageOf, withinDeadline, type KafkaLogLevel } from './kafka-clients.ts';
import { createKafkaAppender } from './kafka-producer.ts';
import { startKafkaConsumer } from './kafka-consumer.ts';
import { TOPIC_SETUP_TIMEOUT_MS, createKafkaTopicAdmin } from './kafka-topic-admin.ts';
import { readTopicId } from './kafka-topic-id.ts';

export { kafkaGroupId } from './kafka-consumer.ts';
export type { KafkaLogLevel } from './kafka-clients.ts';

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

const DEFAULT_MAX_BATCH = 1000;

export async function createKafkaEventLog(options: KafkaEventLogOptions): Promise<EventLog> {
  const { topic, partitions } = options;
  if (options.brokers.length === 0) throw new Error('the Kafka event log needs at least one broker');
  if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`the partition count must be a positive integer, not ${partitions}`);
  const report = options.onError ?? ((error: unknown) => console.error(error));

  let closing: Promise<void> | null = null;
  const { writeClient, readClient } = createKafkaClients(options, report);
  const topicAdmin = createKafkaTopicAdmin(writeClient, { topic, partitions, report, isClosed: () => closing !== null });
  const appender = createKafkaAppender(writeClient, topic, report);
  const consumers = new Set<LogConsumer>();

  try {
    await topicAdmin.setUp();
    await withinDeadline(appender.connect(), TOPIC_SETUP_TIMEOUT_MS);
  } catch (error) {
    await Promise.allSettled([topicAdmin.disconnect(), appender.abandon()]);
    throw unavailable(`the Kafka event log is unavailable: ${messageOf(error)}`, error);
  }

  return {
    append(records) {
      if (closing) return Promise.reject(unavailable('the Kafka event log is closed'));
      if (records.length === 0) return Promise.resolve();
      return appender.append(records);
    },

    async consume({ groupId, handleBatch, maxBatchSize = DEFAULT_MAX_BATCH }) {
      if (closing) throw unavailable('the Kafka event log is closed');
      if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1)
        throw new Error(`maxBatchSize must be a positive integer, not ${maxBatchSize}`);
      const member = await startKafkaConsumer(readClient, topic, { groupId, handleBatch, maxBatchSize });
      let stopping: Promise<void> | null = null;
      const logConsumer: LogConsumer = {
        stop() {
          stopping ??= member.stop().finally(() => consumers.delete(logConsumer));
          return stopping;
        },
      };
      consumers.add(logConsumer);
      return logConsumer;
    },

    lag: (groupId) => topicAdmin.lag(groupId),
    partitionEnds: () => topicAdmin.partitionEnds(),
    checkHealth: () => topicAdmin.checkHealth(),

    async identity() {
      if (closing) throw unavailable('the Kafka event log is closed');
      try {
        // The topic's name and its id: another topic, or this one deleted and created again, is another log.
        return `kafka:${topic}:${await readTopicId(options.brokers, topic, options.clientId ?? 'streamlens')}`;
      } catch (error) {
        throw unavailable(`the Kafka event log is unavailable: ${messageOf(error)}`, error);
      }
    },

    close() {
      closing ??= (async () => {
        // Appends already accepted by append() are still sent (or failed) before the producer goes.
        await appender.flushed();
        const stops = await Promise.allSettled([...consumers].map((consumer) => consumer.stop()));
        const [producers, admin] = await Promise.all([appender.disconnect(), Promise.allSettled([topicAdmin.disconnect()])]);
        for (const outcome of [...stops, ...producers, ...admin]) if (outcome.status === 'rejected') report(outcome.reason);
      })();
      return closing;
    },
  };
}
