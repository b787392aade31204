/**
 * The live top feeds in-process, over the embedded log, stores and live bus, with the real stream
 * processor publishing what it counts: identical subscriptions share one feed (one bus
 * subscription, the same update object), a change re-reads only the stored bucket that holds it,
 * a possible bus loss re-reads the whole window, the rows a feed holds are bounded by
 * MAX_ROWS_READ, and the registry's rules (subscription limit, revocation, token expiry) apply.
 * No HTTP: what a subscriber receives is read from the iterators the service returns.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { schema } from '../../src/schema/index.ts';
import { createEmbeddedRateLimitStore } from '../../src/adapters/embedded/embedded-rate-limit-store.ts';
import type { EventInput } from '../../src/ingest/validate-event.ts';
import { createUsageLimits } from '../../src/limits/usage-limits.ts';
import {
  createLiveService,
  type LiveService,
  type LiveSubscriber,
  type LiveTopInput,
  type TopUpdateView,
} from '../../src/live/live-service.ts';
import type { LiveBus } from '../../src/ports/live-bus.ts';
import type { RollupRange, SeriesStore } from '../../src/ports/series-store.ts';
import { createQueryService, type QueryService } from '../../src/query/query-service.ts';
import { wholeTenantAccess } from '../../src/auth/tenant-access.ts';
import type { Principal } from '../../src/auth/authenticator.ts';
import { startEmbeddedPipeline } from '../support/embedded-pipeline.ts';
import { nextValue, rejectionOf } from '../support/live-iterators.ts';

/** graphql as the schema's own modules load it (require): an ESM import would be a second copy, which graphql refuses. */
const { parse, validate } = createRequire(import.meta.url)('graphql') as typeof import('graphql');

const MINUTE = 60_000;
/** Inside every window of these tests for minutes to come. */
const RECENT = () => new Date(Date.now() - 2 * MINUTE);
const ACME: LiveSubscriber = { ...wholeTenantAccess('acme'), keyId: 'key-acme' };
const byCountry: LiveTopInput = { type: 'buy', by: 'country', value: 'amount', window: '15m' };

