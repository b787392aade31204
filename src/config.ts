/**
 * The one place that reads environment variables. Every problem is collected and reported at
 * once, so a bad deployment fails at start with a single message that lists them all.
 */
import { DEFAULT_MAX_ATTEMPTS } from './stream/failure-policy.ts';
import { z } from 'zod';
import { MAX_STREAM_CURSOR_PARTITIONS } from './query/cursors.ts';
import { DEFAULT_QUERY_LIMITS, type QueryLimits } from './query/query-limits.ts';
import { parseSigningKeys, TOKEN_PREFIX, type SigningKey } from './auth/access-tokens.ts';

/** Request body, query text and query shape limits; the server enforces them (src/server/limits.ts). */
export interface RequestLimits {
  /** Largest request body, in bytes (HTTP); largest WebSocket message. */
  maxRequestBytes: number;
  /** Largest query text, in UTF-8 bytes. */
  maxQueryBytes: number;
  /** Deepest field nesting of an operation (a top-level field is depth 1). */
  maxQueryDepth: number;
  /** Most aliases in an operation, fragments expanded. */
  maxQueryAliases: number;
  /** Most fields in an operation, fragments expanded (each spread counts its fragment's fields again). */
  maxQueryFields: number;
  /** Most directives in an operation, fragments expanded. */
  maxQueryDirectives: number;
}

export const DEFAULT_REQUEST_LIMITS: RequestLimits = {
  maxRequestBytes: 1_048_576,
  maxQueryBytes: 65_536,
  maxQueryDepth: 12,
  maxQueryAliases: 30,
  maxQueryFields: 2_000,
  maxQueryDirectives: 50,
};

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "500ms", "5s", "10m", "24h", "7d" into milliseconds. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return null;
  return Math.round(Number(match[1]) * DURATION_UNITS_MS[match[2]!]!);
}

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === null) {
        ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration such as 500ms, 5s, 10m, 24h or 7d` });
        return z.NEVER;
      }
      return ms;
    });

const integer = (fallback: number, min: number, max: number) =>
  z
    .string()
    .default(String(fallback))
    .transform((text, ctx) => {
      const value = Number(text);
      if (!/^\d+$/.test(text.trim()) || value < min || value > max) {
        ctx.addIssue({ code: 'custom', message: `"${text}" is not a whole number from ${min} to ${max}` });
        return z.NEVER;
      }
      return value;
    });

const list = (text: string) =>
  text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);

const optionalText = z
  .string()
  .optional()
  .transform((text) => (text && text.trim() !== '' ? text.trim() : undefined));

/** A duration that may be left unset (its default then derives from other settings). */
const optionalDuration = optionalText.transform((text, ctx) => {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration such as 500ms, 5s, 10m, 24h or 7d` });
    return z.NEVER;
  }
  return ms;
});

/** CORS_ORIGINS: each entry a web origin, `scheme://host[:port]`, exactly as browsers send it. */
const originList = optionalText.transform((text, ctx) => {
  const origins = text === undefined ? [] : list(text);
  for (const origin of origins) {
    let parsed: URL | null = null;
    try {
      parsed = new URL(origin);
    } catch {
      // reported below
    }
    if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.origin !== origin) {
      ctx.addIssue({
        code: 'custom',
        message: `"${origin}" is not a web origin such as https://app.example.com (scheme, host and port only, no trailing slash)`,
      });
    }
  }
  return origins;
});

/** ALLOWED_HOSTS: host names (no port), or `*`. */
const hostList = optionalText.transform((text, ctx) => {
  if (text === undefined) return null;
  const hosts = list(text).map((host) => host.toLowerCase());
  for (const host of hosts) {
    if (host !== '*' && !/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)$/.test(host)) {
      ctx.addIssue({ code: 'custom', message: `"${host}" is not a host name such as api.example.com (no scheme, no port), nor *` });
    }
  }
  return hosts;
});

