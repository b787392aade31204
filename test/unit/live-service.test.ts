/**
 * The live service in-process, over the embedded log, stores and live bus, with the real stream
 * processor publishing what it counts: series feeds shared by identical subscriptions, the
 * tenant's subscription slots, ending the subscriptions of a revoked key, draining on shutdown.
 * No HTTP: what a subscriber receives is read from the iterators the service returns.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEmbeddedRateLimitStore } from '../../src/adapters/embedded/embedded-rate-limit-store.ts';
import type { EventInput } from '../../src/ingest/validate-event.ts';
import { createUsageLimits } from '../../src/limits/usage-limits.ts';
import { createLiveService, type LiveSeriesInput, type LiveService, type LiveSubscriber } from '../../src/live/live-service.ts';
import type { LiveBus } from '../../src/ports/live-bus.ts';
import type { RollupRange, SeriesStore } from '../../src/ports/series-store.ts';
import { encodeStreamCursor } from '../../src/query/cursors.ts';
import { createQueryService } from '../../src/query/query-service.ts';
import { wholeTenantAccess } from '../../src/auth/tenant-access.ts';
import { startEmbeddedPipeline } from '../support/embedded-pipeline.ts';
import { codeOf, nextValue, rejectionOf } from '../support/live-iterators.ts';

/** Every event of these tests falls in one HOUR bucket: each change is a new total of it. */
const AT = new Date(Date.now() - 60_000);
const ACME: LiveSubscriber = { ...wholeTenantAccess('acme'), keyId: 'key-acme' };

