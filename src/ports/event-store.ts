import type { DimensionValue, LogPosition, QuarantineReason, StoredEvent } from '../domain/event.ts';

export interface EventQuery {
  tenant: string;
  types?: string[] | null;
  source?: string | null;
  /** Inclusive, event time (ms). */
  from?: number | null;
  /** Exclusive, event time (ms). */
  to?: number | null;
  /** Exact match on each key, compared as strings. */
  dimensions?: Record<string, DimensionValue> | null;
}

/** Keyset position for newest-first pages: stable while new events arrive. */
export interface EventPageKey {
  timestamp: number;
  id: string;
}

/** Keyset position for quarantine pages, newest receipt first. */
export interface QuarantinePageKey {
  receivedAt: number;
  id: string;
}

/** What the store holds for an id after a claim: the occurrence that owns it. */
export interface EventClaim {
  position: LogPosition;
  quarantine: QuarantineReason | null;
}

/** Raw events, keyed by (tenant, id). */
export interface EventStore {
  /**
   * Stores each event whose (tenant, id) is not stored yet, and leaves stored ones untouched.
   * Resolves with the claim of every given id (keyed by `eventKey`), whoever made it: the
   * processor counts an occurrence only if it owns the claim, which makes replays harmless.
   */
  claim(events: StoredEvent[]): Promise<Map<string, EventClaim>>;
  /** Counted (not quarantined) events with these ids, in no particular order. */
  findByIds(tenant: string, ids: readonly string[]): Promise<StoredEvent[]>;
  /** Counted events matching the query, newest event time first (ties: id descending). */
  listEvents(query: EventQuery, limit: number, after?: EventPageKey | null): Promise<StoredEvent[]>;
  /**
   * Counted events of the tenant whose log position is after `after` (per partition; all of a
   * partition `after` does not name), ordered by partition then offset: the replay that lets
   * a subscriber resume from a stream cursor.
   */
  listAfterPositions(tenant: string, after: ReadonlyMap<number, number>, limit: number): Promise<StoredEvent[]>;
  /** Quarantined events of the tenant, newest receipt first. */
  listQuarantine(tenant: string, limit: number, after?: QuarantinePageKey | null): Promise<StoredEvent[]>;
  checkHealth(): Promise<void>;
  close(): Promise<void>;
}

/** The key of an event in claim results. */
export function eventKey(tenant: string, id: string): string {
  return `${tenant}\u0000${id}`;
}
