/** The real-server adapter of the LiveBus port, for its contract suite: Redis live bus. */
import type { LiveBus } from '../../../src/ports/live-bus.ts';
import type { AdapterFactory } from '../adapters.ts';

export const realLiveBusAdapters: AdapterFactory<LiveBus>[] = [];