interface Live {
  live: LiveService;
  ingest(events: EventInput[]): Promise<void>;
  /** Bus subscriptions the live service holds open now. */
  busSubscriptions(): number;
  /** The series store reads the live service made, in order. */
  seriesReads: RollupRange[];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The live bus as the live service sees it, counting the subscriptions it holds open. */
function countingBus(bus: LiveBus): { bus: LiveBus; open: () => number } {
  let open = 0;
  return {
    bus: {
      ...bus,
      async subscribe(topic, onMessage, onPossibleLoss) {
        const unsubscribe = await bus.subscribe(topic, onMessage, onPossibleLoss);
        open += 1;
        let closed = false;
        return async () => {
          if (!closed) open -= 1;
          closed = true;
          await unsubscribe();
        };
      },
    },
    open: () => open,
  };
}

function countingSeriesStore(store: SeriesStore, reads: RollupRange[]): SeriesStore {
  return {
    ...store,
    readRollups: (range) => {
      reads.push(range);
      return store.readRollups(range);
    },
  };
}

async function startLive(env: Record<string, string> = {}): Promise<Live> {
  const pipeline = await startEmbeddedPipeline(env);
  const { config, eventStore, seriesStore, liveBus, ingest } = pipeline;
  const bus = countingBus(liveBus);
  const seriesReads: RollupRange[] = [];
  const live = createLiveService({
    liveBus: bus.bus,
    eventStore,
    seriesStore: countingSeriesStore(seriesStore, seriesReads),
    queries: createQueryService({ eventStore, seriesStore, policy: config.eventTime, limits: config.queryLimits }),
    limits: createUsageLimits(createEmbeddedRateLimitStore(), { ...config.usage, maxBatchEvents: config.ingest.maxBatchEvents }),
    queryLimits: config.queryLimits,
    maxPendingEvents: 100,
    maxPendingSeriesUpdates: 100,
  });
  cleanups.push(async () => {
    await pipeline.stop();
  });
  return {
    live,
    async ingest(events) {
      const result = await ingest.ingest(
        wholeTenantAccess('acme'),
        events.map((event) => ({ timestamp: AT, ...event })),
        null,
      );
      expect(result.accepted).toBe(events.length);
    },
    busSubscriptions: bus.open,
    seriesReads,
  };
}

async function seriesIterator(live: LiveService, input: LiveSeriesInput, subscriber = ACME) {
  return (await live.subscribeToSeries(subscriber, input))[Symbol.asyncIterator]();
}

/**
 * From the start of the stream: an event processed while the subscription reads where the
 * stores stand then comes by the replay instead of the bus, never not at all.
 */
const FROM_THE_START = encodeStreamCursor(new Map(), Date.now());

async function eventsIterator(live: LiveService, subscriber = ACME) {
  return (await live.subscribeToEvents(subscriber, null, FROM_THE_START))[Symbol.asyncIterator]();
}

/** Lets every callback already due run: enough for a promise that was about to settle to settle. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

const purchases: LiveSeriesInput = { type: 'purchase', value: 'amount', interval: 'HOUR' };

describe('live service: series feeds', () => {
  it('serves two identical series subscriptions from one bus subscription, one store read of the bucket, then the rows the messages carry', async () => {
    const { live, ingest, busSubscriptions, seriesReads } = await startLive();
    const first = await seriesIterator(live, purchases);
    const second = await seriesIterator(live, { ...purchases });
    expect(busSubscriptions()).toBe(1);

    for (const [change, amount] of [
      [1, 10],
      [2, 5],
      [3, 7],
    ] as const) {
      await ingest([{ id: `p-${change}`, type: 'purchase', values: { amount } }]);
      const [a, b] = [await nextValue(first), await nextValue(second)];
      // The very same update object: made once, pushed to both.
      expect(a).toBe(b);
      expect(a).toMatchObject({ group: null, point: { count: change } });
      // The bucket is read at its first change; later changes merge the carried rows in memory.
      expect(seriesReads.length).toBe(1);
    }
    expect(seriesReads.every((range) => range.type === 'purchase' && range.interval === 'HOUR' && range.valueKey === 'amount')).toBe(true);
    await first.return!();
    await second.return!();
  });

  it('gives a different selection or filter a feed of its own, and the same filter in another key order the same one', async () => {
    const { live, ingest, busSubscriptions, seriesReads } = await startLive();
    const all = await seriesIterator(live, purchases);
    const dutch = await seriesIterator(live, { ...purchases, dimensions: { country: 'NL', device: 'ios' } });
    const dutchAgain = await seriesIterator(live, { ...purchases, dimensions: { device: 'ios', country: 'NL' } });
    const byCountry = await seriesIterator(live, { ...purchases, groupBy: 'country' });
    const countsOnly = await seriesIterator(live, { type: 'purchase', interval: 'HOUR' });
    expect(busSubscriptions()).toBe(4);

    await ingest([{ id: 'nl-1', type: 'purchase', dimensions: { country: 'NL', device: 'ios' }, values: { amount: 3 } }]);
    expect(await nextValue(all)).toMatchObject({ group: null, point: { count: 1, sum: 3 } });
    const dutchUpdate = await nextValue(dutch);
    expect(dutchUpdate).toMatchObject({ group: null, point: { count: 1, sum: 3 } });
    expect(await nextValue(dutchAgain)).toBe(dutchUpdate);
    expect(await nextValue(byCountry)).toMatchObject({ group: 'NL', point: { count: 1, sum: 3 } });
    expect(await nextValue(countsOnly)).toMatchObject({ group: null, point: { count: 1, sum: null } });
    // One read per feed for the one change.
    expect(seriesReads.length).toBe(4);

    // An event outside the filter changes the other feeds only, from the rows its message carries.
    await ingest([{ id: 'de-1', type: 'purchase', dimensions: { country: 'DE', device: 'ios' }, values: { amount: 4 } }]);
    expect(await nextValue(all)).toMatchObject({ point: { count: 2, sum: 7 } });
    expect(await nextValue(byCountry)).toMatchObject({ group: 'DE', point: { count: 1, sum: 4 } });
    expect(await nextValue(countsOnly)).toMatchObject({ point: { count: 2 } });
    expect(seriesReads.length).toBe(4);
    for (const iterator of [all, dutch, dutchAgain, byCountry, countsOnly]) await iterator.return!();
    expect(busSubscriptions()).toBe(0);
  });

  it('closes a feed when its last subscriber leaves, and opens a new one for the next', async () => {
    const { live, ingest, busSubscriptions } = await startLive();
    const first = await seriesIterator(live, purchases);
    const second = await seriesIterator(live, purchases);
    await first.return!();
    expect(busSubscriptions()).toBe(1);
    expect(live.openCount()).toBe(1);
    await second.return!();
    expect(busSubscriptions()).toBe(0);
    expect(live.openCount()).toBe(0);

    const third = await seriesIterator(live, purchases);
    expect(busSubscriptions()).toBe(1);
    await ingest([{ id: 'after-close', type: 'purchase', values: { amount: 2 } }]);
    expect(await nextValue(third)).toMatchObject({ point: { count: 1, sum: 2 } });
    await third.return!();
    expect(busSubscriptions()).toBe(0);
  });
});

describe('live service: the registry', () => {
  it('opens exactly as many concurrent subscriptions as the tenant may hold, refusing the rest with SUBSCRIPTION_LIMIT', async () => {
    const { live } = await startLive({ MAX_SUBSCRIPTIONS_PER_TENANT: '3' });
    // All started before any has opened: each must see the slots the others took.
    const attempts = await Promise.allSettled([
      live.subscribeToEvents(ACME, null, null),
      live.subscribeToSeries(ACME, purchases),
      live.subscribeToEvents(ACME, { types: ['purchase'] }, null),
      live.subscribeToSeries(ACME, { ...purchases, groupBy: 'country' }),
      live.subscribeToEvents(ACME, null, null),
    ]);
    const opened = attempts.flatMap((attempt) => (attempt.status === 'fulfilled' ? [attempt.value] : []));
    const refused = attempts.flatMap((attempt) => (attempt.status === 'rejected' ? [attempt.reason] : []));
    expect(opened.length).toBe(3);
    expect(refused.map(codeOf)).toEqual(['SUBSCRIPTION_LIMIT', 'SUBSCRIPTION_LIMIT']);
    expect(live.openCount('acme')).toBe(3);
    expect(live.openCount()).toBe(3);

    // Another tenant has slots of its own.
    const other = await eventsIterator(live, { ...wholeTenantAccess('other'), keyId: 'key-other' });
    expect(live.openCount('other')).toBe(1);

    // A subscription that leaves frees its slot; one that fails to open gives its slot back.
    await opened[0]![Symbol.asyncIterator]().return!();
    expect(live.openCount('acme')).toBe(2);
    expect((await rejectionOf(live.subscribeToSeries(ACME, { type: 'not a type', interval: 'HOUR' }))).code).toBe('BAD_USER_INPUT');
    expect(live.openCount('acme')).toBe(2);
    const last = await eventsIterator(live);
    expect(live.openCount('acme')).toBe(3);
    expect((await rejectionOf(live.subscribeToEvents(ACME, null, null))).code).toBe('SUBSCRIPTION_LIMIT');

    for (const subscription of opened.slice(1)) await subscription[Symbol.asyncIterator]().return!();
    await last.return!();
    await other.return!();
    expect(live.openCount()).toBe(0);
  });

  it('ends every subscription opened with a key, and only those', async () => {
    const { live, ingest, busSubscriptions } = await startLive();
    const revokedKey: LiveSubscriber = { ...wholeTenantAccess('acme'), keyId: 'key-revoked' };
    const revokedEvents = await eventsIterator(live, revokedKey);
    const revokedSeries = await seriesIterator(live, purchases, revokedKey);
    const kept = await eventsIterator(live);
    expect(live.openCount()).toBe(3);

    live.endSubscriptionsOfKey('key-revoked');
    const revoked = { code: 'UNAUTHENTICATED', message: 'the API key has been revoked' };
    expect(await rejectionOf(revokedEvents.next())).toEqual(revoked);
    expect(await rejectionOf(revokedSeries.next())).toEqual(revoked);
    expect(await revokedEvents.next()).toEqual({ value: undefined, done: true });
    expect(live.openCount()).toBe(1);
    expect(busSubscriptions()).toBe(1);

    await ingest([{ id: 'still-here', type: 'purchase', values: { amount: 1 } }]);
    expect(await nextValue(kept)).toMatchObject({ node: { id: 'still-here', type: 'purchase' } });
    await kept.return!();
  });

  it('drains on shutdown: resolves once every subscriber has taken what its queue holds', async () => {
    const { live, ingest } = await startLive();
    const subscriber = await eventsIterator(live);
    await ingest([
      { id: 'last-1', type: 'purchase' },
      { id: 'last-2', type: 'purchase' },
    ]);
    // Once the first is read, the second waits in the queue (or is on its way to it).
    expect(await nextValue(subscriber)).toMatchObject({ node: { id: 'last-1' } });
    let drained = false;
    const draining = live.drain(60_000).then(() => {
      drained = true;
    });
    await settle();
    expect(drained).toBe(false);
    expect(await nextValue(subscriber)).toMatchObject({ node: { id: 'last-2' } });
    // Asking for the next one shows the last was handed on.
    const waitingForMore = subscriber.next();
    await draining;
    expect(drained).toBe(true);
    await subscriber.return!();
    expect(await waitingForMore).toEqual({ value: undefined, done: true });
  });

  it('stops waiting for a subscriber that does not read when the drain time is up', async () => {
    const { live, ingest } = await startLive();
    const stalled = await eventsIterator(live);
    const reader = await eventsIterator(live);
    await ingest([{ id: 'unread', type: 'purchase' }]);
    expect(await nextValue(reader)).toMatchObject({ node: { id: 'unread' } });
    await live.drain(50);
    await stalled.return!();
    await reader.return!();
  });
});
