/**
 * The pure parts of the sustained-load bench (P10): the open-loop schedule, whether the client
 * kept it, the boundedness criterion of the lag, the freshness criterion, and the plot. The bench itself is never run here.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dueAtMs, planPacing, scheduleVerdict, type PacedOutcome } from '../../bench/harness/pacing.ts';
import {
  judgeFreshness,
  judgeSustained,
  leastSquares,
  nearestRank,
  ratesOf,
  type FreshnessProbe,
  type LagSample,
} from '../../bench/harness/sustained.ts';
import { compact, niceStep, sustainedSvg } from '../../bench/harness/sustained-plot.ts';
import type { ResultRow } from '../../bench/harness/report.ts';
import { fuzzSettings } from '../property/fuzz-settings.ts';

const fuzz = fuzzSettings('sustained-bench', { seed: 1313, runs: 200 });

function paced(overrides: Partial<PacedOutcome>): PacedOutcome {
  return { acknowledged: 0, sent: 0, unsent: 0, failed: 0, firstError: null, latenessMs: [], maxInFlight: 0, ...overrides };
}

/** A lag sample a second, with the lag given per second and the rates constant. */
function samplesOf(lags: number[], rate = 1000): LagSample[] {
  return lags.map((lag, t) => ({ t, lag, ingested: t * rate, processed: t * rate - lag }));
}

describe('the pacing plan', () => {
  it('spaces batches of 100 at 16,000 events/s 6.25 ms apart, 19,200 of them in 120 s', () => {
    const plan = planPacing(16_000, 100, 120);
    expect(plan).toEqual({ targetRate: 16_000, batchSize: 100, intervalMs: 6.25, batches: 19_200, windowMs: 120_000 });
    expect(dueAtMs(plan, 0)).toBe(0);
    expect(dueAtMs(plan, 1)).toBe(6.25);
    expect(dueAtMs(plan, 19_199)).toBe(119_993.75);
  });

  it('counts only batches due before the window ends when the interval does not divide it', () => {
    // 300 events/s in batches of 100: every 333.33 ms; due at 0, 333, 667 within 1 s.
    expect(planPacing(300, 100, 1).batches).toBe(3);
    // 250 events/s: every 400 ms; due at 0, 400, 800 within 1 s (1200 is past it).
    expect(planPacing(250, 100, 1).batches).toBe(3);
  });

  it('delivers the target rate over the window, and every due time lies inside it', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 50, max: 100_000, noNaN: true }),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 600 }),
        (rate, batchSize, seconds) => {
          const plan = planPacing(rate, batchSize, seconds);
          expect(dueAtMs(plan, plan.batches - 1)).toBeLessThan(plan.windowMs);
          expect(dueAtMs(plan, plan.batches)).toBeGreaterThanOrEqual(plan.windowMs - 1e-6);
          // One batch is the most the planned events can differ from rate × seconds.
          expect(Math.abs(plan.batches * batchSize - rate * seconds)).toBeLessThanOrEqual(batchSize + 1e-6);
        },
      ),
      fuzz,
    );
  });

  it('refuses a rate, batch size or window that is not positive', () => {
    expect(() => planPacing(0, 100, 120)).toThrow('the target rate must be a positive number, not 0');
    expect(() => planPacing(Number.NaN, 100, 120)).toThrow('the target rate must be a positive number, not NaN');
    expect(() => planPacing(Number.POSITIVE_INFINITY, 100, 120)).toThrow('the target rate must be a positive number, not Infinity');
    expect(() => planPacing(1000, 0, 120)).toThrow('the batch size must be a positive integer, not 0');
    expect(() => planPacing(1000, 2.5, 120)).toThrow('the batch size must be a positive integer, not 2.5');
    expect(() => planPacing(1000, 100, -1)).toThrow('the window must be a positive number of seconds, not -1');
  });
});

