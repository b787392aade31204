/**
 * A Redis client for the parts of a request path that must never wait on Redis (rate limits,
 * the result cache): no offline queue and one try, so an outage fails a call at once instead of
 * queueing it; connected before it is handed out.
 */
import { Redis } from 'ioredis';
import { unavailable } from '../../errors.ts';

export async function connectFailFastRedis(options: {
  url: string;
  /** Shown by CLIENT LIST, e.g. streamlens-limits. */
  connectionName: string;
  /** What the client is for, for the error when it cannot connect. */
  purpose: string;
  onError?: (error: unknown) => void;
}): Promise<Redis> {
  const redis = new Redis(options.url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectionName: options.connectionName,
    // Under load many calls are issued in the same tick (every ingest call and query takes
    // tokens, and queries look up and fill the cache): they then share one write and one round
    // trip. Each command (a rate-limit script call included) stays atomic on its own.
    enableAutoPipelining: true,
  });
  redis.on('error', (error) => options.onError?.(error));
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw unavailable(`the Redis ${options.purpose} could not connect`, error);
  }
  return redis;
}
