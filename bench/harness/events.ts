/**
 * The benchmark event: about 300 bytes of JSON, 3 dimensions, 2 values (performance.md), and
 * the same event as Streamlens writes it to its log (validated, stamped), for the baselines.
 */
import { validateEvent, type EventInput } from '../../src/ingest/validate-event.ts';
import { logKey } from '../../src/domain/log-record.ts';
import { DEFAULT_TENANT } from '../../src/domain/event.ts';

const COUNTRIES = ['NL', 'DE', 'US', 'FR', 'GB', 'ES', 'IT', 'PL', 'SE', 'BE'];
const PLANS = ['free', 'pro', 'team'];
const DEVICES = ['mobile', 'desktop'];
const RUN = Math.random().toString(36).slice(2, 8);

export interface BenchEvent {
  id: string;
  type: string;
  timestamp?: string;
  source: string;
  dimensions: { country: string; plan: string; device: string };
  values: { amount: number; duration_ms: number };
  properties: { page: string; referrer: string };
  /** Keys counted by `distinct` (P11 names a user); most scenarios send none. */
  distinct?: Record<string, string>;
}

let sequence = 0;

/** A fresh event (a unique id); `timestampMs` sets its event time, else the server's clock is used. */
export function benchEvent(type: string, timestampMs?: number, i = sequence++): BenchEvent {
  return {
    id: `${type}-${RUN}-${i}`,
    type,
    ...(timestampMs === undefined ? {} : { timestamp: new Date(timestampMs).toISOString() }),
    source: 'bench',
    dimensions: { country: COUNTRIES[i % 10]!, plan: PLANS[i % 3]!, device: DEVICES[i % 2]! },
    values: { amount: (i % 100) + 0.99, duration_ms: 100 + (i % 900) },
    properties: { page: `/products/${i % 50}`, referrer: 'https://example.com/campaign?utm_source=bench' },
  };
}

export function benchBatch(type: string, size: number, timestampMs?: number): BenchEvent[] {
  return Array.from({ length: size }, () => benchEvent(type, timestampMs));
}

const LIMITS = { maxPropertiesBytes: 16_384 };

/** The log record Streamlens appends for this event: key `tenant:type`, value the accepted event as JSON. */
export function logRecordOf(event: BenchEvent, receivedAt = Date.now()): { key: string; value: string } {
  const input: EventInput = { ...event, timestamp: event.timestamp ? new Date(event.timestamp) : null };
  const result = validateEvent(input, { tenant: DEFAULT_TENANT, receivedAt, sentAt: null, limits: LIMITS, newId: () => event.id });
  if (!result.ok) throw new Error(`the bench event is invalid: ${JSON.stringify(result.error)}`);
  return { key: logKey(DEFAULT_TENANT, event.type), value: JSON.stringify(result.event) };
}

export function sizeOfEventJson(): number {
  return Buffer.byteLength(JSON.stringify(benchEvent('purchase', undefined, 12345)));
}
