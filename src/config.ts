/**
 * The one place that reads environment variables. Every problem is collected and reported at
 * once, so a bad deployment fails at start with a single message that lists them all.
 */
import { DEFAULT_MAX_ATTEMPTS } from './stream/failure-policy.ts';
import { z } from 'zod';
import { DEFAULT_REQUEST_LIMITS, type RequestLimits } from './server/limits.ts';

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

const optionalText = z
  .string()
  .optional()
  .transform((text) => (text && text.trim() !== '' ? text.trim() : undefined));

const environmentSchema = z.object({
  PORT: integer(4000, 0, 65_535),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('./data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  KAFKA_BROKERS: optionalText,
  KAFKA_TOPIC: z.string().min(1).default('streamlens.events'),
  KAFKA_PARTITIONS: integer(6, 1, 10_000),
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
  ADMIN_KEY: optionalText.refine((key) => key === undefined || key.length >= 32, {
    message: 'must be at least 32 characters (it unlocks every tenant\'s keys); generate one with: openssl rand -base64 32',
  }),
  ALLOW_OPEN: z.enum(['0', '1', '']).default('0'),

  OUT_OF_ORDERNESS: duration('5s'),
  IDLE_PARTITION_TIMEOUT: duration('30s'),
  ALLOWED_LATENESS: duration('24h'),
  FUTURE_TOLERANCE: duration('10m'),
  SECOND_RETENTION: duration('6h'),
  LOG_RETENTION: duration('7d'),
  INGEST_MAX_BATCH_EVENTS: integer(1000, 1, 100_000),
  INGEST_MAX_PROPERTIES_BYTES: integer(16_384, 0, 1_048_576),
  MAX_PROCESSING_LAG: integer(1_000_000, 1, 1_000_000_000),
  PROCESSING_MAX_ATTEMPTS: integer(DEFAULT_MAX_ATTEMPTS, 1, 100),
  INGEST_RATE_PER_KEY: integer(20_000, 1, 100_000_000),
  QUERY_RATE_PER_KEY: integer(100, 1, 1_000_000),
  MAX_SUBSCRIPTIONS_PER_TENANT: integer(10_000, 1, 10_000_000),
  NODE_ENV: z.string().default('development'),
  GRAPHIQL: z.enum(['on', 'off', '']).default(''),
  INTROSPECTION: z.enum(['on', 'off', '']).default(''),
  PERSISTED_OPERATIONS_FILE: optionalText,
  MAX_REQUEST_BYTES: integer(DEFAULT_REQUEST_LIMITS.maxRequestBytes, 1_024, 104_857_600),
  MAX_QUERY_BYTES: integer(DEFAULT_REQUEST_LIMITS.maxQueryBytes, 256, 1_048_576),
  MAX_QUERY_DEPTH: integer(DEFAULT_REQUEST_LIMITS.maxQueryDepth, 2, 1_000),
  MAX_QUERY_ALIASES: integer(DEFAULT_REQUEST_LIMITS.maxQueryAliases, 0, 10_000),
  MAX_QUERY_FIELDS: integer(DEFAULT_REQUEST_LIMITS.maxQueryFields, 1, 100_000),
  MAX_QUERY_DIRECTIVES: integer(DEFAULT_REQUEST_LIMITS.maxQueryDirectives, 0, 10_000),
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
  /** Whether the service may run without keys on a non-loopback HOST. */
  allowOpen: boolean;
  eventTime: { outOfOrdernessMs: number; idlePartitionMs: number; allowedLatenessMs: number; futureToleranceMs: number };
  secondRetentionMs: number;
  logRetentionMs: number;
  ingest: { maxBatchEvents: number; maxPropertiesBytes: number };
  /** Past this many unprocessed events, ingest answers UNAVAILABLE and readiness is false. */
  maxProcessingLag: number;
  /** Failed deliveries of a log batch before the processor isolates (and sets aside) the records that fail. */
  processingMaxAttempts: number;
  usage: { ingestEventsPerSecond: number; operationsPerSecond: number; maxSubscriptionsPerTenant: number };
  /** GraphiQL and introspection: on by default, off by default when NODE_ENV=production. */
  graphiql: boolean;
  introspection: boolean;
  /** A JSON file of allowed operations (id → document); when set, only those run. */
  persistedOperationsFile: string | null;
  /** Request body, query text and query shape limits (src/server/limits.ts). */
  requestLimits: RequestLimits;
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

const list = (text: string) =>
  text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);

export function loadConfig(env: NodeJS.ProcessEnv): ConfigResult {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    return { ok: false, problems };
  }
  const e = parsed.data;
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
      allowOpen: e.ALLOW_OPEN === '1',
      eventTime: {
        outOfOrdernessMs: e.OUT_OF_ORDERNESS,
        idlePartitionMs: e.IDLE_PARTITION_TIMEOUT,
        allowedLatenessMs: e.ALLOWED_LATENESS,
        futureToleranceMs: e.FUTURE_TOLERANCE,
      },
      secondRetentionMs: e.SECOND_RETENTION,
      logRetentionMs: e.LOG_RETENTION,
      ingest: { maxBatchEvents: e.INGEST_MAX_BATCH_EVENTS, maxPropertiesBytes: e.INGEST_MAX_PROPERTIES_BYTES },
      maxProcessingLag: e.MAX_PROCESSING_LAG,
      processingMaxAttempts: e.PROCESSING_MAX_ATTEMPTS,
      usage: {
        ingestEventsPerSecond: e.INGEST_RATE_PER_KEY,
        operationsPerSecond: e.QUERY_RATE_PER_KEY,
        maxSubscriptionsPerTenant: e.MAX_SUBSCRIPTIONS_PER_TENANT,
      },
      graphiql: e.GRAPHIQL === '' ? e.NODE_ENV !== 'production' : e.GRAPHIQL === 'on',
      introspection: e.INTROSPECTION === '' ? e.NODE_ENV !== 'production' : e.INTROSPECTION === 'on',
      persistedOperationsFile: e.PERSISTED_OPERATIONS_FILE ?? null,
      requestLimits: {
        maxRequestBytes: e.MAX_REQUEST_BYTES,
        maxQueryBytes: e.MAX_QUERY_BYTES,
        maxQueryDepth: e.MAX_QUERY_DEPTH,
        maxQueryAliases: e.MAX_QUERY_ALIASES,
        maxQueryFields: e.MAX_QUERY_FIELDS,
        maxQueryDirectives: e.MAX_QUERY_DIRECTIVES,
      },
    },
  };
}
