import { afterEach, describe, expect, it } from 'vitest';
import type { RateLimitStore } from '../../src/ports/rate-limit-store.ts';
import { createEmbeddedRateLimitStore } from '../../src/adapters/embedded/embedded-rate-limit-store.ts';
import { createRedisRateLimitStore } from '../../src/adapters/redis/redis-rate-limit-store.ts';
import { requireServerEnv, uniqueName } from '../support/real-servers.ts';

const stores: { name: string; open(): Promise<RateLimitStore>; shared: boolean }[] = [
  { name: 'embedded (in-process)', open: async () => createEmbeddedRateLimitStore(), shared: false },
  { name: 'Redis', open: () => createRedisRateLimitStore({ url: requireServerEnv('REDIS_URL') }), shared: true },
];

describe.each(stores)('RateLimitStore contract: $name', (factory) => {
  const opened: RateLimitStore[] = [];
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });
  const open = async () => {
    const store = await factory.open();
    opened.push(store);
    return store;
  };

  it('allows up to the capacity, then refuses with a wait', async () => {
    const store = await open();
    const key = uniqueName('bucket');
    // A slow refill, so the time the test takes cannot add a token.
    const rule = { capacity: 5, refillPerSecond: 0.001 };
    expect((await store.take(key, 3, rule)).allowed).toBe(true);
    expect(await store.take(key, 2, rule)).toMatchObject({ allowed: true });
    const refused = await store.take(key, 1, rule);
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBeGreaterThan(900_000);
    expect((await store.take(uniqueName('other'), 5, rule)).allowed).toBe(true);
  });

  it('keeps one bucket per key across instances when shared, and atomically under concurrency', async () => {
    const key = uniqueName('bucket');
    const rule = { capacity: 50, refillPerSecond: 0.001 };
    const first = await open();
    const second = factory.shared ? await open() : first;
    const takes = await Promise.all(Array.from({ length: 80 }, (_, i) => (i % 2 ? first : second).take(key, 1, rule)));
    expect(takes.filter((t) => t.allowed)).toHaveLength(50);
  });
});
