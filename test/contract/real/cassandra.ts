/** The real-server adapter of the SeriesStore port, for its contract suite: Cassandra series store. */
import type { SeriesStore } from '../../../src/ports/series-store.ts';
import { createCassandraSeriesStore } from '../../../src/adapters/cassandra/cassandra-series-store.ts';
import { dropKeyspace } from '../../../src/adapters/cassandra/migrations.ts';
import { requireServerEnv, uniqueName } from '../../support/real-servers.ts';
import type { AdapterFactory } from '../adapters.ts';

function cassandraSettings() {
  return {
    contactPoints: requireServerEnv('CASSANDRA_CONTACT_POINTS')
      .split(',')
      .map((point) => point.trim())
      .filter(Boolean),
    localDataCenter: process.env.CASSANDRA_LOCAL_DC || 'datacenter1',
  };
}

export const realSeriesStoreAdapters: AdapterFactory<SeriesStore>[] = [
  {
    name: 'Cassandra',
    harness() {
      // uniqueName is lower-case base 36 after the prefix, about 24 characters: a valid unquoted
      // keyspace name, well under Cassandra's 48.
      const keyspace = uniqueName('contract').toLowerCase();
      return {
        open: () => createCassandraSeriesStore({ ...cassandraSettings(), keyspace }),
        cleanup: async () => {
          try {
            await dropKeyspace({ ...cassandraSettings(), keyspace });
          } catch {
            // A keyspace left behind costs disk space, not correctness: every harness has its own.
          }
        },
      };
    },
  },
];
