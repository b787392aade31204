/**
 * Open-loop pacing for the sustained-load scenario (P10): batches go out on a fixed schedule
 * (batch i is due `i × interval` after the start), whatever the server answers, so a slow
 * server does not slow the load down (a closed loop would hide exactly the overload P10 looks
 * for). Requests in flight are bounded: when all slots are busy the next batch waits and is
 * sent late, and the lateness is reported. A client that cannot keep the schedule says so.
 *
 * The plan and the verdict are pure (test/unit/sustained-bench.test.ts); `runPaced` is the I/O.
 */

export interface PacingPlan {
  /** Events per second the schedule delivers. */
  targetRate: number;
  batchSize: number;
  /** Time between two batches' due times. */
  intervalMs: number;
  /** Batches due within the window. */
  batches: number;
  /** Length of the window: the last batch is due before it ends. */
  windowMs: number;
}

export function planPacing(targetRate: number, batchSize: number, seconds: number): PacingPlan {
  if (!(Number.isFinite(targetRate) && targetRate > 0)) throw new Error(`the target rate must be a positive number, not ${targetRate}`);
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new Error(`the batch size must be a positive integer, not ${batchSize}`);
  if (!(Number.isFinite(seconds) && seconds > 0)) throw new Error(`the window must be a positive number of seconds, not ${seconds}`);
  const intervalMs = (batchSize / targetRate) * 1000;
  const windowMs = seconds * 1000;
  // Batch i is due at i × interval: those due strictly before the window ends.
  const batches = Math.ceil(windowMs / intervalMs - 1e-9);
  return { targetRate, batchSize, intervalMs, batches, windowMs };
}

/** When batch `index` is due, in ms after the start. */
export function dueAtMs(plan: PacingPlan, index: number): number {
  return index * plan.intervalMs;
}

export interface PacedOutcome {
  /** Events the server acknowledged. */
  acknowledged: number;
  /** Batches sent (started) within the window. */
  sent: number;
  /** Batches still waiting for a free slot when the window ended: never sent. */
  unsent: number;
  /** Requests that failed (an error or a rejected event). */
  failed: number;
  firstError: string | null;
  /** Per sent batch: how late it went out, ms after its due time. */
  latenessMs: number[];
  /** Most requests in flight at once. */
  maxInFlight: number;
}

/** A request sent this much after its due time counts as late. */
export const LATE_AFTER_MS = 100;
/** The schedule is kept when at least this share of the planned events was acknowledged, and nothing failed. */
export const KEPT_SHARE = 0.95;

export interface ScheduleVerdict {
  achievedRate: number;
  /** Achieved ÷ target. */
  achievedShare: number;
  lateBatches: number;
  maxLatenessMs: number;
  kept: boolean;
  /** Why not, when not kept. */
  problems: string[];
}

export function scheduleVerdict(plan: PacingPlan, outcome: PacedOutcome): ScheduleVerdict {
  const achievedRate = outcome.acknowledged / (plan.windowMs / 1000);
  const achievedShare = achievedRate / plan.targetRate;
  const problems: string[] = [];
  if (achievedShare < KEPT_SHARE)
    problems.push(
      `the client delivered ${(achievedShare * 100).toFixed(1)}% of the target rate (< ${KEPT_SHARE * 100}%; ${outcome.unsent} batches never sent)`,
    );
  if (outcome.failed > 0) problems.push(`${outcome.failed} requests failed (first: ${outcome.firstError})`);
  return {
    achievedRate,
    achievedShare,
    lateBatches: outcome.latenessMs.filter((ms) => ms > LATE_AFTER_MS).length,
    maxLatenessMs: outcome.latenessMs.reduce((max, ms) => Math.max(max, ms), 0),
    kept: problems.length === 0,
    problems,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends `plan.batches` batches on the plan's schedule with at most `maxInFlight` requests at
 * once. `send(index)` resolves with the events acknowledged. Batches not started by the end of
 * the window are not sent (`unsent`); requests in flight then are awaited.
 */
export async function runPaced(plan: PacingPlan, maxInFlight: number, send: (index: number) => Promise<number>): Promise<PacedOutcome> {
  const outcome: PacedOutcome = { acknowledged: 0, sent: 0, unsent: 0, failed: 0, firstError: null, latenessMs: [], maxInFlight: 0 };
  const started = performance.now();
  const pending = new Set<Promise<void>>();
  let slotFreed: (() => void) | null = null;
  for (let index = 0; index < plan.batches; index++) {
    const due = started + dueAtMs(plan, index);
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    while (pending.size >= maxInFlight) await new Promise<void>((resolve) => (slotFreed = resolve));
    const now = performance.now();
    if (now - started >= plan.windowMs) {
      outcome.unsent = plan.batches - index;
      break;
    }
    outcome.latenessMs.push(now - due);
    outcome.sent += 1;
    const request: Promise<void> = send(index)
      .then(
        (acknowledged) => {
          outcome.acknowledged += acknowledged;
        },
        (error: unknown) => {
          outcome.failed += 1;
          outcome.firstError ??= error instanceof Error ? error.message : String(error);
        },
      )
      .finally(() => {
        pending.delete(request);
        const wake = slotFreed;
        slotFreed = null;
        wake?.();
      });
    pending.add(request);
    outcome.maxInFlight = Math.max(outcome.maxInFlight, pending.size);
  }
  await Promise.all(pending);
  return outcome;
}
