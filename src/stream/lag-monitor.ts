/**
 * Watches the processor's lag, so that ingest can push back instead of letting the log run
 * ahead of the stores without bound. The lag is sampled on a timer (a Kafka lag read is an
 * admin round trip: too slow for every ingest call) and the last sample is what ingest checks.
 */
import type { EventLog } from '../ports/event-log.ts';

export interface LagMonitor {
  /** Why ingest must refuse now, or null when it may accept. */
  overloadReason(): string | null;
  lastLag(): number | null;
  stop(): void;
}

/** Twice a second: pushback reacts within half a second, and lag reads stay cheap. */
const SAMPLE_EVERY_MS = 500;

export interface LagMonitorOptions {
  log: EventLog;
  groupId: string;
  maxLag: number;
  /**
   * Told once when reading the lag starts failing (not on every sample of the streak: that would
   * be two log lines a second for as long as the log is down), and once when it works again.
   */
  onReadFailure(error: unknown): void;
  onReadRecovered(): void;
}

export function createLagMonitor(options: LagMonitorOptions): LagMonitor {
  let lag: number | null = null;
  let sampling = false;
  let failing = false;
  const sample = async () => {
    if (sampling) return;
    sampling = true;
    try {
      lag = await options.log.lag(options.groupId);
      if (failing) {
        failing = false;
        options.onReadRecovered();
      }
    } catch (error) {
      // An unreachable log is refused by append itself; an unknown lag is not a reason to refuse.
      lag = null;
      if (!failing) {
        failing = true;
        options.onReadFailure(error);
      }
    } finally {
      sampling = false;
    }
  };
  void sample();
  const timer = setInterval(() => void sample(), SAMPLE_EVERY_MS);
  timer.unref();
  return {
    overloadReason() {
      return lag !== null && lag > options.maxLag
        ? `processing is ${lag} events behind (the bound is ${options.maxLag}); retry in a few seconds`
        : null;
    },
    lastLag: () => lag,
    stop: () => clearInterval(timer),
  };
}
