/**
 * The one place that chooses adapters. For each port, the configuration picks the real-server
 * adapter when its variable is set (KAFKA_BROKERS, MONGODB_URL, CASSANDRA_CONTACT_POINTS,
 * REDIS_URL) and the embedded one (in DATA_DIR or in memory) otherwise.
 *
 * A process opens only the ports it needs: the service all of them (src/main.ts), the keys CLI
 * the API key store and the live bus that carries its revocations (src/cli/keys.ts), a
 * benchmark the port it drives (bench/). Tests may still build adapters directly, to run the
 * contract suites against each of them.
 */
import type { Config } from '../config.ts';
import { createEmbeddedEventLog } from './embedded/embedded-event-log.ts';
import { createEmbeddedEventStore } from './embedded/embedded-event-store.ts';
import { createEmbeddedSeriesStore } from './embedded/embedded-series-store.ts';
import { createEmbeddedLiveBus } from './embedded/embedded-live-bus.ts';
import { createEmbeddedApiKeyStore } from './embedded/embedded-api-key-store.ts';
import { createEmbeddedRateLimitStore } from './embedded/embedded-rate-limit-store.ts';
import { createEmbeddedResultCache } from './embedded/embedded-result-cache.ts';
import { acquireDataDirLock } from './embedded/data-dir-lock.ts';
import { createKafkaEventLog } from './kafka/kafka-event-log.ts';
import { createMongoEventStore } from './mongo/mongo-event-store.ts';
import { createMongoApiKeyStore } from './mongo/mongo-api-key-store.ts';
import type { PortAdapters } from '../ports/port-adapters.ts';
import { createCassandraSeriesStore } from './cassandra/cassandra-series-store.ts';
import { createRedisLiveBus } from './redis/redis-live-bus.ts';
import { createRedisRateLimitStore } from './redis/redis-rate-limit-store.ts';
import { createRedisResultCache } from './redis/redis-result-cache.ts';

export type { PortAdapters };

export type Port = keyof PortAdapters;

/**
 * The order ports are opened in, one after the other: a real server that cannot be reached
 * fails the start with its own name, before the next one is tried.
 */
export const ALL_PORTS = [
  'log',
  'eventStore',
  'seriesStore',
  'liveBus',
  'apiKeys',
  'rateLimits',
  'resultCache',
] as const satisfies readonly Port[];

/** Where adapters report what they cannot throw (a dropped connection, a server's warning). */
export interface AdapterLogger {
  error(details: object, message: string): void;
  warn(details: object, message: string): void;
}

/** The in-process result cache: a few thousand results, and at most ~64 MB of them. */
const RESULT_CACHE_ENTRIES = 5_000;
const RESULT_CACHE_CHARS = 32_000_000;

/**
 * A safety net behind the purge: SECOND rows expire by themselves well after any query or late
 * correction could still need them.
 */
export function secondRowTtlSecondsOf(config: Pick<Config, 'secondRetentionMs' | 'eventTime'>): number {
  return Math.ceil((2 * (config.secondRetentionMs + config.eventTime.allowedLatenessMs)) / 1000);
}

/** One adapter the configuration picked, not yet opened. */
interface Choice<Adapter> {
  /** Named in the start-up failure "could not open the …"; unset, its own error is shown as it is. */
  what?: string;
  /** How the start-up line names it (only the four ports it has always named). */
  shownAs?: string;
  /** Whether it keeps files in DATA_DIR, which one process at a time may own. */
  usesDataDir: boolean;
  open(): Promise<Adapter> | Adapter;
}

interface Reporters {
  /** The handler for one part's runtime errors; undefined without a logger (the adapter's own default). */
  error(part: string): ((error: unknown) => void) | undefined;
  warning(part: string): ((message: string, detail?: unknown) => void) | undefined;
}

type AdapterTable = { [P in Port]: (config: Config, report: Reporters) => Choice<PortAdapters[P]> };

