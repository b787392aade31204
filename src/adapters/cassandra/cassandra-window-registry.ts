/**
 * Which window partitions of the rollups table hold data: the purge finds every partition to
 * delete through it (a partition key cannot be listed cheaply), and reads over more windows
 * than are worth probing one by one start from it.
 *
 * Three tables (migration 9):
 *   rollup_windows_by_span  ((interval, span_start), window_start, tenant, type): the windows of
 *                           one span (WINDOWS_PER_SPAN windows: a day of SECOND windows);
 *   rollup_window_spans     ((interval), span_start): which spans hold registered windows;
 *   rollup_purges           (interval): the purge's cursor, `purged_before`.
 *
 * Why this shape: Cassandra keeps a deletion as a tombstone, and a read passes every tombstone
 * in the range it asks for (it warns past 1,000 and fails past 100,000). So the registry never
 * deletes an entry on its own: a purge drops a span's whole partition (one marker) once its cut
 * has passed the span's end, and every read of the registry starts at or after the cursor, past
 * the spans already dropped. A purge therefore reads the windows that may still hold rows at or
 * after the previous cut, up to the new one, and nothing else. Spans dropped are also removed
 * from rollup_window_spans; those deletions lie below the cursor, where no read goes.
 */
import type { Interval } from '../../domain/interval.ts';
import { INTERVALS } from '../../domain/interval.ts';
import type { RollupRow } from '../../ports/series-store.ts';
import {
  CONCURRENCY,
  WINDOW_MS,
  mapConcurrently,
  toBigInt,
  toNumber,
  windowStartOf,
  type CassandraStatements,
} from './cassandra-statements.ts';

/**
 * A range spanning more windows than this (only possible outside the API's own limits) is
 * served from the window registry rather than by probing every window, most of them empty.
 */
const MAX_PROBED_WINDOWS = 256;
/**
 * A process re-registers a window it writes to after this long: cheap insurance, since an entry
 * is only ever removed with its whole span, once the purge has passed the span's end.
 */
const WINDOW_REGISTRATION_REFRESH_MS = 5 * 60_000;
/** Past this many cached registrations, stale ones are dropped (they would be re-sent anyway). */
const MAX_CACHED_WINDOW_REGISTRATIONS = 10_000;
/**
 * Windows per registry partition: a day of SECOND windows (24 × 1 h), six days of MINUTE ones.
 * At a few hundred (tenant, type) pairs a SECOND span holds some thousands of entries, and a
 * purge (once a minute) reads at most two windows' worth of them.
 */
const WINDOWS_PER_SPAN = 24;
/**
 * How far back the registry of migration 1 is searched for SECOND windows when the SECOND rows
 * have no TTL: older rows would have been purged by any build for weeks (retention is hours).
 */
const LEGACY_SECOND_LOOKBACK_MS = 30 * 86_400_000;
/** Where a range starts when nothing is known yet: events are dated from 1970 on (validate-event.ts). */
const NO_LOWER_BOUND = 0;

export function spanMs(interval: Interval): number {
  return WINDOW_MS[interval] * WINDOWS_PER_SPAN;
}

/** The start of the registry span a window belongs to; spans are epoch-aligned like windows. */
export function spanStartOf(interval: Interval, windowStart: number): number {
  const size = spanMs(interval);
  return Math.floor(windowStart / size) * size;
}

/** One window partition of one series: the rollups partition key. */
export interface WindowRef {
  interval: Interval;
  windowStart: number;
  tenant: string;
  type: string;
}

/** What a purge must visit, and what it read to find out. */
export interface PurgePlan {
  /** Every registered window that may hold a bucket before the cut, not purged whole before. */
  windows: WindowRef[];
  /** Spans that end at or before the cut: every window in them is purged whole by this purge. */
  emptiedSpans: number[];
  /** Registry entries read (windows), for the purge report. */
  registryRowsRead: number;
  /** The cursor the plan started from: the previous purge's cut, null before the first purge. */
  previousCut: number | null;
}

