/** Reading log records back into events. Pure. */
import type { AcceptedEvent } from '../domain/event.ts';
import { MAP_KEY_PATTERN } from '../ingest/validate-event.ts';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isDimensionMap(value: unknown): boolean {
  return (
    isRecord(value) &&
    Object.entries(value).every(
      ([key, v]) => MAP_KEY_PATTERN.test(key) && (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))),
    )
  );
}

function isValueMap(value: unknown): boolean {
  return isRecord(value) && Object.entries(value).every(([key, v]) => MAP_KEY_PATTERN.test(key) && typeof v === 'number' && Number.isFinite(v));
}

/**
 * The event a log record carries, or null for a poison record (not JSON, or not the shape ingest
 * writes). Ingest validated every event, so a poison record means a foreign producer or a
 * corrupted write: it is counted and skipped, never retried forever. Keys are re-checked because
 * a store may refuse a key ingest would have refused (`a.b`, `$x`), which would otherwise fail
 * the batch on every redelivery.
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
  const valid =
    typeof e.tenant === 'string' &&
    typeof e.id === 'string' &&
    typeof e.type === 'string' &&
    Number.isFinite(e.timestamp) &&
    Number.isFinite(e.receivedAt) &&
    Number.isFinite(e.clockCorrectionMs) &&
    (e.source === null || typeof e.source === 'string') &&
    isDimensionMap(e.dimensions) &&
    isValueMap(e.values) &&
    (e.properties === null || isRecord(e.properties));
  return valid ? (e as unknown as AcceptedEvent) : null;
}
