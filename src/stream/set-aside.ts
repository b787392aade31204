/** Building set-aside entries from log records. Pure. */
import type { LogRecord } from '../ports/event-log.ts';
import type { SetAsideReason, SetAsideRecord } from '../domain/set-aside.ts';

/** Ids are at most 128 characters at ingest; a foreign record's is cut to a readable length. */
const MAX_NAME_CHARS = 256;

function readableName(value: unknown): string | null {
  if (typeof value !== 'string' || value.length === 0) return null;
  return value.slice(0, MAX_NAME_CHARS).toWellFormed();
}

/**
 * The tenant and event id a record names, read as far as it can be: a record that is not even
 * JSON has neither, and belongs to no tenant (only an operator sees it).
 */
export function namesOfRecord(value: string): { tenant: string | null; eventId: string | null } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return { tenant: null, eventId: null };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { tenant: null, eventId: null };
  const fields = parsed as { tenant?: unknown; id?: unknown };
  return { tenant: readableName(fields.tenant), eventId: readableName(fields.id) };
}

export function setAsideEntry(record: LogRecord, reason: SetAsideReason, error: string, attempts: number, now: number): SetAsideRecord {
  return {
    position: { partition: record.position.partition, offset: record.position.offset },
    ...namesOfRecord(record.value),
    reason,
    error,
    // Lone surrogates cannot be stored as UTF-8 (SQLite and BSON would silently replace them);
    // replacing them here makes what is kept exactly what is shown and replayed.
    record: record.value.toWellFormed(),
    attempts,
    setAsideAt: now,
  };
}

/** The identity of an entry in the API: its log position. */
export function setAsideId(position: { partition: number; offset: number }): string {
  return `${position.partition}:${position.offset}`;
}

/** The position an API id names, or null when it is not one. */
export function positionOfSetAsideId(id: string): { partition: number; offset: number } | null {
  const match = /^(\d{1,9}):(\d{1,16})$/.exec(id);
  if (!match) return null;
  const partition = Number(match[1]);
  const offset = Number(match[2]);
  return Number.isSafeInteger(offset) ? { partition, offset } : null;
}

/** The event fields a record must carry, with the type ingest writes them as. */
const EVENT_FIELDS: [string, (value: unknown) => boolean][] = [
  ['tenant', (v) => typeof v === 'string'],
  ['id', (v) => typeof v === 'string'],
  ['type', (v) => typeof v === 'string'],
  ['timestamp', (v) => Number.isFinite(v)],
  ['receivedAt', (v) => Number.isFinite(v)],
  ['clockCorrectionMs', (v) => Number.isFinite(v)],
  ['source', (v) => v === null || typeof v === 'string'],
  ['dimensions', (v) => typeof v === 'object' && v !== null && !Array.isArray(v)],
  ['values', (v) => typeof v === 'object' && v !== null && !Array.isArray(v)],
  ['properties', (v) => v === null || (typeof v === 'object' && !Array.isArray(v))],
];

/** Why a record the decoder refused is not an event, as precisely as a quick look can tell. */
export function whyUndecodable(value: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    return `not JSON: ${(error as Error).message}`.toWellFormed();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'not a JSON object';
  const record = parsed as Record<string, unknown>;
  const wrong = EVENT_FIELDS.find(([field, valid]) => !Object.hasOwn(record, field) || !valid(record[field]));
  if (wrong) return `not an event as ingest writes it: "${wrong[0]}" is missing or of the wrong type`;
  return 'not an event as ingest writes it: a key or value of dimensions or values, or an id, is not one ingest accepts';
}
