/**
 * Event-time rules: the watermark, lateness and final buckets. Pure.
 *
 * The watermark is "data complete up to": it trails the largest event time seen by the
 * out-of-orderness bound. A bucket is final once the watermark has passed its end plus the
 * allowed lateness; an event that would land in a final bucket is quarantined instead, so a
 * final bucket never changes again.
 */
import type { AcceptedEvent, QuarantineReason } from '../domain/event.ts';
import { bucketEnd, type Interval } from '../domain/interval.ts';
import type { PartitionProgress } from '../ports/series-store.ts';

export interface EventTimePolicy {
  outOfOrdernessMs: number;
  idlePartitionMs: number;
  allowedLatenessMs: number;
  futureToleranceMs: number;
}

export interface WatermarkPolicy {
  outOfOrdernessMs: number;
  /** A partition without a batch for this long no longer holds the watermark back. */
  idlePartitionMs: number;
}

/**
 * The watermark over all partitions: the slowest active partition decides, because its events
 * may still land anywhere after its own maximum. Partitions idle for longer than the idle
 * timeout are left out (an idle partition would otherwise stall every bucket forever), unless
 * every partition is idle, when the most advanced one decides. `null` until an event counted.
 */
export function watermarkOf(progress: ReadonlyMap<number, PartitionProgress>, policy: WatermarkPolicy, now: number): number | null {
  const counted = [...progress.values()].filter((p): p is PartitionProgress & { maxEventTime: number } => p.maxEventTime !== null);
  if (counted.length === 0) return null;
  const active = counted.filter((p) => now - p.lastActiveAt <= policy.idlePartitionMs);
  const slowest = active.length > 0 ? Math.min(...active.map((p) => p.maxEventTime)) : Math.max(...counted.map((p) => p.maxEventTime));
  return slowest - policy.outOfOrdernessMs;
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
