/**
 * Item 2: no silent gap when the live bus loses messages. One Streamlens instance on the real
 * servers, except that its live bus is a Redis server of this test's own (never the shared one):
 * while events flow and events subscribers (graphql-ws and SSE) and series subscribers are open,
 * that Redis has its pub/sub connections killed again and again (`CLIENT KILL TYPE pubsub`, as
 * Redis does itself at a subscriber's output-buffer limit) and is then restarted. Whatever was
 * published meanwhile is gone from the bus. Then every events subscriber has received every
 * stored event exactly once (by id), in log order per partition, and every series subscriber
 * ends on the stored totals (the `series` query's).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client as WsClient } from 'graphql-ws';
import type { Client as SseClient } from 'graphql-sse';
import { newDataDir, realServerEnv, removeDataDir, startServer, type TestServer } from '../support/server.ts';
import {
  query,
  sseClient,
  subscribe,
  waitForLiveSubscriptions,
  waitForProcessing,
  waitUntil,
  wsClient,
  type Collected,
} from '../support/clients.ts';
import { newLedger, resendUnanswered, sendUntilAccepted } from '../support/exactly-once.ts';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.ts';
import {
  LiveEventsDocument,
  LiveSeriesDocument,
  ReadSeriesDocument,
  type EventInput,
  type LiveEventsSubscription,
  type LiveSeriesSubscription,
} from '../generated/operations.ts';

/**
 * One event type per writer: a type's events share a log key, so they are in one partition in
 * the order the writer sent them, and three types spread over the topic's three partitions.
 */
const TYPES = ['gap_fault_a', 'gap_fault_b', 'gap_fault_c'];
const BATCH_SIZE = 10;
/** Pause of each writer between batches: a steady flow of small batches, each its own live message. */
const PAUSE_MS = 40;
/** Traffic before, between and after the faults, so that each lands among live messages. */
const STEADY_MS = 1_500;
/** How long, and how often, the pub/sub connections are killed: each kill loses what is published while ioredis reconnects. */
const KILLING_MS = 3_000;
const KILL_EVERY_MS = 100;
/** How long the private Redis stays down in its restart. */
const DOWN_MS = 1_000;
/**
 * Subscribers have caught up within this after the traffic stops: the bus's loss signal and the
 * retried publishes act within seconds, the periodic check of the stored position within 20 s.
 */
const CATCH_UP_TIMEOUT_MS = 60_000;

let redis: PrivateRedis;
let server: TestServer;
const dataDir = newDataDir();

beforeAll(async () => {
  redis = await startPrivateRedis();
  server = await startServer({ dataDir, backend: 'real servers', env: { ...realServerEnv(), REDIS_URL: redis.url } });
});

afterAll(async () => {
  await server?.stop();
  await redis?.stop();
  removeDataDir(dataDir);
});

/**
 * Writes batches of one type until stopped; each batch is sent until ACCEPTED (UNAVAILABLE while
 * Redis is down), so the type's ids reach the log in id order.
 */
async function write(type: string, ledger: ReturnType<typeof newLedger>, stop: { now: boolean }): Promise<void> {
  for (let batch = 0; !stop.now; batch++) {
    const events: EventInput[] = Array.from({ length: BATCH_SIZE }, (_, i) => ({
      id: `${type}-${String(batch * BATCH_SIZE + i).padStart(6, '0')}`,
      type,
      values: { amount: i + 1 },
    }));
    if (!(await sendUntilAccepted(server.url, events, ledger, stop))) return;
    await sleep(PAUSE_MS);
  }
}

