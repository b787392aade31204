/**
 * The GraphQL context: who is asking (the tenant), the services, and per-operation DataLoaders
 * (a loader caches for one operation only, so one request never sees another's stale reads).
 */
import DataLoader from 'dataloader';
import type { StoredEvent } from '../domain/event.ts';
import type { IngestService } from '../ingest/ingest-service.ts';
import type { LiveBus } from '../ports/live-bus.ts';
import type { SeriesStore } from '../ports/series-store.ts';
import type { EventStore } from '../ports/event-store.ts';
import type { QueryService } from '../query/query-service.ts';
import type { StreamProcessor } from '../stream/processor.ts';
import type { LiveQueue } from './live-queue.ts';

export interface Services {
  ingest: IngestService;
  queries: QueryService;
  processor: StreamProcessor;
  liveBus: LiveBus;
  seriesStore: SeriesStore;
  eventStore: EventStore;
  /** Limits of one subscriber's queue, and the queues of the subscriptions this instance serves. */
  live: { maxPendingEvents: number; maxPendingSeriesUpdates: number; queues: Set<LiveQueue<unknown>> };
}

export interface GraphQLContext {
  tenant: string;
  services: Services;
  /** An SSE client's Last-Event-ID: where a reconnecting events subscription resumes. */
  lastEventId: string | null;
  loaders: {
    eventById: DataLoader<string, StoredEvent | null>;
  };
}

export function createGraphQLContext(services: Services, tenant: string, lastEventId: string | null = null): GraphQLContext {
  return {
    tenant,
    services,
    lastEventId,
    loaders: {
      eventById: new DataLoader((ids) => services.queries.eventsByIds(tenant, ids)),
    },
  };
}
