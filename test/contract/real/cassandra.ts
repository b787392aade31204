/** The real-server adapter of the SeriesStore port, for its contract suite: Cassandra series store. */
import type { SeriesStore } from '../../../src/ports/series-store.ts';
import type { AdapterFactory } from '../adapters.ts';

export const realSeriesStoreAdapters: AdapterFactory<SeriesStore>[] = [];
