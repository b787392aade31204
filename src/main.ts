/**
 * The entry point: reads the configuration, chooses an adapter for each port (embedded unless
 * the real server's variable is set), starts the app, and stops it gracefully on SIGTERM/SIGINT.
 */
import { pino, type Logger } from 'pino';
import { loadConfig, type Config } from './config.ts';
import { startApp, type Adapters } from './app.ts';
import type { EventLog } from './ports/event-log.ts';
import type { EventStore } from './ports/event-store.ts';
import type { SeriesStore } from './ports/series-store.ts';
import type { LiveBus } from './ports/live-bus.ts';
import { createEmbeddedEventLog } from './adapters/embedded/embedded-event-log.ts';
import { createEmbeddedEventStore } from './adapters/embedded/embedded-event-store.ts';
import { createEmbeddedSeriesStore } from './adapters/embedded/embedded-series-store.ts';
import { createEmbeddedLiveBus } from './adapters/embedded/embedded-live-bus.ts';
import { acquireDataDirLock } from './adapters/embedded/data-dir-lock.ts';
import { createKafkaEventLog } from './adapters/kafka/kafka-event-log.ts';
import { createMongoEventStore } from './adapters/mongo/mongo-event-store.ts';
import { createCassandraSeriesStore } from './adapters/cassandra/cassandra-series-store.ts';
import { createRedisLiveBus } from './adapters/redis/redis-live-bus.ts';
import { openApiKeyStore } from './adapters/api-key-stores.ts';
import type { ApiKeyStore } from './ports/api-key-store.ts';
import type { RateLimitStore } from './ports/rate-limit-store.ts';
import type { ResultCache } from './ports/result-cache.ts';
import { createEmbeddedRateLimitStore } from './adapters/embedded/embedded-rate-limit-store.ts';
import { createEmbeddedResultCache } from './adapters/embedded/embedded-result-cache.ts';
import { createRedisRateLimitStore } from './adapters/redis/redis-rate-limit-store.ts';
import { createRedisResultCache } from './adapters/redis/redis-result-cache.ts';
import { isLoopbackHost as isLoopback } from './server/browser-guard.ts';

/** The in-process result cache: a few thousand results, and at most ~64 MB of them. */
const RESULT_CACHE_ENTRIES = 5_000;
const RESULT_CACHE_CHARS = 32_000_000;


