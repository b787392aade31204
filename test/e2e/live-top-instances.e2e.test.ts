/**
 * The live `top` subscription on two instances sharing the real servers, under load: events
 * ingested through both instances at once, by several concurrent writers, reach a subscriber on
 * either instance (whichever instance processed them, its bus message comes through Redis), each
 * subscriber gets at most one update a second, and both end on exactly the totals ingested, which
 * is the `top` query's answer over the update's [from, to) on either instance.
 */
import type { Client as WsClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realServerEnv, removeDataDir, startServer, type TestServer } from '../support/server.ts';
import { query, sseClient, subscribe, waitForLiveSubscriptions, waitForProcessing, wsClient, type Collected } from '../support/clients.ts';
import {
  IngestDocument,
  LiveTopDocument,
  ReadTopEntriesDocument,
  type EventInput,
  type LiveTopQuery,
  type LiveTopSubscription,
} from '../generated/operations.ts';

const MINUTE = 60_000;
const WRITERS = 4;
const BATCHES_PER_WRITER = 15;
const EVENTS_PER_BATCH = 50;

describe('live top on two instances on the real servers, under load', () => {
  let first: TestServer;
  let second: TestServer;
  let ws: WsClient;

  beforeAll(async () => {
    // The same topic, database and keyspace: one deployment of two instances.
    const env = { ...realServerEnv(), QUERY_RATE_PER_KEY: '10000' };
    first = await startServer({ backend: 'real servers', env });
    second = await startServer({ backend: 'real servers', env });
    ws = wsClient(second.wsUrl);
  });
  afterAll(async () => {
    await ws?.dispose();
    await Promise.all([first?.stop(), second?.stop()]);
    for (const server of [first, second]) if (server) removeDataDir(server.dataDir);
  });

  it('ends on the exact totals on both instances, a second or more between updates', async () => {
    const list: LiveTopQuery = { type: 'lti_buy', by: 'country', value: 'amount', limit: 5, window: '15m' };
    const sse = sseClient(first.url);
    /** Arrival times of each subscriber's updates. */
    const arrivals: number[][] = [[], []];
    const timed = (client: typeof ws | typeof sse, index: number) => ({
      subscribe: (request: { query: string; variables: Record<string, unknown> }, sink: Parameters<typeof ws.subscribe>[1]) =>
        client.subscribe(request, {
          ...sink,
          next: (result) => {
            arrivals[index]!.push(Date.now());
            sink.next(result);
          },
        }),
    });
    const onSecond = await subscribe(timed(ws, 0), LiveTopDocument, { query: list });
    const onFirst = await subscribe(timed(sse, 1), LiveTopDocument, { query: list });
    await Promise.all([onSecond.waitFor(1), onFirst.waitFor(1)]);
    await Promise.all([waitForLiveSubscriptions(first.url, 1), waitForLiveSubscriptions(second.url, 1)]);

    const countries = ['NL', 'DE', 'FR', 'BE', 'IT', 'ES', 'PL'];
    const expected = new Map<string, { count: number; sum: number }>();
    const batchOf = (writer: number, batch: number): EventInput[] =>
      Array.from({ length: EVENTS_PER_BATCH }, (_, n) => {
        const country = countries[(writer * 5 + batch * 3 + n) % countries.length]!;
        const amount = ((writer + batch * 7 + n) % 11) + 1;
        const total = expected.get(country) ?? { count: 0, sum: 0 };
        expected.set(country, { count: total.count + 1, sum: total.sum + amount });
        return {
          id: `lti-${writer}-${batch}-${n}`,
          type: 'lti_buy',
          timestamp: new Date(Date.now() - ((batch + n) % 10) * MINUTE).toISOString(),
          dimensions: { country },
          values: { amount },
        };
      });
    // Writers through both instances at once.
    await Promise.all(
      Array.from({ length: WRITERS }, async (_, writer) => {
        const server = writer % 2 === 0 ? first : second;
        for (let batch = 0; batch < BATCHES_PER_WRITER; batch++) {
          const result = (await query(server.url, IngestDocument, { events: batchOf(writer, batch) })).ingest;
          expect(result.accepted).toBe(EVENTS_PER_BATCH);
        }
      }),
    );
    await waitForProcessing(first.url, 90_000);
    const ranked = [...expected]
      .map(([key, total]) => ({ key, count: total.count, sum: total.sum, distinct: null }))
      .sort((a, b) => b.sum - a.sum || (a.key < b.key ? -1 : 1))
      .slice(0, 5);
    const { window: _window, ...topQuery } = list;
    const settle = async (live: Collected<LiveTopSubscription>) => {
      await expect.poll(() => live.items.at(-1)?.top.entries, { timeout: 30_000 }).toEqual(ranked);
      const { from, to } = live.items.at(-1)!.top;
      for (const server of [first, second]) {
        expect((await query(server.url, ReadTopEntriesDocument, { query: { ...topQuery, from, to } })).top).toEqual(ranked);
      }
    };
    await settle(onSecond);
    await settle(onFirst);
    for (const times of arrivals) {
      // n updates a second apart span at least n − 1 seconds (one more allowed for delivery jitter).
      expect(times.length - 1).toBeLessThanOrEqual(Math.floor((times.at(-1)! - times[0]!) / 1_000) + 1);
    }
    onSecond.stop();
    onFirst.stop();
    sse.dispose();
    await Promise.all([waitForLiveSubscriptions(first.url, 0), waitForLiveSubscriptions(second.url, 0)]);
  }, 180_000);
});
