/**
 * The series subscription. The bus says which buckets changed; a feed re-reads each changed
 * bucket from the series store and pushes the merged point of every affected group. Reading
 * the store (rather than applying deltas) makes every update a correct total, corrections of
 * earlier buckets included, and lets pending updates of one bucket conflate to the latest.
 *
 * Subscriptions asking for the same series (tenant, type, interval, value, grouping keys, filter) on
 * this instance share one feed: one bus subscription and one store read per changed bucket,
 * whatever the number of subscribers; each subscriber keeps its own bounded queue.
 *
 * A feed remembers the buckets it pushed that are not final yet. Finality comes from the query
 * service (`queries.finality()`, the same answer as the series query's `final`), read once per
 * FINALITY_CHECK_MS for every feed of the instance: a remembered bucket whose end plus the
 * allowed lateness the watermark has passed is read once more and pushed with `final: true`,
 * then forgotten. When the bus may have lost messages, a feed reads again every non-final
 * bucket that changed since it opened (rows whose applied offset is past the stored position
 * it opened at) and pushes their totals, so a lost message never leaves a point stale.
 */
import { matchesDimensions } from '../domain/event.ts';
import { conditionsKey, matchesConditions } from '../domain/dimension-conditions.ts';
import type { Aggregate } from '../domain/rollup.ts';
import { isStoredInterval, type QueryInterval } from '../domain/interval.ts';
import { liveTopics, type LiveBus } from '../ports/live-bus.ts';
import type { SeriesStore } from '../ports/series-store.ts';
import type { QueryService } from '../query/query-service.ts';
import {
  validateDimensionFilter,
  validateKeyName,
  validateTypeName,
  validateWhere,
  type DimensionConditionInput,
} from '../query/event-filter.ts';
import { aggregateByGroup, describeGroup, toPoint, type Finality, type PointView, type SeriesShape } from '../query/series-view.ts';
import { groupIdOf, groupingKeys, validateGrouping, type GroupId } from '../query/grouping.ts';
import { INTERVAL_MS } from '../domain/interval.ts';
import type { RollupRow } from '../ports/series-store.ts';
import { decodeSeriesMessage } from '../domain/live-messages.ts';
import { queryTooLarge, type QueryLimits } from '../query/query-limits.ts';
import { badInput, StreamlensError, unavailable } from '../errors.ts';
import type { LiveQueue } from './live-queue.ts';
import type { SubscriptionSlot } from './subscription-registry.ts';
import { narrowWhere, requireTypeInSlice, type TenantAccess } from '../auth/tenant-access.ts';

export interface SeriesFeedDependencies {
  liveBus: LiveBus;
  seriesStore: SeriesStore;
  /** Says how late an event may still come, so that each point says whether it is final. */
  queries: Pick<QueryService, 'finality'>;
  /** A live series reads and answers no more than the series query may. */
  queryLimits: Pick<QueryLimits, 'maxRowsRead' | 'maxSeriesGroups'>;
  /** Limit of one subscriber's queue, and of the changed buckets a feed holds before re-reading them. */
  maxPendingSeriesUpdates: number;
  /** FUTURE_TOLERANCE: no counted event lies further ahead of now, which bounds a re-read after a loss. */
  futureToleranceMs?: number;
}

export interface LiveSeriesInput {
  type: string;
  value?: string | null;
  /** A stored interval: the others are refused (see subscribe). */
  interval: QueryInterval;
  groupBy?: string | null;
  groupByDimensions?: readonly string[] | null;
  dimensions?: Record<string, unknown> | null;
  where?: readonly DimensionConditionInput[] | null;
}

export interface SeriesUpdateView {
  /** As Series.group: the group's values joined by ", ". */
  group: string | null;
  /** As Series.groupKey: each grouping key with its value, null where absent; `{}` ungrouped. */
  groupKey: Record<string, string | null>;
  point: PointView;
  watermark: number | null;
}

