/**
 * The plain kafkajs side of the Kafka baselines, with exactly the producer settings of
 * src/adapters/kafka/kafka-producer.ts: idempotent producer, acks=all (-1), no compression,
 * kafkajs' default maxInFlightRequests, the Java-compatible partitioner, the same retry and
 * timeouts, and topics with the same partition count as the Streamlens topic.
 */
import { Kafka, Partitioners, logLevel, type Producer, type Admin } from 'kafkajs';
import { uniqueName } from '../../test/support/real-servers.ts';

export const KAFKA_PARTITIONS = 3; // what realServerEnv() gives the Streamlens topic
export const ACKS_ALL = -1;
export const PRODUCE_TIMEOUT_MS = 3_000;
const WRITE_RETRY = { retries: 2, initialRetryTime: 200, maxRetryTime: 1_000, factor: 0.2, multiplier: 2 };

export function brokers(): string[] {
  const value = process.env.KAFKA_BROKERS;
  if (!value)
    throw new Error('KAFKA_BROKERS is not set: `set -a; . /tmp/services.env; set +a` or export what scripts/services.sh up prints');
  return value.split(',');
}

export function kafka(clientId = 'bench-baseline'): Kafka {
  return new Kafka({
    brokers: brokers(),
    clientId,
    logLevel: logLevel.ERROR,
    connectionTimeout: 1_000,
    requestTimeout: 4_000,
    retry: WRITE_RETRY,
  });
}

export async function baselineProducer(client: Kafka): Promise<Producer> {
  const producer = client.producer({
    idempotent: true,
    retry: WRITE_RETRY,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  return producer;
}

export async function createTopic(admin: Admin, prefix: string): Promise<string> {
  const topic = uniqueName(prefix);
  await admin.createTopics({
    topics: [{ topic, numPartitions: KAFKA_PARTITIONS, replicationFactor: -1 }],
    waitForLeaders: true,
    timeout: 10_000,
  });
  return topic;
}

export async function highOffsets(admin: Admin, topic: string): Promise<Map<number, number>> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return new Map(offsets.map((entry) => [entry.partition, Number(entry.high)]));
}
