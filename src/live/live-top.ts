/**
 * The live `top` subscription: the values of a dimension ranked over a sliding window of MINUTE
 * buckets ("15m", "24h"), pushed at once and then whenever the ranking or a value changes, at most
 * once per second per subscriber.
 *
 * Subscriptions asking for the same list (tenant, slice, type, by, value, distinct, rankBy,
 * limit, filter, window) on this instance share one feed. A feed reads the stored buckets that
 * the `top` query reads for its window (top-window.ts: whole UTC days and hours as DAY and HOUR
 * rows, the edges as MINUTE rows), keeps in memory each bucket's aggregates per ranked value
 * and the rows they come from, and ranks them with the query's own functions, merge for merge,
 * so each update is exactly the `top` query's answer over the update's [from, to). Nothing is
 * read per update:
 * - the feed follows the topic of each interval its window can hold (MINUTE; HOUR from an hour
 *   on; DAY from a day on), whose messages carry the changed rows (live-messages.ts): a row
 *   replaces the held row of its (partition, dimensions) when its appliedOffset is higher, as in
 *   the store, and the bucket's aggregates are made again from its rows. A bucket named without
 *   its rows (a doorbell) is read again; rows that come while a bucket is read are merged into
 *   what the read returns;
 * - at each minute boundary the window moves: buckets that left it are dropped, and only those
 *   that entered it (the new minute, or an hour's MINUTE rows when the hour starts to leave) are read;
 * - when the bus may have lost messages (onPossibleLoss), the whole window is read again.
 * A feed's window may hold at most MAX_ROWS_READ rows, the `top` query's budget: a window holding
 * more fails with QUERY_TOO_LARGE, as the query would.
 */
import { dimensionOf, dimensionsKey } from '../domain/event.ts';
import { conditionsKey, matchesConditions } from '../domain/dimension-conditions.ts';
import { matchesDimensions } from '../domain/event.ts';
import { aggregateFromEncoded, type Aggregate } from '../domain/rollup.ts';
import { decodeSeriesMessage, type CarriedRollupRow } from '../domain/live-messages.ts';
import type { BucketBlock, Interval } from '../domain/interval.ts';
import { liveTopics, type LiveBus } from '../ports/live-bus.ts';
import type { RollupRow, SeriesStore } from '../ports/series-store.ts';
import { validateTopShape, type QueryService } from '../query/query-service.ts';
import type { DimensionConditionInput } from '../query/event-filter.ts';
import type { TopEntryView, TopRanking, TopShape } from '../query/series-view.ts';
import type { GroupId } from '../query/grouping.ts';
import { queryTooLarge, type QueryLimits } from '../query/query-limits.ts';
import { StreamlensError, unavailable } from '../errors.ts';
import { sliceKey } from '../auth/data-slice.ts';
import type { TenantAccess } from '../auth/tenant-access.ts';
import type { LiveQueue } from './live-queue.ts';
import type { SubscriptionSlot } from './subscription-registry.ts';
import { rollupRowOfCarried } from './carried-rows.ts';
import { createSharedFeeds, type SharedFeed } from './shared-feeds.ts';
import {
  bucketAggregates,
  coverOf,
  parseTopWindow,
  rankBuckets,
  readsFor,
  storedBucketKey,
  windowAt,
  type StoredBucket,
  type WindowCover,
} from './top-window.ts';

export interface TopFeedDependencies {
  liveBus: LiveBus;
  seriesStore: SeriesStore;
  /** The watermark a feed starts from (the series query's, read from the store). */
  queries: Pick<QueryService, 'finality'>;
  /** A feed holds no more rows than the `top` query may read. */
  queryLimits: Pick<QueryLimits, 'maxRowsRead'>;
}

export interface LiveTopInput {
  type: string;
  by: string;
  value?: string | null;
  distinct?: string | null;
  rankBy?: TopRanking | null;
  dimensions?: Record<string, unknown> | null;
  where?: readonly DimensionConditionInput[] | null;
  limit?: number | null;
  /** "15m", "24h": see parseTopWindow. */
  window: string;
}

export interface TopUpdateView {
  entries: TopEntryView[];
  /** The window's MINUTE-aligned bounds: the `top` query over [from, to) answers `entries`. */
  from: number;
  to: number;
  watermark: number | null;
}

/**
 * The least time between two updates of one subscriber (the contract's "at most one per second
 * per subscription"); changes in between conflate, and the latest is sent when the second is up.
 */
