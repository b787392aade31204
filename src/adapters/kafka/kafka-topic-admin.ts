/**
 * The topic side of the Kafka event log, over the fail-fast admin client: creates the topic (or
 * checks its partition count), and answers lag and health questions within a deadline.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, Kafka } from 'kafkajs';
import { unavailable } from '../../errors.ts';
import { messageOf, withinDeadline } from './kafka-clients.ts';
import { kafkaGroupId } from './kafka-consumer.ts';

/** Health checks and lag are polled by probes and dashboards that have their own short timeouts. */
const ADMIN_DEADLINE_MS = 4_000;
/** Creating a topic includes electing its leaders, which takes longer than a produce. */
export const TOPIC_SETUP_TIMEOUT_MS = 10_000;

export interface KafkaTopicAdmin {
  /** Connects, and creates the topic unless it exists. */
  setUp(): Promise<void>;
  /** Records appended but not yet committed by the group, over all partitions. */
  lag(groupId: string): Promise<number>;
  /** Each partition's newest offset still held, or null when it holds no record. */
  partitionEnds(): Promise<Map<number, number | null>>;
  /** Rejects while a partition of the topic has no leader. */
  checkHealth(): Promise<void>;
  disconnect(): Promise<void>;
}

export function createKafkaTopicAdmin(
  writeClient: Kafka,
  { topic, partitions, report, isClosed }: { topic: string; partitions: number; report: (error: unknown) => void; isClosed: () => boolean },
): KafkaTopicAdmin {
  const admin: Admin = writeClient.admin();

  async function askAdmin<T>(what: string, question: (admin: Admin) => Promise<T>): Promise<T> {
    if (isClosed()) throw unavailable('the Kafka event log is closed');
    try {
      return await withinDeadline(question(admin), ADMIN_DEADLINE_MS);
    } catch (error) {
      throw unavailable(`the Kafka event log is unavailable: ${what}: ${messageOf(error)}`, error);
    }
  }

  return {
    async setUp() {
      await withinDeadline(admin.connect(), TOPIC_SETUP_TIMEOUT_MS);
      await withinDeadline(ensureTopic(admin, topic, partitions, report), TOPIC_SETUP_TIMEOUT_MS);
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

    async partitionEnds() {
      const ends = await askAdmin('reading the end offsets', (admin) => admin.fetchTopicOffsets(topic));
      // `high` is the offset the next record will take; `low` the oldest one retention kept.
      return new Map(ends.map(({ partition, high, low }) => [partition, Number(high) > Number(low) ? Number(high) - 1 : null]));
    },

    async checkHealth() {
      const metadata = await askAdmin('reading the topic metadata', (admin) => admin.fetchTopicMetadata({ topics: [topic] }));
      const partitionsOfTopic = metadata.topics.find((entry) => entry.name === topic)?.partitions ?? [];
      // A partition without a leader can be neither written nor read until an election gives it one.
      const leaderless = partitionsOfTopic.filter((entry) => entry.leader < 0).length;
      if (partitionsOfTopic.length === 0 || leaderless > 0) {
        throw unavailable(
          `the Kafka event log is unavailable: ${leaderless} of ${partitionsOfTopic.length} partitions of ${topic} have no leader`,
        );
      }
    },

    disconnect: () => admin.disconnect(),
  };
}

async function ensureTopic(admin: Admin, topic: string, partitions: number, report: (error: unknown) => void): Promise<void> {
  // Asking first: creating a topic that exists makes kafkajs log an error on every restart.
  if (!(await admin.listTopics()).includes(topic)) {
    try {
      // A concurrent creation by another instance is fine: kafkajs answers false for it.
      await admin.createTopics({
        // replicationFactor -1: the broker's default.replication.factor (1 on a single broker).
        topics: [{ topic, numPartitions: partitions, replicationFactor: -1 }],
        waitForLeaders: true,
        timeout: TOPIC_SETUP_TIMEOUT_MS,
      });
    } catch (error) {
      // The topic is created, but the broker kafkajs then asks for its leaders has not learnt of it
      // yet (KRaft spreads new topics asynchronously): kafkajs waits through "leader not
      // available" only, and gives up at this answer. Wait for the leaders here instead.
      if (!isUnknownTopic(error)) throw error;
      await waitForLeaders(admin, topic);
    }
    return;
  }
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  const existing = metadata.topics[0]?.partitions.length ?? 0;
  if (existing !== partitions) {
    report(new Error(`the Kafka topic ${topic} has ${existing} partitions, not the ${partitions} configured: it keeps its own count`));
  }
}

/** How often the topic's metadata is asked again while its creation spreads to the brokers. */
const LEADER_POLL_MS = 100;

/** Kafka's UNKNOWN_TOPIC_OR_PARTITION (code 3): retriable, the topic is not (yet) known to that broker. */
function isUnknownTopic(error: unknown): boolean {
  return (error as { type?: unknown } | null)?.type === 'UNKNOWN_TOPIC_OR_PARTITION';
}

/** Resolves once every partition of `topic` has a leader; rejects after TOPIC_SETUP_TIMEOUT_MS. */
async function waitForLeaders(admin: Admin, topic: string): Promise<void> {
  const deadline = Date.now() + TOPIC_SETUP_TIMEOUT_MS;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      const partitionsOfTopic = metadata.topics.find((entry) => entry.name === topic)?.partitions ?? [];
      if (partitionsOfTopic.length > 0 && partitionsOfTopic.every((entry) => entry.leader >= 0)) return;
    } catch (error) {
      if (!isUnknownTopic(error)) throw error;
      lastError = error;
    }
    await sleep(LEADER_POLL_MS);
  }
  throw new Error(`timed out after ${TOPIC_SETUP_TIMEOUT_MS} ms waiting for the leaders of the new topic ${topic}`, { cause: lastError });
}