describe('whether the client kept the schedule', () => {
  const plan = planPacing(1000, 100, 10); // 100 batches, 10,000 events

  it('is kept when every batch was acknowledged, however late some went out', () => {
    const verdict = scheduleVerdict(plan, paced({ acknowledged: 10_000, sent: 100, latenessMs: [0, 50, 150, 2500] }));
    expect(verdict).toEqual({ achievedRate: 1000, achievedShare: 1, lateBatches: 2, maxLatenessMs: 2500, kept: true, problems: [] });
  });

  it('is kept at exactly 95% of the target, and not below', () => {
    expect(scheduleVerdict(plan, paced({ acknowledged: 9_500 })).kept).toBe(true);
    const short = scheduleVerdict(plan, paced({ acknowledged: 9_400, sent: 94, unsent: 6 }));
    expect(short.kept).toBe(false);
    expect(short.problems).toEqual(['the client delivered 94.0% of the target rate (< 95%; 6 batches never sent)']);
  });

  it('is not kept when a request failed, even at the full rate', () => {
    const verdict = scheduleVerdict(plan, paced({ acknowledged: 10_000, failed: 2, firstError: 'ingest failed: boom' }));
    expect(verdict.kept).toBe(false);
    expect(verdict.problems).toEqual(['2 requests failed (first: ingest failed: boom)']);
  });

  it('reports no lateness for a run that sent nothing', () => {
    const verdict = scheduleVerdict(plan, paced({ unsent: 100 }));
    expect(verdict.maxLatenessMs).toBe(0);
    expect(verdict.lateBatches).toBe(0);
    expect(verdict.achievedShare).toBe(0);
    expect(verdict.problems).toEqual(['the client delivered 0.0% of the target rate (< 95%; 100 batches never sent)']);
  });
});

describe('the least-squares line', () => {
  it('recovers an exact line', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -10_000, max: 10_000 }),
        fc.integer({ min: -100_000, max: 100_000 }),
        fc.integer({ min: 2, max: 200 }),
        (slope, intercept, n) => {
          const fit = leastSquares(Array.from({ length: n }, (_, x) => ({ x, y: slope * x + intercept })));
          expect(fit.slope).toBeCloseTo(slope, 6);
          expect(fit.intercept).toBeCloseTo(intercept, 4);
        },
      ),
      fuzz,
    );
  });

  it('fits the middle of a zigzag with a flat line', () => {
    expect(leastSquares([0, 1, 2, 3].map((x) => ({ x, y: x % 2 === 0 ? 10 : 20 })))).toEqual({ slope: 2, intercept: 12 });
    expect(leastSquares([0, 1, 2, 3, 4].map((x) => ({ x, y: x % 2 === 0 ? 10 : 20 })))).toEqual({ slope: 0, intercept: 14 });
  });

  it('refuses fewer than two points, or points all at one x', () => {
    expect(() => leastSquares([{ x: 1, y: 1 }])).toThrow('a line needs at least 2 points, not 1');
    expect(() =>
      leastSquares([
        { x: 1, y: 1 },
        { x: 1, y: 5 },
      ]),
    ).toThrow('a line needs points at two different x at least');
  });
});

