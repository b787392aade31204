/**
 * The series subscription. The bus carries the rollup rows a batch changed (live-messages.ts);
 * a feed keeps the rows of the buckets it updates (`held`) and merges each carried row in memory:
 * a row replaces the held row of its (stored bucket, partition, dimensions) when its
 * `appliedOffset` is higher, as the store itself keeps rows, so a held bucket is the stored
 * bucket and every update a correct total, corrections of earlier buckets included, never going
 * back; pending updates of one bucket conflate to the latest. The store is read only for a bucket
 * the feed does not hold yet (then held from that read on, the rows that came during the read
 * merged in), a bucket a message names without its rows (a doorbell: a row too large to carry,
 * or a retried message), a first read, a sweep, a final push, and after a possible loss on the
 * bus (which drops every held bucket: the rows may have missed a message). A stored read of a
 * held bucket is merged into it too, by the same rule. Calendar intervals (DAY in a zone, WEEK,
 * MONTH) are made of DAY, HOUR and MINUTE rows: their feeds follow those three topics and merge
 * the carried rows their buckets are made of (series-buckets.ts madeOf), passing over the rows
 * of the other topics, which say the same changes again. So no feed reads the store per update.
 *
 * Subscriptions asking for the same series (tenant, type, interval, time zone, value, grouping
 * keys, filter, distinct key) on this instance share one feed: one bus subscription and one
 * merge (or store read) per changed bucket, whatever the number of subscribers; each subscriber
 * keeps its own bounded queue and its own range (`from`, `to`).
 *
 * Merged intervals (FIVE_MINUTES … MONTH, DAY in a zone) follow the topics of the stored
 * intervals they are made of and merge the rows bucket-plan.ts chooses, as the series query does
 * (series-buckets.ts).
 *
 * Every store read and every push of a feed runs in one sequence (`refresh`): a subscriber's
 * first read (its snapshot with `from`, or its resume with `after`), the reads of changed
 * buckets and the pushes of held buckets a message changed, so a point read earlier is never
 * pushed after one read later. A subscriber joins the feed's pushes at its
 * first read; pushes that come while its first points are still being delivered wait (conflated)
 * behind them, so the snapshot comes first, ordered by start, then the live updates.
 *
 * Cursors (series-cursor.ts): each update carries a position every change up to which its
 * subscriber has. A feed keeps such a position (`safe`): the stored position read when it opened,
 * then, every SAFE_POSITION_ADVANCE_MS (and at once when the bus may have lost messages), a
 * sweep reads every bucket that may still change, pushes those with a row applied past `safe`,
 * and makes the stored position read before that read the new `safe`. A subscriber's first
 * points carry the position read before its first read, and the start from which its first
 * points were not all delivered yet. A resume re-reads from the cursor's oldest changeable bucket
 * and sends every bucket with a row applied past the cursor's position, so no change is lost on
 * any instance, whatever the bus lost.
 *
 * Final: a feed remembers the buckets it pushed that are not final yet. Finality comes from the
 * query service (`queries.finality()`, the same answer as the series query's `final`), read once
 * per FINALITY_CHECK_MS for every feed of the instance: a remembered bucket whose end plus the
 * allowed lateness the watermark has passed is read once more and pushed with `final: true`, then
 * forgotten. A subscription with `to` completes once every bucket overlapping its range is final
 * and each point it was sent not final has been sent final.
 */
import { dimensionsKey, matchesDimensions } from '../domain/event.ts';
import { conditionsKey, matchesConditions } from '../domain/dimension-conditions.ts';
import { INTERVAL_MS, type BucketBlock, type Interval, type QueryInterval } from '../domain/interval.ts';
import { liveTopics, type LiveBus } from '../ports/live-bus.ts';
import type { RollupRow, SeriesStore } from '../ports/series-store.ts';
import { MAX_SERIES_BUCKETS, type QueryService } from '../query/query-service.ts';
import {
  validateDimensionFilter,
  validateKeyName,
  validateTypeName,
  validateWhere,
  type DimensionConditionInput,
} from '../query/event-filter.ts';
import { aggregateByGroup, describeGroup, toPoint, type Finality, type PointView, type SeriesShape } from '../query/series-view.ts';
import { compareGroupValues, groupIdOf, groupingKeys, groupValues, validateGrouping, type GroupId } from '../query/grouping.ts';
import { resolveTimeZone } from '../query/bucket-plan.ts';
import { aggregateFromEncoded, type Aggregate } from '../domain/rollup.ts';
import { decodeSeriesMessage, type CarriedRollupRow, type LiveMessageText, type SeriesMessage } from '../domain/live-messages.ts';
import { queryTooLarge, type QueryLimits } from '../query/query-limits.ts';
import { badInput, StreamlensError, unavailable } from '../errors.ts';
import type { LiveQueue } from './live-queue.ts';
import type { SubscriptionSlot } from './subscription-registry.ts';
import { rollupRowOfCarried } from './carried-rows.ts';
import { createSharedFeeds, type SharedFeed } from './shared-feeds.ts';
import { narrowWhere, requireTypeInSlice, type TenantAccess } from '../auth/tenant-access.ts';
import { isWholeTenant } from '../auth/data-slice.ts';
import { createCursorSeal, type CursorSeal } from '../query/cursors.ts';
import { liveBucketsOf, runsOf, type LiveBuckets } from './series-buckets.ts';
import {
  bucketsToResend,
  checkSeriesCursor,
  decodeSeriesCursor,
  encodeSeriesCursor,
  resumeRanges,
  seriesQueryDigest,
  type SeriesCursor,
} from './series-cursor.ts';

