/**
 * Series subscriptions that resume, in-process over the embedded log, stores and a live bus that
 * can lose messages, with the real stream processor: a change whose message was lost comes with
 * the re-read that the loss notice starts, which descends from DAY rows to the changed seconds
 * only (the default lateness is a day); a resume from a cursor sends the changed bucket only; a
 * final point is pushed final once, merged intervals included, and `to` completes the subscription.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createEmbeddedRateLimitStore } from '../../src/adapters/embedded/embedded-rate-limit-store.ts';
import type { EventInput } from '../../src/ingest/validate-event.ts';
import { createUsageLimits } from '../../src/limits/usage-limits.ts';
import {
  createLiveService,
  type LiveSeriesInput,
  type LiveService,
  type LiveSubscriber,
  type SeriesUpdateView,
} from '../../src/live/live-service.ts';
import type { LiveBus } from '../../src/ports/live-bus.ts';
import type { RollupRange, SeriesStore } from '../../src/ports/series-store.ts';
import { createQueryService } from '../../src/query/query-service.ts';
import { wholeTenantAccess } from '../../src/auth/tenant-access.ts';
import { startEmbeddedPipeline } from '../support/embedded-pipeline.ts';

const SECOND = 1_000;
/** A whole minute a while ago: the events of these tests fall in its seconds. */
const MINUTE_START = Math.floor((Date.now() - 5 * 60_000) / 60_000) * 60_000;
const ACME: LiveSubscriber = { ...wholeTenantAccess('acme'), keyId: 'key-acme' };
const clicks: LiveSeriesInput = { type: 'click', interval: 'SECOND', groupBy: 'page' };

