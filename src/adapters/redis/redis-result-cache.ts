/** Query results in Redis, shared by every instance; entries expire by themselves. */
import { connectFailFastRedis } from './fail-fast-client.ts';
import type { ResultCache } from '../../ports/result-cache.ts';

export async function createRedisResultCache(options: { url: string; onError?: (error: unknown) => void }): Promise<ResultCache> {
  // A cache must never make a request fail or wait.
  const redis = await connectFailFastRedis({ ...options, connectionName: 'streamlens-cache', purpose: 'result cache' });
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