export interface SeriesFeedDependencies {
  liveBus: LiveBus;
  seriesStore: SeriesStore;
  /** Says how late an event may still come, so that each point says whether it is final. */
  queries: Pick<QueryService, 'finality'>;
  /** A live series reads and answers no more than the series query may. */
  queryLimits: Pick<QueryLimits, 'maxRowsRead' | 'maxSeriesGroups' | 'maxSeriesPoints'>;
  /** Limit of one subscriber's queue, and of the changed buckets a feed holds before re-reading them. */
  maxPendingSeriesUpdates: number;
  /** FUTURE_TOLERANCE: no counted event lies further ahead of now, which bounds a re-read after a loss. */
  futureToleranceMs?: number;
  /** Seals the cursors of subscribers that read through a token with a slice; absent: a secret of this process. */
  cursorSeal?: CursorSeal;
}

export interface LiveSeriesInput {
  type: string;
  value?: string | null;
  interval: QueryInterval;
  groupBy?: string | null;
  groupByDimensions?: readonly string[] | null;
  dimensions?: Record<string, unknown> | null;
  where?: readonly DimensionConditionInput[] | null;
  /** A key of the events' `distinct`: each point counts its different values. */
  distinct?: string | null;
  /** An IANA name: where DAY, WEEK and MONTH buckets start. Absent: UTC. */
  timeZone?: string | null;
  /** Present: first one update per existing point from here (aligned down to the interval). */
  from?: Date | null;
  /** Present: only buckets starting before it, and the subscription completes once they are all final. */
  to?: Date | null;
}

export interface SeriesUpdateView {
  /** As Series.group: the group's values joined by ", ". */
  group: string | null;
  /** As Series.groupKey: each grouping key with its value, null where absent; `{}` ungrouped. */
  groupKey: Record<string, string | null>;
  point: PointView;
  watermark: number | null;
  /** Resumes after this update (`series(query, after)`), on any instance. */
  cursor: string;
}

/** What a subscriber is told of a failed read: our own error as it is, anything else as a retryable outage. */
function asSubscriptionError(error: unknown): StreamlensError {
  return error instanceof StreamlensError ? error : unavailable('live series updates are unavailable; subscribe again to continue', error);
}

/** What a subscriber has and may be told, from a stored position on (series-cursor.ts). */
interface Safe {
  position: ReadonlyMap<number, number>;
  settledBefore: number | null;
  issuedAt: number;
}

/** One subscriber of a feed. */
interface SeriesSubscriber {
  queue: LiveQueue<SeriesUpdateView>;
  /** The digest of its query, which its cursors carry. */
  query: string;
  /** Its range: buckets that end after `from` and start before `to` (null: unbounded). */
  from: number | null;
  to: number | null;
  /** How it starts: live only, with a snapshot from `from`, or resumed from a cursor. */
  start: { kind: 'live' } | { kind: 'snapshot' } | { kind: 'resume'; cursor: SeriesCursor };
  /** The cursor its next live update carries: what it has once every update before is delivered. */
  cursor: string;
  /**
   * Its cursors are sealed (query/cursors.ts): it reads through a token with a slice, and a
   * cursor's log offsets would count other customers' events.
   */
  sealed: boolean;
  /** Its first points are being delivered: live updates wait here meanwhile (conflated per point). */
  held: Map<string, SeriesUpdateView> | null;
  /** With `to`: the points it was sent not final yet, which it must be sent final before completing. */
  awaitingFinal: Set<string> | null;
  /** With `to`: the end of its last bucket, final once the watermark passes it plus the lateness. */
  lastBucketEnd: number | null;
  /** It has completed or closed: nothing more is pushed. */
  done: boolean;
  /** A move of `cursor` waits for the queue to empty (moveCursor); the next one waits behind it. */
  cursorMove: { waiting: boolean; next: string | null };
}

/** One series followed for every subscriber that asked for it (shared-feeds.ts: closed with its last subscriber). */
interface SeriesFeed extends SharedFeed {
  subscribers: Set<SeriesSubscriber>;
  /** True once the last subscriber left and the feed stopped listening. */
  closed: boolean;
  /** Takes a subscriber in: at once when live only, else with its first read, in the feed's read sequence. */
  join(subscriber: SeriesSubscriber): void;
  leave(subscriber: SeriesSubscriber): void;
  /** True while a subscriber is in it or waiting for its first read (one that completed is not). */
  inUse(): boolean;
  /** The query service's finality, read again: pushes the buckets it made final with `final: true`. */
  onFinality(finality: Finality): void;
}

/** How often finality is read for the feeds of an instance: one progress read, shared by every feed. */
const FINALITY_CHECK_MS = 2_000;
/**
 * How often a feed moves its cursors' position on, by a sweep of every bucket that may still
 * change: one store read per feed per period. A resume re-sends the buckets changed since the
 * last sweep before its cursor (about this much time's changes) even when they were delivered.
 */
const SAFE_POSITION_ADVANCE_MS = 15_000;
/**
 * Buckets a feed remembers for their `final: true` push. A SECOND feed open for a day with 24 h
 * lateness would otherwise remember 86,400 of them (times its groups) and walk them all every
 * check; past this, the bucket remembered first (in practice the oldest) is forgotten, and gets
 * no final push. About two hours of SECOND buckets, a week of MINUTE ones.
 */
const MAX_BUCKETS_AWAITING_FINAL = 8_192;
/**
 * Buckets a feed holds the rows of. A feed updates the buckets being written now, a few at a
 * time, so this is ample: about 17 minutes of SECOND buckets, which late events rarely reach;
 * the bucket held longest is dropped first, and read again if it changes again.
 */
const MAX_HELD_BUCKETS = 1_024;
/** Without FUTURE_TOLERANCE: ingest refuses timestamps more than a year ahead, so no bucket starts later. */
const LATEST_BUCKET_AHEAD_MS = 366 * 86_400_000;
/** The stored intervals a search for changed rows descends through, coarsest first (changedBuckets). */
const SEARCH_LEVELS: readonly Interval[] = ['DAY', 'HOUR', 'MINUTE', 'SECOND'];

