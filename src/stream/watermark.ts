/**
 * The one watermark: what each partition's processor commits to, and what every reader derives
 * from it. Pure: no I/O, no clock (the caller passes `now`).
 *
 * Each log partition's progress row carries `committedWatermark`, the threshold its lateness
 * decisions use (an event older than it minus the allowed lateness is TOO_LATE), never lowered.
 * Every counted event written to a partition's rows after that row was stored is at or above
 * committedWatermark − allowed lateness. So a bucket whose end plus the allowed lateness lies at
 * or below the committed watermark of EVERY partition can receive no event again: it is final.
 * The watermark shown to clients is that minimum (`shownWatermark`); `final`, the result cache
 * and the live feeds all use it, so they agree, and it never goes back, because each row's
 * threshold only rises and a partition's first threshold is never below the minimum
 * (`decisionWatermark`).
 *
 * Idleness comes from the log, not from processing: a partition is idle only when it is caught
 * up (everything the log holds is stored) and its last record was appended more than the idle
 * timeout ago. A partition that is merely behind (a backfill, a stalled or restarting consumer)
 * is never idle, so it holds the others back instead of being overtaken.
 */
import type { PartitionProgress } from '../ports/series-store.ts';

export interface WatermarkPolicy {
  outOfOrdernessMs: number;
  /** A caught-up partition with nothing appended for this long no longer holds the watermark back. */
  idlePartitionMs: number;
}

/** What is known of one log partition: its progress row (if any) and its newest record (if read). */
export interface PartitionView {
  progress: PartitionProgress | undefined;
  /**
   * The offset of the partition's newest record in the log: null when it holds none, undefined
   * when the log has not been asked (then the partition is not known to be caught up).
   */
  lastOffset: number | null | undefined;
}

/** The event time an event adds to its partition's maximum: capped at its receive time (item 6). */
export function watermarkContribution(event: { timestamp: number; receivedAt: number }): number {
  // An event dated ahead of its arrival (within FUTURE_TOLERANCE) is counted, but it says nothing
  // about how far the other events have come: letting it move the clock would make every other
  // tenant's on-time events late.
  return Math.min(event.timestamp, event.receivedAt);
}

/** Everything the log holds of the partition is stored. */
export function isCaughtUp(view: PartitionView): boolean {
  if (view.lastOffset === undefined) return false;
  if (view.lastOffset === null) return true;
  return view.progress !== undefined && view.progress.storedThrough >= view.lastOffset;
}

/**
 * When the partition's newest stored record was appended. Rows written before the append time
 * was kept fall back to when they were processed; a partition with no row holds no record.
 */
function quietSince(progress: PartitionProgress | undefined): number {
  if (!progress) return -Infinity;
  return progress.lastAppendedAt ?? progress.lastActiveAt;
}

/** Caught up, and nothing appended to it for the idle timeout. */
export function isIdle(view: PartitionView, policy: WatermarkPolicy, now: number): boolean {
  return isCaughtUp(view) && now - quietSince(view.progress) >= policy.idlePartitionMs;
}

/**
 * The watermark the event times allow, before any commitment: the slowest partition that is not
 * idle decides (one with no counted event yet allows nothing: null). `active` is the partition
 * being processed, never idle. When every partition is idle, everything the log holds is stored
 * and quiet: the most advanced partition decides, so finality still moves when traffic stops.
 */
export function candidateWatermark(
  partitions: ReadonlyMap<number, PartitionView>,
  policy: WatermarkPolicy,
  now: number,
  active?: number,
): number | null {
  let slowest = Infinity;
  let anyHolding = false;
  let mostAdvanced = -Infinity;
  for (const [partition, view] of partitions) {
    const maxEventTime = view.progress?.maxEventTime ?? null;
    if (maxEventTime !== null) mostAdvanced = Math.max(mostAdvanced, maxEventTime);
    if (partition !== active && isIdle(view, policy, now)) continue;
    if (maxEventTime === null) {
      // Records not yet read may be of any time: it holds everything where it is. Caught up with
      // none counted, it knows of no event time, and holds nothing.
      if (partition === active || !isCaughtUp(view)) return null;
      continue;
    }
    anyHolding = true;
    slowest = Math.min(slowest, maxEventTime);
  }
  const decisive = anyHolding ? slowest : mostAdvanced;
  return Number.isFinite(decisive) ? decisive - policy.outOfOrdernessMs : null;
}

/**
 * The watermark every reader shows and decides `final` with: the lowest committed watermark over
 * the partitions that have a progress row, or null while one of them has committed none yet (its
 * claims may have been decided with no threshold at all). A partition without a row does not
 * count: its first threshold is at least this minimum (decisionWatermark, over a fresh read), so
 * adding it never lowers it; and while it holds records and no row, no candidate advances
 * (candidateWatermark), so the minimum does not run ahead of it either.
 */
export function shownWatermark(progress: Iterable<PartitionProgress>): number | null {
  let lowest: number | null = null;
  for (const row of progress) {
    const committed = row.committedWatermark;
    if (committed === null) return null;
    if (lowest === null || committed < lowest) lowest = committed;
  }
  return lowest;
}

const highest = (...values: (number | null | undefined)[]): number | null => {
  let result: number | null = null;
  for (const value of values) if (value !== null && value !== undefined && (result === null || value > result)) result = value;
  return result;
};

/**
 * The threshold a batch of `partition` decides lateness with, and commits to. Never below the
 * partition's committed one (a takeover resumes from it) nor below the shown minimum (so a
 * partition's first threshold cannot lower it). While records that an earlier attempt may have
 * claimed are being processed again (`replaying`), it stays at the committed one: those claims
 * kept the decisions made then, at no less than it, and committing more would break the promise
 * for them.
 */
export function decisionWatermark(input: {
  committed: number | null;
  shown: number | null;
  candidate: number | null;
  replaying: boolean;
}): number | null {
  // With none committed, the shown one: null while any row has none (then those claims may have
  // been decided with no threshold at all); else a partition without a row, whose first claims
  // were decided at no less than it, since no candidate advances while it holds unread records.
  if (input.replaying) return input.committed ?? input.shown;
  return highest(input.committed, input.shown, input.candidate);
}

/**
 * What a batch commits after it stored its rows: the threshold it decided with, raised to what
 * its own new event times allow, unless `replaying`: records an earlier attempt may have claimed
 * lie past this batch, still to be counted with decisions made then (see decisionWatermark).
 * A batch that replayed the last of them may raise it: what was decided then is stored now, and
 * the commitment only binds what is counted after it.
 */
export function committedAfterBatch(input: { decided: number | null; candidate: number | null; replaying: boolean }): number | null {
  return input.replaying ? input.decided : highest(input.decided, input.candidate);
}

/**
 * The threshold an idle partition may be raised to by a heartbeat (its row rewritten with no
 * rollups), or null when there is nothing to raise: it must be caught up and idle, and the
 * candidate above what it committed.
 */
export function heartbeatWatermark(
  partition: number,
  partitions: ReadonlyMap<number, PartitionView>,
  policy: WatermarkPolicy,
  now: number,
): number | null {
  const view = partitions.get(partition);
  if (!view?.progress || !isIdle(view, policy, now)) return null;
  const candidate = candidateWatermark(partitions, policy, now);
  if (candidate === null) return null;
  // Never below the shown minimum: a partition committing its first threshold must not lower it.
  const raised = highest(candidate, shownWatermark([...partitions.values()].flatMap((p) => (p.progress ? [p.progress] : []))))!;
  const committed = view.progress.committedWatermark;
  return committed !== null && raised <= committed ? null : raised;
}