/** One series followed for every subscriber that asked for it. */
interface SeriesFeed {
  subscribers: Set<LiveQueue<SeriesUpdateView>>;
  /** True once the last subscriber left and the feed stopped listening. */
  closed: boolean;
  /** The query service's finality, read again: pushes the buckets it made final with `final: true`. */
  onFinality(finality: Finality): void;
  close(): Promise<void>;
}

/** How often finality is read for the feeds of an instance: one progress read, shared by every feed. */
const FINALITY_CHECK_MS = 2_000;
/**
 * Buckets a feed remembers for their `final: true` push. A SECOND feed open for a day with 24 h
 * lateness would otherwise remember 86,400 of them (times its groups) and walk them all every
 * check; past this, the bucket remembered first (in practice the oldest) is forgotten, and gets
 * no final push. About two hours of SECOND buckets, a week of MINUTE ones.
 */
const MAX_BUCKETS_AWAITING_FINAL = 8_192;
/** Without FUTURE_TOLERANCE: ingest refuses timestamps more than a year ahead, so no bucket starts later. */
const LATEST_BUCKET_AHEAD_MS = 366 * 86_400_000;

const tooSlow = () => new StreamlensError('SUBSCRIBER_TOO_SLOW', 'this subscriber fell too far behind; subscribe again to continue');