export interface WindowRegistry {
  /**
   * Records the windows these rows land in, before the rows themselves, so the purge can always
   * find a partition that holds data. Each process writes a window once per refresh period, not
   * once per row. The processor never writes a SECOND bucket before its own purge cut
   * (processor.ts), so no write lands in a span the purge has dropped; the SECOND-row TTL
   * catches anything that slips through anyway (clocks apart by more than a window).
   */
  register(rows: readonly RollupRow[]): Promise<void>;
  /** The window partitions of a series that may hold buckets in [from, to), in time order. */
  windowsOverlapping(tenant: string, type: string, interval: Interval, from: number, to: number): Promise<number[]>;
  /** The windows a purge of the interval's buckets before `before` must visit. */
  planPurge(interval: Interval, before: number): Promise<PurgePlan>;
  /**
   * After the plan's rows are deleted: drops the emptied spans' partitions and moves the cursor
   * up to `before` (never down). A failure in between leaves the cursor where it was, and the
   * next purge visits the same windows again, which deletes nothing twice.
   */
  finishPurge(interval: Interval, before: number, plan: PurgePlan): Promise<void>;
  /**
   * Copies the windows of the registry of migration 1 into this one, once per interval (a
   * keyspace an older build wrote); later opens read one row per interval to learn it is done.
   */
  carryOverLegacyRegistry(options: { secondRowTtlSeconds: number; now: number; legacyRegistryIsNew: boolean }): Promise<void>;
}

/**
 * Computed for every row written, so kept to one string template. Unambiguous without
 * escaping: the interval and the window start never hold ":", and the tenant's length says
 * where the tenant ends, so the type is the rest.
 */
const windowKey = (interval: Interval, windowStart: number, tenant: string, type: string) =>
  `${interval}:${windowStart}:${tenant.length}:${tenant}:${type}`;

