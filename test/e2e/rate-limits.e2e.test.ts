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
    apiKey: (await query(server.url, CreateApiKeyDocument, { tenant: 'limited', scopes: ['INGEST', 'READ'], name }, { apiKey: ADMIN_KEY }))
      .createApiKey.key,
  });

  beforeAll(async () => {
    const env = { ADMIN_KEY, ...LIMITS, ...(backend === 'real servers' ? realServerEnv() : {}) };
    first = await startServer({ backend, env });
    if (backend === 'real servers') second = await startServer({ backend, env });
  });
  afterAll(async () => {
    await Promise.all([first?.stop(), second?.stop()]);
  });

  // The buckets refill while requests are in flight, so these cases send their requests at once
  // and bound what passed by the time they took: a token bucket of capacity C refilled at R a
  // second lets at most C + R·t through in t seconds, however slow the machine is.
  it('limits ingested events per second per key, and says when to retry', async () => {
    const credentials = await key(first, 'ingest');
    const batch = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, type: 'limited' }));
    // Ten full batches at once, through both instances when they share the bucket in Redis:
    // 1,500 events against a bucket of 200 that regains 200 a second.
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        execute((i % 2 === 1 && second ? second : first).url, IngestDocument, { events: batch(150, `a${i}`) }, credentials),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    const accepted = answers.flatMap((answer) => (answer.data ? [answer.data.ingest.accepted] : []));
    const refused = answers.filter((answer) => answer.errors?.[0]?.extensions?.code === 'RATE_LIMITED');
    expect(accepted.length + refused.length).toBe(10);
    // A batch is taken or refused whole.
    expect(accepted.every((count) => count === 150)).toBe(true);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    expect(accepted.length * 150).toBeLessThanOrEqual(200 + 200 * seconds);
    // The refused batches say how long to wait.
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused[0]!.errors?.[0]?.extensions?.retryAfter).toBeGreaterThan(0);
    expect(refused[0]!.errors?.[0]?.message).toContain('200 events per second');
    // Another key has its own bucket.
    const other = await key(first, 'other');
    expect((await query(first.url, IngestDocument, { events: batch(10, 'd') }, other)).ingest.accepted).toBe(10);
  });

  it('limits operations per second per key', async () => {
    const credentials = await key(first, 'queries');
    // 30 queries at once against a bucket of 10 (a burst of twice the rate) that regains 5 a second.
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: 30 }, () => execute(first.url, ListEventTypesDocument, undefined, credentials)));
    const seconds = (performance.now() - started) / 1000;
    const codes = results.map((result) => (result.errors?.[0]?.extensions?.code as string | undefined) ?? null);
    expect(codes.filter((code) => code !== null && code !== 'RATE_LIMITED')).toEqual([]);
    const passed = codes.filter((code) => code === null).length;
    expect(passed).toBeGreaterThanOrEqual(10);
    expect(passed).toBeLessThanOrEqual(10 + 5 * seconds);
    expect(codes.filter((code) => code === 'RATE_LIMITED').length).toBeGreaterThanOrEqual(1);
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
