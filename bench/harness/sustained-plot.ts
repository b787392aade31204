/**
 * docs/performance-sustained.svg: the P10 runs over time, one column per backend. Top: the
 * processor's lag (events), the judged window shaded, its least-squares line dashed, and the
 * end-lag bound. Middle: events/s acknowledged by ingest and processed, beside the target rate.
 * Bottom (runs that measured it): the probes' freshness p50 and p99 per 10 s window, beside the
 * 100 ms bound.
 * Pure: rows in, SVG text out (test/unit/sustained-bench.test.ts).
 */
import type { ResultRow, SustainedTrace } from './report.ts';
import { FRESHNESS_WINDOW_S, MAX_END_LAG_S, MAX_FRESHNESS_P99_MS, ratesOf } from './sustained.ts';

export const SUSTAINED_PLOT_FILE = 'performance-sustained.svg';

const COLOURS = {
  lag: '#6f42c1',
  fit: '#222',
  bound: '#d73a49',
  ingest: '#1f6feb',
  processed: '#e36209',
  target: '#888',
  p50: '#2da44e',
  p99: '#bf3989',
};
const COLUMN_W = 480;
const PANEL_H = 200;
const MARGIN = { left: 64, right: 16, top: 26, bottom: 34 };
const HEADER_H = 44;
/** Room above the highest line for the three legend lines in the panel's top left corner. */
const HEADROOM = 1.4;
/** About the width of one character at font-size 11 (sans-serif), to size the legend's backing. */
const CHAR_W = 6;
/** The rates are drawn over 5 samples (seconds): per second, processing batches make them jump between 0 and twice the mean. */
const RATE_SPAN_SAMPLES = 5;

