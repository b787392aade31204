/**
 * How an events subscriber takes a live message without a gap or a repeat (pure).
 *
 * A subscriber knows, per log partition, the offset through which it is complete: every counted
 * event of its tenant at or below it has been offered to it (delivered, or filtered out). A
 * message covers the range (from, to] of one partition (domain/live-messages.ts). So:
 *   - a message ending at or below where the subscriber stands brings nothing new;
 *   - a message starting at or below it continues it: the events above it are new, in order,
 *     and the subscriber is then complete through `to`;
 *   - a message starting above it leaves a gap (a message was lost, or the batches in between
 *     were covered by nobody this subscriber heard): the gap (completeThrough, from] is read from
 *     the event store first, then the message's events follow;
 *   - a doorbell (no events) says the range is stored: it is read from the store.
 * Offsets only grow within a partition, so "already offered" is one comparison, and a repeat
 * (the same batch published twice, a fill that overlaps a message) is never offered twice.
 */
import type { StoredEvent } from '../domain/event.ts';
import type { EventsMessage } from '../domain/live-messages.ts';

/** Per partition, the offset through which a subscriber is complete; a partition absent: nothing yet. */
export type Coverage = ReadonlyMap<number, number>;

/** Offsets start at 0: a partition not covered at all stands just before it. */
export const NOTHING_COVERED = -1;

export function completeThrough(coverage: Coverage, partition: number): number {
  return coverage.get(partition) ?? NOTHING_COVERED;
}

export interface MessagePlan {
  /** Read the partition's stored events in (completeThrough, fillThrough] first; null: no gap. */
  fillThrough: number | null;
  /** Then offer these, in order (all above where the subscriber stands after the fill). */
  events: readonly StoredEvent[];
  /** Where the subscriber stands in the message's partition afterwards. */
  advanceTo: number;
}

export function planMessage(standsAt: number, message: EventsMessage): MessagePlan {
  if (message.to <= standsAt) return { fillThrough: null, events: [], advanceTo: standsAt };
  if (message.events === null) return { fillThrough: message.to, events: [], advanceTo: message.to };
  if (message.from > standsAt) return { fillThrough: message.from, events: message.events, advanceTo: message.to };
  // The common case, a message that starts where the subscriber stands, shares the message's
  // array: one decoded message is handed to every subscriber, and this runs for each.
  const first = message.events[0];
  const events =
    first === undefined || first.position.offset > standsAt
      ? message.events
      : message.events.filter((event) => event.position.offset > standsAt);
  return { fillThrough: null, events, advanceTo: message.to };
}

/**
 * The partitions where `stored` is ahead of the subscriber: what a fill up to the stored
 * position must read, each bounded by its stored offset. Empty when it is complete everywhere.
 */
export function behindStored(coverage: Coverage, stored: ReadonlyMap<number, number>): Map<number, number> {
  const behind = new Map<number, number>();
  for (const [partition, storedThrough] of stored) {
    if (storedThrough > completeThrough(coverage, partition)) behind.set(partition, storedThrough);
  }
  return behind;
}
