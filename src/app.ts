/**
 * Composes Streamlens from its ports: ingest, the stream processor, queries and the HTTP server.
 * Knows no adapter: main.ts chooses them.
 */
import type { PortAdapters } from './ports/port-adapters.ts';
import { createUsageLimits } from './limits/usage-limits.ts';
import { loadPersistedOperations } from './server/persisted-operations.ts';
import { createAuthenticator } from './auth/authenticator.ts';
import { createKeyService } from './auth/key-service.ts';
import { createAccessTokenService } from './auth/token-service.ts';
import { signingKeys } from './auth/access-tokens.ts';
import { createCursorSeal, cursorSealSecrets } from './query/cursors.ts';
import { randomBytes } from 'node:crypto';
import type { Config } from './config.ts';
import { createIngestService } from './ingest/ingest-service.ts';
import { createQueryService } from './query/query-service.ts';
import { createSetAsideService } from './query/set-aside-service.ts';
import { createLiveService } from './live/live-service.ts';
import { createGraphQLContext, type Services } from './resolvers/context.ts';
import { schema } from './schema/index.ts';
import { startHttpServer, type RunningServer } from './server/http-server.ts';
import { createStreamProcessor, PROCESSOR_GROUP_ID, type ProcessorLogger } from './stream/processor.ts';
import { processorOnThisThread, startProcessorWorker, type RunningProcessor } from './stream/processor-thread.ts';
import { describeStalls } from './stream/batch-failures.ts';
import { createLagMonitor } from './stream/lag-monitor.ts';
import { createMetrics } from './observability/metrics.ts';
import { instrumentPorts } from './observability/instrumented-ports.ts';
import { instrumentIngest } from './observability/instrumented-ingest.ts';
import { withRequestIdInLogs } from './server/request-ids.ts';

/** The ports the app runs on, opened by the caller (main.ts, through the adapter table). */
export type Adapters = PortAdapters;

/**
 * Per-subscriber queue bounds. Events: ten processing batches, so a healthy subscriber absorbs
 * bursts; past that it is told to resume from its cursor. Series updates conflate per bucket,
 * so their bound is a count of distinct buckets.
 */
const MAX_PENDING_EVENTS = 10_000;
const MAX_PENDING_SERIES_UPDATES = 1_000;
/** How long a shutdown waits for subscribers to take their last updates. */
const SUBSCRIBER_DRAIN_TIMEOUT_MS = 5_000;
/** A readiness probe must answer quickly, even while a dependency hangs. */
const READINESS_TIMEOUT_MS = 2_000;
/** A generated token signing secret: 256 random bits, as TOKEN_SIGNING_KEYS asks of a configured one. */
const GENERATED_SECRET_BYTES = 32;
/** The kid of the generated secret, which TOKEN_SIGNING_KEYS replaces when set. */
const GENERATED_KID = 'stored';

/** Where the stream processor runs (src/stream/processor-thread.ts). */
export interface ProcessorPlacement {
  /**
   * "main": on this thread, with the adapters given to startApp (what a test that hands in
   * adapters of its own needs: the default here). "worker": in a worker thread that opens its own
   * adapters from the same configuration (main.ts, by PROCESSOR_THREAD, default worker).
   */
  thread: 'main' | 'worker';
  /** The worker's script, for tests that start one that fails; default the real one. */
  workerEntry?: URL;
}