interface Live {
  live: LiveService;
  queries: QueryService;
  ingest(events: EventInput[]): Promise<void>;
  busSubscriptions(): number;
  /** Tells every bus subscription that messages may have been lost, as the Redis bus does after a reconnect. */
  loseMessages(): void;
  seriesReads: RollupRange[];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startLive(env: Record<string, string> = {}): Promise<Live> {
  const pipeline = await startEmbeddedPipeline(env);
  const { config, eventStore, seriesStore, liveBus, ingest } = pipeline;
  let open = 0;
  const lossListeners = new Set<() => void>();
  const bus: LiveBus = {
    ...liveBus,
    async subscribe(topic, onMessage, onPossibleLoss) {
      const unsubscribe = await liveBus.subscribe(topic, onMessage, onPossibleLoss);
      open += 1;
      const onLoss = () => onPossibleLoss?.();
      lossListeners.add(onLoss);
      return async () => {
        open -= 1;
        lossListeners.delete(onLoss);
        await unsubscribe();
      };
    },
  };
  const seriesReads: RollupRange[] = [];
  const countingStore: SeriesStore = {
    ...seriesStore,
    readRollups: (range) => {
      seriesReads.push(range);
      return seriesStore.readRollups(range);
    },
  };
  const queries = createQueryService({ eventStore, seriesStore, policy: config.eventTime, limits: config.queryLimits });
  const live = createLiveService({
    liveBus: bus,
    eventStore,
    seriesStore: countingStore,
    queries,
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
    queries,
    async ingest(events) {
      const result = await ingest.ingest(
        wholeTenantAccess('acme'),
        events.map((event) => ({ timestamp: RECENT(), ...event })),
        null,
      );
      expect(result.accepted).toBe(events.length);
    },
    busSubscriptions: () => open,
    loseMessages: () => {
      for (const onLoss of lossListeners) onLoss();
    },
    seriesReads,
  };
}

async function topIterator(live: LiveService, input: LiveTopInput = byCountry, subscriber = ACME) {
  return (await live.subscribeToTop(subscriber, input))[Symbol.asyncIterator]();
}

/** What the top query answers over the update's window. */
function queried(queries: QueryService, update: TopUpdateView, input: LiveTopInput = byCountry) {
  const { window: _window, ...list } = input;
  return queries.top(wholeTenantAccess('acme'), { ...list, from: new Date(update.from), to: new Date(update.to) });
}

describe('live top feeds', () => {
  it('serve identical subscriptions from one feed, and merge the rows a change carries without reading the store', async () => {
    const { live, ingest, busSubscriptions, seriesReads, queries } = await startLive();
    const first = await topIterator(live);
    const second = await topIterator(live, { ...byCountry });
    expect(busSubscriptions()).toBe(1);
    const [a0, b0] = [await nextValue(first), await nextValue(second)];
    // The very same object: ranked once, pushed to both.
    expect(a0).toBe(b0);
    expect(a0.entries).toEqual([]);
    expect(a0.to - a0.from).toBe(15 * MINUTE);
    // Opening read the window (15 MINUTE buckets unless an hour boundary splits it: one range either way).
    const opened = seriesReads.length;
    expect(seriesReads.every((range) => range.type === 'buy' && range.valueKey === 'amount' && range.interval === 'MINUTE')).toBe(true);

    const at = RECENT();
    await ingest([{ id: 'b-1', type: 'buy', timestamp: at, dimensions: { country: 'NL' }, values: { amount: 3 } }]);
    const [a1, b1] = [await nextValue(first), await nextValue(second)];
    expect(a1).toBe(b1);
    expect(a1.entries).toEqual([{ key: 'NL', count: 1, sum: 3 }]);
    expect(a1.entries).toEqual(await queried(queries, a1));
    // No read for the change: its message carried the row (only a minute entering the window, if a boundary passed, is read).
    const changeReads = seriesReads.slice(opened).filter((range) => range.from < a0.to);
    expect(changeReads).toEqual([]);

    // Another list (another window, filter or ranking) is a feed of its own; "60m" and "1h" are one.
    // An hour's window may hold an HOUR bucket: its feed follows the MINUTE and HOUR topics.
    const hour = await topIterator(live, { ...byCountry, window: '60m' });
    const hourAgain = await topIterator(live, { ...byCountry, window: '1h' });
    expect(busSubscriptions()).toBe(3);
    expect((await nextValue(hour)).entries).toEqual((await nextValue(hourAgain)).entries);
    for (const iterator of [first, second, hour, hourAgain]) await iterator.return!();
    expect(busSubscriptions()).toBe(0);
    expect(live.openCount()).toBe(0);
  });

  it('sends at most one update a second to a subscriber: changes in between conflate, the latest wins', async () => {
    const { live, ingest, queries } = await startLive();
    const list = await topIterator(live);
    await nextValue(list);
    const started = performance.now();
    // Read while the changes come, so each update is taken the moment it is pushed.
    const updates: { at: number; update: TopUpdateView }[] = [];
    const reading = (async () => {
      while (updates.at(-1)?.update.entries[0]?.count !== 5) updates.push({ update: await nextValue(list), at: performance.now() });
    })();
    for (let n = 1; n <= 5; n++) await ingest([{ id: `c-${n}`, type: 'buy', dimensions: { country: 'DE' }, values: { amount: n } }]);
    await reading;
    // Whatever came first, the list ends on all five, and its updates were a second apart.
    expect(updates.at(-1)!.update.entries).toEqual([{ key: 'DE', count: 5, sum: 15 }]);
    expect(updates.at(-1)!.update.entries).toEqual(await queried(queries, updates.at(-1)!.update));
    // The first update after opening waits for the subscriber's second; each next one for another.
    let previous = started;
    for (const { at } of updates) {
      // performance.now() of two moments a second apart by the server's clock, read a few ms late at most.
      expect(at - previous).toBeGreaterThanOrEqual(1_000 - 50);
      previous = at;
    }
    await list.return!();
  });

  it('reads the whole window again when the bus may have lost messages', async () => {
    const { live, ingest, seriesReads, loseMessages } = await startLive();
    const list = await topIterator(live);
    await nextValue(list);
    const opening = seriesReads.length;
    loseMessages();
    // The whole window again: its 15 MINUTE buckets in one read.
    await expect
      .poll(() => seriesReads.slice(opening).some((range) => range.interval === 'MINUTE' && range.to - range.from === 15 * MINUTE))
      .toBe(true);
    await ingest([{ id: 'l-1', type: 'buy', dimensions: { country: 'NL' }, values: { amount: 1 } }]);
    expect((await nextValue(list)).entries).toEqual([{ key: 'NL', count: 1, sum: 1 }]);
    await list.return!();
  });

  it('holds no more rows than MAX_ROWS_READ: a window over it is refused, and a feed that grows past it ends, with QUERY_TOO_LARGE', async () => {
    const { live, ingest, queries } = await startLive({ MAX_ROWS_READ: '2' });
    await ingest([
      { id: 'r-1', type: 'wide', dimensions: { country: 'NL' } },
      { id: 'r-2', type: 'wide', dimensions: { country: 'DE' } },
      { id: 'r-3', type: 'wide', dimensions: { country: 'FR' } },
    ]);
    // Once the three rows are stored, the top query itself reads too many.
    const lastQuarter = { from: new Date(Date.now() - 15 * MINUTE), to: new Date(Date.now() + MINUTE) };
    await expect
      .poll(async () => (await rejectionOf(queries.top(wholeTenantAccess('acme'), { type: 'wide', by: 'country', ...lastQuarter }))).code)
      .toBe('QUERY_TOO_LARGE');
    const tooLarge = {
      code: 'QUERY_TOO_LARGE',
      message: expect.stringMatching(/^this live top list's window reads rollup rows: more than 2 rows, above the limit of 2; /),
    };
    expect(await rejectionOf(live.subscribeToTop(ACME, { type: 'wide', by: 'country', window: '15m' }))).toEqual(tooLarge);
    expect(live.openCount()).toBe(0);

    const growing = await topIterator(live, { type: 'growing', by: 'country', window: '15m' });
    await nextValue(growing);
    await ingest([
      { id: 'g-1', type: 'growing', dimensions: { country: 'NL' } },
      { id: 'g-2', type: 'growing', dimensions: { country: 'DE' } },
      { id: 'g-3', type: 'growing', dimensions: { country: 'FR' } },
    ]);
    expect(
      await rejectionOf(
        (async () => {
          for (;;) await nextValue(growing);
        })(),
      ),
    ).toEqual(tooLarge);
    expect(live.openCount()).toBe(0);
  });

  it('takes a slot like every subscription: the tenant limit, a revoked key and a token expiry end it', async () => {
    const { live } = await startLive({ MAX_SUBSCRIPTIONS_PER_TENANT: '2' });
    const kept = await topIterator(live);
    const revokedKey: LiveSubscriber = { ...wholeTenantAccess('acme'), keyId: 'key-revoked' };
    const revoked = await topIterator(live, byCountry, revokedKey);
    expect((await rejectionOf(live.subscribeToTop(ACME, byCountry))).code).toBe('SUBSCRIPTION_LIMIT');
    // The limit is checked first, before the arguments.
    expect((await rejectionOf(live.subscribeToTop(ACME, { ...byCountry, window: '0m' }))).code).toBe('SUBSCRIPTION_LIMIT');
    await nextValue(revoked);
    live.endSubscriptionsOfKey('key-revoked');
    expect(await rejectionOf(revoked.next())).toEqual({ code: 'UNAUTHENTICATED', message: 'the API key has been revoked' });
    expect(live.openCount()).toBe(1);
    expect((await rejectionOf(live.subscribeToTop(ACME, { ...byCountry, window: '0m' }))).code).toBe('BAD_USER_INPUT');
    expect(live.openCount()).toBe(1);

    const principal: Principal = {
      tenant: 'acme',
      keyId: 'key-acme',
      scopes: new Set(['READ']),
      isRootAdmin: false,
      token: {
        id: 'token-1',
        expiresAt: Date.now() + 300,
        slice: { types: ['buy'], where: [] },
        queriesPerSecond: null,
        eventsPerSecond: null,
      },
    };
    const expiring = await topIterator(live, byCountry, { ...ACME, slice: { types: ['buy'], where: [] }, openedUnder: principal });
    await nextValue(expiring);
    expect((await rejectionOf(expiring.next())).code).toBe('TOKEN_EXPIRED');
    // A token's slice: a type outside it is FORBIDDEN.
    expect(
      await rejectionOf(live.subscribeToTop({ ...ACME, slice: { types: ['buy'], where: [] } }, { ...byCountry, type: 'other' })),
    ).toEqual({ code: 'FORBIDDEN', message: 'this access token reads only events of type buy; query.type "other" is outside its slice' });
    await kept.return!();
    expect(live.openCount()).toBe(0);
  });

  it("follows its graphql-ws connection's refresh: the same slice goes on, a narrower one ends it with FORBIDDEN", async () => {
    const { live } = await startLive();
    const tokenFor = (id: string, types: string[]): Principal => ({
      tenant: 'acme',
      keyId: 'key-acme',
      scopes: new Set(['READ']),
      isRootAdmin: false,
      token: { id, expiresAt: Date.now() + 60 * MINUTE, slice: { types, where: [] }, queriesPerSecond: null, eventsPerSecond: null },
    });
    const opened = tokenFor('token-1', ['buy']);
    const connection = { authorization: 'Bearer token-1', principal: opened };
    const list = await topIterator(live, byCountry, { ...ACME, slice: { types: ['buy'], where: [] }, openedUnder: opened, connection });
    await nextValue(list);
    connection.principal = tokenFor('token-2', ['buy', 'other']);
    live.followConnection(connection);
    expect(live.openCount()).toBe(1);
    connection.principal = tokenFor('token-3', ['other']);
    live.followConnection(connection);
    expect((await rejectionOf(list.next())).code).toBe('FORBIDDEN');
    expect(live.openCount()).toBe(0);
  });
});

describe('docs/api.md on the live top list', () => {
  it('shows a subscription the schema validates', () => {
    const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('- **`top(query)`**'));
    const example = /```graphql\n([\s\S]*?)```/.exec(section)![1]!;
    expect(example).toContain('subscription { top(query:');
    expect(validate(schema, parse(example))).toEqual([]);
  });
});
