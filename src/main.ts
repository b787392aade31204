/**
 * The entry point: reads the configuration, opens every port's adapter (the adapter table picks
 * the embedded one unless the real server's variable is set), starts the app, and stops it
 * gracefully on SIGTERM/SIGINT.
 */
import { pino } from 'pino';
import { loadConfig } from './config.ts';
import { startApp } from './app.ts';
import { ALL_PORTS, lockDataDirFor, openAdapters } from './adapters/adapter-table.ts';
import { isLoopbackHost as isLoopback } from './server/browser-guard.ts';
import { logProcessWarnings } from './observability/process-warnings.ts';

function exitWithProblems(problems: string[]): never {
  process.stderr.write(`streamlens: cannot start; fix the configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  const loaded = loadConfig(process.env);
  if (!loaded.ok) exitWithProblems(loaded.problems);
  const config = loaded.config;

  const logger = pino({ level: config.logLevel, base: { service: 'streamlens' } });
  logProcessWarnings(logger);
  // The embedded parts keep their files in DATA_DIR, which one process at a time may own.
  const releaseLock = lockDataDirFor(config, ALL_PORTS);
  const { adapters, names, close: closeAdapters } = await openAdapters(config, ALL_PORTS, { logger });
  const open = config.adminKey === null && (await adapters.apiKeys.count()) === 0;
  if (open && !isLoopback(config.host) && !config.allowOpen) {
    await closeAdapters();
    exitWithProblems([
      `HOST=${config.host} is reachable from other machines, and no API key exists: set ADMIN_KEY (and create tenant keys with npm run keys), ` +
        'or set ALLOW_OPEN=1 to serve everyone as tenant "default"',
    ]);
  }
  if (open) {
    logger.warn(
      {},
      'running OPEN: no ADMIN_KEY and no API key exist, so every caller is tenant "default" with every scope; create a key to require keys',
    );
  }
  if (open && !isLoopback(config.host) && config.browser.allowedHosts === null) {
    logger.warn(
      {},
      'running OPEN on a non-loopback HOST without ALLOWED_HOSTS: any Host header is served, so a web page can reach this service by DNS rebinding; set ALLOWED_HOSTS',
    );
  }
  const app = await startApp(config, adapters, logger, { thread: config.processorThread });
  logger.info(
    { url: app.server.url, port: app.server.port, dataDir: config.dataDir, ...names },
    `Streamlens is listening on ${app.server.url}`,
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    try {
      // The app closes the adapters as the last step of its own shutdown.
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
  // A processor thread that died is not restarted in place: the rest stops gracefully (ingest in
  // flight is answered, subscribers are told) and the process exits non-zero, so that its
  // supervisor starts a fresh one, which resumes from the committed offsets (exactly once, as
  // after a SIGKILL). Serving ingest with nothing processing would only grow the lag unseen.
  void app.processorFailed.then(async (error) => {
    if (stopping) return;
    stopping = true;
    logger.error({ err: error }, 'the stream processor stopped; shutting down to be restarted');
    try {
      await app.stop();
      releaseLock();
    } finally {
      process.exit(1);
    }
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`streamlens: failed to start: ${(error as Error).message}\n`);
  process.exit(1);
});
