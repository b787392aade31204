/**
 * Item 8, through the ports: an events subscription's replay reads only what is stored. The
 * event store shows the claims of a batch still in flight before the batch is stored (on a
 * sharded MongoDB the parts of an unordered insert even become visible out of order), so a replay
 * that read them would move the subscriber past events whose claims are not visible yet, and the
 * batch's live message would then skip those. Here the embedded stores and bus play the
 * processor's part by hand: claims, then the batch's progress, then its live message.
 */
import { afterEach, expect, it } from 'vitest';
import { wholeTenantAccess } from '../../src/auth/tenant-access.ts';
import { createEmbeddedEventStore } from '../../src/adapters/embedded/embedded-event-store.ts';
import { createEmbeddedSeriesStore } from '../../src/adapters/embedded/embedded-series-store.ts';
import { createEmbeddedLiveBus } from '../../src/adapters/embedded/embedded-live-bus.ts';
import { createEmbeddedRateLimitStore } from '../../src/adapters/embedded/embedded-rate-limit-store.ts';
import { loadConfig } from '../../src/config.ts';
import type { StoredEvent } from '../../src/domain/event.ts';
import { encodeLiveMessage } from '../../src/domain/live-messages.ts';
import { createUsageLimits } from '../../src/limits/usage-limits.ts';
import { createLiveService } from '../../src/live/live-service.ts';
import { liveTopics } from '../../src/ports/live-bus.ts';
import { encodeStreamCursor } from '../../src/query/cursors.ts';
import { createQueryService } from '../../src/query/query-service.ts';
import { newDataDir, removeDataDir } from '../support/server.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function event(offset: number): StoredEvent {
  return {
    tenant: 'acme',
    id: `e${offset}`,
    type: 'purchase',
    timestamp: Date.now(),
    receivedAt: Date.now(),
    clockCorrectionMs: 0,
    source: null,
    dimensions: {},
    values: {},
    properties: null,
    position: { partition: 0, offset },
    quarantine: null,
  } as StoredEvent;
}

it('item 8: a claim of a batch still in flight is not replayed ahead of its batch, so none of the batch is skipped', async () => {
  const loaded = loadConfig({});
  if (!loaded.ok) throw new Error(loaded.problems.join('; '));
  const { config } = loaded;
  const dataDir = newDataDir();
  const eventStore = createEmbeddedEventStore({ dataDir });
  const seriesStore = createEmbeddedSeriesStore({ dataDir });
  const liveBus = createEmbeddedLiveBus();
  const live = createLiveService({
    liveBus,
    eventStore,
    seriesStore,
    queries: createQueryService({ eventStore, seriesStore, policy: config.eventTime, limits: config.queryLimits }),
    limits: createUsageLimits(createEmbeddedRateLimitStore(), { ...config.usage, maxBatchEvents: config.ingest.maxBatchEvents }),
    queryLimits: config.queryLimits,
    maxPendingEvents: 100,
    maxPendingSeriesUpdates: 100,
  });
  cleanups.push(async () => {
    live.close();
    await Promise.all([eventStore.close(), seriesStore.close(), liveBus.close()]);
    removeDataDir(dataDir);
  });
  const storeBatch = async (events: StoredEvent[], storedThrough: number) => {
    // Each write names the progress version it read, as the processor's do.
    const version = (await seriesStore.loadProgress()).get(0)?.version ?? 0;
    await seriesStore.saveBatch({
      rollups: [],
      catalog: [],
      partition: 0,
      progress: { maxEventTime: null, storedThrough, lastActiveAt: Date.now(), lastAppendedAt: null, committedWatermark: null, version },
    });
    return events;
  };

  // Batch 1 (offsets 0 and 1) is stored. Of batch 2 (offsets 2 and 3), only the claim at 3 is
  // visible yet: the store wrote the insert's parts out of order.
  await eventStore.claim([event(0), event(1)]);
  await storeBatch([event(0), event(1)], 1);
  await eventStore.claim([event(3)]);

  const subscription = (
    await live.subscribeToEvents({ ...wholeTenantAccess('acme'), keyId: null }, null, encodeStreamCursor(new Map(), Date.now()))
  )[Symbol.asyncIterator]();
  const received: string[] = [];
  for (let i = 0; i < 2; i++) received.push((await subscription.next()).value!.node.id);

  // Batch 2 completes: both claims, the progress, then its live message; then batch 3.
  await eventStore.claim([event(2)]);
  await storeBatch([], 3);
  await liveBus.publish(liveTopics.events('acme'), encodeLiveMessage({ partition: 0, from: 1, to: 3, events: [event(2), event(3)] }));
  await eventStore.claim([event(4)]);
  await storeBatch([], 4);
  await liveBus.publish(liveTopics.events('acme'), encodeLiveMessage({ partition: 0, from: 3, to: 4, events: [event(4)] }));
  while (received.at(-1) !== 'e4') received.push((await subscription.next()).value!.node.id);

  expect(received).toEqual(['e0', 'e1', 'e2', 'e3', 'e4']);
  await subscription.return!();
});
