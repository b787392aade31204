/**
 * The seed and size of a property-based run. `npm test` uses each file's fixed seed and its
 * short default; a larger search sets both for every file at once:
 *   FUZZ_RUNS=2000 FUZZ_SEED=random npx vitest run test/property
 * The seed in use is printed, so a failure replays with FUZZ_SEED=<seed> (fast-check also prints
 * the path that reproduces it).
 */
export function fuzzSettings(file: string, defaults: { seed: number; runs: number }): { seed: number; numRuns: number } {
  const seed = process.env.FUZZ_SEED === 'random' ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.FUZZ_SEED ?? defaults.seed);
  const numRuns = Number(process.env.FUZZ_RUNS ?? defaults.runs);
  if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(numRuns) || numRuns < 1) {
    throw new Error(
      `FUZZ_SEED must be a whole number or "random", and FUZZ_RUNS a whole number above 0 (got ${process.env.FUZZ_SEED}, ${process.env.FUZZ_RUNS})`,
    );
  }
  console.log(`fuzz ${file}: seed ${seed}, ${numRuns} runs per property (replay with FUZZ_SEED=${seed} FUZZ_RUNS=${numRuns})`);
  return { seed, numRuns };
}
