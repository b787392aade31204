/** Query results in Redis, shared by every instance; entries expire by themselves. */
import { Redis } from 'ioredis';
import type { ResultCache } from '../../ports/result-cache.ts';
import { unavailable } from '../../errors.ts';

export async function createRedisResultCache(options: { url: string; onError?: (error: unknown) => void }): Promise<ResultCache> {
  const redis = new Redis(options.url, {
    // A cache must never make a request fail or wait: no offline queue, one try.
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectionName: 'streamlens-cache',
    // Concurrent queries look up and fill entries in the same tick: they share one round trip.
    enableAutoPipelining: true,
  });
  redis.on('error', (error) => options.onError?.(error));
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw unavailable('the Redis result cache could not connect', error);
  }
  const prefix = 'streamlens:cache:';
  return {
    async get(key) {
      try {
        return await redis.get(prefix + key);
      } catch (error) {
        options.onError?.(error);
        return null;
      }
    },
    async set(key, value, ttlMs) {
      try {
        await redis.set(prefix + key, value, 'PX', ttlMs);
      } catch (error) {
        options.onError?.(error);
      }
    },
    async close() {
      await redis.quit().catch(() => {});
    },
  };
}