/** A whole number that may be left unset (its default then derives from another setting). */
const optionalInteger = (min: number, max: number) =>
  optionalText.transform((text, ctx) => {
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a whole number from ${min} to ${max}` });
      return z.NEVER;
    }
    return value;
  });

/** A tenant's rate, when not set: as much as this many keys at their own rate. */
const TENANT_RATE_IN_KEYS = 5;

/** SECOND buckets are kept at least this long by default: a few hours of per-second detail. */
const DEFAULT_SECOND_RETENTION_MS = 6 * 3_600_000;
/** The span of one SECOND bucket: an event counted just in time may lie at its very start. */
const SECOND_BUCKET_MS = 1_000;

/**
 * The shortest SECOND retention the event-time settings allow. An event still counts while it is
 * no more than ALLOWED_LATENESS behind the watermark, which trails the newest event time (about
 * now) by OUT_OF_ORDERNESS; its bucket may start up to one SECOND bucket earlier. The purge
 * deletes buckets that start more than the retention ago, so a shorter retention would purge
 * buckets that late events (and the processor's cached rows) still update, bringing deleted
 * rows back with part of their counts. (Were the watermark behind the clock, the processor
 * still never writes a SECOND bucket before the purge's cut: rollup-plan.ts.)
 */
export function minimumSecondRetentionMs(eventTime: { allowedLatenessMs: number; outOfOrdernessMs: number }): number {
  return eventTime.allowedLatenessMs + eventTime.outOfOrdernessMs + SECOND_BUCKET_MS;
}

/** The SECOND retention: as set (refused below the minimum), else 6h or the minimum when that is more. */
function secondRetentionOf(
  configured: number | undefined,
  eventTime: { allowedLatenessMs: number; outOfOrdernessMs: number },
): { ms: number } | { problem: string } {
  const minimum = minimumSecondRetentionMs(eventTime);
  if (configured === undefined) return { ms: Math.max(DEFAULT_SECOND_RETENTION_MS, minimum) };
  if (configured >= minimum) return { ms: configured };
  return {
    problem:
      `SECOND_RETENTION: ${formatDuration(configured)} is shorter than ALLOWED_LATENESS + OUT_OF_ORDERNESS + 1s ` +
      `(${formatDuration(minimum)}): a late event could still update a SECOND bucket after the purge deleted it. ` +
      `Set SECOND_RETENTION to ${formatDuration(minimum)} or more (or leave it unset), or lower ALLOWED_LATENESS`,
  };
}

/** A duration in the largest unit that states it exactly, as SECOND_RETENTION accepts it back. */
function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = DURATION_UNITS_MS[unit]!;
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

const environmentSchema = z.object({
  PORT: integer(4000, 0, 65_535),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('./data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  KAFKA_BROKERS: optionalText,
  KAFKA_TOPIC: z.string().min(1).default('streamlens.events'),
  // A stream cursor names at most this many partitions (src/query/cursors.ts).
  KAFKA_PARTITIONS: integer(6, 1, MAX_STREAM_CURSOR_PARTITIONS),
  MONGODB_URL: optionalText,
  EVENT_RETENTION: optionalText.transform((text, ctx) => {
    if (text === undefined) return null;
    const ms = parseDuration(text);
    if (ms === null) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration such as 30d` });
      return z.NEVER;
    }
    return ms;
  }),
  CASSANDRA_CONTACT_POINTS: optionalText,
  CASSANDRA_LOCAL_DC: z.string().default('datacenter1'),
  CASSANDRA_KEYSPACE: z.string().default('streamlens'),
  REDIS_URL: optionalText,
  ADMIN_KEY: optionalText
    .refine((key) => key === undefined || key.length >= 32, {
      message: "must be at least 32 characters (it unlocks every tenant's keys); generate one with: openssl rand -base64 32",
    })
    // A credential starting with the prefix is taken for an access token: the admin key would never match.
    .refine((key) => key === undefined || !key.startsWith(TOKEN_PREFIX), {
      message: `must not start with "${TOKEN_PREFIX}", the prefix of access tokens`,
    }),
  // "kid:secret,kid2:secret2": the first signs access tokens, all verify them. Unset: one random
  // secret, created once and kept in the API key store (shared by every instance on MongoDB).
  TOKEN_SIGNING_KEYS: optionalText.transform((text, ctx) => {
    if (text === undefined) return null;
    const parsed = parseSigningKeys(text);
    if (!parsed.ok) {
      for (const problem of parsed.problems) ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return parsed.keys;
  }),
  ALLOW_OPEN: z.enum(['0', '1', '']).default('0'),

  OUT_OF_ORDERNESS: duration('5s'),
  IDLE_PARTITION_TIMEOUT: duration('30s'),
  ALLOWED_LATENESS: duration('24h'),
  FUTURE_TOLERANCE: duration('10m'),
  // Unset: the larger of DEFAULT_SECOND_RETENTION_MS and what the lateness needs (secondRetentionOf).
  SECOND_RETENTION: optionalDuration,
  LOG_RETENTION: duration('7d'),
  INGEST_MAX_BATCH_EVENTS: integer(1000, 1, 100_000),
  INGEST_MAX_PROPERTIES_BYTES: integer(16_384, 0, 1_048_576),
  MAX_PROCESSING_LAG: integer(1_000_000, 1, 1_000_000_000),
  PROCESSING_MAX_ATTEMPTS: integer(DEFAULT_MAX_ATTEMPTS, 1, 100),
  // "worker": the stream processor runs in a worker thread of its own (src/stream/processor-thread.ts);
  // "main": beside HTTP and GraphQL on the main thread, as before (for diagnosis and comparison).
  PROCESSOR_THREAD: z.enum(['worker', 'main']).default('worker'),
  INGEST_RATE_PER_KEY: integer(20_000, 1, 100_000_000),
  QUERY_RATE_PER_KEY: integer(100, 1, 1_000_000),
  // Unset: five keys' worth, so a tenant's keys share a bound however many an ADMIN mints.
  INGEST_RATE_PER_TENANT: optionalInteger(1, 500_000_000),
  QUERY_RATE_PER_TENANT: optionalInteger(1, 5_000_000),
  UNAUTHENTICATED_RATE_PER_ADDRESS: integer(20, 1, 1_000_000),
  MAX_KEYS_PER_TENANT: integer(100, 1, 1_000_000),
  MAX_SUBSCRIPTIONS_PER_TENANT: integer(10_000, 1, 10_000_000),
  NODE_ENV: z.string().default('development'),
  GRAPHIQL: z.enum(['on', 'off', '']).default(''),
  INTROSPECTION: z.enum(['on', 'off', '']).default(''),
  PERSISTED_OPERATIONS_FILE: optionalText,
  CORS_ORIGINS: originList,
  ALLOWED_HOSTS: hostList,
  // 20,000 sockets is about 1 GB at the ~50 KB each of bench P6, and above its largest run (10,000).
  MAX_WS_CONNECTIONS: integer(20_000, 1, 10_000_000),
  // As many as the default MAX_SUBSCRIPTIONS_PER_TENANT, each socket carrying one subscription.
  MAX_WS_CONNECTIONS_PER_KEY: integer(10_000, 1, 10_000_000),
  // One end user's tabs and devices: a dashboard needs one connection per page.
  MAX_WS_CONNECTIONS_PER_TOKEN: integer(16, 1, 10_000_000),
  MAX_REQUEST_BYTES: integer(DEFAULT_REQUEST_LIMITS.maxRequestBytes, 1_024, 104_857_600),
  MAX_QUERY_BYTES: integer(DEFAULT_REQUEST_LIMITS.maxQueryBytes, 256, 1_048_576),
  MAX_QUERY_DEPTH: integer(DEFAULT_REQUEST_LIMITS.maxQueryDepth, 2, 1_000),
  MAX_QUERY_ALIASES: integer(DEFAULT_REQUEST_LIMITS.maxQueryAliases, 0, 10_000),
  MAX_QUERY_FIELDS: integer(DEFAULT_REQUEST_LIMITS.maxQueryFields, 1, 100_000),
  MAX_QUERY_DIRECTIVES: integer(DEFAULT_REQUEST_LIMITS.maxQueryDirectives, 0, 10_000),
  // Upper bounds: far past what one process can answer promptly, so a typo cannot lift a limit.
  MAX_SERIES_POINTS: integer(DEFAULT_QUERY_LIMITS.maxSeriesPoints, 1, 10_000_000),
  MAX_ROWS_READ: integer(DEFAULT_QUERY_LIMITS.maxRowsRead, 1, 100_000_000),
  MAX_SERIES_GROUPS: integer(DEFAULT_QUERY_LIMITS.maxSeriesGroups, 1, 1_000_000),
  MAX_EVENT_TYPES: integer(DEFAULT_QUERY_LIMITS.maxEventTypes, 1, 1_000_000),
  MAX_MERGED_BUCKETS: integer(DEFAULT_QUERY_LIMITS.maxMergedBuckets, 1, 100_000_000),
});

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  kafka: { brokers: string[]; topic: string; partitions: number } | null;
  mongodbUrl: string | null;
  /** How long raw events (and so their idempotency keys) are kept; null: forever. */
  eventRetentionMs: number | null;
  cassandra: { contactPoints: string[]; localDataCenter: string; keyspace: string } | null;
  redisUrl: string | null;
  /** The bootstrap admin key; null when unset. */
  adminKey: string | null;
  /** TOKEN_SIGNING_KEYS: the first signs access tokens, all verify; null: a stored random secret. */
  tokenSigningKeys: SigningKey[] | null;
  /** Whether the service may run without keys on a non-loopback HOST. */
  allowOpen: boolean;
  eventTime: { outOfOrdernessMs: number; idlePartitionMs: number; allowedLatenessMs: number; futureToleranceMs: number };
  /**
   * How long SECOND buckets are kept: SECOND_RETENTION, never below minimumSecondRetentionMs;
   * unset, the larger of 6h and that minimum (24h 6s with the default lateness).
   */
  secondRetentionMs: number;
  logRetentionMs: number;
  ingest: { maxBatchEvents: number; maxPropertiesBytes: number };
  /** Past this many unprocessed events, ingest answers UNAVAILABLE and readiness is false. */
  maxProcessingLag: number;
  /** Failed deliveries of a log batch before the processor isolates (and sets aside) the records that fail. */
  processingMaxAttempts: number;
  /**
   * Where the stream processor runs: in a worker thread, so ingest and queries keep the main
   * thread's core ("worker", the default), or on the main thread ("main").
   */
  processorThread: 'worker' | 'main';
  usage: {
    /** Per key, and per tenant (shared by every key of the tenant). */
    ingestEventsPerSecond: number;
    tenantIngestEventsPerSecond: number;
    operationsPerSecond: number;
    tenantOperationsPerSecond: number;
    /** Operations per second from one remote address without a valid key (failed authentications included). */
    unauthenticatedOperationsPerSecond: number;
    maxSubscriptionsPerTenant: number;
  };
  /** Active (unrevoked) API keys one tenant may hold. */
  maxKeysPerTenant: number;
  /** GraphiQL and introspection: on by default, off by default when NODE_ENV=production. */
  graphiql: boolean;
  introspection: boolean;
  /** A JSON file of allowed operations (id → document); when set, only those run. */
  persistedOperationsFile: string | null;
  /** Request body, query text and query shape limits (src/server/limits.ts). */
  requestLimits: RequestLimits;
  /** Which web pages may call the service (src/server/browser-guard.ts). */
  browser: { corsOrigins: string[]; allowedHosts: string[] | null };
  /** graphql-ws connections per instance, and per key (src/server/graphql-ws-connections.ts). */
  webSockets: { maxConnections: number; maxConnectionsPerKey: number; maxConnectionsPerToken: number };
  /** How much one query may read and answer (src/query/query-limits.ts). */
  queryLimits: QueryLimits;
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

