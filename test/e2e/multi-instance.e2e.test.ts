/**
 * Several instances sharing the real servers: they split the Kafka partitions between them,
 * and a subscriber on one instance receives the updates that any instance processed, while
 * queries on either instance see all the data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as WsClient } from 'graphql-ws';
import { realServerEnv, removeDataDir, startServer, type TestServer } from '../support/server.ts';
import { Partitioners } from 'kafkajs';
import { query, subscribe, waitForLiveSubscriptions, waitForProcessing, waitUntil, wsClient } from '../support/clients.ts';
import {
  IngestDocument,
  ListEventTypesDocument,
  LiveEventsDocument,
  LiveSeriesDocument,
  ReadSeriesDocument,
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

describe('item 5: one watermark decides lateness, finality and caching, on two instances and across a restart', () => {
  // Built in the test: realServerEnv needs the servers' addresses, which only a run provides.
  const withShortBounds = (base: Record<string, string>): Record<string, string> => ({
    ...base,
    OUT_OF_ORDERNESS: '1s',
    ALLOWED_LATENESS: '5s',
    // Short, so that partitions turn idle within the test; the argument does not depend on it.
    IDLE_PARTITION_TIMEOUT: '1s',
  });
  const servers: TestServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    for (const server of servers) removeDataDir(server.dataDir);
  });

  /** Which Kafka partition a type of tenant `default` lands on: the producer's own partitioner. */
  function partitionOfType(topic: string, type: string): number {
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = [0, 1, 2].map((partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }));
    return partitioner({ topic, partitionMetadata, message: { key: `default:${type}`, value: null } });
  }

  it('item 5: no point reported final ever changes, and no watermark shown ever goes back', async () => {
    const env = withShortBounds(realServerEnv());
    const partitionOf = (type: string) => partitionOfType(env.KAFKA_TOPIC!, type);
    const lagging = 'finality_lagging';
    const ahead = Array.from({ length: 20 }, (_, i) => `finality_ahead_${i}`).find((t) => partitionOf(t) !== partitionOf(lagging))!;
    const now = Math.floor(Date.now() / 1_000) * 1_000;
    const iso = (ms: number) => new Date(ms).toISOString();
    servers.push(await startServer({ backend: 'real servers', env }), await startServer({ backend: 'real servers', env }));

    const shown: (string | null)[] = [];
    const finalCounts = new Map<string, number>();
    /** Reads both series and the status from every running instance, checking each answer. */
    async function observe(): Promise<void> {
      for (const server of servers.filter((s) => s.child.exitCode === null)) {
        for (const type of [lagging, ahead]) {
          const { series } = await query(server.url, ReadSeriesDocument, {
            query: { type, interval: 'SECOND', from: iso(now - 60_000), to: iso(now + 60_000) },
          });
          for (const s of series) {
            shown.push(s.watermark ?? null);
            for (const point of s.points) {
              const key = `${type}@${point.start}`;
              if (!point.final) {
                expect(finalCounts.has(key), `${key} was final and is not any more`).toBe(false);
                continue;
              }
              if (!finalCounts.has(key)) finalCounts.set(key, point.count);
              expect(point.count, `${key} was final`).toBe(finalCounts.get(key));
            }
          }
        }
        shown.push((await query(server.url, ReadStreamStatusDocument)).streamStatus.watermark ?? null);
      }
      // Never back: once shown, a watermark is never null again and never lower.
      const seen = shown.filter((w): w is string => w !== null).map(Date.parse);
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      expect(shown.slice(shown.findIndex((w) => w !== null))).not.toContain(null);
    }
    async function ingest(server: TestServer, events: { id: string; type: string; timestamp: string }[]) {
      expect((await query(server.url, IngestDocument, { events })).ingest.accepted).toBe(events.length);
      await waitForProcessing(server.url, 60_000);
    }

    // One partition is 30 s behind the other; both then go quiet for longer than the idle timeout.
    await ingest(servers[0]!, [
      { id: 'ahead-1', type: ahead, timestamp: iso(now - 10_000) },
      { id: 'lagging-1', type: lagging, timestamp: iso(now - 40_000) },
    ]);
    await waitUntil(async () => (await query(servers[1]!.url, ReadStreamStatusDocument)).streamStatus.watermark, 30_000, 'a watermark');
    await observe();
    expect(finalCounts.get(`${lagging}@${iso(now - 40_000)}`)).toBe(1);

    // The lagging partition wakes up with an event in its final bucket, through the other instance.
    await ingest(servers[1]!, [{ id: 'lagging-2', type: lagging, timestamp: iso(now - 39_500) }]);
    await observe();

    // A restart of one instance: the partitions it held move, and its watermark comes from the store.
    await servers[0]!.stop();
    removeDataDir(servers[0]!.dataDir);
    servers[0] = await startServer({ backend: 'real servers', env });
    await observe();
    await ingest(servers[0]!, [
      { id: 'lagging-3', type: lagging, timestamp: iso(now - 39_000) },
      { id: 'ahead-2', type: ahead, timestamp: iso(now - 5_000) },
    ]);
    await observe();
    expect(finalCounts.get(`${lagging}@${iso(now - 40_000)}`)).toBe(1);
    expect(shown.filter((w) => w !== null).length).toBeGreaterThan(0);
  }, 240_000);
});
