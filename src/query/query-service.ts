/**
 * Read-side use cases: events, series, top lists and the type catalog. Validates arguments,
 * calls the store ports, and shapes results with the pure functions beside it.
 */
import type { DimensionValue, StoredEvent } from '../domain/event.ts';
import { conditionsKey } from '../domain/dimension-conditions.ts';
import { bucketCountBetween, bucketEnd, bucketStart, coarsestCover, type QueryInterval } from '../domain/interval.ts';
import type { EventPageKey, EventStore } from '../ports/event-store.ts';
import type { CatalogRow, RollupRow, SeriesStore } from '../ports/series-store.ts';
import { createHash } from 'node:crypto';
import { isFinal, type EventTimePolicy } from '../stream/event-time.ts';
import { shownWatermark } from '../stream/watermark.ts';
import type { ResultCache } from '../ports/result-cache.ts';
import { badInput } from '../errors.ts';
import {
  createCursorSeal,
  type CursorSeal,
  decodeEventCursor,
  decodeQuarantineCursor,
  encodeEventCursor,
  encodeQuarantineCursor,
  encodeStreamCursor,
} from './cursors.ts';
import {
  toEventQuery,
  validateDimensionFilter,
  validateKeyName,
  validateTypeName,
  validateWhere,
  type DimensionConditionInput,
  type EventFilterInput,
} from './event-filter.ts';
import { buildSeries, buildTop, type Finality, type SeriesView, type TopEntryView, type TopRanking, type TopShape } from './series-view.ts';
import { validateGrouping } from './grouping.ts';
import { createQueryBudget, DEFAULT_QUERY_LIMITS, queryTooLarge, type QueryBudget, type QueryLimits } from './query-limits.ts';
import { capCatalogKeys } from '../stream/rollup-plan.ts';
import { planBuckets, resolveTimeZone, type BucketPlan } from './bucket-plan.ts';
import { isWholeTenant, sliceKey } from '../auth/data-slice.ts';
import {
  accessHolds,
  eventIdNamespace,
  narrowEventQuery,
  narrowWhere,
  requireTypeInSlice,
  typesInSlice,
  type TenantAccess,
} from '../auth/tenant-access.ts';
import { summarizeSlice } from './sliced-catalog.ts';
import type { EventTypeSummary } from './event-type-summary.ts';

/** A page never holds more events than this; clients page for more. */
export const MAX_PAGE_SIZE = 1000;
/** A series query may span at most this many buckets per series: a coarser interval serves longer ranges. */
export const MAX_SERIES_BUCKETS = 10_000;
export const DEFAULT_TOP_LIMIT = 10;
export const MAX_TOP_LIMIT = 1000;

export interface SeriesRequest {
  type: string;
  value?: string | null;
  interval: QueryInterval;
  from: Date;
  to: Date;
  groupBy?: string | null;
  groupByDimensions?: readonly string[] | null;
  dimensions?: Record<string, unknown> | null;
  where?: readonly DimensionConditionInput[] | null;
  fill?: boolean | null;
  /** An IANA name: where DAY, WEEK and MONTH buckets start. Absent: UTC. */
  timeZone?: string | null;
  /** A key of the events' `distinct`: each point counts its different values. */
  distinct?: string | null;
}

export interface TopRequest {
  type: string;
  by: string;
  value?: string | null;
  from: Date;
  to: Date;
  dimensions?: Record<string, unknown> | null;
  where?: readonly DimensionConditionInput[] | null;
  limit?: number | null;
  distinct?: string | null;
  rankBy?: TopRanking | null;
}

/**
 * What a top request ranks by. Without `rankBy`, a request naming `value` ranks by its sum, as
 * `top` did before `rankBy` existed (product contract: "value: rank by sum of this value"), and
 * any other by count. A ranking without its argument is the client's mistake, said plainly.
 */