export const MIN_UPDATE_SPACING_MS = 1_000;
/**
 * A subscriber's queue holds one update: every push replaces the pending one (the same
 * conflation key), since only the latest ranking matters. So a top subscriber is never too slow.
 */
const PENDING_TOP_UPDATES = 1;
const TOP_CONFLATION_KEY = 'top';
/** Store reads of one refresh at once: enough to read a window's few runs together, few enough for a shared store. */
const CONCURRENT_READS = 8;

/** One subscriber of a feed: its queue, and when it was last sent what. */
interface TopSubscriber {
  queue: LiveQueue<TopUpdateView>;
  /** performance.now() of the last push; null before the first. */
  lastPushAt: number | null;
  /** The feed's answer version last pushed (0: none). */
  sentVersion: number;
  /** Set while an update waits for the subscriber's second to be up. */
  timer: NodeJS.Timeout | null;
}

/**
 * A stored bucket held in memory: the rows of the list (those with `by` that the filter keeps),
 * by (partition, dimensions), to merge carried rows into; the keys of its other rows, which the
 * rows bound counts as the query would; and the rows' aggregates per value of `by` (what a
 * ranking adds up), made again when a row changes.
 */
interface HeldBucket {
  rows: Map<string, RollupRow>;
  otherRows: Set<string>;
  byValue: Map<GroupId, Aggregate>;
}

const heldRowKey = (row: Pick<RollupRow, 'partition' | 'dimensions'>) => `${row.partition}\u0000${dimensionsKey(row.dimensions)}`;
const rowCountOf = (bucket: HeldBucket) => bucket.rows.size + bucket.otherRows.size;

/** The stored intervals a window of this many minutes can hold (coarsestCover): the topics its feed follows. */
function topicIntervalsOf(windowMinutes: number): Interval[] {
  const intervals: Interval[] = ['MINUTE'];
  if (windowMinutes >= 60) intervals.push('HOUR');
  if (windowMinutes >= 24 * 60) intervals.push('DAY');
  return intervals;
}

/** One top list followed for every subscriber that asked for it (shared-feeds.ts: closed with its last subscriber). */
interface TopFeed extends SharedFeed {
  /** Adds a subscriber, who gets the current answer at once when there is one. */
  add(queue: LiveQueue<TopUpdateView>): void;
  /** Removes a subscriber. */
  remove(queue: LiveQueue<TopUpdateView>): void;
}

interface TopFeedSpec {
  tenant: string;
  type: string;
  shape: TopShape;
  windowMinutes: number;
}

/**
 * Opens a feed: subscribes to the bus first, then reads the whole window, so that a change stored
 * while it reads is either in what it reads or re-read when its message arrives. Resolves once
 * the window is read and ranked; rejects (QUERY_TOO_LARGE, UNAVAILABLE) when it cannot be.
 */
