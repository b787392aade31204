/**
 * Composes Streamlens from its ports: ingest, the stream processor, queries and the HTTP server.
 * Knows no adapter: main.ts chooses them.
 */
import type { EventLog } from './ports/event-log.ts';
import type { EventStore } from './ports/event-store.ts';
import type { SeriesStore } from './ports/series-store.ts';
import type { LiveBus } from './ports/live-bus.ts';
import type { Config } from './config.ts';
import { DEFAULT_TENANT } from './domain/event.ts';
import { createIngestService } from './ingest/ingest-service.ts';
import { createQueryService } from './query/query-service.ts';
import { createGraphQLContext, type Services } from './resolvers/context.ts';
import { schema } from './schema/index.ts';
import { startHttpServer, type RunningServer } from './server/http-server.ts';
import { createStreamProcessor, type ProcessorLogger } from './stream/processor.ts';

export interface Adapters {
  log: EventLog;
  eventStore: EventStore;
  seriesStore: SeriesStore;
  liveBus: LiveBus;
}

/** Per-subscriber queue bounds: enough for bursts, small enough that 10k subscribers fit in memory. */
const MAX_PENDING_EVENTS = 1_000;
const MAX_PENDING_SERIES_UPDATES = 1_000;
/** A readiness probe must answer quickly, even while a dependency hangs. */
const READINESS_TIMEOUT_MS = 2_000;

export interface RunningApp {
  server: RunningServer;
  /** Graceful stop: stop accepting, finish and commit the batch in hand, close the adapters. */
  stop(): Promise<void>;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function startApp(config: Config, adapters: Adapters, logger: ProcessorLogger): Promise<RunningApp> {
  const policy = config.eventTime;
  const processor = createStreamProcessor({ ...adapters, policy, secondRetentionMs: config.secondRetentionMs, logger });
  const services: Services = {
    ingest: createIngestService({ log: adapters.log, limits: config.ingest }),
    queries: createQueryService({ eventStore: adapters.eventStore, seriesStore: adapters.seriesStore, policy }),
    processor,
    liveBus: adapters.liveBus,
    seriesStore: adapters.seriesStore,
    live: { maxPendingEvents: MAX_PENDING_EVENTS, maxPendingSeriesUpdates: MAX_PENDING_SERIES_UPDATES, activeSubscriptions: 0 },
  };

  await processor.start();

  const dependencies: [string, () => Promise<void>][] = [
    ['event log', () => adapters.log.checkHealth()],
    ['event store', () => adapters.eventStore.checkHealth()],
    ['series store', () => adapters.seriesStore.checkHealth()],
    ['live bus', () => adapters.liveBus.checkHealth()],
  ];
  const server = await startHttpServer(
    {
      schema,
      createContext: () => createGraphQLContext(services, DEFAULT_TENANT),
      checkReadiness: async () => {
        await Promise.all(dependencies.map(([name, check]) => withTimeout(check(), READINESS_TIMEOUT_MS, `the ${name}`)));
      },
      logger,
    },
    config.host,
    config.port,
  );

  return {
    server,
    async stop() {
      await server.close();
      await processor.stop();
      await adapters.log.close();
      await Promise.all([adapters.eventStore.close(), adapters.seriesStore.close(), adapters.liveBus.close()]);
    },
  };
}
