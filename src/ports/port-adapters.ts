/** Every port a Streamlens process may open, by the name the app and the adapter table give it. */
import type { ApiKeyStore } from './api-key-store.ts';
import type { EventLog } from './event-log.ts';
import type { EventStore } from './event-store.ts';
import type { LiveBus } from './live-bus.ts';
import type { RateLimitStore } from './rate-limit-store.ts';
import type { ResultCache } from './result-cache.ts';
import type { SeriesStore } from './series-store.ts';

export interface PortAdapters {
  log: EventLog;
  eventStore: EventStore;
  seriesStore: SeriesStore;
  liveBus: LiveBus;
  apiKeys: ApiKeyStore;
  rateLimits: RateLimitStore;
  resultCache: ResultCache;
}
