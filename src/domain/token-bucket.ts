/**
 * Token buckets: each key holds up to `capacity` tokens and regains `refillPerSecond` of them a
 * second; a request takes `cost` tokens or is refused with how long to wait. Pure, so the
 * in-process store and the Redis script apply the very same rule.
 */

export interface BucketRule {
  capacity: number;
  refillPerSecond: number;
}

export interface BucketState {
  tokens: number;
  updatedAt: number;
}

export interface TakeResult {
  allowed: boolean;
  /** Tokens left after this request (when allowed) or now (when refused). */
  remaining: number;
  /** When refused: how long until `cost` tokens are there. 0 when allowed. */
  retryAfterMs: number;
}

export function takeTokens(
  state: BucketState | null,
  cost: number,
  rule: BucketRule,
  now: number,
): { state: BucketState; result: TakeResult } {
  const elapsedSeconds = state ? Math.max(0, now - state.updatedAt) / 1000 : 0;
  const tokens = state ? Math.min(rule.capacity, state.tokens + elapsedSeconds * rule.refillPerSecond) : rule.capacity;
  if (cost <= tokens) {
    return { state: { tokens: tokens - cost, updatedAt: now }, result: { allowed: true, remaining: tokens - cost, retryAfterMs: 0 } };
  }
  // A request larger than the whole bucket can never pass: say so with the time for a full bucket.
  const missing = Math.min(cost, rule.capacity) - tokens;
  const retryAfterMs =
    cost > rule.capacity ? Math.ceil((rule.capacity / rule.refillPerSecond) * 1000) : Math.ceil((missing / rule.refillPerSecond) * 1000);
  return { state: { tokens, updatedAt: now }, result: { allowed: false, remaining: tokens, retryAfterMs } };
}