function exitWithProblems(problems: string[]): never {
  process.stderr.write(`streamlens: cannot start; fix the configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
  process.exit(1);
}

/** Opens one adapter; a real server that cannot be reached at start is a clear, named failure. */
async function open<T>(what: string, create: () => Promise<T> | T): Promise<T> {
  try {
    return await create();
  } catch (error) {
    throw new Error(`could not open the ${what}: ${(error as Error).message}`, { cause: error });
  }
}

async function openAdapters(config: Config, logger: Logger): Promise<{ adapters: Adapters; names: Record<string, string> }> {
  const report = (part: string) => (error: unknown) => logger.error({ err: error, part }, `${part} error`);
  const warn = (part: string) => (message: string, detail?: unknown) => logger.warn({ detail, part }, message);
  const opened: { close(): Promise<void> }[] = [];
  const track = <T extends { close(): Promise<void> }>(adapter: T) => (opened.push(adapter), adapter);
  try {
    const log: EventLog = track(
      config.kafka
        ? await open('Kafka event log', () => createKafkaEventLog({ ...config.kafka!, onError: report('kafka') }))
        : createEmbeddedEventLog({ dataDir: config.dataDir, retentionMs: config.logRetentionMs, onError: report('embedded log') }),
    );
    const eventStore: EventStore = track(
      config.mongodbUrl
        ? await open('MongoDB event store', () =>
            createMongoEventStore({ url: config.mongodbUrl!, retentionMs: config.eventRetentionMs, onWarning: warn('mongodb') }),
          )
        : createEmbeddedEventStore({ dataDir: config.dataDir, retentionMs: config.eventRetentionMs, onError: report('embedded event store') }),
    );
    const seriesStore: SeriesStore = track(
      config.cassandra
        ? await open('Cassandra series store', () =>
            createCassandraSeriesStore({
              ...config.cassandra!,
              // A safety net behind the purge: SECOND rows expire by themselves well after any
              // query or late correction could still need them.
              secondRowTtlSeconds: Math.ceil((2 * (config.secondRetentionMs + config.eventTime.allowedLatenessMs)) / 1000),
              onWarning: warn('cassandra'),
            }),
          )
        : createEmbeddedSeriesStore({ dataDir: config.dataDir }),
    );
    const liveBus: LiveBus = track(
      config.redisUrl
        ? await open('Redis live bus', () => createRedisLiveBus({ url: config.redisUrl!, onError: report('redis') }))
        : createEmbeddedLiveBus({ onError: report('live bus') }),
    );
    const apiKeys: ApiKeyStore = track(await open('API key store', () => openApiKeyStore(config)));
    // With Redis, rate limits hold across instances and cached results are shared by them.
    const rateLimits: RateLimitStore = track(
      config.redisUrl
        ? await open('Redis rate limit store', () => createRedisRateLimitStore({ url: config.redisUrl!, onError: report('redis limits') }))
        : createEmbeddedRateLimitStore(),
    );
    const resultCache: ResultCache = track(
      config.redisUrl
        ? await open('Redis result cache', () => createRedisResultCache({ url: config.redisUrl!, onError: report('redis cache') }))
        : createEmbeddedResultCache({ maxEntries: RESULT_CACHE_ENTRIES, maxChars: RESULT_CACHE_CHARS }),
    );
    return {
      adapters: { log, eventStore, seriesStore, liveBus, apiKeys, rateLimits, resultCache },
      names: {
        log: config.kafka ? `kafka (${config.kafka.topic})` : 'embedded',
        eventStore: config.mongodbUrl ? 'mongodb' : 'embedded',
        seriesStore: config.cassandra ? `cassandra (${config.cassandra.keyspace})` : 'embedded',
        liveBus: config.redisUrl ? 'redis' : 'embedded',
      },
    };
  } catch (error) {
    await Promise.allSettled(opened.map((adapter) => adapter.close()));
    throw error;
  }
}

async function main(): Promise<void> {
  const loaded = loadConfig(process.env);
  if (!loaded.ok) exitWithProblems(loaded.problems);
  const config = loaded.config;

  const logger = pino({ level: config.logLevel, base: { service: 'streamlens' } });
  // The embedded parts keep their files in DATA_DIR, which one process at a time may own.
  const usesDataDir = !config.kafka || !config.mongodbUrl || !config.cassandra;
  const releaseLock = usesDataDir ? acquireDataDirLock(config.dataDir) : () => {};
  const { adapters, names } = await openAdapters(config, logger);
  const open = config.adminKey === null && (await adapters.apiKeys.count()) === 0;
  if (open && !isLoopback(config.host) && !config.allowOpen) {
    await Promise.allSettled(Object.values(adapters).map((adapter) => adapter.close()));
    exitWithProblems([
      `HOST=${config.host} is reachable from other machines, and no API key exists: set ADMIN_KEY (and create tenant keys with npm run keys), ` +
        'or set ALLOW_OPEN=1 to serve everyone as tenant "default"',
    ]);
  }
  if (open) {
    logger.warn({}, 'running OPEN: no ADMIN_KEY and no API key exist, so every caller is tenant "default" with every scope; create a key to require keys');
  }
  if (open && !isLoopback(config.host) && config.browser.allowedHosts === null) {
    logger.warn({}, 'running OPEN on a non-loopback HOST without ALLOWED_HOSTS: any Host header is served, so a web page can reach this service by DNS rebinding; set ALLOWED_HOSTS');
  }
  const app = await startApp(config, adapters, logger);
  logger.info({ url: app.server.url, port: app.server.port, dataDir: config.dataDir, ...names }, `Streamlens is listening on ${app.server.url}`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    try {
      await app.stop();
      releaseLock();
      logger.info({}, 'stopped');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((error: unknown) => {
  process.stderr.write(`streamlens: failed to start: ${(error as Error).message}\n`);
  process.exit(1);
});
