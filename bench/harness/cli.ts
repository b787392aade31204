/** The command line of `npm run bench`. */
import { parseArgs } from 'node:util';

export type BackendName = 'embedded' | 'real';

export interface BenchOptions {
  backends: BackendName[];
  only: Set<string> | null;
  /** Measured pairs per scenario (after one warm-up pair). */
  pairs: number;
  /** Seconds per arm of a throughput pair. */
  seconds: number;
  /** Write the results but not docs/performance.md (for a partial run). */
  noDocs: boolean;
  /** Also profile the server with --cpu-prof during these scenarios. */
  profile: boolean;
  /** Seconds of paced ingest in the sustained-load scenario (P10); below 120 its row is context only. */
  sustainSeconds: number;
}

/** The shortest P10 run whose row is judged: the boundedness test looks at the last minute, after a minute of warming up. */
export const JUDGED_SUSTAIN_SECONDS = 120;

export const USAGE = `npm run bench -- [--backend embedded|real|both] [--only P1,P3] [--pairs N] [--seconds S] [--no-docs] [--profile] [--sustain-seconds S]`;

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      backend: { type: 'string', default: 'both' },
      only: { type: 'string' },
      pairs: { type: 'string', default: '5' },
      seconds: { type: 'string', default: '1.5' },
      'no-docs': { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      'sustain-seconds': { type: 'string', default: String(JUDGED_SUSTAIN_SECONDS) },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const backend = values.backend;
  if (backend !== 'embedded' && backend !== 'real' && backend !== 'both')
    throw new Error(`--backend must be embedded, real or both, not ${backend}\n${USAGE}`);
  const pairs = Number(values.pairs);
  const seconds = Number(values.seconds);
  if (!Number.isInteger(pairs) || pairs < 5 || pairs > 50)
    throw new Error(`--pairs must be an integer from 5 to 50 (the spec asks for at least 5)`);
  if (!(seconds >= 0.5 && seconds <= 10)) throw new Error(`--seconds must be from 0.5 to 10`);
  const sustainSeconds = Number(values['sustain-seconds']);
  // 10 s is the least that still shows a trend (a context row); an hour bounds what one run may take.
  if (!Number.isInteger(sustainSeconds) || sustainSeconds < 10 || sustainSeconds > 3600)
    throw new Error(`--sustain-seconds must be an integer from 10 to 3600 (${JUDGED_SUSTAIN_SECONDS} or more for a judged P10 row)`);
  return {
    backends: backend === 'both' ? ['embedded', 'real'] : [backend],
    only: values.only ? new Set(values.only.split(',').map((id) => id.trim().toUpperCase())) : null,
    pairs,
    seconds,
    noDocs: values['no-docs'],
    profile: values.profile,
    sustainSeconds,
  };
}