export interface RunningApp {
  server: RunningServer;
  /**
   * Settles if the stream processor stopped without being asked to (its worker thread died):
   * the service no longer processes, and is not ready. main.ts then stops and exits non-zero.
   */
  processorFailed: Promise<Error>;
  /**
   * Graceful stop: stop accepting, drain ingest in flight, finish and commit the batch in hand,
   * close subscriptions with a reason, close the adapters.
   */
  stop(): Promise<void>;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function startApp(
  config: Config,
  unmeasuredAdapters: Adapters,
  logger: ProcessorLogger,
  placement: ProcessorPlacement = { thread: 'main' },
): Promise<RunningApp> {
  const metrics = createMetrics();
  // Every call to a port is timed from here on; the rest of the app sees the same interfaces.
  const adapters = instrumentPorts(unmeasuredAdapters, metrics.storeOperationDuration);
  const policy = config.eventTime;
  /** Starts the processor where the placement says; its consumer runs once this resolves. */
  const startProcessor = async (): Promise<RunningProcessor> => {
    if (placement.thread === 'worker') {
      return startProcessorWorker({
        config,
        log: adapters.log,
        liveBus: adapters.liveBus,
        metrics,
        logger,
        ...(placement.workerEntry ? { entry: placement.workerEntry } : {}),
      });
    }
    const processor = createStreamProcessor({
      ...adapters,
      policy,
      secondRetentionMs: config.secondRetentionMs,
      logger,
      metrics: metrics.processor,
      maxAttempts: config.processingMaxAttempts,
    });
    await processor.start();
    return processorOnThisThread(processor, adapters.log);
  };
  const lagMonitor = createLagMonitor({
    log: adapters.log,
    groupId: PROCESSOR_GROUP_ID,
    maxLag: config.maxProcessingLag,
    onReadFailure: (error) =>
      logger.warn({ err: error }, 'reading the processing lag failed; ingest does not push back on lag until it is read again'),
    onReadRecovered: () => logger.info({}, 'reading the processing lag works again'),
  });
  metrics.readProcessingLagFrom(lagMonitor.lastLag);
  const ingest = instrumentIngest(
    createIngestService({ log: adapters.log, limits: config.ingest, overloadReason: lagMonitor.overloadReason }),
    metrics.ingestEvents,
  );
  // Read once here, never per request: every instance signs and verifies with the same keys.
  const tokenKeys = signingKeys(
    config.tokenSigningKeys ?? [
      { kid: GENERATED_KID, secret: await adapters.apiKeys.signingSecret(randomBytes(GENERATED_SECRET_BYTES).toString('base64url')) },
    ],
  );
  const authenticator = createAuthenticator({ store: adapters.apiKeys, adminKey: config.adminKey, signingKeys: tokenKeys });
  await authenticator.start();
  // Cursors sealed for tokens open on every instance: their secret follows from the shared signing keys.
  const cursorSeal = createCursorSeal(
    cursorSealSecrets([
      tokenKeys.signing.secret,
      ...[...tokenKeys.verifying.values()].filter((secret) => secret !== tokenKeys.signing.secret),
    ]),
  );
  const keys = createKeyService({
    store: adapters.apiKeys,
    authenticator,
    liveBus: adapters.liveBus,
    maxKeysPerTenant: config.maxKeysPerTenant,
  });
  const queries = createQueryService({
    eventStore: adapters.eventStore,
    seriesStore: adapters.seriesStore,
    policy,
    cache: adapters.resultCache,
    onCacheLookup: (name, hit) => (hit ? metrics.cache(name).hit() : metrics.cache(name).miss()),
    limits: config.queryLimits,
    cursorSeal,
  });
  const limits = createUsageLimits(adapters.rateLimits, { ...config.usage, maxBatchEvents: config.ingest.maxBatchEvents });
  const live = createLiveService({
    liveBus: adapters.liveBus,
    eventStore: adapters.eventStore,
    seriesStore: adapters.seriesStore,
    queries,
    limits,
    queryLimits: config.queryLimits,
    maxPendingEvents: MAX_PENDING_EVENTS,
    maxPendingSeriesUpdates: MAX_PENDING_SERIES_UPDATES,
    eventRetentionMs: config.eventRetentionMs,
    futureToleranceMs: config.eventTime.futureToleranceMs,
    cursorSeal,
  });

  // Revoking a key ends the subscriptions opened with it, on every instance.
  keys.onRevoked((keyId) => live.endSubscriptionsOfKey(keyId));
  await keys.start();
  const processor = await startProcessor();
  metrics.readStallsFrom(() => processor.stalledPartitions());
  let processorFailure: Error | null = null;
  void processor.failed.then((error) => (processorFailure = error));
  const services: Services = {
    ingest,
    queries,
    queryLimits: config.queryLimits,
    limits,
    processor,
    keys,
    tokens: createAccessTokenService({ signingKeys: tokenKeys, keyLimits: config.usage }),
    setAside: createSetAsideService({ eventStore: adapters.eventStore, log: adapters.log }),
    live,
  };

  const dependencies: [string, () => Promise<void>][] = [
    ['event log', () => adapters.log.checkHealth()],
    ['event store', () => adapters.eventStore.checkHealth()],
    ['series store', () => adapters.seriesStore.checkHealth()],
    ['live bus', () => adapters.liveBus.checkHealth()],
    ['API key store', () => adapters.apiKeys.checkHealth()],
  ];
  const server = await startHttpServer(
    {
      schema,
      createContext: async ({ lastEventId, authorization, requestId, remoteAddress, connection }) => ({
        ...createGraphQLContext(services, await authenticator.authenticate(authorization), lastEventId, requestId, remoteAddress ?? null),
        connection: connection ?? null,
      }),
      checkReadiness: async () => {
        await Promise.all(dependencies.map(([name, check]) => withTimeout(check(), READINESS_TIMEOUT_MS, `the ${name}`)));
        if (processorFailure) throw new Error(`the stream processor stopped: ${processorFailure.message}`);
        const overload = lagMonitor.overloadReason();
        if (overload) throw new Error(overload);
        // A partition that does not advance delays every tenant's data on it: not ready.
        const stalls = processor.stalledPartitions();
        if (stalls.length > 0) throw new Error(describeStalls(stalls, Date.now()));
      },
      logger: withRequestIdInLogs(logger),
      limits: config.requestLimits,
      metrics,
      exposure: {
        graphiql: config.graphiql,
        introspection: config.introspection,
        persistedOperations: config.persistedOperationsFile ? loadPersistedOperations(config.persistedOperationsFile) : null,
      },
      // A connection_init without a valid key pays from its address's bucket, as an HTTP call
      // without one does: guessing keys over WebSocket is no cheaper than over HTTP.
      authenticateConnection: async (authorization, remoteAddress) => {
        const auth = await authenticator.authenticate(authorization);
        if (!auth.ok) await services.limits.takeUnauthenticated(remoteAddress);
        return auth;
      },
      // A refresh is paid for as an operation, so valid tokens cannot be pinged in without bound.
      authenticateRefresh: async (authorization, remoteAddress) => {
        const auth = await authenticator.authenticate(authorization);
        if (!auth.ok) await services.limits.takeUnauthenticated(remoteAddress);
        else await services.limits.takeOperation(auth.principal);
        return auth;
      },
      // A graphql-ws connection that refreshed its token: its open subscriptions follow it.
      followConnection: (connection) => live.followConnection(connection),
      browser: config.browser,
      webSockets: config.webSockets,
    },
    config.host,
    config.port,
  );

  return {
    server,
    processorFailed: processor.failed,
    async stop() {
      // The order matters: nothing new comes in, everything accepted is durable and processed,
      // subscribers get the last updates, and only then do connections and adapters close.
      server.stopAccepting();
      await ingest.drain();
      await processor.stop();
      lagMonitor.stop();
      // Subscribers get what the last batches published, unless they are too slow to take it.
      await live.drain(SUBSCRIBER_DRAIN_TIMEOUT_MS);
      await server.close();
      live.close();
      await adapters.log.close();
      await Promise.all([
        adapters.eventStore.close(),
        adapters.seriesStore.close(),
        adapters.liveBus.close(),
        adapters.apiKeys.close(),
        adapters.rateLimits.close(),
        adapters.resultCache.close(),
      ]);
    },
  };
}