describe('whether the lag stayed bounded', () => {
  it('is bounded for a lag that rises during warm-up and then holds steady', () => {
    // 120 s at 1000 events/s: the lag climbs to 1500 in the first minute, then holds there.
    const lags = Array.from({ length: 121 }, (_, t) => (t < 60 ? t * 25 : 1500));
    const verdict = judgeSustained(samplesOf(lags), 1000);
    expect(verdict.bounded).toBe(true);
    expect(verdict.problems).toEqual([]);
    expect(verdict.judgedFromS).toBe(60);
    expect(verdict.fit.slope).toBeCloseTo(0, 9);
    expect(verdict.endLag).toBe(1500);
    expect(verdict.endLagSeconds).toBe(1.5);
    expect(verdict.endLagBound).toBe(2000);
    expect(verdict.maxLag).toBe(1500);
    expect(verdict.maxLagAtS).toBe(60);
    expect(verdict.windowIngestRate).toBe(1000);
    expect(verdict.windowProcessedRate).toBe(1000);
  });

  it('is not bounded when the lag grows by more than 2% of the rate a second over the last minute', () => {
    // 25 events/s on 1000/s: 2.5%, still small at the end (1500 < 2000).
    const lags = Array.from({ length: 121 }, (_, t) => (t <= 60 ? 0 : (t - 60) * 25));
    const verdict = judgeSustained(samplesOf(lags), 1000);
    expect(verdict.bounded).toBe(false);
    expect(verdict.fit.slope).toBeCloseTo(25, 9);
    expect(verdict.problems).toEqual(['the lag grew by 25 events/s over the last 60 s (2.5% of the rate > 2%)']);
  });

  it('is bounded at a growth of exactly 2% of the rate', () => {
    const lags = Array.from({ length: 121 }, (_, t) => (t <= 60 ? 0 : (t - 60) * 20));
    expect(judgeSustained(samplesOf(lags), 1000).bounded).toBe(true);
  });

  it('is not bounded when a flat lag is more than 2 s of ingest', () => {
    const verdict = judgeSustained(samplesOf(Array.from({ length: 121 }, () => 2500)), 1000);
    expect(verdict.bounded).toBe(false);
    expect(verdict.problems).toEqual(['the lag at the end, 2500 events, is 2.5 s of ingest (> 2 s)']);
  });

  it('takes the end lag as the median of the last 5 s, so one sample caught mid-batch does not decide', () => {
    const lags = Array.from({ length: 121 }, () => 100);
    lags[120] = 50_000;
    const verdict = judgeSustained(samplesOf(lags), 1000);
    expect(verdict.endLag).toBe(100);
    expect(verdict.maxLag).toBe(50_000);
    expect(verdict.maxLagAtS).toBe(120);
  });

  it('reports both problems of a processor that falls ever further behind', () => {
    // Processing at 300 of 1000 events/s from the start: 700 events/s more lag each second.
    const verdict = judgeSustained(samplesOf(Array.from({ length: 121 }, (_, t) => t * 700)), 1000);
    expect(verdict.bounded).toBe(false);
    expect(verdict.windowProcessedRate).toBe(300);
    expect(verdict.problems).toEqual([
      'the lag grew by 700 events/s over the last 60 s (70.0% of the rate > 2%)',
      'the lag at the end, 82600 events, is 82.6 s of ingest (> 2 s)',
    ]);
  });

  it('judges only the second half of a run shorter than two minutes', () => {
    const verdict = judgeSustained(samplesOf(Array.from({ length: 21 }, () => 0)), 1000);
    expect(verdict.judgedFromS).toBe(10);
    expect(verdict.bounded).toBe(true);
  });

  it('judges samples given out of order as if in order', () => {
    const lags = Array.from({ length: 121 }, (_, t) => (t <= 60 ? 0 : (t - 60) * 25));
    const shuffled = samplesOf(lags).reverse();
    expect(judgeSustained(shuffled, 1000).fit.slope).toBeCloseTo(25, 9);
  });

  it('cannot tell a trend from fewer than 3 samples in the window', () => {
    const verdict = judgeSustained(samplesOf([0, 0]), 1000);
    expect(verdict.bounded).toBe(false);
    expect(verdict.problems).toEqual(['only 1 lag samples in the judged window: no trend can be told']);
    expect(judgeSustained([{ t: 0, lag: 0, ingested: 0, processed: 0 }], 1000).problems).toEqual([
      'only 1 lag samples in the judged window: no trend can be told',
    ]);
  });

  it('refuses no samples or a target rate that is not positive', () => {
    expect(() => judgeSustained([], 1000)).toThrow('no lag samples');
    expect(() => judgeSustained(samplesOf([0, 0, 0]), 0)).toThrow('the target rate must be positive, not 0');
  });

  it('is never failed by a steady lag with noise of half a second of ingest', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -500, max: 500, noNaN: true }), { minLength: 121, maxLength: 121 }), (noise) => {
        const lags = noise.map((n) => 1000 + n);
        expect(judgeSustained(samplesOf(lags), 1000).bounded).toBe(true);
      }),
      fuzz,
    );
  });
});

describe('the rates between samples', () => {
  it('average over the span of samples given', () => {
    const samples: LagSample[] = [0, 1, 2, 3].map((t) => ({ t, lag: 0, ingested: t * t * 100, processed: t * 100 }));
    expect(ratesOf(samples, 2)).toEqual([
      { t: 2, ingestRate: 200, processedRate: 100 },
      { t: 3, ingestRate: 400, processedRate: 100 },
    ]);
    expect(ratesOf(samples, 4)).toEqual([]);
    expect(() => ratesOf(samples, 0)).toThrow('the span must be a whole number of samples from 1, not 0');
  });

  it('are the differences per second, skipping samples at the same time', () => {
    const samples: LagSample[] = [
      { t: 0, lag: 0, ingested: 0, processed: 0 },
      { t: 0.5, lag: 100, ingested: 500, processed: 400 },
      { t: 0.5, lag: 100, ingested: 500, processed: 400 },
      { t: 2.5, lag: 0, ingested: 2500, processed: 2500 },
    ];
    expect(ratesOf(samples)).toEqual([
      { t: 0.5, ingestRate: 1000, processedRate: 800 },
      { t: 2.5, ingestRate: 1000, processedRate: 1050 },
    ]);
  });
});

