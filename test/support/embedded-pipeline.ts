/**
 * The embedded pipeline the in-process live tests build on: the embedded log, stores and bus in a
 * data directory of their own, a running stream processor and the ingest service, configured
 * from `env` as the service would be. `stop` stops the processor and closes and removes it all.
 */
import { createEmbeddedEventLog } from '../../src/adapters/embedded/embedded-event-log.ts';
import { createEmbeddedEventStore } from '../../src/adapters/embedded/embedded-event-store.ts';
import { createEmbeddedSeriesStore } from '../../src/adapters/embedded/embedded-series-store.ts';
import { createEmbeddedLiveBus } from '../../src/adapters/embedded/embedded-live-bus.ts';
import { loadConfig } from '../../src/config.ts';
import { createIngestService } from '../../src/ingest/ingest-service.ts';
import { createStreamProcessor } from '../../src/stream/processor.ts';
import { newDataDir, removeDataDir } from './server.ts';

/** One day: longer than any of these tests, so the log keeps every record they write. */
const LOG_RETENTION_MS = 86_400_000;

export async function startEmbeddedPipeline(env: Record<string, string> = {}) {
  const loaded = loadConfig(env);
  if (!loaded.ok) throw new Error(loaded.problems.join('; '));
  const { config } = loaded;
  const dataDir = newDataDir();
  const log = createEmbeddedEventLog({ dataDir, retentionMs: LOG_RETENTION_MS });
  const eventStore = createEmbeddedEventStore({ dataDir });
  const seriesStore = createEmbeddedSeriesStore({ dataDir });
  const liveBus = createEmbeddedLiveBus();
  const processor = createStreamProcessor({
    log,
    eventStore,
    seriesStore,
    liveBus,
    policy: config.eventTime,
    secondRetentionMs: config.secondRetentionMs,
    logger: { info() {}, warn() {}, error() {} },
  });
  await processor.start();
  const ingest = createIngestService({ log, limits: config.ingest });
  return {
    config,
    log,
    eventStore,
    seriesStore,
    liveBus,
    processor,
    ingest,
    async stop(): Promise<void> {
      await processor.stop();
      await log.close();
      await Promise.all([eventStore.close(), seriesStore.close(), liveBus.close()]);
      removeDataDir(dataDir);
    },
  };
}
