/**
 * Several instances sharing the real servers: they split the Kafka partitions between them,
 * and a subscriber on one instance receives the updates that any instance processed, while
 * queries on either instance see all the data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as WsClient } from 'graphql-ws';
import { realServerEnv, removeDataDir, startServer, type TestServer } from '../support/server.ts';
import { query, subscribe, waitForLiveSubscriptions, waitForProcessing, wsClient } from '../support/clients.ts';
import {
  IngestDocument,
  ListEventTypesDocument,
  LiveEventsDocument,
  LiveSeriesDocument,
  ReadStreamStatusDocument,
} from '../generated/operations.ts';

describe('two instances on the real servers', () => {
  let first: TestServer;
  let second: TestServer;
  let ws: WsClient;

  beforeAll(async () => {
    // The same topic, database and keyspace: one deployment of two instances.
    const env = realServerEnv();
    first = await startServer({ backend: 'real servers', env });
    second = await startServer({ backend: 'real servers', env });
    ws = wsClient(second.wsUrl);
  });
  afterAll(async () => {
    await ws?.dispose();
    await Promise.all([first?.stop(), second?.stop()]);
    for (const server of [first, second]) if (server) removeDataDir(server.dataDir);
  });

  it('delivers to a subscriber on one instance what was ingested through the other', async () => {
    // Many types, so that the events spread over every Kafka partition and both consumers.
    const types = Array.from({ length: 12 }, (_, i) => `multi_${i}`);
    const events = await subscribe(ws, LiveEventsDocument, { filter: { types } });
    const series = await subscribe(ws, LiveSeriesDocument, { query: { type: 'multi_0', interval: 'DAY' } });
    await waitForLiveSubscriptions(second.url, 2);

    const batch = types.flatMap((type, i) => [
      { id: `${type}-a`, type, values: { n: i } },
      { id: `${type}-b`, type, values: { n: i } },
    ]);
    expect((await query(first.url, IngestDocument, { events: batch })).ingest.accepted).toBe(24);
    await events.waitFor(24, 60_000);
    expect(new Set(events.items.map((item) => item.events.node.id))).toEqual(new Set(batch.map((e) => e.id)));
    await expect.poll(() => series.items.at(-1)?.series.point.count, { timeout: 30_000 }).toBe(2);

    // Either instance answers queries over everything both processed.
    await waitForProcessing(first.url, 60_000);
    for (const server of [first, second]) {
      const { eventTypes } = await query(server.url, ListEventTypesDocument);
      const counts = Object.fromEntries(eventTypes.filter((t) => t.type.startsWith('multi_')).map((t) => [t.type, t.count]));
      expect(counts).toEqual(Object.fromEntries(types.map((type) => [type, 2])));
    }
    // Together the instances processed each record once (how they split it depends on when the
    // second one joined the consumer group).
    const processed = await Promise.all(
      [first, second].map(async (server) => (await query(server.url, ReadStreamStatusDocument)).streamStatus.processed),
    );
    console.info(`records processed per instance: ${processed.join(' + ')}`);
    expect(processed[0]! + processed[1]!).toBe(24);
    events.stop();
    series.stop();
    await waitForLiveSubscriptions(second.url, 0);
  }, 120_000);

  it('resumes on one instance a subscription that started on the other, with every event once', async () => {
    const types = Array.from({ length: 6 }, (_, i) => `moving_${i}`);
    const batch = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => ({ id: `m-${from + i}`, type: types[(from + i) % types.length]! }));
    const firstWs = wsClient(first.wsUrl);
    try {
      const before = await subscribe(firstWs, LiveEventsDocument, { filter: { types } });
      await waitForLiveSubscriptions(first.url, 1);
      await query(first.url, IngestDocument, { events: batch(0, 30) });
      const seen = await before.waitFor(30, 60_000);
      // The client loses the first instance after 12 events and reconnects to the second one.
      const cursor = seen[11]!.events.cursor;
      const expectedAfter = new Set(seen.slice(12).map((item) => item.events.node.id));
      before.stop();
      await query(second.url, IngestDocument, { events: batch(30, 50) });
      for (const item of batch(30, 50)) expectedAfter.add(item.id);

      const after = await subscribe(ws, LiveEventsDocument, { filter: { types }, after: cursor });
      await after.waitFor(38, 60_000);
      await waitForProcessing(second.url, 60_000);
      const ids = after.items.map((item) => item.events.node.id);
      expect(ids).toHaveLength(38);
      expect(new Set(ids)).toEqual(expectedAfter);
      after.stop();
    } finally {
      await firstWs.dispose();
    }
  }, 120_000);
});