/** Rows one read (a sweep, a first read) may still take: MAX_ROWS_READ, as a series query. */
interface RowBudget {
  left: number;
}

/** Pushed after a completed subscription's last update: its iterator ends there. */
const COMPLETED = Symbol('completed');

const tooSlow = () =>
  new StreamlensError(
    'SUBSCRIBER_TOO_SLOW',
    'this subscriber fell too far behind; subscribe again with `after` set to the last cursor it received',
  );

const pointKey = (group: GroupId, start: number) => `${group}\u0000${start}`;

/** Past every bucket a counted event can be in now. */
function latestBucketEnd(dependencies: SeriesFeedDependencies, buckets: LiveBuckets): number {
  return buckets.endOf(buckets.startOf(Date.now() + (dependencies.futureToleranceMs ?? LATEST_BUCKET_AHEAD_MS)));
}

const settledBeforeOf = (finality: Finality) => (finality.watermark === null ? null : finality.watermark - finality.allowedLatenessMs);

/** A subscriber's queue fails with a GraphQL error carrying the same code and extensions. */
async function openFeed(
  dependencies: SeriesFeedDependencies & { cursorSeal: CursorSeal },
  tenant: string,
  type: string,
  shape: SeriesShape,
  buckets: LiveBuckets,
): Promise<SeriesFeed> {
  const [initialFinality, progressAtOpen] = await Promise.all([dependencies.queries.finality(), dependencies.seriesStore.loadProgress()]);
  let finality: Finality = initialFinality;
  /** Every change up to it has been pushed to the subscribers of the time (see the file comment). */
  let safe: Safe = {
    position: new Map([...progressAtOpen].map(([partition, p]) => [partition, p.storedThrough])),
    settledBefore: settledBeforeOf(initialFinality),
    issuedAt: Date.now(),
  };
  let lastSweepAt = Date.now();
  const { maxRowsRead, maxSeriesGroups, maxSeriesPoints } = dependencies.queryLimits;
  const groupKeys = groupingKeys(shape);
  /** Changed buckets to read from the store: start → affected groups. */
  const dirty = new Map<number, Set<GroupId>>();
  /** The rows of the buckets held: bucket start → row key (mergeHeld) → row (bucketStart: the feed's bucket). */
  const held = new Map<number, Map<string, RollupRow>>();
  let rowsHeld = 0;
  /** Held buckets whose rows a message changed, to push from memory: start → affected groups. */
  const changed = new Map<number, Set<GroupId>>();
  const inSeries = (row: { dimensions: Record<string, string> }) =>
    matchesDimensions(row.dimensions, shape.dimensions) && matchesConditions(row.dimensions, shape.where);

  /** Forgets every held bucket (their rows may have missed a message); changes not pushed yet are read instead. */
  function dropHeld(): void {
    const unpushed = [...changed];
    changed.clear();
    held.clear();
    rowsHeld = 0;
    for (const [start, groups] of unpushed) for (const group of groups) if (!markDirty(start, group)) return;
  }

  /**
   * Merges a row into a held bucket, as the store keeps rows: it replaces the row of its key when
   * its appliedOffset is higher. True when it did (the bucket's total changed).
   */
  function mergeHeld(
    rows: Map<string, RollupRow>,
    storedInterval: Interval,
    storedStart: number,
    row: Pick<RollupRow, 'partition' | 'dimensions' | 'appliedOffset'>,
    /** The row to hold (decoded only when it is newer). */
    rowToHold: () => RollupRow,
  ): boolean {
    // The stored row's own identity: a calendar bucket holds rows of several intervals.
    const key = `${storedInterval}\u0000${storedStart}\u0000${row.partition}\u0000${dimensionsKey(row.dimensions)}`;
    const current = rows.get(key);
    if (current && current.appliedOffset >= row.appliedOffset) return false;
    if (!current) rowsHeld += 1;
    rows.set(key, rowToHold());
    return true;
  }

  /**
   * Starts holding a bucket, before its first read: rows that come meanwhile are merged into it,
   * and the read (which follows, the bucket being dirty) merges in every stored row. Its total is
   * pushed only after that read (refresh). Past the bounds, the bucket held longest that nothing
   * waits on is dropped.
   */
  function startHolding(start: number): Map<string, RollupRow> {
    const rows = new Map<string, RollupRow>();
    held.set(start, rows);
    for (const [oldest, oldRows] of held) {
      if (held.size <= MAX_HELD_BUCKETS && rowsHeld <= maxRowsRead) break;
      if (oldest === start || dirty.has(oldest) || changed.has(oldest)) continue;
      held.delete(oldest);
      rowsHeld -= oldRows.size;
    }
    return rows;
  }

  /**
   * One bucket changing for more groups than a series answer may hold: the subscription is as
   * much too large as the query would be, and says so instead of flooding its queue. False (and
   * every subscriber failed) past the limit.
   */
  function withinGroupLimit(groups: ReadonlySet<GroupId>): boolean {
    if (groups.size <= maxSeriesGroups) return true;
    failAll(
      queryTooLarge('groups', maxSeriesGroups, null, `one bucket of this live series changed for too many ${groupKeys.join(', ')} groups`),
    );
    dirty.clear();
    return false;
  }

  /** Marks a held bucket's group to be pushed from memory; false (and every subscriber failed) past a limit. */
  function markChanged(start: number, group: GroupId): boolean {
    // Its read is still to come: the push after it covers the group.
    const waiting = dirty.get(start);
    if (waiting) return markDirty(start, group);
    let groups = changed.get(start);
    if (!groups) changed.set(start, (groups = new Set()));
    groups.add(group);
    return withinGroupLimit(groups);
  }
  /** Buckets pushed and not final yet: start → groups pushed. Each is pushed once more when final. */
  const notFinal = new Map<number, Set<GroupId>>();
  /** Subscribers waiting for their first read, in arrival order. */
  const joining: SeriesSubscriber[] = [];
  /** Subscribers with `to` whose buckets are all final, waiting for the final points they were not sent yet. */
  const finishing: SeriesSubscriber[] = [];
  /** Points pushed with `final: true` since the last sweep began: the next one pushes them no more. */
  let finalSinceSweep = new Set<string>();
  /** Sweep every bucket that may still change (the bus may have lost messages, or `safe` is due). */
  let sweepDue = false;
  /** From the store at opening, then the highest a message or a finality check carried: it never goes back. */
  let watermark: number | null = initialFinality.watermark;
  let refreshing = false;
  const subscribers = new Set<SeriesSubscriber>();
  const failAll = (error: Error) => {
    for (const subscriber of subscribers) subscriber.queue.fail(error);
    for (const subscriber of joining) subscriber.queue.fail(error);
    changed.clear();
    held.clear();
    rowsHeld = 0;
  };

  const inRange = (subscriber: SeriesSubscriber, start: number) =>
    (subscriber.to === null || start < subscriber.to) && (subscriber.from === null || buckets.endOf(start) > subscriber.from);

  function rememberNotFinal(start: number, group: GroupId, point: PointView): void {
    let pending = notFinal.get(start);
    if (point.final) {
      pending?.delete(group);
      if (pending?.size === 0) notFinal.delete(start);
      return;
    }
    if (!pending) {
      notFinal.set(start, (pending = new Set()));
      if (notFinal.size > MAX_BUCKETS_AWAITING_FINAL) notFinal.delete(notFinal.keys().next().value!);
    }
    pending.add(group);
  }

  /** A subscriber with `to` completes once its buckets are all final and it was sent each final. */
  function completeIfDone(subscriber: SeriesSubscriber): void {
    if (subscriber.done || subscriber.lastBucketEnd === null || subscriber.held !== null) return;
    if (finality.watermark === null || finality.watermark < subscriber.lastBucketEnd + finality.allowedLatenessMs) return;
    if (subscriber.awaitingFinal!.size > 0) {
      // Every bucket is final: the ones it still waits for are read for it (the feed's own final
      // push may be pending, or may never come: it remembers MAX_BUCKETS_AWAITING_FINAL buckets).
      if (!finishing.includes(subscriber)) {
        finishing.push(subscriber);
        void refresh();
      }
      return;
    }
    subscriber.done = true;
    subscribers.delete(subscriber);
    // Not conflated: it comes after every pending update, once there is room for it.
    void subscriber.queue.pushWhenRoom(COMPLETED as unknown as SeriesUpdateView);
  }

  /** Reads the final points a subscriber whose buckets are all final still waits for, sends them, and completes it. */
  async function finish(subscriber: SeriesSubscriber): Promise<void> {
    const awaited = subscriber.awaitingFinal!;
    const starts = new Set([...awaited].map((key) => Number(key.slice(key.lastIndexOf('\u0000') + 1))));
    const budget = newBudget();
    for (const [runFrom, runTo] of runsOf(starts, buckets)) {
      const byGroup = aggregateByGroup(await readBuckets(runFrom, runTo, budget), shape);
      for (const [group, byStart] of byGroup) {
        for (const [start, aggregate] of byStart) {
          const key = pointKey(group, start);
          if (!awaited.has(key) || subscriber.done) continue;
          const update = {
            ...describeGroup(group, groupKeys),
            point: toPoint(start, aggregate, shape, finality),
            watermark,
            cursor: subscriber.cursor,
          };
          if (update.point.final) pushLive(subscriber, update, key);
        }
      }
    }
    // Every bucket of its range is final and was read: nothing else can come for it.
    awaited.clear();
    completeIfDone(subscriber);
  }

  /** Notes what a subscriber was sent, for its completion. */
  function noteSent(subscriber: SeriesSubscriber, update: SeriesUpdateView, key: string): void {
    if (!subscriber.awaitingFinal) return;
    if (update.point.final) subscriber.awaitingFinal.delete(key);
    else subscriber.awaitingFinal.add(key);
  }

  /** Pushes a live update to one subscriber: behind its first points while they are delivered. */
  function pushLive(subscriber: SeriesSubscriber, update: SeriesUpdateView, key: string): void {
    if (subscriber.done) return;
    noteSent(subscriber, update, key);
    const held = subscriber.held;
    if (held) {
      // A newer total of a waiting point takes its place, and keeps its cursor: what was pushed
      // before that place is all the subscriber is sure to have when it gets it.
      const waiting = held.get(key);
      held.set(key, waiting ? { ...update, cursor: waiting.cursor } : update);
      if (held.size > dependencies.maxPendingSeriesUpdates) subscriber.queue.fail(tooSlow());
      return;
    }
    // A subscriber whose queue overflows fails and leaves; the others are not held up. A newer
    // total replacing a pending one carries the same cursor as the one it replaces: a
    // subscriber's cursor only moves once its queue has been emptied (moveCursor).
    subscriber.queue.push(update, key);
    completeIfDone(subscriber);
  }

  /** Pushes the groups' points of one bucket to every subscriber whose range holds it, and remembers it until it is final. */
  function pushBucket(
    start: number,
    groups: Iterable<GroupId>,
    byGroup: Map<GroupId, Map<number, Aggregate>>,
    /** Points already pushed final: a sweep does not push them again. */
    pushedFinal: ReadonlySet<string> = new Set(),
  ): void {
    for (const group of groups) {
      const aggregate = byGroup.get(group)?.get(start);
      if (!aggregate) continue;
      const point = toPoint(start, aggregate, shape, finality);
      const key = pointKey(group, start);
      if (point.final && pushedFinal.has(key)) continue;
      if (point.final) finalSinceSweep.add(key);
      const base = { ...describeGroup(group, groupKeys), point, watermark };
      /** Subscribers with the same cursor share one update object. */
      const byCursor = new Map<string, SeriesUpdateView>();
      for (const subscriber of subscribers) {
        if (!inRange(subscriber, start)) continue;
        let update = byCursor.get(subscriber.cursor);
        if (!update) byCursor.set(subscriber.cursor, (update = { ...base, cursor: subscriber.cursor }));
        pushLive(subscriber, update, key);
      }
      rememberNotFinal(start, group, point);
    }
  }

  /**
   * Reads the rows of every bucket overlapping [from, to), each row's bucketStart set to its
   * bucket's start; throws QUERY_TOO_LARGE past the rows limit, BAD_USER_INPUT past `maxBuckets`.
   */
  async function readBuckets(from: number, to: number, budget: RowBudget = newBudget()): Promise<RollupRow[]> {
    const plan = buckets.plan(from, to, Number.POSITIVE_INFINITY);
    const rows: RollupRow[] = [];
    for (const block of plan.reads) {
      const blockRows = await readStored(block, budget);
      for (const row of blockRows) {
        const feedRow = buckets.stored
          ? row
          : plan.keeps(row.interval, row.bucketStart)
            ? { ...row, bucketStart: buckets.startOf(row.bucketStart) }
            : null;
        if (!feedRow) continue;
        rows.push(feedRow);
        // A stored row newer than the held one: the bus's message is still on its way, or was lost.
        const heldRows = held.get(feedRow.bucketStart);
        if (heldRows && inSeries(row) && mergeHeld(heldRows, row.interval, row.bucketStart, row, () => feedRow)) {
          if (!markChanged(feedRow.bucketStart, groupIdOf(row.dimensions, groupKeys))) return rows;
        }
      }
    }
    return rows;
  }

  /** Where the stores stand, and what may still change, read before a read of rows. */
  async function readSafe(): Promise<Safe> {
    // Finality first: an earlier watermark is the more careful `settledBefore`.
    const current = await dependencies.queries.finality();
    const progress = await dependencies.seriesStore.loadProgress();
    finality = current;
    return {
      position: new Map([...progress].map(([partition, p]) => [partition, p.storedThrough])),
      settledBefore: settledBeforeOf(current),
      issuedAt: Date.now(),
    };
  }

  const newBudget = (): RowBudget => ({ left: maxRowsRead });

  /** Stored rows of one block, counted against the budget of the read they are part of. */
  async function readStored(block: BucketBlock, budget: RowBudget): Promise<RollupRow[]> {
    const rows = await dependencies.seriesStore.readRollups({
      tenant,
      type,
      ...block,
      valueKey: shape.value ?? null,
      maxRows: budget.left,
    });
    budget.left -= rows.length;
    if (budget.left < 0) throw queryTooLarge('rows', maxRowsRead, null, 'this live series reads rollup rows');
    return rows;
  }

  /**
   * The starts of the buckets, from the one holding `from` to `to`, with a row of this series
   * applied past `position`. Every counted event changes a row of each stored interval at once, so
   * a DAY row applied no further than `position` says that no finer row of its day (same partition
   * and combination) changed either: the search reads DAY rows, then the HOUR rows of the changed
   * days, and so on down to the rows the buckets are made of. A day of lateness is then a few
   * reads of the recently changed hours and minutes, not a read of every SECOND bucket of the day.
   */
  async function changedBuckets(from: number, to: number, position: ReadonlyMap<number, number>, budget: RowBudget): Promise<Set<number>> {
    let regions: [number, number][] = [[from, to]];
    for (const level of SEARCH_LEVELS) {
      const size = INTERVAL_MS[level];
      const changed = new Set<number>();
      for (const [regionFrom, regionTo] of regions) {
        const rows = await readStored({ interval: level, from: Math.floor(regionFrom / size) * size, to: regionTo }, budget);
        const ofSeries = rows.filter(
          (row) => matchesDimensions(row.dimensions, shape.dimensions) && matchesConditions(row.dimensions, shape.where),
        );
        const asResumeRows = ofSeries.map((row) => ({
          bucket: row.bucketStart,
          partition: row.partition,
          appliedOffset: row.appliedOffset,
        }));
        for (const start of bucketsToResend(asResumeRows, { position, resendFrom: null })) changed.add(start);
      }
      if (level === buckets.topicInterval) return new Set([...changed].map((start) => buckets.startOf(start)));
      regions = runsOf(changed, size).map(([runFrom, runTo]) => [Math.max(runFrom, from), Math.min(runTo, to)]);
      if (regions.length === 0) return new Set();
    }
    return new Set();
  }

  /**
   * The rows of every bucket in [from, to) that changed after `since` (a row applied past its
   * position, in a bucket ending after its settledBefore), and of every bucket from its
   * resendFrom on.
   */
  async function readChanged(since: Pick<SeriesCursor, 'position' | 'settledBefore' | 'resendFrom'>, from: number | null, to: number) {
    const budget = newBudget();
    const ranges = resumeRanges(since, from);
    const resendFrom = ranges.resendFrom === null ? null : buckets.startOf(ranges.resendFrom);
    // No watermark yet (nothing stored) nor `from`: from the epoch, as no event is older.
    const changed = await changedBuckets(Number.isFinite(ranges.changedFrom) ? ranges.changedFrom : 0, to, since.position, budget);
    const rows: RollupRow[] = [];
    const before = resendFrom ?? Number.POSITIVE_INFINITY;
    for (const [runFrom, runTo] of runsOf(new Set([...changed].filter((start) => start < before)), buckets)) {
      rows.push(...(await readBuckets(runFrom, runTo, budget)));
    }
    // What a snapshot or resume still being delivered had not sent yet: all of it again.
    if (resendFrom !== null && resendFrom < to) rows.push(...(await readBuckets(resendFrom, to, budget)));
    return rows;
  }

  /**
   * Moves a subscriber's cursor to `next` once its queue is empty: until then, a pending update
   * may still be replaced by a newer total, which must not carry a position the updates behind it
   * are needed for.
   */
  function moveCursor(subscriber: SeriesSubscriber, next: string): void {
    const move = subscriber.cursorMove;
    if (move.waiting) {
      move.next = next;
      return;
    }
    move.waiting = true;
    void subscriber.queue.drained().then(() => {
      move.waiting = false;
      if (subscriber.done) return;
      subscriber.cursor = next;
      const later = move.next;
      move.next = null;
      if (later !== null) moveCursor(subscriber, later);
    });
  }

  /** Reads every bucket that may have changed since `safe`, pushes those that did, and moves `safe` on. */
  async function sweep(): Promise<void> {
    lastSweepAt = Date.now();
    // A point pushed final before the last sweep began changed no later than that sweep's position.
    const pushedFinal = finalSinceSweep;
    finalSinceSweep = new Set();
    const next = await readSafe();
    const rows = await readChanged({ ...safe, resendFrom: null }, null, latestBucketEnd(dependencies, buckets));
    const byGroup = aggregateByGroup(rows, shape);
    const starts = [...new Set(rows.map((row) => row.bucketStart))].sort((a, b) => a - b);
    for (const start of starts)
      pushBucket(
        start,
        [...byGroup.keys()].filter((group) => byGroup.get(group)!.has(start)),
        byGroup,
        pushedFinal,
      );
    safe = next;
    for (const subscriber of subscribers) moveCursor(subscriber, cursorOf(subscriber, next, null));
  }

  /** Encoded live cursors, per position and query: subscribers of one query share one string. */
  const liveCursors = new WeakMap<Safe, Map<string, string>>();
  const { cursorSeal } = dependencies;

  function cursorOf(subscriber: SeriesSubscriber, at: Safe, resendFrom: number | null): string {
    const encode = () => {
      const cursor = encodeSeriesCursor({ query: subscriber.query, ...at, resendFrom });
      return subscriber.sealed ? cursorSeal.seal(cursor) : cursor;
    };
    if (resendFrom !== null) return encode();
    let byQuery = liveCursors.get(at);
    if (!byQuery) liveCursors.set(at, (byQuery = new Map()));
    // Sealed and plain cursors of one query are cached apart: a key and a token may share a feed.
    const cached = `${subscriber.sealed ? 'sealed' : 'plain'}:${subscriber.query}`;
    let cursor = byQuery.get(cached);
    if (cursor === undefined) byQuery.set(cached, (cursor = encode()));
    return cursor;
  }

  /**
   * A subscriber's first read (its snapshot or its resume), after which it receives the feed's
   * pushes; its first points are delivered as its queue makes room, live updates waiting behind.
   */
  async function firstRead(subscriber: SeriesSubscriber): Promise<void> {
    if (subscriber.done) return;
    const { start } = subscriber;
    const at = await readSafe();
    const to = subscriber.to ?? latestBucketEnd(dependencies, buckets);
    let rows: RollupRow[];
    if (start.kind === 'snapshot') {
      // Its size was checked up to now when it subscribed; the few buckets ahead of now are read too.
      rows = await readBuckets(subscriber.from!, to);
    } else {
      rows = await readChanged((start as { cursor: SeriesCursor }).cursor, subscriber.from, to);
    }
    if (subscriber.done) return;
    const byGroup = aggregateByGroup(rows, shape);
    if (byGroup.size > maxSeriesGroups) {
      throw queryTooLarge('groups', maxSeriesGroups, byGroup.size, `this live series groups by ${groupKeys.join(', ')}`);
    }
    const points: { group: GroupId; start: number; values: readonly (string | null)[] }[] = [];
    for (const [group, byStart] of byGroup) {
      const values = groupValues(group);
      for (const bucketStart of byStart.keys()) if (inRange(subscriber, bucketStart)) points.push({ group, start: bucketStart, values });
    }
    if (points.length > maxSeriesPoints) {
      throw queryTooLarge('points', maxSeriesPoints, points.length, 'the first points of this live series');
    }
    // Ordered by start, then as the series query orders groups: each group's points by start.
    points.sort((a, b) => a.start - b.start || compareGroupValues(a.values, b.values));
    const first = points.map(({ group, start: bucketStart }, index) => {
      const point = toPoint(bucketStart, byGroup.get(group)!.get(bucketStart)!, shape, finality);
      rememberNotFinal(bucketStart, group, point);
      const update: SeriesUpdateView = {
        ...describeGroup(group, groupKeys),
        point,
        watermark,
        // Received, it says: every change up to `at`, and every first point before the next one's bucket.
        cursor: cursorOf(subscriber, at, points[index + 1]?.start ?? null),
      };
      noteSent(subscriber, update, pointKey(group, bucketStart));
      return update;
    });
    subscriber.cursor = cursorOf(subscriber, at, null);
    subscriber.held = new Map();
    subscribers.add(subscriber);
    void deliverFirst(subscriber, first);
  }

  async function deliverFirst(subscriber: SeriesSubscriber, first: SeriesUpdateView[]): Promise<void> {
    for (const update of first) if (!(await subscriber.queue.pushWhenRoom(update))) return;
    const held = subscriber.held!;
    subscriber.held = null;
    for (const [key, update] of held) if (!subscriber.queue.push(update, key)) return;
    completeIfDone(subscriber);
  }

  async function refresh(): Promise<void> {
    if (refreshing) return;
    refreshing = true;
    try {
      while (!feed.closed) {
        const joiner = joining.shift();
        if (joiner) {
          try {
            await firstRead(joiner);
          } catch (error) {
            joiner.queue.fail(asSubscriptionError(error));
          }
          continue;
        }
        const finisher = finishing.shift();
        if (finisher) {
          try {
            await finish(finisher);
          } catch (error) {
            finisher.queue.fail(asSubscriptionError(error));
          }
          continue;
        }
        if (subscribers.size === 0) break;
        if (sweepDue) {
          sweepDue = false;
          await sweep();
          continue;
        }
        // Held buckets a message changed: pushed from memory, no read.
        for (const [start, groups] of changed) {
          changed.delete(start);
          const rows = held.get(start);
          if (rows) pushBucket(start, groups, aggregateByGroup([...rows.values()], shape));
        }
        const next = dirty.entries().next();
        if (next.done) break;
        const [start, groups] = next.value;
        dirty.delete(start);
        // Just this bucket: every row of the bucket starting at `start` (merged into it when held).
        const rows = await readBuckets(start, start + 1);
        const heldRows = held.get(start);
        // Changes the read merged in are pushed now (the groups of rows newer than held).
        for (const group of changed.get(start) ?? []) groups.add(group);
        changed.delete(start);
        pushBucket(start, groups, aggregateByGroup(heldRows ? [...heldRows.values()] : rows, shape));
      }
    } catch (error) {
      failAll(asSubscriptionError(error));
      dirty.clear();
    } finally {
      refreshing = false;
    }
    // Work that came in during the last read.
    if (
      !feed.closed &&
      (joining.length > 0 || finishing.length > 0 || ((sweepDue || dirty.size > 0 || changed.size > 0) && subscribers.size > 0))
    )
      void refresh();
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
    return withinGroupLimit(groups);
  }

  /** A message of the topic of `storedInterval`: its doorbells marked to read, its rows merged. */
  function onMessage(storedInterval: Interval, text: LiveMessageText<SeriesMessage>): void {
    const message = decodeSeriesMessage(text);
    if (message.watermark !== null && (watermark === null || message.watermark > watermark)) watermark = message.watermark;
    for (const bucket of message.buckets) {
      // A row the bucket is not made of: the topic of the row that is says the same change.
      if (!inSeries(bucket) || buckets.madeOf(storedInterval, bucket.start) === false) continue;
      if (!markDirty(buckets.startOf(bucket.start), groupIdOf(bucket.dimensions, groupKeys))) return;
    }
    for (const carried of message.rows ?? []) {
      if (!inSeries(carried)) continue;
      const madeOf = buckets.madeOf(storedInterval, carried.start);
      if (madeOf === false) continue;
      const start = buckets.startOf(carried.start);
      const group = groupIdOf(carried.dimensions, groupKeys);
      if (madeOf === null) {
        // No stored rows make this bucket: its read fails the subscribers with the query's reason.
        if (!markDirty(start, group)) return;
        continue;
      }
      const toHold = () => rollupRowOfCarried(carried, { tenant, type, interval: storedInterval, start }, shape.value ?? null);
      const heldRows = held.get(start);
      if (!heldRows) {
        // Not held: read once (its other rows are not known), merged with what comes meanwhile.
        mergeHeld(startHolding(start), storedInterval, carried.start, carried, toHold);
        if (!markDirty(start, group)) return;
      } else if (mergeHeld(heldRows, storedInterval, carried.start, carried, toHold) && !markChanged(start, group)) return;
    }
    void refresh();
  }

  const subscribed = await Promise.allSettled(
    buckets.followedIntervals.map((storedInterval) =>
      dependencies.liveBus.subscribe(
        liveTopics.series(tenant, storedInterval, type),
        (text) => onMessage(storedInterval, text),
        () => {
          // Held buckets may have missed a message: forgotten, and the sweep reads what changed.
          dropHeld();
          sweepDue = true;
          void refresh();
        },
      ),
    ),
  );
  const unsubscribes = subscribed.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const unsubscribe = async () => {
    await Promise.all(unsubscribes.map((stop) => stop()));
  };
  const refused = subscribed.find((result) => result.status === 'rejected');
  if (refused) {
    // The topics it did subscribe to are let go: the feed never opens.
    await unsubscribe();
    throw refused.reason;
  }

  const feed: SeriesFeed = {
    subscribers,
    closed: false,
    join(subscriber) {
      if (subscriber.start.kind === 'live') {
        subscriber.cursor = cursorOf(subscriber, safe, null);
        subscribers.add(subscriber);
        return;
      }
      joining.push(subscriber);
      void refresh();
    },
    inUse: () => subscribers.size > 0 || joining.length > 0,
    leave(subscriber) {
      subscriber.done = true;
      subscribers.delete(subscriber);
      for (const list of [joining, finishing]) {
        const waiting = list.indexOf(subscriber);
        if (waiting >= 0) list.splice(waiting, 1);
      }
    },
    onFinality(next) {
      finality = next;
      if (Date.now() - lastSweepAt >= SAFE_POSITION_ADVANCE_MS) sweepDue = true;
      if (next.watermark !== null) {
        // A heartbeat of an idle partition raises the watermark without any message: shown here.
        if (watermark === null || next.watermark > watermark) watermark = next.watermark;
        for (const [start, groups] of notFinal) {
          if (buckets.endOf(start) + next.allowedLatenessMs > next.watermark) continue;
          for (const group of groups) if (!markDirty(start, group)) return;
        }
      }
      for (const subscriber of subscribers) completeIfDone(subscriber);
      if (sweepDue || dirty.size > 0) void refresh();
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
  /**
   * Opens a series subscription in the slot reserved for it, on the feed of its series; `after`
   * is a cursor one of its updates carried (on any instance), or null.
   */
  subscribe(
    slot: SubscriptionSlot,
    access: TenantAccess,
    input: LiveSeriesInput,
    after?: string | null,
  ): Promise<AsyncIterable<SeriesUpdateView>>;
  /** Stops reading finality (the feeds themselves close with their last subscriber). */
  close(): void;
}

/** An instant of the query, or BAD_USER_INPUT. */
function instantOf(value: Date | null | undefined, path: string): number | null {
  if (value === null || value === undefined) return null;
  const time = value.getTime();
  if (!Number.isSafeInteger(time)) throw badInput(`${path}: not a valid date-time`);
  return time;
}

/** The subscription's iterator: the queue's, ending (and freeing its slot) after its last update. */
function endingAtCompletion(queue: LiveQueue<SeriesUpdateView>): AsyncIterableIterator<SeriesUpdateView> {
  const iterator: AsyncIterableIterator<SeriesUpdateView> = {
    async next() {
      const result = await queue.next();
      if (!result.done && (result.value as unknown) === COMPLETED) {
        await queue.return!();
        return { value: undefined, done: true };
      }
      return result;
    },
    return: () => queue.return!(),
    throw: (error) => queue.throw!(error),
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

export function createSeriesFeeds(options: SeriesFeedDependencies): SeriesFeeds {
  const cursorSeal = options.cursorSeal ?? createCursorSeal();
  const dependencies = { ...options, cursorSeal };
  /** The open (or opening) feeds, by what they follow. */
  const feeds = createSharedFeeds<SeriesFeed>();
  let checking = false;
  const finalityTimer = setInterval(() => {
    const current = feeds.handedOut();
    if (current.length === 0 || checking) return;
    checking = true;
    dependencies.queries
      .finality()
      .then(
        (finality) => {
          for (const feed of current) if (!feed.closed) feed.onFinality(finality);
        },
        // Finality is read again at the next check; until then points just stay not final.
        () => {},
      )
      .finally(() => {
        checking = false;
      });
  }, FINALITY_CHECK_MS);
  finalityTimer.unref();

  async function subscribe(
    slot: SubscriptionSlot,
    access: TenantAccess,
    input: LiveSeriesInput,
    after: string | null = null,
  ): Promise<AsyncIterable<SeriesUpdateView>> {
    const { tenant } = access;
    // The same name rules as the series query: a name that cannot exist is refused, not watched forever.
    validateTypeName(input.type, 'query.type');
    requireTypeInSlice(access, input.type, 'query.type');
    const timeZone = resolveTimeZone(input.timeZone, 'query.timeZone');
    const buckets = liveBucketsOf(input.interval, timeZone.id, timeZone.name);
    const asked = {
      value: validateKeyName(input.value ?? null, 'query.value'),
      groupByDimensions: validateGrouping(input, 'query'),
      dimensions: validateDimensionFilter(input.dimensions, 'query.dimensions'),
      where: validateWhere(input.where, 'query.where'),
      distinct: validateKeyName(input.distinct ?? null, 'query.distinct'),
    };
    const from = instantOf(input.from, 'query.from');
    const to = instantOf(input.to, 'query.to');
    if (from !== null && to !== null && !(from < to)) throw badInput('query.from must be before query.to');
    // Bounded like the series query: refused here, before any read, when it spans too many buckets.
    if (from !== null) buckets.plan(from, to ?? Date.now() + 1, MAX_SERIES_BUCKETS);
    const shape: SeriesShape = {
      value: asked.value,
      interval: buckets.topicInterval,
      // A merged point is final when its last stored bucket is: toPoint asks where it ends.
      ...(buckets.stored ? {} : { buckets: { starts: [], endOf: buckets.endOf } }),
      groupByDimensions: asked.groupByDimensions,
      dimensions: asked.dimensions,
      // ANDed with the caller's slice: the feed's key below holds the slice's conditions too.
      where: narrowWhere(access, asked.where),
      distinct: asked.distinct,
    };
    const sortedFilter = shape.dimensions
      ? Object.keys(shape.dimensions)
          .sort()
          .map((k) => [k, String(shape.dimensions![k])])
      : null;
    const followed = [tenant, input.type, input.interval, timeZone.id, shape.value, shape.groupByDimensions, sortedFilter, shape.distinct];
    const key = JSON.stringify([...followed, conditionsKey(shape.where)]);
    // The query as asked (not the slice's conditions, which a refresh of the token may change).
    const query = seriesQueryDigest([...followed, conditionsKey(asked.where), from, to]);
    const resumeFrom = after === null ? null : decodeSeriesCursor(cursorSeal.open(after));
    if (resumeFrom) checkSeriesCursor(resumeFrom, query, Date.now());

    let feed: SeriesFeed | null = null;
    const queue: LiveQueue<SeriesUpdateView> = slot.openQueue<SeriesUpdateView>({
      limit: dependencies.maxPendingSeriesUpdates,
      overflowError: tooSlow,
      onClose: async () => {
        if (!feed) return;
        feed.leave(subscriber);
        await feeds.release(feed);
      },
    });
    const lastBucketEnd = to === null ? null : buckets.endOf(buckets.startOf(to - 1));
    const subscriber: SeriesSubscriber = {
      queue,
      query,
      from,
      to,
      start: resumeFrom ? { kind: 'resume', cursor: resumeFrom } : from !== null ? { kind: 'snapshot' } : { kind: 'live' },
      cursor: '',
      sealed: !isWholeTenant(access.slice),
      held: null,
      awaitingFinal: to === null ? null : new Set(),
      lastBucketEnd,
      done: false,
      cursorMove: { waiting: false, next: null },
    };

    feed = await feeds.acquire(key, () => openFeed(dependencies, tenant, input.type, shape, buckets));
    feed.join(subscriber);
    return to === null ? queue : endingAtCompletion(queue);
  }

  return {
    subscribe,
    close() {
      clearInterval(finalityTimer);
    },
  };
}
