import { describe, expect, it } from 'vitest';
import { KafkaJSProtocolError, type Admin, type Kafka } from 'kafkajs';
import { createKafkaTopicAdmin } from '../../src/adapters/kafka/kafka-topic-admin.ts';

/** A broker's error answer as kafkajs raises it (its typings take only the message). */
const protocolError = (fields: { message: string; type: string; code: number; retriable: boolean }) =>
  new KafkaJSProtocolError(fields as unknown as Error);

/** What a broker answers about a topic it has not learnt of yet (Kafka's code 3, retriable). */
const unknownTopic = () =>
  protocolError({
    message: 'This server does not host this topic-partition',
    type: 'UNKNOWN_TOPIC_OR_PARTITION',
    code: 3,
    retriable: true,
  });

/** An admin whose topic creation meets a broker that has not learnt of the new topic, as KRaft brokers can. */
function adminOfNewTopic(metadataAnswers: (() => { partitions: { leader: number }[] })[]) {
  let metadataReads = 0;
  const admin = {
    connect: async () => {},
    disconnect: async () => {},
    listTopics: async () => [],
    createTopics: async () => {
      throw unknownTopic();
    },
    fetchTopicMetadata: async () => {
      const answer = metadataAnswers[Math.min(metadataReads, metadataAnswers.length - 1)]!;
      metadataReads += 1;
      return { topics: [{ name: 'events', ...answer() }] };
    },
  };
  const client = { admin: () => admin as unknown as Admin } as unknown as Kafka;
  const topicAdmin = createKafkaTopicAdmin(client, { topic: 'events', partitions: 2, report: () => {}, isClosed: () => false });
  return { topicAdmin, metadataReads: () => metadataReads };
}

describe('Kafka topic set-up', () => {
  it('waits for the leaders of a topic it created when the broker asked does not know the topic yet', async () => {
    const { topicAdmin, metadataReads } = adminOfNewTopic([
      () => {
        throw unknownTopic();
      },
      () => ({ partitions: [{ leader: 1 }, { leader: -1 }] }),
      () => ({ partitions: [{ leader: 1 }, { leader: 1 }] }),
    ]);
    await topicAdmin.setUp();
    expect(metadataReads()).toBe(3);
  });

  it('passes on any other failure of the creation', async () => {
    const admin = {
      connect: async () => {},
      listTopics: async () => [],
      createTopics: async () => {
        throw protocolError({ message: 'Topic authorization failed', type: 'TOPIC_AUTHORIZATION_FAILED', code: 29, retriable: false });
      },
    };
    const client = { admin: () => admin as unknown as Admin } as unknown as Kafka;
    const topicAdmin = createKafkaTopicAdmin(client, { topic: 'events', partitions: 2, report: () => {}, isClosed: () => false });
    await expect(topicAdmin.setUp()).rejects.toThrow('Topic authorization failed');
  });
});
