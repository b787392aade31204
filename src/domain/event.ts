/** The vocabulary shared by every layer: what an event is once ingest has accepted it. */

export type DimensionValue = string | number | boolean;

/** Every event, rollup, quarantine entry and subscription belongs to one tenant. */
export const DEFAULT_TENANT = 'default';

/**
 * An event as ingest writes it to the log: validated, normalised and skew-corrected.
 * Times are epoch milliseconds (UTC), which is the precision of the DateTime scalar.
 */
export interface AcceptedEvent {
  tenant: string;
  id: string;
  type: string;
  /** Event time, already corrected by `clockCorrectionMs`. */
  timestamp: number;
  /** Server time at which ingest accepted the event. */
  receivedAt: number;
  /** `receivedAt - sentAt` of the batch, added to the client's timestamp; 0 when not corrected. */
  clockCorrectionMs: number;
  source: string | null;
  dimensions: Record<string, DimensionValue>;
  values: Record<string, number>;
  /**
   * Values whose different occurrences are counted (a user id, a session id), by key; never
   * dimensions, so they add no rollup rows. Absent when the event carries none (and on events
   * accepted before distinct counts existed).
   */
  distinct?: Record<string, string>;
  properties: Record<string, unknown> | null;
}

/** Where a record sits in the log. Offsets grow by at least one per record within a partition. */
export interface LogPosition {
  partition: number;
  offset: number;
}

/**
 * Why a stored event is not counted in rollups. `null` means counted.
 * - TOO_LATE: older than the watermark minus the allowed lateness (its buckets are final).
 * - FUTURE: further ahead of its receive time than the future tolerance.
 */
export type QuarantineReason = 'TOO_LATE' | 'FUTURE';

/** An event as the event store keeps it: the accepted event plus what the processor decided. */
export interface StoredEvent extends AcceptedEvent {
  /** The log position of the first record that carried this id: the one occurrence that counts. */
  position: LogPosition;
  quarantine: QuarantineReason | null;
}

/**
 * Dimensions are compared as strings (`true` matches "true", 3 matches "3"), so grouping and
 * filtering always go through this one conversion.
 */
export function dimensionText(value: DimensionValue): string {
  return String(value);
}

/** The dimensions of an event in their compared form. */
export function dimensionsAsText(dimensions: Record<string, DimensionValue>): Record<string, string> {
  const text: Record<string, string> = {};
  for (const [key, value] of Object.entries(dimensions)) text[key] = dimensionText(value);
  return text;
}

/**
 * A canonical, order-independent key for one combination of dimension values: two events with
 * the same dimensions (in any key order, `1` or `"1"`) share one rollup row.
 */
export function dimensionsKey(dimensions: Record<string, DimensionValue>): string {
  const pairs = Object.keys(dimensions)
    .sort()
    .map((key) => [key, dimensionText(dimensions[key]!)]);
  return JSON.stringify(pairs);
}

/**
 * The value of dimension `key`, or undefined when the event has none. Dimensions are plain
 * objects (from JSON), so a key such as `constructor` or `toString` would otherwise read a
 * member of Object.prototype; only the event's own keys count.
 */
export function dimensionOf<V>(dimensions: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(dimensions, key) ? dimensions[key] : undefined;
}

/** True when every key of `filter` is present in `dimensions` with the same text. */
export function matchesDimensions(
  dimensions: Record<string, DimensionValue>,
  filter: Record<string, DimensionValue> | null | undefined,
): boolean {
  if (!filter) return true;
  for (const [key, expected] of Object.entries(filter)) {
    const actual = dimensionOf(dimensions, key);
    if (actual === undefined || dimensionText(actual) !== dimensionText(expected)) return false;
  }
  return true;
}
