/** The real-server adapter of the EventLog port, for its contract suite: Kafka event log (kafkajs). */
import type { EventLog } from '../../../src/ports/event-log.ts';
import type { AdapterFactory } from '../adapters.ts';

export const realEventLogAdapters: AdapterFactory<EventLog>[] = [];
