/** Writing events to the log and reading log records back into events: the record's key and value. Pure. */
import type { AcceptedEvent, DimensionValue } from './event.ts';
import { findIllFormedString } from './well-formed.ts';
import { MAP_KEY_PATTERN, MAX_DISTINCT_KEYS, MAX_DISTINCT_VALUE_LENGTH, MAX_PROPERTIES_DEPTH, TYPE_PATTERN } from './event-rules.ts';

/** The log key: one tenant's events of one type stay in order (and in one Kafka partition). */
export function logKey(tenant: string, type: string): string {
  return `${tenant}:${type}`;
}

/** The log record of an accepted event. */
export function encodeLogRecord(event: AcceptedEvent): string {
  return JSON.stringify(event);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isDimensionMap(value: unknown): value is Record<string, DimensionValue> {
  return (
    isRecord(value) &&
    Object.entries(value).every(
      ([key, v]) =>
        MAP_KEY_PATTERN.test(key) && (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))),
    )
  );
}

function isValueMap(value: unknown): value is Record<string, number> {
  return (
    isRecord(value) && Object.entries(value).every(([key, v]) => MAP_KEY_PATTERN.test(key) && typeof v === 'number' && Number.isFinite(v))
  );
}

/**
 * Whether the record text may hold a lone surrogate once parsed. `JSON.stringify` writes a lone
 * surrogate as a `\udXXX` escape (and UTF-8 transport turns a raw one into U+FFFD), so text that
 * is well-formed and has no such escape parses into well-formed strings only: the common case
 * then skips walking every string of the event. A false alarm (an escaped pair, or a literal
 * backslash before "ud8") only costs that walk.
 */
function mayHoldLoneSurrogates(text: string): boolean {
  return !text.isWellFormed() || /\\u[dD][89a-fA-F]/.test(text);
}

/** `distinct` as ingest writes it: a few string ids under valid keys (absent when the event has none). */
function isDistinctMap(value: unknown): value is Record<string, string> {
  if (!isRecord(value)) return false;
  const entries = Object.entries(value);
  return (
    entries.length >= 1 &&
    entries.length <= MAX_DISTINCT_KEYS &&
    entries.every(([key, v]) => MAP_KEY_PATTERN.test(key) && typeof v === 'string' && v.length <= MAX_DISTINCT_VALUE_LENGTH)
  );
}

function hasIllFormedString(event: AcceptedEvent): boolean {
  return (
    !event.tenant.isWellFormed() ||
    !event.id.isWellFormed() ||
    (event.source !== null && !event.source.isWellFormed()) ||
    findIllFormedString(event.dimensions, 'dimensions', 1) !== null ||
    (event.distinct !== undefined && findIllFormedString(event.distinct, 'distinct', 1) !== null) ||
    (event.properties !== null && findIllFormedString(event.properties, 'properties', MAX_PROPERTIES_DEPTH) !== null)
  );
}

/**
 * The event a log record carries, or null for a poison record (not JSON, or not what ingest
 * writes). Ingest validated every event, so a poison record means a foreign producer, a
 * corrupted write, or a record written before a rule existed: it is never retried forever.
 * What ingest refuses is refused here too: keys a store may refuse (`a.b`, `$x`) or that would
 * reach an object's prototype (`__proto__`), types outside the type rule, and strings that are
 * not well-formed Unicode (stored as UTF-8 they become U+FFFD, so different ids would collide).
 * The event is rebuilt from its known fields, so nothing else a record carries travels on.
 */
export function decodeLogRecord(value: string): AcceptedEvent | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return null;
  }
  if (!isRecord(parsed)) return null;
  const e = parsed;
  if (
    !(
      typeof e.tenant === 'string' &&
      typeof e.id === 'string' &&
      typeof e.type === 'string' &&
      TYPE_PATTERN.test(e.type) &&
      typeof e.timestamp === 'number' &&
      Number.isFinite(e.timestamp) &&
      typeof e.receivedAt === 'number' &&
      Number.isFinite(e.receivedAt) &&
      typeof e.clockCorrectionMs === 'number' &&
      Number.isFinite(e.clockCorrectionMs) &&
      (e.source === null || typeof e.source === 'string') &&
      isDimensionMap(e.dimensions) &&
      isValueMap(e.values) &&
      (e.distinct === undefined || isDistinctMap(e.distinct)) &&
      (e.properties === null || isRecord(e.properties))
    )
  ) {
    return null;
  }
  const event: AcceptedEvent = {
    tenant: e.tenant,
    id: e.id,
    type: e.type,
    timestamp: e.timestamp,
    receivedAt: e.receivedAt,
    clockCorrectionMs: e.clockCorrectionMs,
    source: e.source as string | null,
    dimensions: e.dimensions,
    values: e.values,
    ...(e.distinct === undefined ? {} : { distinct: e.distinct as Record<string, string> }),
    properties: e.properties as Record<string, unknown> | null,
  };
  if (mayHoldLoneSurrogates(value) && hasIllFormedString(event)) return null;
  return event;
}
