/**
 * The entry point: reads the configuration, chooses an adapter for each port, starts the app,
 * and stops it gracefully on SIGTERM or SIGINT.
 */
import { pino } from 'pino';
import { loadConfig, type Config } from './config.ts';
import { startApp, type Adapters } from './app.ts';
import { createEmbeddedEventLog } from './adapters/embedded/embedded-event-log.ts';
import { createEmbeddedEventStore } from './adapters/embedded/embedded-event-store.ts';
import { createEmbeddedSeriesStore } from './adapters/embedded/embedded-series-store.ts';
import { createEmbeddedLiveBus } from './adapters/embedded/embedded-live-bus.ts';
import { acquireDataDirLock } from './adapters/embedded/data-dir-lock.ts';

/** Variables that name a real server this version cannot use yet: refusing beats ignoring them. */
function unsupportedServers(config: Config): string[] {
  const problems: string[] = [];
  if (config.kafka) problems.push('KAFKA_BROKERS: this version has no Kafka event log yet; unset it to use the embedded log');
  if (config.mongodbUrl) problems.push('MONGODB_URL: this version has no MongoDB event store yet; unset it to use the embedded store');
  if (config.cassandra) problems.push('CASSANDRA_CONTACT_POINTS: this version has no Cassandra series store yet; unset it to use the embedded store');
  if (config.redisUrl) problems.push('REDIS_URL: this version has no Redis live bus yet; unset it to use the in-process bus');
  return problems;
}

function exitWithProblems(problems: string[]): never {
  process.stderr.write(`streamlens: cannot start; fix the configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  const loaded = loadConfig(process.env);
  if (!loaded.ok) exitWithProblems(loaded.problems);
  const config = loaded.config;
  const unsupported = unsupportedServers(config);
  if (unsupported.length > 0) exitWithProblems(unsupported);

  const logger = pino({ level: config.logLevel, base: { service: 'streamlens' } });
  const releaseLock = acquireDataDirLock(config.dataDir);
  const onError = (error: unknown) => logger.error({ err: error }, 'embedded adapter error');
  const adapters: Adapters = {
    log: createEmbeddedEventLog({ dataDir: config.dataDir, retentionMs: config.logRetentionMs, onError }),
    eventStore: createEmbeddedEventStore({ dataDir: config.dataDir }),
    seriesStore: createEmbeddedSeriesStore({ dataDir: config.dataDir }),
    liveBus: createEmbeddedLiveBus({ onError }),
  };
  const app = await startApp(config, adapters, logger);
  logger.info(
    { url: app.server.url, port: app.server.port, dataDir: config.dataDir, log: 'embedded', eventStore: 'embedded', seriesStore: 'embedded', liveBus: 'embedded' },
    `Streamlens is listening on ${app.server.url}`,
  );

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
  process.stderr.write(`streamlens: failed to start: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