export function loadConfig(env: NodeJS.ProcessEnv): ConfigResult {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    return { ok: false, problems };
  }
  const e = parsed.data;
  const secondRetention = secondRetentionOf(e.SECOND_RETENTION, {
    allowedLatenessMs: e.ALLOWED_LATENESS,
    outOfOrdernessMs: e.OUT_OF_ORDERNESS,
  });
  if ('problem' in secondRetention) return { ok: false, problems: [secondRetention.problem] };
  return {
    ok: true,
    config: {
      port: e.PORT,
      host: e.HOST,
      dataDir: e.DATA_DIR,
      logLevel: e.LOG_LEVEL,
      kafka: e.KAFKA_BROKERS ? { brokers: list(e.KAFKA_BROKERS), topic: e.KAFKA_TOPIC, partitions: e.KAFKA_PARTITIONS } : null,
      mongodbUrl: e.MONGODB_URL ?? null,
      eventRetentionMs: e.EVENT_RETENTION,
      cassandra: e.CASSANDRA_CONTACT_POINTS
        ? { contactPoints: list(e.CASSANDRA_CONTACT_POINTS), localDataCenter: e.CASSANDRA_LOCAL_DC, keyspace: e.CASSANDRA_KEYSPACE }
        : null,
      redisUrl: e.REDIS_URL ?? null,
      adminKey: e.ADMIN_KEY ?? null,
      tokenSigningKeys: e.TOKEN_SIGNING_KEYS,
      allowOpen: e.ALLOW_OPEN === '1',
      eventTime: {
        outOfOrdernessMs: e.OUT_OF_ORDERNESS,
        idlePartitionMs: e.IDLE_PARTITION_TIMEOUT,
        allowedLatenessMs: e.ALLOWED_LATENESS,
        futureToleranceMs: e.FUTURE_TOLERANCE,
      },
      secondRetentionMs: secondRetention.ms,
      logRetentionMs: e.LOG_RETENTION,
      ingest: { maxBatchEvents: e.INGEST_MAX_BATCH_EVENTS, maxPropertiesBytes: e.INGEST_MAX_PROPERTIES_BYTES },
      maxProcessingLag: e.MAX_PROCESSING_LAG,
      processingMaxAttempts: e.PROCESSING_MAX_ATTEMPTS,
      processorThread: e.PROCESSOR_THREAD,
      usage: {
        ingestEventsPerSecond: e.INGEST_RATE_PER_KEY,
        tenantIngestEventsPerSecond: e.INGEST_RATE_PER_TENANT ?? TENANT_RATE_IN_KEYS * e.INGEST_RATE_PER_KEY,
        operationsPerSecond: e.QUERY_RATE_PER_KEY,
        tenantOperationsPerSecond: e.QUERY_RATE_PER_TENANT ?? TENANT_RATE_IN_KEYS * e.QUERY_RATE_PER_KEY,
        unauthenticatedOperationsPerSecond: e.UNAUTHENTICATED_RATE_PER_ADDRESS,
        maxSubscriptionsPerTenant: e.MAX_SUBSCRIPTIONS_PER_TENANT,
      },
      maxKeysPerTenant: e.MAX_KEYS_PER_TENANT,
      graphiql: e.GRAPHIQL === '' ? e.NODE_ENV !== 'production' : e.GRAPHIQL === 'on',
      introspection: e.INTROSPECTION === '' ? e.NODE_ENV !== 'production' : e.INTROSPECTION === 'on',
      persistedOperationsFile: e.PERSISTED_OPERATIONS_FILE ?? null,
      browser: { corsOrigins: e.CORS_ORIGINS, allowedHosts: e.ALLOWED_HOSTS },
      webSockets: {
        maxConnections: e.MAX_WS_CONNECTIONS,
        maxConnectionsPerKey: e.MAX_WS_CONNECTIONS_PER_KEY,
        maxConnectionsPerToken: e.MAX_WS_CONNECTIONS_PER_TOKEN,
      },
      requestLimits: {
        maxRequestBytes: e.MAX_REQUEST_BYTES,
        maxQueryBytes: e.MAX_QUERY_BYTES,
        maxQueryDepth: e.MAX_QUERY_DEPTH,
        maxQueryAliases: e.MAX_QUERY_ALIASES,
        maxQueryFields: e.MAX_QUERY_FIELDS,
        maxQueryDirectives: e.MAX_QUERY_DIRECTIVES,
      },
      queryLimits: {
        maxSeriesPoints: e.MAX_SERIES_POINTS,
        maxRowsRead: e.MAX_ROWS_READ,
        maxSeriesGroups: e.MAX_SERIES_GROUPS,
        maxEventTypes: e.MAX_EVENT_TYPES,
        maxMergedBuckets: e.MAX_MERGED_BUCKETS,
      },
    },
  };
}
