/**
 * The series subscription. The bus says which buckets changed; a feed re-reads each changed
 * bucket from the series store and pushes the merged point of every affected group. Reading
 * the store (rather than applying deltas) makes every update a correct total, corrections of
 * earlier buckets included, and lets pending updates of one bucket conflate to the latest.
 *
 * Subscriptions asking for the same series (tenant, type, interval, value, groupBy, filter) on
 * this instance share one feed: one bus subscription and one store read per changed bucket,
 * whatever the number of subscribers; each subscriber keeps its own bounded queue.
 */
import { dimensionOf, matchesDimensions } from '../domain/event.ts';
import type { Interval } from '../domain/interval.ts';
import { liveTopics, type LiveBus } from '../ports/live-bus.ts';
import type { SeriesStore } from '../ports/series-store.ts';
import type { QueryService } from '../query/query-service.ts';
import { validateDimensionFilter, validateKeyName, validateTypeName } from '../query/event-filter.ts';
import { aggregateByGroup, toPoint, type PointView, type SeriesShape } from '../query/series-view.ts';
import { decodeSeriesMessage } from '../domain/live-messages.ts';
import { queryTooLarge, type QueryLimits } from '../query/query-limits.ts';
import { StreamlensError, unavailable } from '../errors.ts';
import type { LiveQueue } from './live-queue.ts';
import type { SubscriptionSlot } from './subscription-registry.ts';

export interface SeriesFeedDependencies {
  liveBus: LiveBus;
  seriesStore: SeriesStore;
  /** Says how late an event may still come, so that each point says whether it is final. */
  queries: Pick<QueryService, 'finality'>;
  /** A live series reads and answers no more than the series query may. */
  queryLimits: Pick<QueryLimits, 'maxRowsRead' | 'maxSeriesGroups'>;
  /** Limit of one subscriber's queue, and of the changed buckets a feed holds before re-reading them. */
  maxPendingSeriesUpdates: number;
}

export interface LiveSeriesInput {
  type: string;
  value?: string | null;
  interval: Interval;
  groupBy?: string | null;
  dimensions?: Record<string, unknown> | null;
}

export interface SeriesUpdateView {
  group: string | null;
  point: PointView;
  watermark: number | null;
}

/** One series followed for every subscriber that asked for it. */
interface SeriesFeed {
  subscribers: Set<LiveQueue<SeriesUpdateView>>;
  /** True once the last subscriber left and the feed stopped listening. */
  closed: boolean;
  close(): Promise<void>;
}

const tooSlow = () => new StreamlensError('SUBSCRIBER_TOO_SLOW', 'this subscriber fell too far behind; subscribe again to continue');