export function topRankingOf(request: Pick<TopRequest, 'value' | 'distinct' | 'rankBy'>): TopRanking {
  const rankBy = request.rankBy ?? (request.value ? 'SUM' : 'COUNT');
  if (rankBy === 'SUM' && !request.value) throw badInput('query.rankBy: SUM ranks by the sum of a value; name it in query.value');
  if (rankBy === 'DISTINCT' && !request.distinct) {
    throw badInput('query.rankBy: DISTINCT ranks by the different values of a distinct key; name it in query.distinct');
  }
  return rankBy;
}

/**
 * A top request's shape checked and narrowed to the caller's slice (everything but its range):
 * names valid, the type inside the slice (else FORBIDDEN), the ranking's argument given, `limit`
 * from 1 to MAX_TOP_LIMIT, and the slice's conditions ANDed into `where`. The `top` query and
 * the live `top` subscription both take it, so they refuse and rank alike.
 */
export function validateTopShape(
  access: TenantAccess,
  request: Omit<TopRequest, 'from' | 'to'>,
): Required<Omit<TopShape, 'dimensions'>> & { dimensions: Record<string, DimensionValue> | null } {
  validateTypeName(request.type, 'query.type');
  requireTypeInSlice(access, request.type, 'query.type');
  validateKeyName(request.by, 'query.by');
  validateKeyName(request.value, 'query.value');
  validateKeyName(request.distinct, 'query.distinct');
  const rankBy = topRankingOf(request);
  const limit = request.limit ?? DEFAULT_TOP_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_TOP_LIMIT) {
    throw badInput(`limit must be a whole number from 1 to ${MAX_TOP_LIMIT}`);
  }
  return {
    by: request.by,
    value: request.value ?? null,
    distinct: request.distinct ?? null,
    rankBy,
    limit,
    dimensions: validateDimensionFilter(request.dimensions, 'query.dimensions'),
    where: narrowWhere(access, validateWhere(request.where, 'query.where')),
  };
}

export interface Page<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

export interface EventPage extends Page<StoredEvent> {
  /** The stream position as of the query. */
  streamCursor: string;
}

export type { EventTypeSummary } from './event-type-summary.ts';

export interface SeriesResult extends SeriesView {
  watermark: number | null;
}

/**
 * Every read takes a TenantAccess, the tenant and the caller's slice of it, and answers within
 * that slice only (src/auth/tenant-access.ts holds the rules).
 */
export interface QueryService {
  /** The events with these ids, null where none is stored or the slice does not hold it. */
  eventsByIds(access: TenantAccess, ids: readonly string[]): Promise<(StoredEvent | null)[]>;
  events(
    access: TenantAccess,
    filter: EventFilterInput | null | undefined,
    first: number,
    after: string | null | undefined,
  ): Promise<EventPage>;
  quarantine(access: TenantAccess, first: number, after: string | null | undefined): Promise<Page<StoredEvent>>;
  /** `budget`: what the operation may still spend (shared by its fields); absent: a fresh one. */
  series(access: TenantAccess, request: SeriesRequest, budget?: QueryBudget): Promise<SeriesResult[]>;
  top(access: TenantAccess, request: TopRequest, budget?: QueryBudget): Promise<TopEntryView[]>;
  /**
   * Every type of the slice, or only `types`; QUERY_TOO_LARGE past `maxEventTypes`. A slice with
   * conditions is summarised from its rollup rows (src/query/sliced-catalog.ts), which spends `budget`.
   */
  eventTypes(access: TenantAccess, types?: readonly string[] | null, budget?: QueryBudget): Promise<EventTypeSummary[]>;
  /** A budget holding this service's limits, for one operation. */
  newBudget(): QueryBudget;
  /** The watermark and lateness that decide `final`, read from the store so every instance agrees. */
  finality(): Promise<Finality>;
}

function checkPageSize(first: number): void {
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) {
    throw badInput(`first must be a whole number from 0 to ${MAX_PAGE_SIZE}`);
  }
}

function checkRange(from: Date, to: Date): { from: number; to: number } {
  const range = { from: from.getTime(), to: to.getTime() };
  if (!(range.from < range.to)) throw badInput('from must be before to');
  return range;
}