const ADAPTER_TABLE: AdapterTable = {
  log: (config, report) =>
    config.kafka
      ? {
          what: 'Kafka event log',
          shownAs: `kafka (${config.kafka.topic})`,
          usesDataDir: false,
          open: () => createKafkaEventLog({ ...config.kafka!, onError: report.error('kafka') }),
        }
      : {
          shownAs: 'embedded',
          usesDataDir: true,
          open: () =>
            createEmbeddedEventLog({ dataDir: config.dataDir, retentionMs: config.logRetentionMs, onError: report.error('embedded log') }),
        },

  eventStore: (config, report) =>
    config.mongodbUrl
      ? {
          what: 'MongoDB event store',
          shownAs: 'mongodb',
          usesDataDir: false,
          open: () =>
            createMongoEventStore({ url: config.mongodbUrl!, retentionMs: config.eventRetentionMs, onWarning: report.warning('mongodb') }),
        }
      : {
          shownAs: 'embedded',
          usesDataDir: true,
          open: () =>
            createEmbeddedEventStore({
              dataDir: config.dataDir,
              retentionMs: config.eventRetentionMs,
              onError: report.error('embedded event store'),
            }),
        },

  seriesStore: (config, report) =>
    config.cassandra
      ? {
          what: 'Cassandra series store',
          shownAs: `cassandra (${config.cassandra.keyspace})`,
          usesDataDir: false,
          open: () =>
            createCassandraSeriesStore({
              ...config.cassandra!,
              secondRowTtlSeconds: secondRowTtlSecondsOf(config),
              onWarning: report.warning('cassandra'),
            }),
        }
      : { shownAs: 'embedded', usesDataDir: true, open: () => createEmbeddedSeriesStore({ dataDir: config.dataDir }) },

  liveBus: (config, report) =>
    config.redisUrl
      ? {
          what: 'Redis live bus',
          shownAs: 'redis',
          usesDataDir: false,
          open: () => createRedisLiveBus({ url: config.redisUrl!, onError: report.error('redis') }),
        }
      : { shownAs: 'embedded', usesDataDir: false, open: () => createEmbeddedLiveBus({ onError: report.error('live bus') }) },

  // API keys live with the raw events: in MongoDB every instance shares them.
  apiKeys: (config) =>
    config.mongodbUrl
      ? { what: 'API key store', usesDataDir: false, open: () => createMongoApiKeyStore({ url: config.mongodbUrl! }) }
      : { what: 'API key store', usesDataDir: true, open: () => createEmbeddedApiKeyStore({ dataDir: config.dataDir }) },

  // With Redis, rate limits hold across instances and cached results are shared by them.
  rateLimits: (config, report) =>
    config.redisUrl
      ? {
          what: 'Redis rate limit store',
          usesDataDir: false,
          open: () => createRedisRateLimitStore({ url: config.redisUrl!, onError: report.error('redis limits') }),
        }
      : { usesDataDir: false, open: () => createEmbeddedRateLimitStore() },

  resultCache: (config, report) =>
    config.redisUrl
      ? {
          what: 'Redis result cache',
          usesDataDir: false,
          open: () => createRedisResultCache({ url: config.redisUrl!, onError: report.error('redis cache') }),
        }
      : { usesDataDir: false, open: () => createEmbeddedResultCache({ maxEntries: RESULT_CACHE_ENTRIES, maxChars: RESULT_CACHE_CHARS }) },
};

function reportersFor(logger: AdapterLogger | undefined): Reporters {
  return {
    error: (part) => (logger ? (error) => logger.error({ err: error, part }, `${part} error`) : undefined),
    warning: (part) => (logger ? (message, detail) => logger.warn({ detail, part }, message) : undefined),
  };
}

/** The ports asked for, in opening order. */
function inOpeningOrder<P extends Port>(ports: readonly P[]): P[] {
  return ALL_PORTS.filter((port): port is P => (ports as readonly Port[]).includes(port));
}

export interface OpenAdapters<P extends Port> {
  adapters: Pick<PortAdapters, P>;
  /** How the start-up line names the chosen adapters. */
  names: Partial<Record<P, string>>;
  /** Closes every adapter in order (see closeAdapters). */
  close(): Promise<void>;
}

/**
 * Opens the adapters of these ports, as the configuration chooses them. A real server that
 * cannot be reached is a named failure ("could not open the MongoDB event store: …"), and the
 * adapters opened before it are closed again.
 */
export async function openAdapters<P extends Port>(
  config: Config,
  ports: readonly P[],
  options: { logger?: AdapterLogger } = {},
): Promise<OpenAdapters<P>> {
  const report = reportersFor(options.logger);
  const opened: Partial<PortAdapters> = {};
  const names: Partial<Record<P, string>> = {};
  try {
    for (const port of inOpeningOrder(ports)) {
      const choice = ADAPTER_TABLE[port](config, report) as Choice<PortAdapters[P]>;
      (opened as Record<Port, unknown>)[port] = await openChoice(choice);
      if (choice.shownAs !== undefined) names[port] = choice.shownAs;
    }
  } catch (error) {
    await closeAdapters(opened);
    throw error;
  }
  const adapters = opened as Pick<PortAdapters, P>;
  return { adapters, names, close: () => closeAdapters(adapters) };
}

async function openChoice<Adapter>(choice: Choice<Adapter>): Promise<Adapter> {
  if (choice.what === undefined) return await choice.open();
  try {
    return await choice.open();
  } catch (error) {
    throw new Error(`could not open the ${choice.what}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Closes adapters the way the app does at shutdown (src/app.ts): the event log first, since its
 * consumer finishes the batch in hand, and that batch still writes to the stores; then the rest
 * together. Never rejects: a process closing its adapters is on its way out, and one that fails
 * to close must not keep the others open.
 */
export async function closeAdapters(adapters: Partial<PortAdapters>): Promise<void> {
  const { log, ...others } = adapters;
  await log?.close().catch(() => {});
  await Promise.allSettled(Object.values(others).map((adapter) => adapter.close()));
}

/**
 * One process per DATA_DIR (see data-dir-lock.ts): takes it when an adapter these ports would
 * open keeps files there, and returns how to give it back. The keys CLI does not take it: it
 * works beside a running service, through SQLite's own locking.
 */
export function lockDataDirFor(config: Config, ports: readonly Port[]): () => void {
  const report = reportersFor(undefined);
  const usesDataDir = ports.some((port) => ADAPTER_TABLE[port](config, report).usesDataDir);
  return usesDataDir ? acquireDataDirLock(config.dataDir) : () => {};
}
