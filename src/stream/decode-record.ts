/** Reading log records back into events. Pure. */
import type { AcceptedEvent } from '../domain/event.ts';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The event a log record carries, or null for a poison record (not JSON, or not the shape ingest
 * writes). Ingest validated every event, so a poison record means a foreign producer or a
 * corrupted write: it is counted and skipped, never retried forever.
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
    isRecord(e.dimensions) &&
    isRecord(e.values) &&
    Object.values(e.values).every((v) => typeof v === 'number' && Number.isFinite(v)) &&
    (e.properties === null || isRecord(e.properties));
  return valid ? (e as unknown as AcceptedEvent) : null;
}