interface Harness {
  live: LiveService;
  ingest(events: EventInput[]): Promise<void>;
  /** While true, series messages are dropped on the way to subscribers. */
  dropSeriesMessages(drop: boolean): void;
  /** The bus tells every subscriber that messages may have been lost. */
  announceLoss(): void;
  seriesReads: RollupRange[];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A bus that drops series messages on demand, and can say that it may have lost some. */
function lossyBus(bus: LiveBus) {
  let dropping = false;
  const lossListeners = new Set<() => void>();
  const lossy: LiveBus = {
    ...bus,
    async subscribe(topic, onMessage, onPossibleLoss) {
      const isSeries = String(topic).includes('series');
      const listener = () => onPossibleLoss?.();
      lossListeners.add(listener);
      const unsubscribe = await bus.subscribe(
        topic,
        (text) => {
          if (!(dropping && isSeries)) onMessage(text);
        },
        onPossibleLoss,
      );
      return async () => {
        lossListeners.delete(listener);
        await unsubscribe();
      };
    },
  };
  return {
    bus: lossy,
    drop: (drop: boolean) => {
      dropping = drop;
    },
    announceLoss: () => {
      for (const listener of lossListeners) listener();
    },
  };
}

async function start(env: Record<string, string> = {}): Promise<Harness> {
  const pipeline = await startEmbeddedPipeline(env);
  const { config, eventStore, seriesStore, liveBus, ingest } = pipeline;
  const bus = lossyBus(liveBus);
  const seriesReads: RollupRange[] = [];
  const countingStore: SeriesStore = {
    ...seriesStore,
    readRollups: (range) => {
      seriesReads.push(range);
      return seriesStore.readRollups(range);
    },
  };
  const live = createLiveService({
    liveBus: bus.bus,
    eventStore,
    seriesStore: countingStore,
    queries: createQueryService({ eventStore, seriesStore, policy: config.eventTime, limits: config.queryLimits }),
    limits: createUsageLimits(createEmbeddedRateLimitStore(), { ...config.usage, maxBatchEvents: config.ingest.maxBatchEvents }),
    queryLimits: config.queryLimits,
    maxPendingEvents: 100,
    maxPendingSeriesUpdates: 100,
  });
  cleanups.push(async () => {
    live.close();
    await pipeline.stop();
  });
  return {
    live,
    async ingest(events) {
      const storedThrough = async () => (await seriesStore.loadProgress()).get(0)?.storedThrough ?? -1;
      const before = await storedThrough();
      const result = await ingest.ingest(wholeTenantAccess('acme'), events, null);
      expect(result.accepted).toBe(events.length);
      // Processed and stored: the one partition's progress is past every record (one offset each).
      await expect.poll(storedThrough, { timeout: 10_000 }).toBeGreaterThanOrEqual(before + events.length);
    },
    dropSeriesMessages: bus.drop,
    announceLoss: bus.announceLoss,
    seriesReads,
  };
}

const click = (id: string, secondsIn: number, page: string): EventInput => ({
  id,
  type: 'click',
  timestamp: new Date(MINUTE_START + secondsIn * SECOND),
  dimensions: { page },
});

async function nextUpdate(iterator: AsyncIterator<SeriesUpdateView>): Promise<SeriesUpdateView> {
  const step = await iterator.next();
  if (step.done) throw new Error('the subscription ended');
  return step.value;
}

const summary = (update: SeriesUpdateView) => [update.group, update.point.start, update.point.count];

describe('live series: losses and resumes', () => {
  it('brings a change whose message was lost with the re-read of a loss notice, reading SECOND rows of the changed minute only', async () => {
    const { live, ingest, dropSeriesMessages, announceLoss, seriesReads } = await start();
    await ingest([click('c1', 1, 'home')]);
    const iterator = (await live.subscribeToSeries(ACME, { ...clicks, from: new Date(MINUTE_START) }))[Symbol.asyncIterator]();
    expect(summary(await nextUpdate(iterator))).toEqual(['home', MINUTE_START + SECOND, 1]);

    dropSeriesMessages(true);
    await ingest([click('c2', 1, 'home'), click('c3', 7, 'docs')]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    seriesReads.length = 0;
    announceLoss();
    const brought = [summary(await nextUpdate(iterator)), summary(await nextUpdate(iterator))];
    expect(brought).toEqual([
      ['home', MINUTE_START + SECOND, 2],
      ['docs', MINUTE_START + 7 * SECOND, 1],
    ]);
    // A day of allowed lateness (the default), searched from DAY rows down: SECOND rows of one minute at most.
    const secondReads = seriesReads.filter((range) => range.interval === 'SECOND');
    expect(secondReads.length).toBeGreaterThan(0);
    for (const range of secondReads) expect(range.to - range.from).toBeLessThanOrEqual(60 * SECOND);
    await iterator.return!();
  });

  it('resumes from a cursor with the buckets changed after it, then live', async () => {
    const { live, ingest } = await start();
    await ingest([click('r1', 2, 'home'), click('r2', 3, 'docs')]);
    const query = { ...clicks, from: new Date(MINUTE_START) };
    const first = (await live.subscribeToSeries(ACME, query))[Symbol.asyncIterator]();
    const snapshot = [await nextUpdate(first), await nextUpdate(first)];
    expect(snapshot.map(summary)).toEqual([
      ['home', MINUTE_START + 2 * SECOND, 1],
      ['docs', MINUTE_START + 3 * SECOND, 1],
    ]);
    const cursor = snapshot[1]!.cursor;
    await first.return!();

    // While nobody listens: the first bucket changes.
    await ingest([click('r3', 2, 'home')]);
    const resumed = (await live.subscribeToSeries(ACME, query, cursor))[Symbol.asyncIterator]();
    expect(summary(await nextUpdate(resumed))).toEqual(['home', MINUTE_START + 2 * SECOND, 2]);
    // Then live: the unchanged bucket was not sent again.
    await ingest([click('r4', 3, 'docs')]);
    expect(summary(await nextUpdate(resumed))).toEqual(['docs', MINUTE_START + 3 * SECOND, 2]);
    await resumed.return!();
  });

  it('refuses a cursor of another query, naming it', async () => {
    const { live, ingest } = await start();
    await ingest([click('q1', 2, 'home')]);
    const iterator = (await live.subscribeToSeries(ACME, { ...clicks, from: new Date(MINUTE_START) }))[Symbol.asyncIterator]();
    const { cursor } = await nextUpdate(iterator);
    await iterator.return!();
    await expect(live.subscribeToSeries(ACME, { ...clicks, from: new Date(MINUTE_START + SECOND) }, cursor)).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
      message: expect.stringContaining('another query'),
    });
    expect(live.openCount('acme')).toBe(0);
  });

  it('pushes a point final once: a sweep after its final push does not push it again', async () => {
    // A second of lateness and no out-of-orderness: a bucket is final once an event 2 s later is counted.
    const { live, ingest, announceLoss } = await start({ ALLOWED_LATENESS: '1s', OUT_OF_ORDERNESS: '0s' });
    const iterator = (await live.subscribeToSeries(ACME, clicks))[Symbol.asyncIterator]();
    const received: SeriesUpdateView[] = [];
    void (async () => {
      for (let step = await iterator.next(); !step.done; step = await iterator.next()) received.push(step.value);
    })();
    await ingest([click('f1', 1, 'home')]);
    await ingest([click('f2', 10, 'home')]);
    const finalOfFirst = () => received.filter((update) => update.point.start === MINUTE_START + SECOND && update.point.final);
    // The finality check runs every 2 s.
    await expect.poll(() => finalOfFirst().length, { timeout: 10_000 }).toBe(1);
    const before = received.length;
    announceLoss();
    // The sweep re-pushes what may have changed since the feed opened: the not-final second, never the final one.
    await expect.poll(() => received.length, { timeout: 10_000 }).toBeGreaterThan(before);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(finalOfFirst()).toHaveLength(1);
    expect(received.slice(before).map(summary)).toEqual([['home', MINUTE_START + 10 * SECOND, 1]]);
    await iterator.return!();
  });

  it('pushes a merged FIFTEEN_MINUTES point once more with final: true, and completes a subscription whose `to` it ends', async () => {
    const { live, ingest } = await start({ ALLOWED_LATENESS: '1s', OUT_OF_ORDERNESS: '0s' });
    const QUARTER = 15 * 60_000;
    const quarter = Math.floor((Date.now() - 2 * 3_600_000) / QUARTER) * QUARTER;
    const quarters: LiveSeriesInput = { type: 'click', interval: 'FIFTEEN_MINUTES', groupBy: 'page' };
    const iterator = (await live.subscribeToSeries(ACME, { ...quarters, to: new Date(quarter + QUARTER) }))[Symbol.asyncIterator]();
    await ingest([{ id: 'q1', type: 'click', timestamp: new Date(quarter + 61_000), dimensions: { page: 'home' } }]);
    expect(summary(await nextUpdate(iterator))).toEqual(['home', quarter, 1]);
    await ingest([{ id: 'q2', type: 'click', timestamp: new Date(quarter + 14 * 60_000), dimensions: { page: 'home' } }]);
    expect(summary(await nextUpdate(iterator))).toEqual(['home', quarter, 2]);
    // Past the quarter's end plus the lateness, outside the subscription's range.
    await ingest([{ id: 'q3', type: 'click', timestamp: new Date(quarter + QUARTER + 5_000), dimensions: { page: 'home' } }]);
    const final = await nextUpdate(iterator);
    expect([...summary(final), final.point.final]).toEqual(['home', quarter, 2, true]);
    expect(await iterator.next()).toEqual({ value: undefined, done: true });
    expect(live.openCount('acme')).toBe(0);
  });
});
