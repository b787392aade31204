/**
 * Results: one row per scenario, backend and variant; written as JSON (bench/results/), as the
 * Markdown summary docs/performance.md, and as the latency plot docs/performance-latency.svg.
 */
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { cpus, totalmem, release } from 'node:os';
import { spreadOf, round, type Spread } from './stats.ts';
import { summarise, type LatencySummary } from './hdr.ts';
import type { PairsOutcome } from './pairs.ts';
import type { BackendName } from './cli.ts';
import type { LagSample, LineFit } from './sustained.ts';

export interface ArmFigures {
  label: string;
  values: number[];
  median: number;
}

export interface ResultRow {
  id: string;
  /** What varies within a scenario: batch size, N… */
  variant: string;
  backend: BackendName;
  what: string;
  unit: string;
  streamlens: ArmFigures;
  baseline: ArmFigures | null;
  /** Per-pair ratios (Streamlens ÷ baseline unless `ratioOf` says otherwise) and their spread. */
  ratio: (Spread & { values: number[]; of: string }) | null;
  target: string;
  /** Whether the row is held to the target (some rows are context: other batch sizes, the other N). */
  judged: boolean;
  met: boolean | null;
  latency?: { streamlens?: LatencySummary; baseline?: LatencySummary };
  /** P10 (sustained load) only: the lag sampled once a second and what was judged, for docs/performance-sustained.svg. */
  sustained?: SustainedTrace;
  notes: string[];
}

export interface SustainedTrace {
  targetRate: number;
  samples: LagSample[];
  judgedFromS: number;
  /** The lag's least-squares line over the judged window. */
  fit: LineFit;
  endLagBound: number;
  /** Freshness per 10 s window (p50/p99 in ms; null: no probe delivered); absent in runs from before it was measured. */
  freshness?: { fromS: number; probes: number; lost: number; p50: number | null; p99: number | null }[];
}

export function armFigures(label: string, values: number[]): ArmFigures {
  return { label, values: values.map((v) => round(v, 3)), median: round(spreadOf(values).median, 3) };
}

/** A row from a pairs outcome; `met` is decided by the caller (targets differ in kind). */
export function rowOf(
  base: Omit<ResultRow, 'streamlens' | 'baseline' | 'ratio' | 'latency' | 'met' | 'notes'> & { notes?: string[] },
  outcome: PairsOutcome,
  labels: { a: string; b: string | null; ratioOf: string },
  met: (row: ResultRow) => boolean | null,
): ResultRow {
  const row: ResultRow = {
    ...base,
    notes: base.notes ?? [],
    streamlens: armFigures(labels.a, outcome.a),
    baseline: labels.b && outcome.b.length > 0 ? armFigures(labels.b, outcome.b) : null,
    ratio:
      outcome.ratios.length > 0
        ? { ...mapSpread(spreadOf(outcome.ratios)), values: outcome.ratios.map((r) => round(r, 3)), of: labels.ratioOf }
        : null,
    met: null,
  };
  if (outcome.aHistogram || outcome.bHistogram) {
    row.latency = {};
    if (outcome.aHistogram) row.latency.streamlens = summarise(outcome.aHistogram);
    if (outcome.bHistogram) row.latency.baseline = summarise(outcome.bHistogram);
  }
  row.met = base.judged ? met(row) : null;
  return row;
}

function mapSpread(spread: Spread): Spread {
  return { median: round(spread.median), min: round(spread.min), max: round(spread.max), q1: round(spread.q1), q3: round(spread.q3) };
}

export interface RunResults {
  startedAt: string;
  finishedAt: string;
  machine: { cpus: string; cores: number; memoryGb: number; kernel: string; node: string };
  options: Record<string, unknown>;
  eventJsonBytes: number;
  rows: ResultRow[];
  skipped: string[];
  profiles: Record<string, string[]>;
}

export function machine(): RunResults['machine'] {
  const cpu = cpus();
  return {
    cpus: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGb: round(totalmem() / 2 ** 30, 1),
    kernel: release(),
    node: process.version,
  };
}

const RESULTS_DIR = new URL('../results/', import.meta.url).pathname;

export function writeJson(results: RunResults): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = results.startedAt.replace(/[:.]/g, '-');
  const file = `${RESULTS_DIR}${stamp}.json`;
  const text = `${JSON.stringify(results, null, 2)}\n`;
  writeFileSync(file, text);
  writeFileSync(`${RESULTS_DIR}latest.json`, text);
  return file;
}

/** The rows of the previous latest.json that this (partial) run did not measure, so a partial run keeps the others. */
export function previousRun(): Pick<RunResults, 'rows' | 'skipped'> {
  const file = `${RESULTS_DIR}latest.json`;
  if (!existsSync(file)) return { rows: [], skipped: [] };
  try {
    const previous = JSON.parse(readFileSync(file, 'utf8')) as RunResults;
    return { rows: previous.rows, skipped: previous.skipped };
  } catch {
    return { rows: [], skipped: [] };
  }
}
