/**
 * Records the stream processor set aside: log records it could not count, kept with the reason
 * so that nothing accepted is lost silently and an operator can replay them once the cause is
 * fixed. Separate from the quarantine on purpose: a quarantined event was processed and stored
 * (it is only not counted, by the event-time rules), while a set-aside record may not be an
 * event at all, or one the stores refuse to hold; what is kept is the log record itself.
 */
import type { LogPosition } from './event.ts';

/**
 * - UNDECODABLE: the record is not an event (not JSON, or not the shape ingest writes): a
 *   foreign producer or a corrupted write. Set aside at once.
 * - UNPROCESSABLE: an event whose processing failed on its own, repeatedly, while the stores
 *   answered: a record the processor or a store cannot handle (a bug, or content a store refuses).
 */
export const SET_ASIDE_REASONS = ['UNDECODABLE', 'UNPROCESSABLE'] as const;
export type SetAsideReason = (typeof SET_ASIDE_REASONS)[number];

export interface SetAsideRecord {
  /** Where the record sits in the log: unique, and the entry's identity. */
  position: LogPosition;
  /** The tenant the record names, or null when it cannot be read (then only an operator sees it). */
  tenant: string | null;
  /** The event id the record names, when it can be read. */
  eventId: string | null;
  reason: SetAsideReason;
  /** What failed: the last error's message (or why the record does not decode). */
  error: string;
  /** The log record's text as read, made well-formed Unicode, so that any store can keep it. */
  record: string;
  /** How many times processing was tried before the record was set aside. */
  attempts: number;
  setAsideAt: number;
}

/** Keyset position for pages of set-aside records, newest first. */
export interface SetAsidePageKey {
  setAsideAt: number;
  partition: number;
  offset: number;
}
