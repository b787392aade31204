/**
 * The live module's one door: subscribe to events, series and top lists, and the registry of every
 * subscription this instance serves (the open count per tenant, ending every subscription of a
 * key, draining on shutdown). Resolvers and the composition root call it; the registry and the
 * series feeds are its own, so nothing else can change them.
 *
 * Every subscription reserves its slot before anything else (src/live/subscription-registry.ts):
 * past the tenant's limit it is refused with SUBSCRIPTION_LIMIT, and one that fails to open
 * gives its slot back.
 */
import type { EventStore } from '../ports/event-store.ts';
import type { LiveBus } from '../ports/live-bus.ts';
import type { SeriesStore } from '../ports/series-store.ts';
import { validateWhere, type EventFilterInput } from '../query/event-filter.ts';
import type { DimensionCondition } from '../domain/dimension-conditions.ts';
import type { QueryLimits } from '../query/query-limits.ts';
import type { QueryService } from '../query/query-service.ts';
import type { UsageLimits } from '../limits/usage-limits.ts';
import { openEventsSubscription, type EventsFollower, type LiveEventEdge } from './live-events.ts';
import { createStoredPositionReader, type StoredPosition } from './stored-position.ts';
import { createSeriesFeeds, type LiveSeriesInput, type SeriesUpdateView } from './live-series.ts';
import { createTopFeeds, type LiveTopInput, type TopUpdateView } from './live-top.ts';
import { createSubscriptionRegistry, type LiveSubscriber, type SubscriptionSlot } from './subscription-registry.ts';
import { unauthenticated } from '../errors.ts';
import { createCursorSeal, type CursorSeal } from '../query/cursors.ts';
import { sliceOf, subscriptionSlice, type ConnectionCredentials } from './connection-credentials.ts';

export type { LiveEventEdge } from './live-events.ts';
export type { LiveSeriesInput, SeriesUpdateView } from './live-series.ts';
export type { LiveTopInput, TopUpdateView } from './live-top.ts';
export type { LiveSubscriber } from './subscription-registry.ts';
export type { ConnectionCredentials } from './connection-credentials.ts';

export interface LiveServiceOptions {
  liveBus: LiveBus;
  eventStore: EventStore;
  seriesStore: SeriesStore;
  queries: Pick<QueryService, 'finality'>;
  /** Says when a tenant holds as many subscriptions as it may (SUBSCRIPTION_LIMIT). */
  limits: Pick<UsageLimits, 'checkSubscriptions'>;
  queryLimits: Pick<QueryLimits, 'maxRowsRead' | 'maxSeriesGroups' | 'maxSeriesPoints'>;
  /** Bound of one events subscriber's queue. */
  maxPendingEvents: number;
  /** Bound of one series subscriber's queue (updates conflate per bucket, so: distinct buckets). */
  maxPendingSeriesUpdates: number;
  /** EVENT_RETENTION: a resume from an older cursor is refused with CURSOR_EXPIRED; null: forever. */
  eventRetentionMs?: number | null;
  /** FUTURE_TOLERANCE, which bounds the buckets a series feed re-reads after the bus lost messages. */
  futureToleranceMs?: number;
  /** Seals the cursors a token with a slice is given (query/cursors.ts); absent: a secret of this process. */
  cursorSeal?: CursorSeal;
}

/**
 * How often this instance compares its events subscriptions with what was stored one period
 * earlier. A live message is lost only when the bus fails, and the bus says so; the check is for
 * what it cannot say (a publish that failed and was never retried because its instance died,
 * followed by silence), so a subscriber is never stale for longer than about two periods. One
 * progress read per period per instance, shared by every subscription; a subscription reads
 * the event store only when it is behind a position stored a whole period ago.
 */
const STORED_POSITION_CHECK_MS = 10_000;

export interface LiveService {
  /**
   * The events that match the filter, from `resumeFrom` (a cursor this subscription or a
   * query's streamCursor returned) or, when null, from where the stores stand now.
   */
  subscribeToEvents(
    subscriber: LiveSubscriber,
    filter: EventFilterInput | null | undefined,
    resumeFrom: string | null,
  ): Promise<AsyncIterable<LiveEventEdge>>;
  /**
   * Every change of a bucket of the series, as its new total: first each point from `input.from`
   * (a snapshot), or every point changed after `after` (a cursor an update carried, on any instance).
   */
  subscribeToSeries(subscriber: LiveSubscriber, input: LiveSeriesInput, after?: string | null): Promise<AsyncIterable<SeriesUpdateView>>;
  /** A top list over a sliding window: at once, then on every change, at most once a second. */
  subscribeToTop(subscriber: LiveSubscriber, input: LiveTopInput): Promise<AsyncIterable<TopUpdateView>>;
  /** Subscriptions this instance holds open, of every tenant or of one. */
  openCount(tenant?: string): number;
  /** Ends every subscription opened with the key (it has been revoked): each fails with UNAUTHENTICATED. */
  endSubscriptionsOfKey(keyId: string): void;
  /**
   * A graphql-ws connection's credentials were replaced (a refresh): each subscription opened on
   * it goes on under the new expiry when the new credential still allows it, else ends with FORBIDDEN.
   */
  followConnection(connection: ConnectionCredentials): void;
  /**
   * Resolves once every subscriber has taken what its queue holds, or after `timeoutMs`: a
   * graceful shutdown lets subscribers have the last updates, unless they are too slow to take them.
   */
  drain(timeoutMs: number): Promise<void>;
  /** Stops the periodic checks (the subscriptions themselves end with their queues). */
  close(): void;
}

