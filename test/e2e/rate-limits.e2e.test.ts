/**
 * Per-key rate limits and per-tenant subscription limits, visible to clients as error codes
 * with retryAfter; on the real servers the buckets live in Redis and hold across instances.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, realServerEnv, startServer, type TestServer } from '../support/server.ts';
import { execute, query, subscribe, waitForLiveSubscriptions, wsClient, type Credentials } from '../support/clients.ts';
import { CreateApiKeyDocument, IngestDocument, ListEventTypesDocument, LiveEventsDocument } from '../generated/operations.ts';

const ADMIN_KEY = 'limits-admin-key-0123456789abcdefghijklmnop';
const LIMITS = { INGEST_RATE_PER_KEY: '200', QUERY_RATE_PER_KEY: '5', MAX_SUBSCRIPTIONS_PER_TENANT: '2', INGEST_MAX_BATCH_EVENTS: '150' };

describe.each(BACKENDS)('limits on %s', (backend) => {
  let first: TestServer;
  let second: TestServer | null = null;
  const key = async (server: TestServer, name: string): Promise<Credentials> => ({
    apiKey: (await query(server.url, CreateApiKeyDocument, { tenant: 'limited', scopes: ['INGEST', 'READ'], name }, { apiKey: ADMIN_KEY })).createApiKey.key,
  });

  beforeAll(async () => {
    const env = { ADMIN_KEY, ...LIMITS, ...(backend === 'real servers' ? realServerEnv() : {}) };
    first = await startServer({ backend, env });
    if (backend === 'real servers') second = await startServer({ backend, env });
  });
  afterAll(async () => {
    await Promise.all([first?.stop(), second?.stop()]);
  });

  it('limits ingested events per second per key, and says when to retry', async () => {
    const credentials = await key(first, 'ingest');
    const batch = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, type: 'limited' }));
    // The bucket holds 200 events: 150 + 50 pass (through either instance when they share Redis) ...
    expect((await query(first.url, IngestDocument, { events: batch(150, 'a') }, credentials)).ingest.accepted).toBe(150);
    expect((await query((second ?? first).url, IngestDocument, { events: batch(50, 'b') }, credentials)).ingest.accepted).toBe(50);
    // ... and the next batch is refused as a whole, with the wait it needs.
    const refused = await execute(first.url, IngestDocument, { events: batch(100, 'c') }, credentials);
    expect(refused.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    expect(refused.errors?.[0]?.extensions?.retryAfter).toBeGreaterThan(0);
    expect(refused.errors?.[0]?.message).toContain('200 events per second');
    // Another key has its own bucket.
    const other = await key(first, 'other');
    expect((await query(first.url, IngestDocument, { events: batch(10, 'd') }, other)).ingest.accepted).toBe(10);
  });

  it('limits operations per second per key', async () => {
    const credentials = await key(first, 'queries');
    const codes: (string | null)[] = [];
    for (let i = 0; i < 14; i++) {
      const result = await execute(first.url, ListEventTypesDocument, undefined, credentials);
      codes.push((result.errors?.[0]?.extensions?.code as string | undefined) ?? null);
    }
    // A burst of twice the rate passes, then the bucket refills at 5 a second.
    expect(codes.slice(0, 10)).toEqual(Array(10).fill(null));
    expect(codes.filter((code) => code === 'RATE_LIMITED').length).toBeGreaterThanOrEqual(3);
  });

  it('limits concurrent subscriptions per tenant on an instance', async () => {
    const credentials = await key(first, 'subscriptions');
    const ws = wsClient(first.wsUrl, credentials);
    try {
      const one = await subscribe(ws, LiveEventsDocument, { filter: null });
      const two = await subscribe(ws, LiveEventsDocument, { filter: null });
      await waitForLiveSubscriptions(first.url, 2, await key(first, 'status'));
      const three = await subscribe(ws, LiveEventsDocument, { filter: null });
      await expect(three.waitFor(1, 5_000)).rejects.toThrow('SUBSCRIPTION_LIMIT');
      one.stop();
      two.stop();
    } finally {
      await ws.dispose();
    }
  });
});