/** A probe every 100 ms for `seconds`, each `msAt(t)` late (null: never delivered). */
function probesOf(seconds: number, msAt: (t: number) => number | null): FreshnessProbe[] {
  return Array.from({ length: seconds * 10 }, (_, i) => ({ t: i / 10, ms: msAt(i / 10) }));
}

describe('the freshness criterion (p99 ≤ 100 ms in every 10 s window)', () => {
  it('takes the nearest rank: of 100 values the 99th, of 10 the 10th', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(nearestRank(hundred, 99)).toBe(99);
    expect(nearestRank(hundred, 50)).toBe(50);
    expect(nearestRank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 99)).toBe(10);
    expect(nearestRank([], 99)).toBeNull();
  });

  it('holds when every window is fast, and reports each window', () => {
    // 5 … 14 ms, ten probes each per window.
    const verdict = judgeFreshness(
      probesOf(120, (t) => 5 + (Math.round(t * 10) % 10)),
      120,
    );
    expect(verdict.held).toBe(true);
    expect(verdict.problems).toEqual([]);
    expect(verdict.windows).toHaveLength(12);
    expect(verdict.windows.every((window) => window.probes === 100 && window.lost === 0)).toBe(true);
    expect(verdict.windows[0]).toMatchObject({ fromS: 0, p50: 9, p99: 14 });
    expect(verdict.overall).toMatchObject({ probes: 1200, lost: 0, p50: 9, p99: 14 });
  });

  it('fails on one slow window even when the p99 over the whole run is fine', () => {
    // The last window's 100 probes take 500 ms: 100 of 1200 is 8% of the run, above its p99 only in that window.
    const verdict = judgeFreshness(
      probesOf(120, (t) => (t >= 110 ? 500 : 10)),
      120,
    );
    expect(verdict.overall.p99).toBe(500);
    const fastRun = judgeFreshness(
      probesOf(120, (t) => (t >= 119.5 ? 500 : 10)),
      120,
    );
    // Five slow probes in 1200: the run's p99 is 10 ms, but the last window's is 500.
    expect(fastRun.overall.p99).toBe(10);
    expect(fastRun.held).toBe(false);
    expect(fastRun.worst).toEqual({ p99: 500, fromS: 110 });
    expect(fastRun.problems).toEqual(['p99 above 100 ms in 1 of 12 windows of 10 s (worst 500 ms at 110 s)']);
  });

  it('fails on a probe never delivered, even one its window p99 does not reach', () => {
    const one = judgeFreshness(
      probesOf(30, (t) => (t === 15 ? null : 10)),
      30,
    );
    expect(one.held).toBe(false);
    expect(one.windows[1]).toMatchObject({ probes: 100, lost: 1, p50: 10, p99: 10 });
    expect(one.problems).toEqual(['1 of 300 probes never reached the subscriber']);
    // Two lost in a window of 100: its p99 is a probe never delivered.
    const two = judgeFreshness(
      probesOf(30, (t) => (t === 15 || t === 16 ? null : 10)),
      30,
    );
    expect(two.windows[1]!.p99).toBe(Number.POSITIVE_INFINITY);
    expect(two.problems).toEqual([
      '2 of 300 probes never reached the subscriber',
      'p99 above 100 ms in 1 of 3 windows of 10 s (worst a probe never delivered at 10 s)',
    ]);
  });

  it('fails a window in which no probe came back (ingest refused or stalled)', () => {
    const verdict = judgeFreshness(
      probesOf(30, () => 10).filter((probe) => probe.t < 10 || probe.t >= 20),
      30,
    );
    expect(verdict.held).toBe(false);
    expect(verdict.windows[1]).toMatchObject({ fromS: 10, probes: 0, p99: null });
    expect(verdict.problems).toEqual(['no probe came back in 1 of 3 windows (first at 10 s)']);
  });

  it('holds exactly when no window has a p99 over the bound, whatever the latencies (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 400, noNaN: true }), { minLength: 300, maxLength: 300 }), (latencies) => {
        const probes = latencies.map((ms, i) => ({ t: i / 10, ms }));
        const verdict = judgeFreshness(probes, 30);
        const windowP99 = [0, 1, 2].map((w) => {
          const sorted = latencies.slice(w * 100, w * 100 + 100).sort((a, b) => a - b);
          return sorted[98]!;
        });
        expect(verdict.windows.map((window) => window.p99)).toEqual(windowP99);
        expect(verdict.held).toBe(windowP99.every((p99) => p99 <= 100));
      }),
      fuzz,
    );
  });

  it('refuses a run of no length', () => {
    expect(() => judgeFreshness([], 0)).toThrow('the run must last a positive time, not 0');
  });
});

