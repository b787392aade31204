/** The real-server adapters on MongoDB, for their contract suites: the event store and the API key store. */
import { MongoClient } from 'mongodb';
import type { ApiKeyStore } from '../../../src/ports/api-key-store.ts';
import type { EventStore } from '../../../src/ports/event-store.ts';
import { createMongoApiKeyStore } from '../../../src/adapters/mongo/mongo-api-key-store.ts';
import { createMongoEventStore } from '../../../src/adapters/mongo/mongo-event-store.ts';
import { requireServerEnv, uniqueName } from '../../support/real-servers.ts';
import type { AdapterFactory } from '../adapters.ts';

/** A database per harness: tests never see each other's data, nor other people's runs. */
function mongoHarness<Port>(open: (url: string, database: string) => Promise<Port>): AdapterFactory<Port>['harness'] {
  return () => {
    const url = requireServerEnv('MONGODB_URL');
    const database = uniqueName('contract');
    return {
      open: () => open(url, database),
      async cleanup() {
        const client = new MongoClient(url, { serverSelectionTimeoutMS: 3_000 });
        try {
          await client.db(database).dropDatabase();
        } catch {
          // A database left behind costs disk space on a test server, not a wrong result.
        } finally {
          await client.close().catch(() => {});
        }
      },
    };
  };
}

export const realEventStoreAdapters: AdapterFactory<EventStore>[] = [
  {
    name: 'MongoDB (FerretDB here)',
    harness: mongoHarness((url, database) => createMongoEventStore({ url, database, retentionMs: 7 * 86_400_000 })),
  },
];

export const realApiKeyStoreAdapters: AdapterFactory<ApiKeyStore>[] = [
  { name: 'MongoDB (FerretDB here)', harness: mongoHarness((url, database) => createMongoApiKeyStore({ url, database })) },
];
