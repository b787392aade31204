/** The real-server adapter of the EventStore port, for its contract suite: MongoDB event store. */
import { MongoClient } from 'mongodb';
import type { EventStore } from '../../../src/ports/event-store.ts';
import { createMongoEventStore } from '../../../src/adapters/mongo/mongo-event-store.ts';
import { requireServerEnv, uniqueName } from '../../support/real-servers.ts';
import type { AdapterFactory } from '../adapters.ts';

export const realEventStoreAdapters: AdapterFactory<EventStore>[] = [
  {
    name: 'MongoDB (FerretDB here)',
    harness() {
      const url = requireServerEnv('MONGODB_URL');
      // A database per harness: tests never see each other's events, nor other people's runs.
      const database = uniqueName('contract');
      return {
        open: () => createMongoEventStore({ url, database, retentionMs: 7 * 86_400_000 }),
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
    },
  },
];