describe('the sustained plot', () => {
  function row(backend: 'embedded' | 'real', lags: number[], met: boolean | null): ResultRow {
    const samples = samplesOf(lags);
    return {
      id: 'P10',
      variant: 'batch 100 at 80% of max, 120 s',
      backend,
      what: 'lag',
      unit: 'events lag at the end',
      streamlens: { label: 'lag', values: [0], median: 0 },
      baseline: null,
      ratio: null,
      target: 'bounded',
      judged: met !== null,
      met,
      sustained: { targetRate: 1000, samples, judgedFromS: 60, fit: { slope: 0, intercept: 5 }, endLagBound: 2000 },
      notes: [],
    };
  }

  it('draws nothing without a sustained row', () => {
    expect(sustainedSvg([])).toBeNull();
    expect(sustainedSvg([{ ...row('real', [0, 1], true), sustained: undefined }])).toBeNull();
  });

  it('draws one column per backend, embedded first, with lag, fit, bound, ingest, processed and target lines', () => {
    const svg = sustainedSvg([row('real', [0, 3000, 9000], false), row('embedded', [0, 10, 0], true)])!;
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="960" height="452"')).toBe(true);
    expect(svg.endsWith('</svg>')).toBe(true);
    expect(svg.indexOf('P10 embedded: met (lag bounded, fresh throughout, schedule kept)')).toBeGreaterThan(0);
    expect(svg.indexOf('P10 real: NOT met')).toBeGreaterThan(svg.indexOf('P10 embedded'));
    // Per column: bound, lag, fit in the lag panel; target, ingest, processed in the rate panel.
    expect(svg.match(/<polyline /g)).toHaveLength(12);
    expect(svg).toContain('end-lag bound 2k (2 s of ingest)');
    expect(svg).toContain('target 1k/s (80% of max ingest)');
  });

  it('scales the lag axis to the bound when the lag stays below it, and to the lag when above', () => {
    const low = sustainedSvg([row('embedded', [0, 10, 0], true)])!;
    // Lag axis ticks 0, 500 … 2000 (the bound × 1.08 is the top).
    expect(low).toContain('>2k</text>');
    const high = sustainedSvg([row('real', [0, 50_000, 100_000], false)])!;
    expect(high).toContain('>100k</text>');
  });

  it('adds a freshness panel (bound, p50, p99) when the run measured freshness', () => {
    const freshness = [
      { fromS: 0, probes: 100, lost: 0, p50: 8, p99: 30 },
      { fromS: 10, probes: 0, lost: 0, p50: null, p99: null },
      { fromS: 20, probes: 100, lost: 2, p50: 9, p99: 250 },
    ];
    const base = row('embedded', [0, 10, 0], false);
    const svg = sustainedSvg([{ ...base, sustained: { ...base.sustained!, freshness } }])!;
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="480" height="652"')).toBe(true);
    // 6 lines in the lag and rate panels, then the bound, p50 and p99 of the freshness panel.
    expect(svg.match(/<polyline /g)).toHaveLength(9);
    expect(svg).toContain('p50 per window; 2 probes never delivered');
    expect(svg).toContain('bound 100 ms (p99, every window)');
    // The p99 axis reaches past the slowest window (250 × 1.4 = 350).
    expect(svg).toContain('>300</text>');
  });

  it('marks a context row as not judged, and escapes text', () => {
    const svg = sustainedSvg([{ ...row('embedded', [0, 0, 0], null), id: 'P10<&>' }])!;
    expect(svg).toContain('P10&lt;&amp;&gt; embedded: context (not judged)');
  });

  it('labels axes compactly on steps of 1, 2 or 5', () => {
    expect([compact(0), compact(950), compact(1500), compact(2_000_000), compact(12_345)]).toEqual(['0', '950', '1.5k', '2M', '12.3k']);
    expect([niceStep(120, 6), niceStep(2160, 4), niceStep(7, 4), niceStep(0, 4)]).toEqual([20, 1000, 2, 1]);
  });
});
