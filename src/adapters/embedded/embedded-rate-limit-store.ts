/** Token buckets in this process: right for one instance; with several, use Redis. */
import type { RateLimitStore } from '../../ports/rate-limit-store.ts';
import { takeTokens, type BucketState } from '../../domain/token-bucket.ts';

/** Buckets untouched this long are full again and can be forgotten, which bounds memory. */
const FORGET_AFTER_MS = 10 * 60_000;

export function createEmbeddedRateLimitStore(options: { now?: () => number } = {}): RateLimitStore {
  const now = options.now ?? Date.now;
  const buckets = new Map<string, BucketState>();
  const sweeper = setInterval(() => {
    const cutoff = now() - FORGET_AFTER_MS;
    for (const [key, state] of buckets) if (state.updatedAt < cutoff) buckets.delete(key);
  }, FORGET_AFTER_MS);
  sweeper.unref();
  return {
    async take(key, cost, rule) {
      const { state, result } = takeTokens(buckets.get(key) ?? null, cost, rule, now());
      buckets.set(key, state);
      return result;
    },
    async close() {
      clearInterval(sweeper);
      buckets.clear();
    },
  };
}