export function createWindowRegistry({ cql, executeEach, selectAll }: CassandraStatements): WindowRegistry {
  /** When this process last registered each window, keyed by windowKey. */
  const registeredWindows = new Map<string, number>();

  async function purgedBeforeOf(interval: Interval): Promise<number | null> {
    const [state] = await selectAll(cql.selectPurgeState, [interval]);
    const purgedBefore = state?.get('purged_before');
    return purgedBefore === null || purgedBefore === undefined ? null : toNumber(purgedBefore, 'purged_before');
  }

  /**
   * The listed spans that overlap [from, to), and their registered windows in that range: spans
   * read concurrently, windows in time order.
   */
  async function registeredBetween(interval: Interval, from: number, to: number): Promise<{ spans: number[]; windows: WindowRef[] }> {
    const spans = (await selectAll(cql.spansBetween, [interval, toBigInt(spanStartOf(interval, from)), toBigInt(to)])).map((row) =>
      toNumber(row.get('span_start'), 'span_start'),
    );
    const perSpan = await mapConcurrently(spans, CONCURRENCY, (span) =>
      selectAll(cql.windowsOfSpanBetween, [interval, toBigInt(span), toBigInt(Math.max(from, span)), toBigInt(to)]),
    );
    const windows = perSpan.flat().map((row) => ({
      interval,
      windowStart: toNumber(row.get('window_start'), 'window_start'),
      tenant: row.get('tenant') as string,
      type: row.get('type') as string,
    }));
    return { spans, windows };
  }

  /**
   * Where reads of the registry start: the window the purge's last cut went through. Earlier
   * windows were purged whole, and their spans' deletions lie below it.
   */
  function firstLiveWindow(interval: Interval, purgedBefore: number | null): number {
    return purgedBefore === null ? NO_LOWER_BOUND : windowStartOf(interval, purgedBefore);
  }

  async function writeEntries(refs: Iterable<WindowRef>): Promise<void> {
    const entries: unknown[][] = [];
    const spans = new Map<string, unknown[]>();
    for (const ref of refs) {
      const span = spanStartOf(ref.interval, ref.windowStart);
      entries.push([ref.interval, toBigInt(span), toBigInt(ref.windowStart), ref.tenant, ref.type]);
      spans.set(`${ref.interval}:${span}`, [ref.interval, toBigInt(span)]);
    }
    // The span is listed with its first window; the order between the two writes does not
    // matter, since a purge that misses the new span now finds it the next minute.
    await Promise.all([executeEach(cql.registerWindow, entries), executeEach(cql.registerSpan, [...spans.values()])]);
  }

  return {
    async register(rows) {
      const now = Date.now();
      const due = new Map<string, WindowRef>();
      for (const row of rows) {
        const windowStart = windowStartOf(row.interval, row.bucketStart);
        const key = windowKey(row.interval, windowStart, row.tenant, row.type);
        const registeredAt = registeredWindows.get(key);
        if ((registeredAt === undefined || now - registeredAt > WINDOW_REGISTRATION_REFRESH_MS) && !due.has(key)) {
          due.set(key, { interval: row.interval, windowStart, tenant: row.tenant, type: row.type });
        }
      }
      if (due.size === 0) return;
      await writeEntries(due.values());
      for (const key of due.keys()) registeredWindows.set(key, now);
      if (registeredWindows.size > MAX_CACHED_WINDOW_REGISTRATIONS) {
        for (const [key, registeredAt] of registeredWindows) {
          if (now - registeredAt > WINDOW_REGISTRATION_REFRESH_MS) registeredWindows.delete(key);
        }
      }
    },

    async windowsOverlapping(tenant, type, interval, from, to) {
      const size = WINDOW_MS[interval];
      const first = windowStartOf(interval, from);
      if ((to - first) / size <= MAX_PROBED_WINDOWS) {
        const windows: number[] = [];
        for (let start = first; start < to; start += size) windows.push(start);
        return windows;
      }
      // A span's partition holds every tenant and type of the interval; such wide ranges are
      // rare enough that filtering here beats a registry per series.
      const start = Math.max(first, firstLiveWindow(interval, await purgedBeforeOf(interval)));
      const { windows: registered } = await registeredBetween(interval, start, to);
      return registered.filter((ref) => ref.tenant === tenant && ref.type === type).map((ref) => ref.windowStart);
    },

    async planPurge(interval, before) {
      const previousCut = await purgedBeforeOf(interval);
      const from = firstLiveWindow(interval, previousCut);
      const { spans, windows } = from < before ? await registeredBetween(interval, from, before) : { spans: [], windows: [] };
      // Every listed span the cut has passed, whether or not it still had windows past the
      // cursor: one left behind would never be read again, nor dropped.
      const emptiedSpans = spans.filter((span) => span + spanMs(interval) <= before);
      return { windows, emptiedSpans, registryRowsRead: windows.length, previousCut };
    },

    async finishPurge(interval, before, plan) {
      const spans = plan.emptiedSpans.map((span) => [interval, toBigInt(span)]);
      // The windows' partition first: a failure after it leaves a listed span with no entries,
      // which the next purge reads (nothing) and drops again.
      await executeEach(cql.dropSpanWindows, spans);
      await executeEach(cql.dropSpan, spans);
      if (plan.previousCut === null || before > plan.previousCut) {
        await executeEach(cql.savePurgedBefore, [[toBigInt(before), interval]]);
      }
      // Their entries are gone: a write there (which the processor does not make) registers again.
      const dropped = new Set(plan.emptiedSpans);
      for (const ref of plan.windows) {
        if (dropped.has(spanStartOf(interval, ref.windowStart))) {
          registeredWindows.delete(windowKey(ref.interval, ref.windowStart, ref.tenant, ref.type));
        }
      }
    },

    async carryOverLegacyRegistry({ secondRowTtlSeconds, now, legacyRegistryIsNew }) {
      for (const interval of INTERVALS) {
        const [state] = await selectAll(cql.selectPurgeState, [interval]);
        if (state?.get('legacy_registry_carried_over') === true) continue;
        // Created by this very start (a new keyspace): nothing in it to carry.
        const rows = legacyRegistryIsNew
          ? []
          : interval === 'SECOND'
            ? await legacySecondWindows(secondRowTtlSeconds, now)
            : await selectAll(cql.legacyWindows, [interval]);
        await writeEntries(
          rows.map((row) => ({
            interval,
            windowStart: toNumber(row.get('window_start'), 'window_start'),
            tenant: row.get('tenant') as string,
            type: row.get('type') as string,
          })),
        );
        await executeEach(cql.markLegacyRegistryCarriedOver, [[interval]]);
      }
    },
  };

  /**
   * The old purge deleted SECOND entries one by one, all of them in windows before its cut, so
   * that part of the partition may hold more deletions than Cassandra lets one read pass: it is
   * read one window at a time (each window's entries and deletions, at most one per series),
   * over the past windows whose rows can still exist. From the current window on, nothing was
   * ever purged, and one range read takes the rest.
   */
  async function legacySecondWindows(secondRowTtlSeconds: number, now: number) {
    const lookback = secondRowTtlSeconds > 0 ? secondRowTtlSeconds * 1000 + WINDOW_MS.SECOND : LEGACY_SECOND_LOOKBACK_MS;
    const current = windowStartOf('SECOND', now);
    const past: number[] = [];
    for (let start = windowStartOf('SECOND', now - lookback); start < current; start += WINDOW_MS.SECOND) past.push(start);
    const perWindow = await mapConcurrently(past, CONCURRENCY, (start) => selectAll(cql.legacyWindowsAt, ['SECOND', toBigInt(start)]));
    return [...perWindow.flat(), ...(await selectAll(cql.legacyWindowsFrom, ['SECOND', toBigInt(current)]))];
  }
}