/** The same filter written in any key order is the same cache entry. */
function sortedKeys(dimensions: Record<string, DimensionValue> | null): [string, string][] | null {
  return dimensions === null
    ? null
    : Object.keys(dimensions)
        .sort()
        .map((key) => [key, String(dimensions[key])]);
}

/**
 * One summary per type from its rows (one per log partition). Keys are gathered in Sets and
 * sorted once per type; a union over partitions longer than the per-row cap is cut to the cap
 * (the first keys by name), and the keys cut count as dropped, so an answer stays as bounded
 * as a stored row.
 */
export function mergeCatalog(rows: readonly CatalogRow[]): EventTypeSummary[] {
  const byType = new Map<string, { summary: EventTypeSummary; dimensions: Set<string>; values: Set<string> }>();
  for (const row of rows) {
    const merged = byType.get(row.type);
    if (!merged) {
      byType.set(row.type, {
        summary: {
          type: row.type,
          count: row.count,
          firstSeen: row.firstSeen,
          lastSeen: row.lastSeen,
          dimensions: [],
          values: [],
          droppedDimensionKeys: row.droppedDimensionKeys,
          droppedValueKeys: row.droppedValueKeys,
        },
        dimensions: new Set(row.dimensionKeys),
        values: new Set(row.valueKeys),
      });
      continue;
    }
    const { summary } = merged;
    summary.count += row.count;
    summary.firstSeen = Math.min(summary.firstSeen, row.firstSeen);
    summary.lastSeen = Math.max(summary.lastSeen, row.lastSeen);
    summary.droppedDimensionKeys += row.droppedDimensionKeys;
    summary.droppedValueKeys += row.droppedValueKeys;
    for (const key of row.dimensionKeys) merged.dimensions.add(key);
    for (const key of row.valueKeys) merged.values.add(key);
  }
  const summaries = [...byType.values()].map(({ summary, dimensions, values }) => {
    const cappedDimensions = capCatalogKeys([...dimensions].sort());
    const cappedValues = capCatalogKeys([...values].sort());
    summary.dimensions = cappedDimensions.kept;
    summary.values = cappedValues.kept;
    summary.droppedDimensionKeys += cappedDimensions.cut;
    summary.droppedValueKeys += cappedValues.cut;
    return summary;
  });
  return summaries.sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}

/** Cached results are immutable (final buckets only): the TTL only bounds the cache's size. */
const CACHE_TTL_MS = 3_600_000;
/**
 * Part of every cache key. Raise it whenever a change makes the same request answer differently,
 * so that no answer cached by an older build (in Redis, shared and kept for CACHE_TTL_MS) is served:
 * 2 since percentiles of points merged from several rows were fixed near ±1 (issue 12, item 3);
 * 3 since every series carries its groupKey (issue 14).
 */
const RESULT_CACHE_VERSION = 3;

/** How many store reads of one series query run at once: a half-hour zone reads MINUTE rows once per day. */
const CONCURRENT_READS = 8;

/**
 * Runs `read` for every block, at most CONCURRENT_READS at a time, and returns the rows in order.
 * After a read fails (the rows budget spent, a store error) no other read starts.
 */
async function readBlocks<T>(blocks: readonly T[], read: (block: T) => Promise<RollupRow[]>): Promise<RollupRow[][]> {
  const results: RollupRow[][] = new Array(blocks.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    for (let index = next++; index < blocks.length && !failed; index = next++) {
      try {
        results[index] = await read(blocks[index]!);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENT_READS, blocks.length) }, worker));
  return results;
}

