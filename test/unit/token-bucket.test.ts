import { describe, expect, it } from 'vitest';
import { takeTokens } from '../../src/domain/token-bucket.ts';

const rule = { capacity: 10, refillPerSecond: 5 };

describe('token bucket', () => {
  it('starts full, takes what a request costs, and refuses with the wait for the missing tokens', () => {
    const first = takeTokens(null, 8, rule, 0);
    expect(first.result).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0 });
    const refused = takeTokens(first.state, 5, rule, 0);
    expect(refused.result).toEqual({ allowed: false, remaining: 2, retryAfterMs: 600 });
    // 600 ms later, 3 more tokens have come: exactly enough.
    expect(takeTokens(refused.state, 5, rule, 600).result).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
  });

  it('never holds more than its capacity', () => {
    const drained = takeTokens(null, 10, rule, 0).state;
    expect(takeTokens(drained, 10, rule, 60_000).result.allowed).toBe(true);
    expect(takeTokens(drained, 11, rule, 60_000).result).toEqual({ allowed: false, remaining: 10, retryAfterMs: 2_000 });
  });
});
