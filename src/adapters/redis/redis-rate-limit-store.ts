/**
 * Token buckets in Redis, so a limit holds across every instance. One Lua script per take keeps
 * the read-refill-take-write atomic; it applies the same rule as domain/token-bucket.ts. Redis's
 * own clock (TIME) is used, so instances with skewed clocks agree.
 */
import { connectFailFastRedis } from './fail-fast-client.ts';
import type { RateLimitStore } from '../../ports/rate-limit-store.ts';
import { unavailable } from '../../errors.ts';

const TAKE_SCRIPT = `
local capacity = tonumber(ARGV[1])
local refill = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local stored = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = capacity
if stored[1] then
  local elapsed = math.max(0, now - tonumber(stored[2])) / 1000
  tokens = math.min(capacity, tonumber(stored[1]) + elapsed * refill)
end
local allowed = 0
local retry = 0
if cost <= tokens then
  tokens = tokens - cost
  allowed = 1
elseif cost > capacity then
  retry = math.ceil(capacity / refill * 1000)
else
  retry = math.ceil((cost - tokens) / refill * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
-- A bucket refills completely in capacity/refill seconds; after that it need not be kept.
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / refill * 1000) + 1000)
return { allowed, tostring(tokens), retry }
`;

export async function createRedisRateLimitStore(options: { url: string; onError?: (error: unknown) => void }): Promise<RateLimitStore> {
  const redis = await connectFailFastRedis({ ...options, connectionName: 'streamlens-limits', purpose: 'rate limit store' });
  redis.defineCommand('takeTokens', { numberOfKeys: 1, lua: TAKE_SCRIPT });
  const take = (
    redis as unknown as { takeTokens(key: string, ...args: (string | number)[]): Promise<[number, string, number]> }
  ).takeTokens.bind(redis);
  return {
    async take(key, cost, rule) {
      try {
        const [allowed, remaining, retryAfterMs] = await take(`streamlens:limit:${key}`, rule.capacity, rule.refillPerSecond, cost);
        return { allowed: allowed === 1, remaining: Number(remaining), retryAfterMs };
      } catch (error) {
        throw unavailable('the Redis rate limit store is unreachable', error);
      }
    },
    async close() {
      await redis.quit().catch(() => {});
    },
  };
}
