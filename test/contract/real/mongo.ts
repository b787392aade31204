/** The real-server adapter of the EventStore port, for its contract suite: MongoDB event store. */
import type { EventStore } from '../../../src/ports/event-store.ts';
import type { AdapterFactory } from '../adapters.ts';

export const realEventStoreAdapters: AdapterFactory<EventStore>[] = [];