/** A subscriber's queue fails with a GraphQL error carrying the same code and extensions. */
async function openFeed(dependencies: SeriesFeedDependencies, tenant: string, type: string, shape: SeriesShape): Promise<SeriesFeed> {
  const [initialFinality, progressAtOpen] = await Promise.all([dependencies.queries.finality(), dependencies.seriesStore.loadProgress()]);
  let finality: Finality = initialFinality;
  /**
   * No bucket changed since the feed opened starts before this: an event later than the watermark
   * at open minus the allowed lateness is quarantined, not counted.
   */
  const earliestChangeable =
    initialFinality.watermark === null ? 0 : initialFinality.watermark - initialFinality.allowedLatenessMs - INTERVAL_MS[shape.interval];
  /** Per partition, what was stored when the feed opened: a row applied past it changed since. */
  const storedAtOpen = new Map([...progressAtOpen].map(([partition, p]) => [partition, p.storedThrough]));
  const { maxRowsRead, maxSeriesGroups } = dependencies.queryLimits;
  const intervalMs = INTERVAL_MS[shape.interval];
  const groupKeys = groupingKeys(shape);
  /** Changed buckets not yet re-read: start → affected groups. */
  const dirty = new Map<number, Set<GroupId>>();
  /** Buckets pushed and not final yet: start → groups pushed. Each is pushed once more when final. */
  const notFinal = new Map<number, Set<GroupId>>();
  /** The bus may have lost messages: read every non-final bucket changed since the feed opened. */
  let rereadChanged = false;
  /** From the store at opening, then the highest a message or a finality check carried: it never goes back. */
  let watermark: number | null = initialFinality.watermark;
  let refreshing = false;
  const subscribers = new Set<LiveQueue<SeriesUpdateView>>();
  const failAll = (error: Error) => {
    for (const queue of subscribers) queue.fail(error);
  };

  /** Pushes the groups' points of one bucket, and remembers the bucket until it is final. */
  function pushBucket(start: number, groups: Iterable<GroupId>, byGroup: Map<GroupId, Map<number, Aggregate>>): void {
    for (const group of groups) {
      const aggregate = byGroup.get(group)?.get(start);
      if (!aggregate) continue;
      const point = toPoint(start, aggregate, shape, finality);
      const update: SeriesUpdateView = { ...describeGroup(group, groupKeys), point, watermark };
      // A subscriber whose queue overflows fails and leaves; the others are not held up.
      for (const queue of subscribers) queue.push(update, `${group}\u0000${start}`);
      let pending = notFinal.get(start);
      if (point.final) {
        pending?.delete(group);
        if (pending?.size === 0) notFinal.delete(start);
      } else {
        if (!pending) {
          notFinal.set(start, (pending = new Set()));
          if (notFinal.size > MAX_BUCKETS_AWAITING_FINAL) notFinal.delete(notFinal.keys().next().value!);
        }
        pending.add(group);
      }
    }
  }

  /** Reads the rows of [from, to); null (and every subscriber failed) past the rows limit. */
  async function readRows(from: number, to: number): Promise<RollupRow[] | null> {
    const rows = await dependencies.seriesStore.readRollups({
      tenant,
      type,
      interval: shape.interval,
      from,
      to,
      valueKey: shape.value ?? null,
      maxRows: maxRowsRead,
    });
    if (rows.length > maxRowsRead) {
      failAll(queryTooLarge('rows', maxRowsRead, null, 'one bucket of this live series reads rollup rows'));
      dirty.clear();
      return null;
    }
    return rows;
  }

  /** After a possible loss: every non-final bucket with a row changed since the feed opened. */
  async function rereadChangedBuckets(): Promise<boolean> {
    const earliestNotFinal = finality.watermark === null ? 0 : finality.watermark - finality.allowedLatenessMs - intervalMs;
    const latest = Date.now() + (dependencies.futureToleranceMs ?? LATEST_BUCKET_AHEAD_MS) + intervalMs;
    const rows = await readRows(Math.max(earliestNotFinal, earliestChangeable, 0), latest);
    if (!rows) return false;
    const changedStarts = new Set<number>();
    for (const row of rows) if (row.appliedOffset > (storedAtOpen.get(row.partition) ?? -1)) changedStarts.add(row.bucketStart);
    const byGroup = aggregateByGroup(
      rows.filter((row) => changedStarts.has(row.bucketStart)),
      shape,
    );
    for (const start of changedStarts) {
      const groups = [...byGroup.keys()].filter((group) => byGroup.get(group)!.has(start));
      pushBucket(start, groups, byGroup);
    }
    return true;
  }

  async function refresh(): Promise<void> {
    if (refreshing) return;
    refreshing = true;
    try {
      if (rereadChanged && subscribers.size > 0) {
        rereadChanged = false;
        if (!(await rereadChangedBuckets())) return;
      }
      while (dirty.size > 0 && subscribers.size > 0) {
        const [start, groups] = dirty.entries().next().value!;
        dirty.delete(start);
        // Just this bucket: every row whose bucket starts exactly at `start`.
        const rows = await readRows(start, start + 1);
        if (!rows) return;
        pushBucket(start, groups, aggregateByGroup(rows, shape));
      }
    } catch (error) {
      failAll(unavailable('live series updates are unavailable; subscribe again to continue', error));
    } finally {
      refreshing = false;
    }
    // Work that came in during the last read.
    if ((rereadChanged || dirty.size > 0) && subscribers.size > 0) void refresh();
  }

  /** Marks a bucket's group as changed; false (and every subscriber failed) past a limit. */
  function markDirty(start: number, group: GroupId): boolean {
    let groups = dirty.get(start);
    if (!groups) {
      // The store reads cannot keep up with the changes: every subscriber is equally behind.
      if (dirty.size >= dependencies.maxPendingSeriesUpdates) {
        failAll(tooSlow());
        dirty.clear();
        return false;
      }
      dirty.set(start, (groups = new Set()));
    }
    groups.add(group);
    // One bucket changing for more groups than a series answer may hold: the subscription is
    // as much too large as the query would be, and says so instead of flooding its queue.
    if (groups.size > maxSeriesGroups) {
      failAll(
        queryTooLarge(
          'groups',
          maxSeriesGroups,
          null,
          `one bucket of this live series changed for too many ${groupKeys.join(', ')} groups`,
        ),
      );
      dirty.clear();
      return false;
    }
    return true;
  }

  const unsubscribe = await dependencies.liveBus.subscribe(
    liveTopics.series(tenant, shape.interval, type),
    (text) => {
      const message = decodeSeriesMessage(text);
      if (message.watermark !== null && (watermark === null || message.watermark > watermark)) watermark = message.watermark;
      for (const bucket of message.buckets) {
        if (!matchesDimensions(bucket.dimensions, shape.dimensions) || !matchesConditions(bucket.dimensions, shape.where)) continue;
        if (!markDirty(bucket.start, groupIdOf(bucket.dimensions, groupKeys))) return;
      }
      void refresh();
    },
    () => {
      rereadChanged = true;
      void refresh();
    },
  );

  const feed: SeriesFeed = {
    subscribers,
    closed: false,
    onFinality(next) {
      finality = next;
      if (next.watermark === null) return;
      // A heartbeat of an idle partition raises the watermark without any message: shown here.
      if (watermark === null || next.watermark > watermark) watermark = next.watermark;
      for (const [start, groups] of notFinal) {
        if (start + intervalMs + next.allowedLatenessMs > next.watermark) continue;
        for (const group of groups) if (!markDirty(start, group)) return;
      }
      if (dirty.size > 0) void refresh();
    },
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
  subscribe(slot: SubscriptionSlot, access: TenantAccess, input: LiveSeriesInput): Promise<AsyncIterable<SeriesUpdateView>>;
  /** Stops reading finality (the feeds themselves close with their last subscriber). */
  close(): void;
}

export function createSeriesFeeds(dependencies: SeriesFeedDependencies): SeriesFeeds {
  /** The open (or opening) feeds, by what they follow. */
  const feeds = new Map<string, Promise<SeriesFeed>>();
  /** The opened feeds, for the finality check. */
  const opened = new Set<SeriesFeed>();
  let checking = false;
  const finalityTimer = setInterval(() => {
    if (opened.size === 0 || checking) return;
    checking = true;
    dependencies.queries
      .finality()
      .then(
        (finality) => {
          for (const feed of opened) if (!feed.closed) feed.onFinality(finality);
        },
        // Finality is read again at the next check; until then points just stay not final.
        () => {},
      )
      .finally(() => {
        checking = false;
      });
  }, FINALITY_CHECK_MS);
  finalityTimer.unref();

  async function subscribe(slot: SubscriptionSlot, access: TenantAccess, input: LiveSeriesInput): Promise<AsyncIterable<SeriesUpdateView>> {
    const { tenant } = access;
    // The same name rules as the series query: a name that cannot exist is refused, not watched forever.
    validateTypeName(input.type, 'query.type');
    requireTypeInSlice(access, input.type, 'query.type');
    // A live feed re-reads each changed stored bucket; an interval merged from several of them
    // (FIVE_MINUTES … MONTH) would need every stored bucket of the point re-read and merged
    // for each change. Refused clearly rather than answered with stored buckets.
    const interval = input.interval;
    if (!isStoredInterval(interval)) {
      throw badInput(
        `query.interval: the live series subscription follows SECOND, MINUTE, HOUR or DAY buckets; ${interval} is served by the series query only`,
      );
    }
    // groupBy: "country" and groupByDimensions: ["country"] answer alike, so they share a feed.
    const shape: SeriesShape = {
      value: validateKeyName(input.value ?? null, 'query.value'),
      interval,
      groupByDimensions: validateGrouping(input, 'query'),
      dimensions: validateDimensionFilter(input.dimensions, 'query.dimensions'),
      // ANDed with the caller's slice: the feed's key below holds the slice's conditions too.
      where: narrowWhere(access, validateWhere(input.where, 'query.where')),
    };
    const sortedFilter = shape.dimensions
      ? Object.keys(shape.dimensions)
          .sort()
          .map((k) => [k, String(shape.dimensions![k])])
      : null;
    const key = JSON.stringify([
      tenant,
      input.type,
      shape.interval,
      shape.value,
      shape.groupByDimensions,
      sortedFilter,
      conditionsKey(shape.where),
    ]);

    let feed: SeriesFeed | null = null;
    const queue: LiveQueue<SeriesUpdateView> = slot.openQueue<SeriesUpdateView>({
      limit: dependencies.maxPendingSeriesUpdates,
      overflowError: tooSlow,
      onClose: async () => {
        if (!feed) return;
        feed.subscribers.delete(queue);
        if (feed.subscribers.size === 0 && !feed.closed) {
          feeds.delete(key);
          opened.delete(feed);
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
    opened.add(feed);
    return queue;
  }

  return {
    subscribe,
    close() {
      clearInterval(finalityTimer);
    },
  };
}
