/**
 * The side-by-side runner: Streamlens (A) and its baseline (B) alternate, A B A B …, one
 * unrecorded warm-up pair first, so that drift on a shared machine hits both arms alike.
 */
import { newHistogram, type Histogram } from './hdr.ts';

export interface ArmResult {
  /** The arm's figure for this run: a rate, a latency, bytes… (the row says which). */
  value: number;
  /** Latencies of this run, merged into the arm's histogram. */
  histogram?: Histogram;
}

export interface PairsOutcome {
  a: number[];
  b: number[];
  /** One ratio per pair, as `ratioOf` computes it. */
  ratios: number[];
  aHistogram: Histogram | null;
  bHistogram: Histogram | null;
}

export interface PairsOptions {
  label: string;
  pairs: number;
  a: () => Promise<ArmResult>;
  b: () => Promise<ArmResult>;
  /** Default a / b. */
  ratioOf?: (a: number, b: number) => number;
  /** Between arms: let the previous arm's after-effects (processing backlog, GC) settle. */
  settle?: () => Promise<void>;
  warmup?: boolean;
}

export async function runPairs(options: PairsOptions): Promise<PairsOutcome> {
  const ratioOf = options.ratioOf ?? ((a, b) => a / b);
  const outcome: PairsOutcome = { a: [], b: [], ratios: [], aHistogram: null, bHistogram: null };
  const settle = options.settle ?? (async () => {});
  if (options.warmup !== false) {
    await options.a();
    await settle();
    await options.b();
    await settle();
  }
  for (let pair = 0; pair < options.pairs; pair++) {
    const a = await options.a();
    await settle();
    const b = await options.b();
    await settle();
    outcome.a.push(a.value);
    outcome.b.push(b.value);
    outcome.ratios.push(ratioOf(a.value, b.value));
    if (a.histogram) (outcome.aHistogram ??= newHistogram()).add(a.histogram);
    if (b.histogram) (outcome.bHistogram ??= newHistogram()).add(b.histogram);
    process.stderr.write(
      `  ${options.label} pair ${pair + 1}/${options.pairs}: ${fmt(a.value)} vs ${fmt(b.value)} → ${fmt(outcome.ratios.at(-1)!)}\n`,
    );
  }
  return outcome;
}

/** Runs only one arm, for rows without a baseline process (an absolute target). */
export async function runRounds(
  label: string,
  rounds: number,
  a: () => Promise<ArmResult>,
  settle?: () => Promise<void>,
): Promise<PairsOutcome> {
  const outcome: PairsOutcome = { a: [], b: [], ratios: [], aHistogram: null, bHistogram: null };
  await a();
  await settle?.();
  for (let round = 0; round < rounds; round++) {
    const result = await a();
    await settle?.();
    outcome.a.push(result.value);
    if (result.histogram) (outcome.aHistogram ??= newHistogram()).add(result.histogram);
    process.stderr.write(`  ${label} round ${round + 1}/${rounds}: ${fmt(result.value)}\n`);
  }
  return outcome;
}

function fmt(value: number): string {
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(3);
}

/** Runs `work` in `concurrency` loops until `seconds` have passed; returns the total it counted and the time taken. */
export async function forSeconds(
  seconds: number,
  concurrency: number,
  work: (worker: number) => Promise<number>,
): Promise<{ count: number; elapsedS: number }> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let count = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < deadline) {
        const done = await work(worker);
        count += done;
      }
    }),
  );
  return { count, elapsedS: (performance.now() - started) / 1000 };
}
