/** The real-server adapter of the EventLog port, for its contract suite: Kafka event log (kafkajs). */
import { Kafka, logLevel } from 'kafkajs';
import type { EventLog } from '../../../src/ports/event-log.ts';
import { createKafkaEventLog, kafkaGroupId } from '../../../src/adapters/kafka/kafka-event-log.ts';
import { requireServerEnv, uniqueName } from '../../support/real-servers.ts';
import type { AdapterFactory } from '../adapters.ts';

/** Enough to spread the suite's keys over several partitions, few enough to create quickly. */
const CONTRACT_PARTITIONS = 3;

export const realEventLogAdapters: AdapterFactory<EventLog>[] = [
  {
    name: 'Kafka (kafkajs)',
    harness() {
      const brokers = requireServerEnv('KAFKA_BROKERS').split(',');
      const topic = uniqueName('contract');
      return {
        // Groups are named after the topic by the adapter (kafkaGroupId), so the suite's group
        // names ('g', 'a', 'fresh') are this harness's own.
        open: () => createKafkaEventLog({ brokers, topic, partitions: CONTRACT_PARTITIONS, clientId: 'streamlens-contract' }),
        async cleanup() {
          const admin = new Kafka({ brokers, clientId: 'streamlens-contract-cleanup', logLevel: logLevel.NOTHING }).admin();
          try {
            await admin.connect();
            // Leftovers only cost broker memory until retention expires them: never fail a test over them.
            const { groups } = await admin.listGroups();
            const ours = groups.map((g) => g.groupId).filter((id) => id.startsWith(kafkaGroupId(topic, '')));
            if (ours.length > 0) await admin.deleteGroups(ours).catch(() => {});
            await admin.deleteTopics({ topics: [topic] }).catch(() => {});
          } catch {
            // The broker being gone is reported by the tests themselves.
          } finally {
            await admin.disconnect().catch(() => {});
          }
        },
      };
    },
  },
];