/** 1234 → "1.2k", 2500000 → "2.5M": axis labels. */
export function compact(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${trim(value / 1e6)}M`;
  if (abs >= 1e3) return `${trim(value / 1e3)}k`;
  return trim(value);
}

function trim(value: number): string {
  return Number(value.toFixed(value === Math.round(value) ? 0 : 1)).toString();
}

/** A step of 1, 2 or 5 × 10^k that cuts 0…max into about `parts` ticks. */
export function niceStep(max: number, parts: number): number {
  if (!(max > 0)) return 1;
  const raw = max / parts;
  const power = 10 ** Math.floor(Math.log10(raw));
  const mantissa = raw / power;
  return (mantissa <= 1 ? 1 : mantissa <= 2 ? 2 : mantissa <= 5 ? 5 : 10) * power;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

interface Panel {
  x: number;
  y: number;
  w: number;
  h: number;
  maxT: number;
  maxY: number;
}

function frame(out: string[], panel: Panel, yLabel: string): void {
  const { x, y, w, h } = panel;
  out.push(`<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="none" stroke="#999"/>`);
  const tStep = niceStep(panel.maxT, 6);
  for (let t = 0; t <= panel.maxT + 1e-9; t += tStep) {
    const px = x + (t / panel.maxT) * w;
    out.push(`<line x1="${px.toFixed(1)}" x2="${px.toFixed(1)}" y1="${y}" y2="${y + h}" stroke="#eee"/>`);
    out.push(`<text x="${px.toFixed(1)}" y="${y + h + 14}" text-anchor="middle">${compact(t)}</text>`);
  }
  const yStep = niceStep(panel.maxY, 5);
  for (let v = 0; v <= panel.maxY + 1e-9; v += yStep) {
    const py = y + h - (v / panel.maxY) * h;
    out.push(`<line x1="${x}" x2="${x + w}" y1="${py.toFixed(1)}" y2="${py.toFixed(1)}" stroke="#f3f3f3"/>`);
    out.push(`<text x="${x - 6}" y="${(py + 4).toFixed(1)}" text-anchor="end">${compact(v)}</text>`);
  }
  out.push(`<text x="${x + w / 2}" y="${y + h + 28}" text-anchor="middle">seconds since the paced ingest started</text>`);
  const mid = y + h / 2;
  out.push(`<text x="${x - 50}" y="${mid}" transform="rotate(-90 ${x - 50} ${mid})" text-anchor="middle">${escape(yLabel)}</text>`);
}

function polyline(points: [number, number][], panel: Panel, colour: string, dashed = false): string {
  const coordinates = points
    .map(([t, v]) => `${(panel.x + (t / panel.maxT) * panel.w).toFixed(1)},${(panel.y + panel.h - (v / panel.maxY) * panel.h).toFixed(1)}`)
    .join(' ');
  return `<polyline points="${coordinates}" fill="none" stroke="${colour}" stroke-width="${dashed ? 1.5 : 2}"${dashed ? ' stroke-dasharray="6 4"' : ''}/>`;
}

function legend(out: string[], panel: Panel, lines: [string, string][]): void {
  out.push(
    `<rect x="${panel.x + 1}" y="${panel.y + 1}" width="${Math.min(panel.w - 2, 12 + Math.max(...lines.map(([, text]) => text.length)) * CHAR_W)}" height="${lines.length * 13 + 4}" fill="white" opacity="0.85"/>`,
  );
  lines.forEach(([colour, text], i) =>
    out.push(`<text x="${panel.x + 6}" y="${panel.y + 13 + i * 13}" fill="${colour}">${escape(text)}</text>`),
  );
}

function verdictOf(row: ResultRow): string {
  if (row.met === null) return 'context (not judged)';
  return row.met ? 'met (lag bounded, fresh throughout, schedule kept)' : 'NOT met';
}

function column(out: string[], row: ResultRow, trace: SustainedTrace, ox: number): void {
  const w = COLUMN_W - MARGIN.left - MARGIN.right;
  const maxT = Math.max(1, ...trace.samples.map((sample) => sample.t));
  out.push(
    `<text x="${ox + MARGIN.left}" y="${HEADER_H - 6}" font-weight="bold">${escape(`${row.id} ${row.backend}: ${verdictOf(row)}`)}</text>`,
  );

  // Lag: scaled to show the bound even when the lag stays far below it.
  const maxLag = Math.max(trace.endLagBound, ...trace.samples.map((sample) => sample.lag)) * HEADROOM;
  const lag: Panel = { x: ox + MARGIN.left, y: HEADER_H + MARGIN.top, w, h: PANEL_H - MARGIN.top - MARGIN.bottom, maxT, maxY: maxLag };
  const windowX = lag.x + (trace.judgedFromS / maxT) * w;
  out.push(`<rect x="${windowX.toFixed(1)}" y="${lag.y}" width="${(lag.x + w - windowX).toFixed(1)}" height="${lag.h}" fill="#f6f8fa"/>`);
  frame(out, lag, 'lag (events)');
  out.push(
    polyline(
      [
        [0, trace.endLagBound],
        [maxT, trace.endLagBound],
      ],
      lag,
      COLOURS.bound,
      true,
    ),
  );
  out.push(
    polyline(
      trace.samples.map((sample) => [sample.t, sample.lag]),
      lag,
      COLOURS.lag,
    ),
  );
  if (Number.isFinite(trace.fit.slope)) {
    const fitAt = (t: number) => Math.max(0, trace.fit.slope * t + trace.fit.intercept);
    out.push(
      polyline(
        [
          [trace.judgedFromS, fitAt(trace.judgedFromS)],
          [maxT, fitAt(maxT)],
        ],
        lag,
        COLOURS.fit,
        true,
      ),
    );
  }
  const lagLegend: [string, string][] = [
    [COLOURS.lag, 'lag (streamStatus, every second)'],
    [COLOURS.fit, `fit over the shaded last ${compact(maxT - trace.judgedFromS)} s: ${compact(Math.round(trace.fit.slope))} events/s`],
    [COLOURS.bound, `end-lag bound ${compact(Math.round(trace.endLagBound))} (${MAX_END_LAG_S} s of ingest)`],
  ];
  legend(out, lag, lagLegend);

  // Rates.
  const rates = ratesOf(trace.samples, RATE_SPAN_SAMPLES);
  const maxRate = Math.max(trace.targetRate, ...rates.flatMap((r) => [r.ingestRate, r.processedRate])) * HEADROOM;
  const rate: Panel = { ...lag, y: HEADER_H + PANEL_H + MARGIN.top, maxY: maxRate };
  frame(out, rate, 'events/s');
  out.push(
    polyline(
      [
        [0, trace.targetRate],
        [maxT, trace.targetRate],
      ],
      rate,
      COLOURS.target,
      true,
    ),
  );
  out.push(
    polyline(
      rates.map((r) => [r.t, r.ingestRate]),
      rate,
      COLOURS.ingest,
    ),
  );
  out.push(
    polyline(
      rates.map((r) => [r.t, r.processedRate]),
      rate,
      COLOURS.processed,
    ),
  );
  const rateLegend: [string, string][] = [
    [COLOURS.ingest, `acknowledged by ingest (over ${RATE_SPAN_SAMPLES} s)`],
    [COLOURS.processed, `processed (over ${RATE_SPAN_SAMPLES} s)`],
    [COLOURS.target, `target ${compact(Math.round(trace.targetRate))}/s (80% of max ingest)`],
  ];
  legend(out, rate, rateLegend);

  // Freshness per window, at each window's middle; a window with no delivered probe breaks the line.
  if (!trace.freshness) return;
  const windows = trace.freshness;
  const maxMs = Math.max(MAX_FRESHNESS_P99_MS, ...windows.map((window) => window.p99 ?? 0)) * HEADROOM;
  const fresh: Panel = { ...lag, y: HEADER_H + 2 * PANEL_H + MARGIN.top, maxY: maxMs };
  frame(out, fresh, 'ms, ingest returns → received');
  out.push(
    polyline(
      [
        [0, MAX_FRESHNESS_P99_MS],
        [maxT, MAX_FRESHNESS_P99_MS],
      ],
      fresh,
      COLOURS.bound,
      true,
    ),
  );
  for (const [key, colour] of [
    ['p50', COLOURS.p50],
    ['p99', COLOURS.p99],
  ] as const) {
    const points = windows
      .filter((window) => window[key] !== null)
      .map((window): [number, number] => [Math.min(maxT, window.fromS + FRESHNESS_WINDOW_S / 2), window[key]!]);
    if (points.length > 0) out.push(polyline(points, fresh, colour));
  }
  const lost = windows.reduce((total, window) => total + window.lost, 0);
  legend(out, fresh, [
    [COLOURS.p99, `p99 per ${FRESHNESS_WINDOW_S} s window (a probe every 100 ms)`],
    [COLOURS.p50, `p50 per window${lost > 0 ? `; ${lost} probes never delivered` : ''}`],
    [COLOURS.bound, `bound ${MAX_FRESHNESS_P99_MS} ms (p99, every window)`],
  ]);
}

/** The plot of every row that carries a sustained trace (embedded first), or null when none does. */
export function sustainedSvg(rows: readonly ResultRow[]): string | null {
  const traced = rows
    .filter((row): row is ResultRow & { sustained: SustainedTrace } => row.sustained !== undefined && row.sustained.samples.length > 0)
    .sort((a, b) => a.backend.localeCompare(b.backend));
  if (traced.length === 0) return null;
  const width = traced.length * COLUMN_W;
  const panels = traced.some((row) => row.sustained.freshness) ? 3 : 2;
  const height = HEADER_H + panels * PANEL_H + 8;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="12" y="18" font-size="14" font-weight="bold">Sustained load (P10): lag, rates and freshness, ingest paced at 80% of max</text>`,
  ];
  traced.forEach((row, index) => column(out, row, row.sustained, index * COLUMN_W));
  out.push('</svg>');
  return out.join('\n');
}