async function openFeed(dependencies: TopFeedDependencies, spec: TopFeedSpec): Promise<TopFeed> {
  const { tenant, type, shape, windowMinutes } = spec;
  const { maxRowsRead } = dependencies.queryLimits;
  let cover: WindowCover = coverOf(windowAt(Date.now(), windowMinutes));
  const held = new Map<string, HeldBucket>();
  let rowsHeld = 0;
  /** Rows carried for a bucket of the cover not held yet (being read), merged into what its read returns. */
  const arriving = new Map<string, Map<string, RollupRow>>();
  /** Whether a row counts in the list: it has `by`, and the filter keeps it. */
  const inList = (dimensions: Record<string, string>) =>
    dimensionOf(dimensions, shape.by) !== undefined &&
    matchesDimensions(dimensions, shape.dimensions) &&
    matchesConditions(dimensions, shape.where);
  /** Buckets of the cover to read (again): their rows changed, or they just entered the window. */
  const dirty = new Set<string>(cover.keys);
  const subscribers = new Map<LiveQueue<TopUpdateView>, TopSubscriber>();
  let watermark: number | null = (await dependencies.queries.finality()).watermark;
  /** The latest answer, and its version (raised only when the entries change). */
  let latest: TopUpdateView | null = null;
  let latestEntriesText: string | null = null;
  let version = 0;
  let refreshing = false;
  let failure: Error | null = null;
  let closed = false;
  let computeTimer: NodeJS.Timeout | null = null;
  let lastComputeAt = Number.NEGATIVE_INFINITY;
  let slideTimer: NodeJS.Timeout | null = null;
  let unsubscribe: (() => Promise<void>) | null = null;

  async function stop(): Promise<void> {
    if (closed) return;
    closed = true;
    if (computeTimer) clearTimeout(computeTimer);
    if (slideTimer) clearTimeout(slideTimer);
    for (const subscriber of subscribers.values()) if (subscriber.timer) clearTimeout(subscriber.timer);
    held.clear();
    arriving.clear();
    await unsubscribe?.();
  }

  /** Ends every subscription with `error`; a feed that has failed takes no new subscriber. */
  function fail(error: Error): void {
    if (closed) return;
    failure = error;
    const queues = [...subscribers.keys()];
    void stop();
    for (const queue of queues) queue.fail(error);
  }

  /** Sends the latest answer to a subscriber now, or when its second is up. */
  function deliver(subscriber: TopSubscriber): void {
    if (closed || !latest || subscriber.sentVersion === version || subscriber.timer) return;
    const now = performance.now();
    const wait = subscriber.lastPushAt === null ? 0 : subscriber.lastPushAt + MIN_UPDATE_SPACING_MS - now;
    if (wait > 0) {
      subscriber.timer = setTimeout(() => {
        subscriber.timer = null;
        deliver(subscriber);
      }, wait);
      return;
    }
    subscriber.lastPushAt = now;
    subscriber.sentVersion = version;
    subscriber.queue.push(latest, TOP_CONFLATION_KEY);
  }

  /**
   * Ranks the held buckets, when every bucket of the window is held: each value's total adds its
   * buckets in order of start, as buildTop does with the query's rows. Pushes when the entries
   * changed (and to subscribers that have nothing yet).
   */
  function compute(): void {
    computeTimer = null;
    if (closed) return;
    const buckets: Map<GroupId, Aggregate>[] = [];
    for (const bucket of cover.buckets) {
      const found = held.get(storedBucketKey(bucket));
      // A bucket that entered the window is still being read: ranked once it is here.
      if (!found) return;
      buckets.push(found.byValue);
    }
    lastComputeAt = performance.now();
    const entries = rankBuckets(buckets, shape);
    const entriesText = JSON.stringify(entries);
    // The same entries over a moved window: newcomers get the current bounds, the others nothing.
    if (entriesText !== latestEntriesText) version += 1;
    latestEntriesText = entriesText;
    latest = { entries, from: cover.window.from, to: cover.window.to, watermark };
    for (const subscriber of subscribers.values()) deliver(subscriber);
  }

  /** Ranks again within a second of the last ranking: changes in between are ranked together. */
  function scheduleCompute(): void {
    if (closed || computeTimer) return;
    const wait = Math.max(0, lastComputeAt + MIN_UPDATE_SPACING_MS - performance.now());
    computeTimer = setTimeout(compute, wait);
  }

  async function readBucketRows(read: BucketBlock): Promise<RollupRow[]> {
    return dependencies.seriesStore.readRollups({ tenant, type, ...read, valueKey: shape.value ?? null, maxRows: maxRowsRead });
  }

  /** Reads every dirty bucket still in the window, until none is left. */
  async function refresh(): Promise<void> {
    if (refreshing || closed) return;
    refreshing = true;
    try {
      while (dirty.size > 0 && !closed) {
        const wanted: StoredBucket[] = cover.buckets.filter((bucket) => dirty.has(storedBucketKey(bucket)));
        dirty.clear();
        const reads = readsFor(wanted);
        const results: RollupRow[][] = new Array(reads.length);
        let next = 0;
        const worker = async () => {
          for (let index = next++; index < reads.length; index = next++) results[index] = await readBucketRows(reads[index]!);
        };
        await Promise.all(Array.from({ length: Math.min(CONCURRENT_READS, reads.length) }, worker));
        if (closed) return;
        const rowsByBucket = new Map<string, RollupRow[]>();
        reads.forEach((read, index) => {
          for (const row of results[index]!) {
            const key = storedBucketKey({ interval: read.interval, start: row.bucketStart });
            const rows = rowsByBucket.get(key);
            if (rows) rows.push(row);
            else rowsByBucket.set(key, [row]);
          }
        });
        for (const stored of wanted) {
          const key = storedBucketKey(stored);
          // The window moved on while the bucket was read: it is not needed any more.
          if (!cover.keys.has(key)) continue;
          const bucket: HeldBucket = { rows: new Map(), otherRows: new Set(), byValue: new Map() };
          for (const row of rowsByBucket.get(key) ?? []) {
            if (inList(row.dimensions)) mergeRow(bucket, row);
            else bucket.otherRows.add(heldRowKey(row));
          }
          // Rows a message brought while it was read: in the read or not, the higher offset wins.
          const before = held.get(key);
          for (const row of before?.rows.values() ?? []) mergeRow(bucket, row);
          for (const key of before?.otherRows ?? []) bucket.otherRows.add(key);
          for (const row of arriving.get(key)?.values() ?? []) mergeRow(bucket, row);
          arriving.delete(key);
          bucket.byValue = bucketAggregates([...bucket.rows.values()], shape);
          rowsHeld += rowCountOf(bucket) - (before ? rowCountOf(before) : 0);
          held.set(key, bucket);
        }
        if (rowsHeld > maxRowsRead) {
          fail(queryTooLarge('rows', maxRowsRead, null, "this live top list's window reads rollup rows"));
          return;
        }
      }
    } catch (error) {
      fail(unavailable('live top updates are unavailable; subscribe again to continue', error));
      return;
    } finally {
      refreshing = false;
    }
    // Work that came in during the last read.
    if (dirty.size > 0) void refresh();
    else scheduleCompute();
  }

  /** At each minute boundary: the window moves on, dropping what left it and reading what entered. */
  function scheduleSlide(): void {
    slideTimer = setTimeout(slide, Math.max(0, cover.window.to - Date.now()));
    // A window's timer never keeps the process alive by itself.
    slideTimer.unref();
  }

  function slide(): void {
    if (closed) return;
    const window = windowAt(Date.now(), windowMinutes);
    if (window.to !== cover.window.to) {
      cover = coverOf(window);
      for (const [key, bucket] of held) {
        if (cover.keys.has(key)) continue;
        rowsHeld -= rowCountOf(bucket);
        held.delete(key);
      }
      for (const key of [...arriving.keys()]) if (!cover.keys.has(key)) arriving.delete(key);
      for (const key of [...dirty]) if (!cover.keys.has(key)) dirty.delete(key);
      for (const key of cover.keys) if (!held.has(key)) dirty.add(key);
      // A progress read a minute per feed: the watermark shown moves on when nothing is published.
      dependencies.queries.finality().then(
        (finality) => {
          if (finality.watermark !== null && (watermark === null || finality.watermark > watermark)) watermark = finality.watermark;
        },
        () => {},
      );
      void refresh();
    }
    scheduleSlide();
  }

  /** Merges a row into a held bucket as the store keeps rows: the higher appliedOffset wins. True when it changed. */
  function mergeRow(bucket: HeldBucket, row: RollupRow): boolean {
    const key = heldRowKey(row);
    const current = bucket.rows.get(key);
    if (current && current.appliedOffset >= row.appliedOffset) return false;
    bucket.rows.set(key, row);
    return true;
  }

  /** A carried row as a held row of its stored bucket (its aggregate decoded for the list's value only). */
  /** A message of one interval's topic: its carried rows merge into the held buckets, its doorbells are read. */
  function onMessage(interval: Interval, text: string): void {
    if (closed) return;
    const message = decodeSeriesMessage(text);
    const asRow = (carried: CarriedRollupRow) =>
      rollupRowOfCarried(carried, { tenant, type, interval, start: carried.start }, shape.value ?? null);
    if (message.watermark !== null && (watermark === null || message.watermark > watermark)) watermark = message.watermark;
    for (const bucket of message.buckets) {
      const key = storedBucketKey({ interval, start: bucket.start });
      // Events without `by` are not ranked, and those the filter drops are not counted.
      if (cover.keys.has(key) && inList(bucket.dimensions)) dirty.add(key);
    }
    const changed = new Set<string>();
    for (const carried of message.rows ?? []) {
      const key = storedBucketKey({ interval, start: carried.start });
      if (!cover.keys.has(key)) continue;
      const bucket = held.get(key);
      if (!inList(carried.dimensions)) {
        // Not in the list, but counted by the rows bound as the query would count it.
        if (bucket && !bucket.otherRows.has(heldRowKey(carried))) {
          bucket.otherRows.add(heldRowKey(carried));
          rowsHeld += 1;
        }
        continue;
      }
      if (!bucket) {
        // Being read: kept for the read's result (a bucket of the cover is held, or dirty, or being read).
        let rows = arriving.get(key);
        if (!rows) arriving.set(key, (rows = new Map()));
        const current = rows.get(heldRowKey(carried));
        if (!current || current.appliedOffset < carried.appliedOffset) rows.set(heldRowKey(carried), asRow(carried));
        continue;
      }
      const rowsBefore = rowCountOf(bucket);
      const current = bucket.rows.get(heldRowKey(carried));
      if (current && current.appliedOffset >= carried.appliedOffset) continue;
      mergeRow(bucket, asRow(carried));
      rowsHeld += rowCountOf(bucket) - rowsBefore;
      changed.add(key);
    }
    for (const key of changed) {
      const bucket = held.get(key)!;
      bucket.byValue = bucketAggregates([...bucket.rows.values()], shape);
    }
    if (rowsHeld > maxRowsRead) {
      fail(queryTooLarge('rows', maxRowsRead, null, "this live top list's window reads rollup rows"));
      return;
    }
    if (dirty.size > 0) void refresh();
    else if (changed.size > 0 && !refreshing) scheduleCompute();
  }

  const subscribed = await Promise.allSettled(
    topicIntervalsOf(windowMinutes).map((interval) =>
      dependencies.liveBus.subscribe(
        liveTopics.series(tenant, interval, type),
        (text) => onMessage(interval, text),
        () => {
          // The bus may have lost messages: read the whole window again.
          for (const key of cover.keys) dirty.add(key);
          void refresh();
        },
      ),
    ),
  );
  const unsubscribes = subscribed.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  unsubscribe = async () => {
    await Promise.all(unsubscribes.map((stop) => stop()));
  };
  const refused = subscribed.find((result) => result.status === 'rejected');
  if (refused) {
    // The topics it did subscribe to are let go with the feed.
    await stop();
    throw refused.reason;
  }
  scheduleSlide();
  await refresh();
  if (failure) throw failure;
  if (computeTimer) clearTimeout(computeTimer);
  // The first answer at once, not a second after the feed opened.
  lastComputeAt = Number.NEGATIVE_INFINITY;
  compute();

  return {
    get closed() {
      return closed;
    },
    add(queue) {
      const subscriber: TopSubscriber = { queue, lastPushAt: null, sentVersion: 0, timer: null };
      subscribers.set(queue, subscriber);
      deliver(subscriber);
    },
    remove(queue) {
      const subscriber = subscribers.get(queue);
      if (!subscriber) return;
      if (subscriber.timer) clearTimeout(subscriber.timer);
      subscribers.delete(queue);
    },
    inUse: () => subscribers.size > 0,
    close: stop,
  };
}