export function createQueryService(options: {
  eventStore: EventStore;
  seriesStore: SeriesStore;
  policy: EventTimePolicy;
  /** Results over final buckets only; null: no caching. */
  cache?: ResultCache | null;
  onCacheLookup?: (name: 'series' | 'top', hit: boolean) => void;
  /** How much work one operation may do; absent: DEFAULT_QUERY_LIMITS. */
  limits?: QueryLimits;
  /** Seals the cursors a token with a slice is given (cursors.ts); absent: a secret of this process. */
  cursorSeal?: CursorSeal;
}): QueryService {
  const { eventStore, seriesStore, policy } = options;
  const limits = options.limits ?? DEFAULT_QUERY_LIMITS;
  const newBudget = () => createQueryBudget(limits);
  const cache = options.cache ?? null;
  const cursorSeal = options.cursorSeal ?? createCursorSeal();

  /**
   * Serves a result from the cache when every bucket it covers is final (so it can never
   * change), and fills the cache on a miss. Anything not final is always computed.
   */
  async function cached<T>(name: 'series' | 'top', allFinal: boolean, request: unknown, compute: () => Promise<T>): Promise<T> {
    if (!cache || !allFinal) return compute();
    const key = `v${RESULT_CACHE_VERSION}:${name}:${createHash('sha256').update(JSON.stringify(request)).digest('base64url')}`;
    const hit = await cache.get(key);
    options.onCacheLookup?.(name, hit !== null);
    if (hit !== null) return JSON.parse(hit) as T;
    const result = await compute();
    await cache.set(key, JSON.stringify(result), CACHE_TTL_MS);
    return result;
  }

  async function finality(): Promise<Finality> {
    const progress = await seriesStore.loadProgress();
    // The committed watermarks, as stored: the processor decides lateness by them, so what they
    // call final is final, and they only rise, so this never goes back (src/stream/watermark.ts).
    return { watermark: shownWatermark(progress.values()), allowedLatenessMs: policy.allowedLatenessMs };
  }

  return {
    async eventsByIds(access, ids) {
      // A token finds its own events by the id it sent as well as by the id they are stored under
      // (its slice's namespace, see eventIdNamespace): the stored one first.
      const namespace = eventIdNamespace(access);
      const wanted = namespace === '' ? ids : [...new Set([...ids.map((id) => namespace + id), ...ids])];
      const found = await eventStore.findByIds(access.tenant, wanted);
      // An event outside the slice is absent, exactly like an id that names nothing.
      const byId = new Map(found.filter((event) => accessHolds(access, event)).map((event) => [event.id, event]));
      return ids.map((id) => byId.get(namespace + id) ?? byId.get(id) ?? null);
    },

    async events(access, filter, first, after) {
      checkPageSize(first);
      const query = narrowEventQuery(access, toEventQuery(access.tenant, filter));
      const afterKey = after ? decodeEventCursor(cursorSeal.open(after)) : null;
      // Read before the events: everything up to it is already stored, so a subscription from
      // it misses nothing the query could not have returned.
      const progress = await seriesStore.loadProgress();
      const storedThrough = encodeStreamCursor(new Map([...progress].map(([partition, p]) => [partition, p.storedThrough])), Date.now());
      // Log offsets count every event of a partition: sealed for a token, so they cannot count other customers'.
      const streamCursor = isWholeTenant(access.slice) ? storedThrough : cursorSeal.seal(storedThrough);
      // One extra row tells whether another page exists without a count query. The store
      // examines at most MAX_ROWS_READ events for this page: when a filter matches too few of
      // them, the page is short and its endCursor points past what was examined, so following
      // hasNextPage goes on from there, a bounded read at a time.
      const { events: rows, scannedUpTo } = await eventStore.listEvents(query, first + 1, afterKey, limits.maxRowsRead);
      const page = rows.slice(0, first);
      const edges = page.map((node) => ({ cursor: encodeEventCursor(node), node }));
      // The scan position names an event the query did not match: sealed for a token, whose slice may not hold it.
      const scanCursor = (key: EventPageKey) =>
        isWholeTenant(access.slice) ? encodeEventCursor(key) : cursorSeal.seal(encodeEventCursor(key));
      const endCursor = scannedUpTo && rows.length <= first ? scanCursor(scannedUpTo) : (edges.at(-1)?.cursor ?? null);
      return { edges, pageInfo: { hasNextPage: rows.length > first || scannedUpTo !== null, endCursor }, streamCursor };
    },

    async quarantine(access, first, after) {
      checkPageSize(first);
      const afterKey = after ? decodeQuarantineCursor(after) : null;
      // The slice goes into the store's query, so a page of a narrow slice is as full as any.
      const rows = await eventStore.listQuarantine(access.tenant, first + 1, afterKey, access.slice);
      const page = rows.slice(0, first);
      const edges = page.map((node) => ({ cursor: encodeQuarantineCursor(node), node }));
      return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
    },

    async series(access, request, budget = newBudget()) {
      const { tenant } = access;
      validateTypeName(request.type, 'query.type');
      requireTypeInSlice(access, request.type, 'query.type');
      validateKeyName(request.value, 'query.value');
      const groupKeys = validateGrouping(request, 'query');
      validateKeyName(request.distinct, 'query.distinct');
      const { from, to } = checkRange(request.from, request.to);
      const timeZone = resolveTimeZone(request.timeZone, 'query.timeZone');
      const plan: BucketPlan = planBuckets(
        { interval: request.interval, timeZone: timeZone.id, zoneName: timeZone.name, from, to },
        MAX_SERIES_BUCKETS,
      );
      const buckets = plan.starts.length;
      // Read from rows of its own interval, a point is one stored bucket; otherwise several are merged.
      const merges = !(plan.reads.length === 1 && plan.reads[0]!.interval === request.interval);
      // Before anything is read: how many stored buckets the points merge, per dimension combination.
      if (merges)
        budget.spendMergedBuckets(
          plan.mergedBuckets,
          `the series query's ${request.interval} buckets in ${timeZone.name} merge stored buckets`,
        );
      const dimensions: Record<string, DimensionValue> | null = validateDimensionFilter(request.dimensions, 'query.dimensions');
      const where = narrowWhere(access, validateWhere(request.where, 'query.where'));
      // With fill, every series has every bucket: refused before reading when one series is too many.
      if (request.fill && buckets > budget.pointsLeft()) {
        throw queryTooLarge('points', limits.maxSeriesPoints, limits.maxSeriesPoints - budget.pointsLeft() + buckets, 'the series answer');
      }
      const current = await finality();
      const shape = {
        value: request.value ?? null,
        // The stored interval of the rows read; for a merged interval, `buckets` says what the points are.
        interval: plan.reads[0]!.interval,
        ...(merges ? { buckets: plan } : {}),
        groupBy: request.groupBy ?? null,
        groupByDimensions: request.groupByDimensions ? groupKeys : null,
        dimensions,
        where,
        from,
        to,
        fill: request.fill ?? false,
        distinct: request.distinct ?? null,
      };
      // Final when the last bucket's last stored bucket is: it ends where the last bucket ends.
      const lastEnd = plan.endOf(plan.starts.at(-1)!);
      const allFinal = current.watermark !== null && current.watermark >= lastEnd + current.allowedLatenessMs;
      let computed = false;
      /** Before any point is built (or, for a cached answer, before it is returned). */
      const checkSeriesSize = (size: { groups: number; points: number }) => {
        computed = true;
        if (size.groups > limits.maxSeriesGroups) {
          throw queryTooLarge('groups', limits.maxSeriesGroups, size.groups, `the series answer groups by ${groupKeys.join(', ')}`);
        }
        budget.spendPoints(size.points, 'the series answer');
      };
      const cacheKey = {
        tenant,
        // The slice's conditions are in `where` already; its key too, so that no answer computed
        // for one slice is ever served to another, however their conditions are worded.
        slice: sliceKey(access.slice),
        type: request.type,
        value: shape.value,
        interval: request.interval,
        timeZone: timeZone.id,
        groupBy: shape.groupBy,
        groupByDimensions: shape.groupByDimensions,
        dimensions: sortedKeys(dimensions),
        where: conditionsKey(where),
        distinct: shape.distinct,
        from,
        to,
        fill: shape.fill,
      };
      const series = await cached('series', allFinal, cacheKey, async () => {
        const reads = await readBlocks(plan.reads, async (block) => {
          const blockRows = await seriesStore.readRollups({
            tenant,
            type: request.type,
            ...block,
            valueKey: shape.value,
            maxRows: budget.rowsLeft(),
          });
          budget.spendRows(blockRows.length, 'the series query reads rollup rows');
          return blockRows;
        });
        const rows = reads.flat();
        // Each stored row counts in the query bucket that holds it; one across a boundary is
        // covered by finer rows, and dropped.
        const merged = shape.buckets
          ? rows
              .filter((row) => plan.keeps(row.interval, row.bucketStart))
              .map((row) => ({ ...row, bucketStart: plan.bucketOf(row.bucketStart) }))
          : rows;
        return buildSeries(merged, shape, current, checkSeriesSize);
      });
      if (!computed) checkSeriesSize({ groups: series.length, points: series.reduce((sum, s) => sum + s.points.length, 0) });
      // The watermark moves on; the points over final buckets do not.
      return series.map((s) => ({ ...s, watermark: current.watermark }));
    },

    async top(access, request, budget = newBudget()) {
      const { tenant } = access;
      const { by, value, distinct, rankBy, limit, dimensions, where } = validateTopShape(access, request);
      const { from, to } = checkRange(request.from, request.to);
      if (bucketCountBetween(from, to, 'MINUTE') > 31 * 24 * 60) {
        throw badInput('top covers at most 31 days of MINUTE buckets');
      }
      const current = await finality();
      const allFinal = isFinal(bucketStart(to - 1, 'MINUTE'), 'MINUTE', current.watermark, current.allowedLatenessMs);
      const topRequest = {
        tenant,
        slice: sliceKey(access.slice),
        type: request.type,
        by: request.by,
        value: request.value ?? null,
        from,
        to,
        limit,
        dimensions: sortedKeys(dimensions),
        where: conditionsKey(where),
        distinct: request.distinct ?? null,
        rankBy,
      };
      return cached('top', allFinal, topRequest, async () => {
        // The MINUTE buckets overlapping [from, to), read as whole days and hours where they can be.
        const blocks = coarsestCover(bucketStart(from, 'MINUTE'), bucketEnd(bucketStart(to - 1, 'MINUTE'), 'MINUTE'));
        const maxRows = budget.rowsLeft();
        const reads = await Promise.all(
          blocks.map((block) =>
            seriesStore.readRollups({ tenant, type: request.type, ...block, valueKey: request.value ?? null, maxRows }),
          ),
        );
        const rows = reads.flat();
        budget.spendRows(rows.length, 'the top query reads rollup rows');
        return buildTop(rows, { by, value, distinct, rankBy, dimensions, where, limit });
      });
    },

    async eventTypes(access, asked, budget = newBudget()) {
      if (asked) {
        if (asked.length > limits.maxEventTypes) {
          throw queryTooLarge('types', limits.maxEventTypes, asked.length, 'eventTypes names too many types');
        }
        asked.forEach((type, index) => validateTypeName(type, `types[${index}]`));
      }
      // Types outside the slice are left out, as unknown ones are.
      const types = typesInSlice(access, asked);
      if (types !== null && types.length === 0) return [];
      const rows = await seriesStore.readCatalog(access.tenant, {
        ...(types ? { types: [...new Set(types)] } : {}),
        maxTypes: limits.maxEventTypes,
      });
      const summaries = mergeCatalog(rows);
      if (summaries.length > limits.maxEventTypes) {
        throw queryTooLarge('types', limits.maxEventTypes, null, "the tenant's catalog holds too many event types to list at once");
      }
      if (access.slice.where.length === 0) return summaries;
      // The catalog counts every event of a type: a slice with conditions is summed from its rows.
      const sliced: EventTypeSummary[] = [];
      for (const whole of summaries) {
        const summary = await summarizeSlice(seriesStore, access, whole, budget);
        if (summary) sliced.push(summary);
      }
      return sliced;
    },

    newBudget,

    finality,
  };
}
