import type { BucketRule, TakeResult } from '../domain/token-bucket.ts';

/**
 * Where token buckets live: in the process (limits per instance), or in Redis so that a limit
 * holds across every instance. Takes are atomic per key.
 */
export interface RateLimitStore {
  take(key: string, cost: number, rule: BucketRule): Promise<TakeResult>;
  close(): Promise<void>;
}
