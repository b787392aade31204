/**
 * The adapters each contract suite runs against. Every port has its embedded adapter here;
 * the real-server adapters join these lists, and the same suites then prove them equivalent.
 */
import { newDataDir, removeDataDir } from '../support/server.ts';
import { createEarlierEventsTable } from '../support/earlier-data-dirs.ts';
import type { EventLog } from '../../src/ports/event-log.ts';
import type { EventStore } from '../../src/ports/event-store.ts';
import type { SeriesStore } from '../../src/ports/series-store.ts';
import type { LiveBus } from '../../src/ports/live-bus.ts';
import type { ApiKeyStore } from '../../src/ports/api-key-store.ts';
import { createEmbeddedEventLog } from '../../src/adapters/embedded/embedded-event-log.ts';
import { createEmbeddedEventStore } from '../../src/adapters/embedded/embedded-event-store.ts';
import { createEmbeddedSeriesStore } from '../../src/adapters/embedded/embedded-series-store.ts';
import { createEmbeddedLiveBus } from '../../src/adapters/embedded/embedded-live-bus.ts';
import { createEmbeddedApiKeyStore } from '../../src/adapters/embedded/embedded-api-key-store.ts';
import { realEventLogAdapters } from './real/kafka.ts';
import { realApiKeyStoreAdapters, realEventStoreAdapters } from './real/mongo.ts';
import { realSeriesStoreAdapters } from './real/cassandra.ts';
import { realLiveBusAdapters } from './real/redis.ts';

/** A fresh, empty instance of a port, and how to open it again over the same data. */
export interface AdapterHarness<Port> {
  open(): Promise<Port>;
  /** Removes every trace of the instance's data. */
  cleanup(): Promise<void>;
}

export interface AdapterFactory<Port> {
  name: string;
  harness(): AdapterHarness<Port>;
  /** True when two open() instances share data as two processes would (a real server). */
  sharedAcrossInstances?: boolean;
}

function embedded<Port>(name: string, create: (dataDir: string) => Port, prepare?: (dataDir: string) => void): AdapterFactory<Port> {
  return {
    name,
    harness() {
      const dataDir = newDataDir();
      prepare?.(dataDir);
      return {
        open: async () => create(dataDir),
        cleanup: async () => removeDataDir(dataDir),
      };
    },
  };
}

export const eventLogAdapters: AdapterFactory<EventLog>[] = [
  embedded('embedded (SQLite)', (dataDir) => createEmbeddedEventLog({ dataDir, retentionMs: 86_400_000 })),
  ...realEventLogAdapters,
];

export const eventStoreAdapters: AdapterFactory<EventStore>[] = [
  embedded('embedded (SQLite)', (dataDir) => createEmbeddedEventStore({ dataDir })),
  embedded(
    'embedded (SQLite, an events table made before the rowid layout)',
    (dataDir) => createEmbeddedEventStore({ dataDir }),
    createEarlierEventsTable,
  ),
  ...realEventStoreAdapters,
];

export const seriesStoreAdapters: AdapterFactory<SeriesStore>[] = [
  embedded('embedded (SQLite)', (dataDir) => createEmbeddedSeriesStore({ dataDir })),
  ...realSeriesStoreAdapters,
];

export const liveBusAdapters: AdapterFactory<LiveBus>[] = [
  { name: 'embedded (in-process)', harness: () => ({ open: async () => createEmbeddedLiveBus(), cleanup: async () => {} }) },
  ...realLiveBusAdapters,
];

export const apiKeyStoreAdapters: AdapterFactory<ApiKeyStore>[] = [
  embedded('embedded (SQLite)', (dataDir) => createEmbeddedApiKeyStore({ dataDir })),
  ...realApiKeyStoreAdapters,
];
