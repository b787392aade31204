import { afterEach, describe, expect, it } from 'vitest';
import type { ResultCache } from '../../src/ports/result-cache.ts';
import { createEmbeddedResultCache } from '../../src/adapters/embedded/embedded-result-cache.ts';
import { createRedisResultCache } from '../../src/adapters/redis/redis-result-cache.ts';
import { requireServerEnv, uniqueName } from '../support/real-servers.ts';

const caches: { name: string; open(): Promise<ResultCache> }[] = [
  { name: 'embedded (LRU)', open: async () => createEmbeddedResultCache({ maxEntries: 3, maxChars: 1_000 }) },
  { name: 'Redis', open: () => createRedisResultCache({ url: requireServerEnv('REDIS_URL') }) },
];

describe.each(caches)('ResultCache contract: $name', (factory) => {
  let cache: ResultCache;
  afterEach(async () => {
    await cache?.close();
  });

  it('returns what was set until it expires', async () => {
    cache = await factory.open();
    const key = uniqueName('k');
    expect(await cache.get(key)).toBeNull();
    await cache.set(key, '{"series":[]}', 60_000);
    expect(await cache.get(key)).toBe('{"series":[]}');
    await cache.set(`${key}-short`, 'x', 50);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(await cache.get(`${key}-short`)).toBeNull();
  });
});

describe('embedded result cache', () => {
  it('evicts the least recently used entry past its bounds', async () => {
    const cache = createEmbeddedResultCache({ maxEntries: 2, maxChars: 100 });
    await cache.set('a', '1', 60_000);
    await cache.set('b', '2', 60_000);
    await cache.get('a');
    await cache.set('c', '3', 60_000);
    expect([await cache.get('a'), await cache.get('b'), await cache.get('c')]).toEqual(['1', null, '3']);
    await cache.set('big', 'x'.repeat(101), 60_000);
    expect(await cache.get('big')).toBeNull();
  });
});
