/**
 * Event-time rules: the watermark, lateness and final buckets. Pure.
 *
 * The watermark is "data complete up to": it trails the largest event time seen by the
 * out-of-orderness bound (how it is computed, committed and shown: watermark.ts). A bucket is
 * final once the watermark has passed its end plus the allowed lateness; an event that would
 * land in a final bucket is quarantined instead, so a final bucket never changes again.
 */
import type { AcceptedEvent, QuarantineReason } from '../domain/event.ts';
import { bucketEnd, type Interval } from '../domain/interval.ts';

export interface EventTimePolicy {
  outOfOrdernessMs: number;
  idlePartitionMs: number;
  allowedLatenessMs: number;
  futureToleranceMs: number;
}

/** Why the event must not be counted, or null when it counts. */
export function quarantineReason(event: AcceptedEvent, watermark: number | null, policy: EventTimePolicy): QuarantineReason | null {
  if (event.timestamp > event.receivedAt + policy.futureToleranceMs) return 'FUTURE';
  if (watermark !== null && event.timestamp < watermark - policy.allowedLatenessMs) return 'TOO_LATE';
  return null;
}

export function isFinal(start: number, interval: Interval, watermark: number | null, allowedLatenessMs: number): boolean {
  return watermark !== null && watermark >= bucketEnd(start, interval) + allowedLatenessMs;
}
