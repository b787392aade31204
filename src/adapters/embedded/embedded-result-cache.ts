/** An in-process LRU of query results, bounded by entries and by total characters. */
import type { ResultCache } from '../../ports/result-cache.ts';

export function createEmbeddedResultCache(options: { maxEntries: number; maxChars: number; now?: () => number }): ResultCache {
  const now = options.now ?? Date.now;
  // A Map iterates in insertion order: re-inserting on every hit makes its first key the least recently used.
  const entries = new Map<string, { value: string; expiresAt: number }>();
  let chars = 0;
  const remove = (key: string) => {
    const entry = entries.get(key);
    if (!entry) return;
    chars -= entry.value.length;
    entries.delete(key);
  };
  return {
    async get(key) {
      const entry = entries.get(key);
      if (!entry) return null;
      if (entry.expiresAt <= now()) {
        remove(key);
        return null;
      }
      entries.delete(key);
      entries.set(key, entry);
      return entry.value;
    },
    async set(key, value, ttlMs) {
      if (value.length > options.maxChars) return;
      remove(key);
      entries.set(key, { value, expiresAt: now() + ttlMs });
      chars += value.length;
      while (entries.size > options.maxEntries || chars > options.maxChars) remove(entries.keys().next().value!);
    },
    async close() {
      entries.clear();
      chars = 0;
    },
  };
}
