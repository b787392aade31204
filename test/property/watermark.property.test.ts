/**
 * The watermark rules of src/stream/watermark.ts, driven the way the stream processor drives
 * them, over random interleavings of appends, batches, batches that fail after claiming,
 * heartbeats of idle partitions, restarts and the clock moving on. A small model of the
 * processor (no I/O): a progress row per partition (what the store keeps), the claims' decisions
 * (what the event store keeps: a replay reuses them), and what one process holds in memory.
 *
 * Two properties, after every step:
 *   - the shown watermark (the minimum committed one) never goes back;
 *   - a bucket once final (shown watermark ≥ its end + the allowed lateness) never changes count.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PartitionProgress } from '../../src/ports/series-store.ts';
import {
  candidateWatermark,
  committedAfterBatch,
  decisionWatermark,
  heartbeatWatermark,
  shownWatermark,
  watermarkContribution,
  type PartitionView,
} from '../../src/stream/watermark.ts';
import { fuzzSettings } from './fuzz-settings.ts';

const settings = fuzzSettings('watermark.property', { seed: 1212, runs: 300 });
const PARTITIONS = 3;
const POLICY = { outOfOrdernessMs: 2_000, idlePartitionMs: 5_000 };
const LATENESS_MS = 30_000;
const BUCKET_MS = 10_000;

type Step =
  | { kind: 'append'; partition: number; behindMs: number; aheadMs: number }
  | { kind: 'batch'; partition: number; size: number; failAfterClaims: boolean }
  | { kind: 'heartbeat' }
  | { kind: 'restart' }
  | { kind: 'tick'; ms: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('append' as const),
    partition: fc.nat(PARTITIONS - 1),
    behindMs: fc.nat(90_000),
    aheadMs: fc.oneof(fc.constant(0), fc.nat(600_000)),
  }),
  fc.record({
    kind: fc.constant('batch' as const),
    partition: fc.nat(PARTITIONS - 1),
    size: fc.integer({ min: 1, max: 4 }),
    failAfterClaims: fc.boolean(),
  }),
  fc.constant({ kind: 'heartbeat' as const }),
  fc.constant({ kind: 'restart' as const }),
  fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 8_000 }) }),
);

interface LogEntry {
  timestamp: number;
  receivedAt: number;
  appendedAt: number;
}

function simulate(steps: Step[]): void {
  let now = 1_000_000_000;
  const log: LogEntry[][] = Array.from({ length: PARTITIONS }, () => []);
  const rows = new Map<number, PartitionProgress>();
  /** The event store's claims: (partition, offset) → counted or not, decided once. */
  const claims = new Map<string, boolean>();
  const buckets = new Map<number, number>();
  // What one process holds; a restart forgets it.
  let claimedThrough = new Map<number, number>();
  let trusted = new Set<number>();

  const ends = () => new Map(log.map((entries, partition) => [partition, entries.length > 0 ? entries.length - 1 : null]));
  const views = () => {
    const result = new Map<number, PartitionView>();
    const lastOffsets = ends();
    for (let partition = 0; partition < PARTITIONS; partition++) {
      result.set(partition, { progress: rows.get(partition), lastOffset: lastOffsets.get(partition) });
    }
    return result;
  };

  function batch(partition: number, size: number, failAfterClaims: boolean): void {
    const row = rows.get(partition);
    const first = row ? row.storedThrough + 1 : 0;
    const records = log[partition]!.slice(first, first + size);
    if (records.length === 0) return;
    const last = first + records.length - 1;
    if (!trusted.has(partition) || !row) {
      claimedThrough.set(partition, Math.max(claimedThrough.get(partition) ?? -1, log[partition]!.length - 1));
      trusted.add(partition);
    }
    const mayBeClaimedThrough = claimedThrough.get(partition) ?? -1;
    const replaying = first <= mayBeClaimedThrough;
    const replayGoesOn = replaying && last < mayBeClaimedThrough;
    claimedThrough.set(partition, Math.max(mayBeClaimedThrough, last));
    const decided = decisionWatermark({
      committed: row?.committedWatermark ?? null,
      shown: shownWatermark(rows.values()),
      candidate: candidateWatermark(views(), POLICY, now, partition),
      replaying,
    });
    const counted: LogEntry[] = [];
    records.forEach((entry, index) => {
      const key = `${partition}:${first + index}`;
      if (!claims.has(key)) claims.set(key, decided === null || entry.timestamp >= decided - LATENESS_MS);
      if (claims.get(key)) counted.push(entry);
    });
    if (failAfterClaims) {
      trusted.delete(partition);
      return;
    }
    for (const entry of counted) {
      const bucket = Math.floor(entry.timestamp / BUCKET_MS) * BUCKET_MS;
      buckets.set(bucket, (buckets.get(bucket) ?? 0) + 1);
    }
    const contributions = counted.map(watermarkContribution);
    const maxEventTime =
      contributions.length > 0 ? Math.max(...contributions, row?.maxEventTime ?? -Infinity) : (row?.maxEventTime ?? null);
    const base: PartitionProgress = {
      maxEventTime,
      storedThrough: last,
      lastActiveAt: now,
      lastAppendedAt: records.at(-1)!.appendedAt,
      committedWatermark: decided,
      version: (row?.version ?? 0) + 1,
    };
    const after = views();
    after.set(partition, { progress: base, lastOffset: ends().get(partition) });
    rows.set(partition, {
      ...base,
      committedWatermark: committedAfterBatch({
        decided,
        candidate: candidateWatermark(after, POLICY, now, partition),
        replaying: replayGoesOn,
      }),
    });
  }

  let shownBefore: number | null = null;
  const finalCounts = new Map<number, number>();
  for (const s of steps) {
    if (s.kind === 'append') {
      const timestamp = now - s.behindMs + s.aheadMs;
      // Ingest quarantines further ahead than FUTURE_TOLERANCE; within it, the event is counted.
      log[s.partition]!.push({ timestamp, receivedAt: now, appendedAt: now });
    } else if (s.kind === 'batch') {
      batch(s.partition, s.size, s.failAfterClaims);
    } else if (s.kind === 'heartbeat') {
      const current = views();
      for (let partition = 0; partition < PARTITIONS; partition++) {
        const raised = heartbeatWatermark(partition, current, POLICY, now);
        const row = rows.get(partition);
        if (raised !== null && row) rows.set(partition, { ...row, committedWatermark: raised, version: row.version + 1 });
      }
    } else if (s.kind === 'restart') {
      claimedThrough = new Map();
      trusted = new Set();
    } else {
      now += s.ms;
    }

    const shown = shownWatermark(rows.values());
    if (shownBefore !== null) expect(shown).not.toBeNull();
    if (shownBefore !== null) expect(shown!).toBeGreaterThanOrEqual(shownBefore);
    shownBefore = shown;
    for (const [bucket, count] of buckets) {
      if (shown === null || shown < bucket + BUCKET_MS + LATENESS_MS) continue;
      const reported = finalCounts.get(bucket);
      if (reported === undefined) finalCounts.set(bucket, count);
      else expect(count).toBe(reported);
    }
    // A bucket reported final while still empty stays empty.
    for (const [bucket, reported] of finalCounts) expect(buckets.get(bucket) ?? 0).toBe(reported);
  }
}

describe('the committed watermark', () => {
  it('never goes back, and a bucket reported final never changes, across batches, failed attempts, heartbeats and restarts', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 120, size: 'max' }), (steps) => simulate(steps)),
      settings,
    );
  });
});