/** The top feeds of this instance, shared by identical top subscriptions. */
export interface TopFeeds {
  /** Opens a top subscription in the slot reserved for it, on the feed of its list. */
  subscribe(slot: SubscriptionSlot, access: TenantAccess, input: LiveTopInput): Promise<AsyncIterable<TopUpdateView>>;
}

export function createTopFeeds(dependencies: TopFeedDependencies): TopFeeds {
  /** The open (or opening) feeds, by what they follow. */
  const feeds = createSharedFeeds<TopFeed>();

  async function subscribe(slot: SubscriptionSlot, access: TenantAccess, input: LiveTopInput): Promise<AsyncIterable<TopUpdateView>> {
    // The `top` query's own checks (names, the slice's type and conditions, ranking, limit).
    const shape = validateTopShape(access, input);
    const windowMinutes = parseTopWindow(input.window);
    const sortedFilter = shape.dimensions
      ? Object.keys(shape.dimensions)
          .sort()
          .map((key) => [key, String(shape.dimensions![key])])
      : null;
    // "60m" and "1h" are one window; the slice is in `where` already, and in the key besides, so
    // no list ranked for one slice is ever sent to another, however their conditions are worded.
    const key = JSON.stringify([
      access.tenant,
      sliceKey(access.slice),
      input.type,
      shape.by,
      shape.value,
      shape.distinct,
      shape.rankBy,
      shape.limit,
      sortedFilter,
      conditionsKey(shape.where),
      windowMinutes,
    ]);

    let feed: TopFeed | null = null;
    const queue: LiveQueue<TopUpdateView> = slot.openQueue<TopUpdateView>({
      limit: PENDING_TOP_UPDATES,
      // Never raised: every push replaces the one pending update.
      overflowError: () => new StreamlensError('SUBSCRIBER_TOO_SLOW', 'this subscriber fell too far behind; subscribe again to continue'),
      onClose: async () => {
        if (!feed) return;
        feed.remove(queue);
        await feeds.release(feed);
      },
    });

    const spec: TopFeedSpec = { tenant: access.tenant, type: input.type, shape, windowMinutes };
    feed = await feeds.acquire(key, () => openFeed(dependencies, spec));
    feed.add(queue);
    return queue;
  }

  return { subscribe };
}