/**
 * The subscriber, with the most its subscription can deliver: what a refresh of its connection is
 * judged against. A `where` that does not validate is left out (the subscription fails to open
 * with that error anyway).
 */
function withDelivered(subscriber: LiveSubscriber, types: readonly string[] | null, where: EventFilterInput['where']): LiveSubscriber {
  if (!subscriber.openedUnder) return subscriber;
  let conditions: DimensionCondition[] | null = null;
  try {
    conditions = validateWhere(where, 'where');
  } catch {
    conditions = null;
  }
  return { ...subscriber, delivers: subscriptionSlice(sliceOf(subscriber.openedUnder), types, conditions) };
}

export function createLiveService(options: LiveServiceOptions): LiveService {
  const registry = createSubscriptionRegistry((tenant, open) => options.limits.checkSubscriptions(tenant, open));
  const cursorSeal = options.cursorSeal ?? createCursorSeal();
  const seriesFeeds = createSeriesFeeds({ ...options, cursorSeal });
  const topFeeds = createTopFeeds(options);
  const storedPosition = createStoredPositionReader(options.seriesStore);
  const followers = new Set<EventsFollower>();
  const eventsDependencies = {
    ...options,
    storedPosition,
    followers,
    eventRetentionMs: options.eventRetentionMs ?? null,
    cursorSeal,
  };
  /** The stored position of the previous check: what every subscription must have been offered by now. */
  let storedAtLastCheck: StoredPosition | null = null;
  const checkTimer = setInterval(() => {
    if (followers.size === 0) {
      storedAtLastCheck = null;
      return;
    }
    storedPosition().then(
      (stored) => {
        if (storedAtLastCheck) for (const follower of followers) follower.catchUpTo(storedAtLastCheck);
        storedAtLastCheck = stored;
      },
      // The subscriptions read the stores themselves and fail if they cannot; the next check retries.
      () => {},
    );
  }, STORED_POSITION_CHECK_MS);
  checkTimer.unref();

  /** Opens a subscription in a slot reserved for it, giving the slot back if opening fails. */
  async function inSlot<T>(subscriber: LiveSubscriber, open: (slot: SubscriptionSlot) => Promise<T>): Promise<T> {
    const slot = registry.reserve(subscriber);
    try {
      return await open(slot);
    } catch (error) {
      slot.release();
      throw error;
    }
  }

  return {
    subscribeToEvents(subscriber, filter, resumeFrom) {
      const delivering = withDelivered(subscriber, filter?.types ?? null, filter?.where);
      return inSlot(delivering, (slot) => openEventsSubscription(eventsDependencies, slot, delivering, filter, resumeFrom));
    },
    subscribeToSeries(subscriber, input, after = null) {
      const delivering = withDelivered(subscriber, [input.type], input.where);
      return inSlot(delivering, (slot) => seriesFeeds.subscribe(slot, delivering, input, after));
    },
    subscribeToTop(subscriber, input) {
      const delivering = withDelivered(subscriber, [input.type], input.where);
      return inSlot(delivering, (slot) => topFeeds.subscribe(slot, delivering, input));
    },
    openCount: (tenant) => registry.openCount(tenant),
    endSubscriptionsOfKey(keyId) {
      for (const open of registry.queues()) {
        if (open.keyId === keyId) open.queue.fail(unauthenticated('the API key has been revoked'));
      }
    },
    followConnection: (connection) => registry.followConnection(connection),
    async drain(timeoutMs) {
      const drained = Promise.all(registry.queues().map(({ queue }) => queue.drained()));
      let timer: NodeJS.Timeout | undefined;
      const timeUp = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([drained, timeUp]).finally(() => clearTimeout(timer));
    },
    close() {
      clearInterval(checkTimer);
      seriesFeeds.close();
    },
  };
}