/** A subscriber's queue fails with a GraphQL error carrying the same code and extensions. */
async function openFeed(dependencies: SeriesFeedDependencies, tenant: string, type: string, shape: SeriesShape): Promise<SeriesFeed> {
  const opening = await dependencies.queries.finality();
  const allowedLatenessMs = opening.allowedLatenessMs;
  const { maxRowsRead, maxSeriesGroups } = dependencies.queryLimits;
  /** Changed buckets not yet re-read: start → affected groups. */
  const dirty = new Map<number, Set<string | null>>();
  /** From the store at opening, then the highest a message carried: it never goes back. */
  let watermark: number | null = opening.watermark;
  let refreshing = false;
  const subscribers = new Set<LiveQueue<SeriesUpdateView>>();
  const failAll = (error: Error) => {
    for (const queue of subscribers) queue.fail(error);
  };

  async function refresh(): Promise<void> {
    if (refreshing) return;
    refreshing = true;
    try {
      while (dirty.size > 0 && subscribers.size > 0) {
        const [start, groups] = dirty.entries().next().value!;
        dirty.delete(start);
        // Just this bucket: every row whose bucket starts exactly at `start`.
        const rows = await dependencies.seriesStore.readRollups({
          tenant,
          type,
          interval: shape.interval,
          from: start,
          to: start + 1,
          valueKey: shape.value ?? null,
          maxRows: maxRowsRead,
        });
        if (rows.length > maxRowsRead) {
          failAll(queryTooLarge('rows', maxRowsRead, null, 'one bucket of this live series reads rollup rows'));
          dirty.clear();
          return;
        }
        const byGroup = aggregateByGroup(rows, shape);
        for (const group of groups) {
          const aggregate = byGroup.get(group)?.get(start);
          if (!aggregate) continue;
          const update: SeriesUpdateView = { group, point: toPoint(start, aggregate, shape, { watermark, allowedLatenessMs }), watermark };
          // A subscriber whose queue overflows fails and leaves; the others are not held up.
          for (const queue of subscribers) queue.push(update, `${group}\u0000${start}`);
        }
      }
    } catch (error) {
      failAll(unavailable('live series updates are unavailable; subscribe again to continue', error));
    } finally {
      refreshing = false;
    }
  }

  const unsubscribe = await dependencies.liveBus.subscribe(liveTopics.series(tenant, shape.interval, type), (text) => {
    const message = decodeSeriesMessage(text);
    if (message.watermark !== null && (watermark === null || message.watermark > watermark)) watermark = message.watermark;
    for (const bucket of message.buckets) {
      if (!matchesDimensions(bucket.dimensions, shape.dimensions)) continue;
      const group = shape.groupBy ? (dimensionOf(bucket.dimensions, shape.groupBy) ?? null) : null;
      let groups = dirty.get(bucket.start);
      if (!groups) {
        // The store reads cannot keep up with the changes: every subscriber is equally behind.
        if (dirty.size >= dependencies.maxPendingSeriesUpdates) {
          failAll(tooSlow());
          dirty.clear();
          return;
        }
        dirty.set(bucket.start, (groups = new Set()));
      }
      groups.add(group);
      // One bucket changing for more groups than a series answer may hold: the subscription is
      // as much too large as the query would be, and says so instead of flooding its queue.
      if (groups.size > maxSeriesGroups) {
        failAll(
          queryTooLarge('groups', maxSeriesGroups, null, `one bucket of this live series changed for too many ${shape.groupBy} groups`),
        );
        dirty.clear();
        return;
      }
    }
    void refresh();
  });

  const feed: SeriesFeed = {
    subscribers,
    closed: false,
    async close() {
      feed.closed = true;
      await unsubscribe();
    },
  };
  return feed;
}

/** The series feeds of this instance, shared by identical series subscriptions. */
export interface SeriesFeeds {
  /** Opens a series subscription in the slot reserved for it, on the feed of its series. */
  subscribe(slot: SubscriptionSlot, tenant: string, input: LiveSeriesInput): Promise<AsyncIterable<SeriesUpdateView>>;
}

export function createSeriesFeeds(dependencies: SeriesFeedDependencies): SeriesFeeds {
  /** The open (or opening) feeds, by what they follow. */
  const feeds = new Map<string, Promise<SeriesFeed>>();

  async function subscribe(slot: SubscriptionSlot, tenant: string, input: LiveSeriesInput): Promise<AsyncIterable<SeriesUpdateView>> {
    // The same name rules as the series query: a name that cannot exist is refused, not watched forever.
    validateTypeName(input.type, 'query.type');
    const shape: SeriesShape = {
      value: validateKeyName(input.value ?? null, 'query.value'),
      interval: input.interval,
      groupBy: validateKeyName(input.groupBy ?? null, 'query.groupBy'),
      dimensions: validateDimensionFilter(input.dimensions, 'query.dimensions'),
    };
    const sortedFilter = shape.dimensions
      ? Object.keys(shape.dimensions)
          .sort()
          .map((k) => [k, String(shape.dimensions![k])])
      : null;
    const key = JSON.stringify([tenant, input.type, shape.interval, shape.value, shape.groupBy, sortedFilter]);

    let feed: SeriesFeed | null = null;
    const queue: LiveQueue<SeriesUpdateView> = slot.openQueue<SeriesUpdateView>({
      limit: dependencies.maxPendingSeriesUpdates,
      overflowError: tooSlow,
      onClose: async () => {
        if (!feed) return;
        feed.subscribers.delete(queue);
        if (feed.subscribers.size === 0 && !feed.closed) {
          feeds.delete(key);
          await feed.close();
        }
      },
    });

    // A feed whose last subscriber just left is closed: open a new one.
    for (;;) {
      let opening = feeds.get(key);
      if (!opening) {
        opening = openFeed(dependencies, tenant, input.type, shape);
        feeds.set(key, opening);
        const mine = opening;
        mine.catch(() => {
          if (feeds.get(key) === mine) feeds.delete(key);
        });
      }
      const opened = await opening;
      if (!opened.closed) {
        feed = opened;
        break;
      }
    }
    feed.subscribers.add(queue);
    return queue;
  }

  return { subscribe };
}
