/**
 * Which window partitions of the rollups table hold data, kept in the rollup_windows table: the
 * purge finds every partition to delete through it (a partition key cannot be listed cheaply),
 * and reads over more windows than are worth probing one by one start from it.
 */
import type { Interval } from '../../domain/interval.ts';
import type { RollupRow } from '../../ports/series-store.ts';
import { WINDOW_MS, toBigInt, toNumber, windowStartOf, type CassandraStatements } from './cassandra-statements.ts';

/**
 * A range spanning more windows than this (only possible outside the API's own limits) is
 * served from the window registry rather than by probing every window, most of them empty.
 */
const MAX_PROBED_WINDOWS = 256;
/**
 * A process re-registers a window it writes to after this long, so a window another instance
 * purged meanwhile gets back into the registry and is purged again later.
 */
const WINDOW_REGISTRATION_REFRESH_MS = 5 * 60_000;
/** Past this many cached registrations, stale ones are dropped (they would be re-sent anyway). */
const MAX_CACHED_WINDOW_REGISTRATIONS = 10_000;

/** One window partition of one series: the rollups partition key. */
export interface WindowRef {
  interval: Interval;
  windowStart: number;
  tenant: string;
  type: string;
}

export interface WindowRegistry {
  /**
   * Records the windows these rows land in, before the rows themselves, so the purge can always
   * find a partition that holds data. Each process writes a window once per refresh period, not
   * once per row. A window purged by another instance and then written again within that period
   * (a very late replay) stays unregistered until the next refresh; the SECOND-row TTL catches
   * anything that slips through for good.
   */
  register(rows: readonly RollupRow[]): Promise<void>;
  /** The window partitions of a series that may hold buckets in [from, to), in time order. */
  windowsOverlapping(tenant: string, type: string, interval: Interval, from: number, to: number): Promise<number[]>;
  /** Every registered window of the interval that starts before `before`, of every series. */
  windowsBefore(interval: Interval, before: number): Promise<WindowRef[]>;
  /** Forgets windows whose rows are gone. */
  unregister(windows: readonly WindowRef[]): Promise<void>;
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
      await executeEach(
        cql.registerWindow,
        [...due.values()].map((ref) => [ref.interval, toBigInt(ref.windowStart), ref.tenant, ref.type]),
      );
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
      // The registry partition holds every tenant and type of the interval; such wide ranges
      // are rare enough that filtering here beats a second registry table.
      const registered = await selectAll(cql.windowsBetween, [interval, toBigInt(first), toBigInt(to)]);
      return registered
        .filter((row) => row.get('tenant') === tenant && row.get('type') === type)
        .map((row) => toNumber(row.get('window_start'), 'window_start'));
    },

    async windowsBefore(interval, before) {
      return (await selectAll(cql.windowsBefore, [interval, toBigInt(before)])).map((row) => ({
        interval,
        windowStart: toNumber(row.get('window_start'), 'window_start'),
        tenant: row.get('tenant'),
        type: row.get('type'),
      }));
    },

    async unregister(windows) {
      await executeEach(
        cql.unregisterWindow,
        windows.map((ref) => [ref.interval, toBigInt(ref.windowStart), ref.tenant, ref.type]),
      );
      for (const ref of windows) registeredWindows.delete(windowKey(ref.interval, ref.windowStart, ref.tenant, ref.type));
    },
  };
}
