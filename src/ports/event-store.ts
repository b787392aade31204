import type { DimensionValue, LogPosition, QuarantineReason, StoredEvent } from '../domain/event.ts';
import type { DimensionCondition } from '../domain/dimension-conditions.ts';
import type { SetAsidePageKey, SetAsideRecord } from '../domain/set-aside.ts';

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
  /**
   * Every condition holds (ANDed with `dimensions`), exactly as `matchesConditions` decides:
   * `neq` and `notIn` also hold where the dimension is absent.
   */
  where?: readonly DimensionCondition[] | null;
}

/** A page of `listEvents`. */
export interface EventPage {
  /** Up to `limit` matching events, newest first. */
  events: StoredEvent[];
  /**
   * Null when the store looked as far as the page needed. Otherwise the store stopped after
   * examining `maxScanned` events (newest first from `after`, of the types and time range asked)
   * with fewer than `limit` matches: the key of the last one it examined, where the next page
   * goes on. A store whose reads run in this process (embedded SQLite) honours the bound, so a
   * filter that matches nothing cannot hold the event loop for the tenant's whole history; a
   * store that scans on its own server (MongoDB) may look further and then always gives null.
   */
  scannedUpTo: EventPageKey | null;
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

/**
 * The part of a tenant's events a read may return (an access token's slice): these types only
 * (null: every type; empty: none) and events meeting every condition, as `matchesConditions` decides.
 */
export interface EventSliceFilter {
  readonly types: readonly string[] | null;
  readonly where: readonly DimensionCondition[];
}

/** Whose set-aside records a listing shows: one tenant's, or every one (records of no tenant included). */
export type SetAsideScope = { tenant: string } | 'ALL';

/** Raw events, keyed by (tenant, id), and the log records the processor set aside. */
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
  listEvents(query: EventQuery, limit: number, after?: EventPageKey | null, maxScanned?: number): Promise<EventPage>;
  /**
   * Counted events of the tenant whose log position is after `after` and at or before `through`,
   * in the partitions `through` names (a partition `after` does not name is read from its start),
   * ordered by partition then offset: the replay that lets a subscriber resume from a stream
   * cursor. `through` is what is stored (each partition's stored-through offset), and it is not
   * optional: the claims of a batch still in flight are visible before its rollups and progress
   * are, and a replay must never read them ahead of it.
   */
  listAfterPositions(
    tenant: string,
    after: ReadonlyMap<number, number>,
    limit: number,
    through: ReadonlyMap<number, number>,
  ): Promise<StoredEvent[]>;
  /**
   * Quarantined events of the tenant, newest receipt first; with `within`, only those it holds,
   * filtered in the store's query so that a page holds `limit` events whenever as many exist.
   */
  listQuarantine(tenant: string, limit: number, after?: QuarantinePageKey | null, within?: EventSliceFilter | null): Promise<StoredEvent[]>;
  /**
   * Keeps the records (one already kept at the same position stays as it is), and releases the
   * claim each record's position owns, if any: the event was never counted, and a replay of
   * the record (at a new position) must be able to claim its id. Both halves are harmless to
   * repeat, so the processor may call this again for a batch replayed after a crash.
   */
  setAside(records: SetAsideRecord[]): Promise<void>;
  /** Set-aside records in scope, newest first (ties: partition, then offset, descending). */
  listSetAside(scope: SetAsideScope, limit: number, after?: SetAsidePageKey | null): Promise<SetAsideRecord[]>;
  /** The records kept at these positions, in no particular order. */
  findSetAside(positions: readonly LogPosition[]): Promise<SetAsideRecord[]>;
  /** Forgets the records at these positions (they were replayed). */
  deleteSetAside(positions: readonly LogPosition[]): Promise<void>;
  checkHealth(): Promise<void>;
  close(): Promise<void>;
}

/** The key of an event in claim results. */
export function eventKey(tenant: string, id: string): string {
  return `${tenant}\u0000${id}`;
}