it('item 2: every events subscriber gets every event exactly once, in order, and every series subscriber ends on the stored totals, across Redis pub/sub drops and a restart', {
  timeout: 200_000,
}, async () => {
  const ws: WsClient[] = [wsClient(server.wsUrl), wsClient(server.wsUrl)];
  const sse: SseClient[] = [sseClient(server.url), sseClient(server.url)];
  const filter = { types: TYPES };
  const eventsSubscribers: { name: string; live: Collected<LiveEventsSubscription> }[] = [
    { name: 'graphql-ws 1', live: await subscribe(ws[0]!, LiveEventsDocument, { filter }) },
    { name: 'graphql-ws 2', live: await subscribe(ws[1]!, LiveEventsDocument, { filter }) },
    { name: 'SSE', live: await subscribe(sse[0]!, LiveEventsDocument, { filter }) },
  ];
  const seriesQuery = { type: TYPES[0]!, interval: 'SECOND' as const, value: 'amount' };
  const seriesSubscribers: { name: string; live: Collected<LiveSeriesSubscription> }[] = [
    { name: 'graphql-ws', live: await subscribe(ws[0]!, LiveSeriesDocument, { query: seriesQuery }) },
    { name: 'SSE', live: await subscribe(sse[1]!, LiveSeriesDocument, { query: seriesQuery }) },
  ];
  const began = new Date();
  const ledger = newLedger();
  const stop = { now: false };
  let kills = 0;
  try {
    await waitForLiveSubscriptions(server.url, eventsSubscribers.length + seriesSubscribers.length);
    const writing = Promise.all(TYPES.map((type) => write(type, ledger, stop)));
    try {
      await sleep(STEADY_MS);
      // What Redis does to a subscriber past its pub/sub output-buffer limit, again and again.
      const killUntil = Date.now() + KILLING_MS;
      while (Date.now() < killUntil) {
        kills += Number(redis.command('CLIENT', 'KILL', 'TYPE', 'pubsub'));
        await sleep(KILL_EVERY_MS);
      }
      await sleep(STEADY_MS);
      await redis.restart({ downForMs: DOWN_MS });
      await sleep(STEADY_MS);
    } finally {
      stop.now = true;
      await writing;
    }
    await resendUnanswered(server.url, ledger);
    await waitForProcessing(server.url, 60_000);

    const expectedTotal = ledger.accepted.size;
    // Everything stored, once, is what the writers were told: the ground truth for the subscribers.
    for (const subscriber of eventsSubscribers) {
      await subscriber.live.waitFor(expectedTotal, CATCH_UP_TIMEOUT_MS).catch(() => {});
    }
    for (const { name, live } of eventsSubscribers) {
      expect(live.errors, `${name}: no subscription error`).toEqual([]);
      const ids = live.items.map((item) => item.events.node.id);
      expect(new Set(ids).size, `${name}: no event twice`).toBe(ids.length);
      expect(ids.length, `${name}: every stored event`).toBe(expectedTotal);
      for (const type of TYPES) {
        // One type is one partition, written in id order: the subscriber's order must be log order.
        expect(
          ids.filter((id) => id.startsWith(`${type}-`)),
          `${name}: ${type} in log order`,
        ).toEqual([...ledger.accepted].filter((id) => id.startsWith(`${type}-`)).sort());
      }
    }

    const stored = await query(server.url, ReadSeriesDocument, {
      query: { ...seriesQuery, from: new Date(began.getTime() - 60_000).toISOString(), to: new Date(Date.now() + 60_000).toISOString() },
    });
    const storedCounts = new Map(stored.series[0]!.points.map((point) => [String(point.start), point.count]));
    const lastPushed = (live: Collected<LiveSeriesSubscription>) => {
      const counts = new Map<string, number>();
      for (const item of live.items) counts.set(String(item.series.point.start), item.series.point.count);
      return counts;
    };
    for (const { name, live } of seriesSubscribers) {
      await waitUntil(
        async () => JSON.stringify([...lastPushed(live)].sort()) === JSON.stringify([...storedCounts].sort()),
        CATCH_UP_TIMEOUT_MS,
        `${name} series subscriber on the stored totals`,
      ).catch(() => {});
      expect(live.errors, `${name}: no subscription error`).toEqual([]);
      expect(new Map([...lastPushed(live)].sort()), `${name}: the last pushed total of every bucket is the stored one`).toEqual(
        new Map([...storedCounts].sort()),
      );
    }
    console.info(
      `live gaps: ${expectedTotal} events, ${kills} pub/sub connections killed, Redis down ${DOWN_MS} ms; ` +
        `events received: ${eventsSubscribers.map(({ name, live }) => `${name} ${live.items.length}`).join(', ')}; ` +
        `series buckets: stored ${storedCounts.size}, ${seriesSubscribers.map(({ name, live }) => `${name} ${lastPushed(live).size}`).join(', ')}`,
    );
  } finally {
    for (const subscriber of [...eventsSubscribers, ...seriesSubscribers]) subscriber.live.stop();
    for (const client of ws) await client.dispose();
    for (const client of sse) client.dispose();
  }
});
