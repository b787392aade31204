/** What every scenario file exports. */
import type { BackendName, BenchOptions } from '../harness/cli.ts';
import type { ResultRow } from '../harness/report.ts';

export interface ScenarioContext {
  backend: BackendName;
  options: BenchOptions & {
    /** A profile file name when --profile is on, else null. */
    profileName?: (name: string) => string | null;
  };
  /** The requested ids (--only), or null for all. */
  only: Set<string> | null;
  /** Rows measured earlier in this run (P4 compares against P1/P2's ingest rate). */
  earlier: ResultRow[];
}

export interface Scenario {
  ids: string[];
  run(context: ScenarioContext): Promise<{ rows: ResultRow[]; skipped: string[] }>;
}
