/**
 * Hostile inputs to what issue 12 added, on the embedded stack and on the real servers:
 * - `ingest(idempotencyKey)`: a key ingest's id rules refuse (empty, a lone surrogate, a control
 *   character, 100,000 characters) is BAD_USER_INPUT for the whole call, and nothing of it is
 *   stored; keys named after Object.prototype members are ordinary keys whose retries are exact;
 * - forged stream cursors carrying an age (`issuedAt`, which decides CURSOR_EXPIRED): a value that
 *   is not a whole number of milliseconds is BAD_USER_INPUT on the events subscription, over
 *   graphql-ws and SSE, and an age past EVENT_RETENTION is CURSOR_EXPIRED.
 * After each case /health answers within 100 ms.
 */
import type { Client as WsClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, expectHealthy, startServer, type TestServer } from '../support/server.ts';
import { sseClient, subscribe, waitForProcessing, wsClient } from '../support/clients.ts';
import { PROTOTYPE_MEMBERS } from '../support/prototype-members.ts';
import { LiveEventsDocument } from '../generated/operations.ts';

const INGEST =
  'mutation Ingest($events: [EventInput!]!, $key: String) { ingest(events: $events, idempotencyKey: $key) { accepted acks { status id } } }';
const COUNT =
  'query Count($from: DateTime!, $to: DateTime!) { series(query: { type: "retry_key", interval: DAY, from: $from, to: $to }) { points { count } } }';
const HOUR_MS = 3_600_000;

/** A stream cursor as the API writes one (src/query/cursors.ts), with any third element. */
const forgedCursor = (issuedAt: unknown) => Buffer.from(JSON.stringify(['s', [], issuedAt])).toString('base64url');

describe.each(BACKENDS)('hostile exactly-once inputs on %s', (backend) => {
  let server: TestServer;
  let ws: WsClient;
  const from = new Date(Date.now() - 2 * 86_400_000).toISOString();
  const to = new Date(Date.now() + 86_400_000).toISOString();

  async function post(queryText: string, variables: unknown): Promise<{ status: number; body: any }> {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ query: queryText, variables }),
      signal: AbortSignal.timeout(20_000),
    });
    return { status: response.status, body: await response.json() };
  }
  const counted = async () => {
    const answer = await post(COUNT, { from, to });
    return (answer.body.data.series[0]?.points ?? []).reduce((sum: number, p: { count: number }) => sum + p.count, 0);
  };

  beforeAll(async () => {
    server = await startServer({ backend, env: { EVENT_RETENTION: '1h' } });
    ws = wsClient(server.wsUrl);
  });
  afterAll(async () => {
    await ws?.dispose();
    await server?.stop();
  });

  it.each([
    ['an empty key', ''],
    ['a lone surrogate', 'key-\uD800'],
    ['a control character', 'key\u0000x'],
    ['100,000 characters', 'k'.repeat(100_000)],
  ])('refuses %s as idempotencyKey with BAD_USER_INPUT, and stores nothing of the call', async (_name, key) => {
    const answer = await post(INGEST, { events: [{ type: 'retry_key' }], key });
    expect(answer.status).toBe(200);
    expect(answer.body.data).toBeNull();
    expect(answer.body.errors).toHaveLength(1);
    expect(answer.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(answer.body.errors[0].message).toMatch(/^idempotencyKey /);
    await expectHealthy(server);
    await waitForProcessing(server.url);
    expect(await counted()).toBe(0);
  });

  it('takes keys named after Object.prototype members as ordinary keys: a retry with each counts nothing twice', async () => {
    const ids = new Set<string>();
    for (const key of PROTOTYPE_MEMBERS) {
      const first = await post(INGEST, { events: [{ type: 'retry_key' }, { type: 'retry_key' }], key });
      const retry = await post(INGEST, { events: [{ type: 'retry_key' }, { type: 'retry_key' }], key });
      expect(first.body.data.ingest.accepted).toBe(2);
      expect(retry.body.data.ingest.acks).toEqual(first.body.data.ingest.acks);
      for (const ack of first.body.data.ingest.acks) ids.add(ack.id);
    }
    await expectHealthy(server);
    await waitForProcessing(server.url);
    // Two events per key, each key its own ids: the retries were duplicates.
    expect(ids.size).toBe(2 * PROTOTYPE_MEMBERS.length);
    expect(await counted()).toBe(2 * PROTOTYPE_MEMBERS.length);
  });

  it.each([
    ['a fraction', 1.5],
    ['a string', '1700000000000'],
    ['a number past the safe integers', 1e300],
    ['null', null],
    ['an object', { valueOf: 1 }],
  ])('refuses a stream cursor whose age is %s with BAD_USER_INPUT, over graphql-ws and SSE', async (_name, issuedAt) => {
    const after = forgedCursor(issuedAt);
    for (const client of [ws, sseClient(server.url)]) {
      const subscription = await subscribe(client, LiveEventsDocument, { filter: { types: ['retry_key'] }, after });
      await expect(subscription.waitFor(1)).rejects.toThrow('BAD_USER_INPUT');
      expect(JSON.stringify(subscription.errors)).toContain('the cursor is not one this field returned');
      subscription.stop();
      if (client !== ws) await client.dispose();
    }
    await expectHealthy(server);
  });

  it('refuses a forged cursor older than EVENT_RETENTION with CURSOR_EXPIRED, even one from before 1970', async () => {
    for (const issuedAt of [Date.now() - 2 * HOUR_MS, -1]) {
      const subscription = await subscribe(ws, LiveEventsDocument, { filter: { types: ['retry_key'] }, after: forgedCursor(issuedAt) });
      await expect(subscription.waitFor(1)).rejects.toThrow('CURSOR_EXPIRED');
      subscription.stop();
    }
    await expectHealthy(server);
  });
});
