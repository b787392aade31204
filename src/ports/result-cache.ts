/**
 * A cache of query results that can never go stale: it only ever holds results over final
 * buckets, which never change again. In the process (an LRU), or in Redis, shared by instances.
 */
export interface ResultCache {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  close(): Promise<void>;
}
