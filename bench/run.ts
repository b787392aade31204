/**
 * `npm run bench`: runs P1–P11 of /work/shared/brief/performance.md (P10: lag and freshness under
 * sustained ingest at 80% of the max rate; P11: a calendar query in a time zone with a distinct
 * count), each Streamlens arm interleaved with its baseline, on the embedded default and/or the
 * real servers, and writes bench/results/<time>.json, latest.json, docs/performance.md,
 * docs/performance-latency.svg and docs/performance-sustained.svg.
 *
 *   npm run bench -- [--backend embedded|real|both] [--only P1,P3] [--pairs N] [--seconds S] [--sustain-seconds S]
 *
 * The real servers are read from KAFKA_BROKERS, MONGODB_URL, CASSANDRA_CONTACT_POINTS and
 * REDIS_URL (scripts/services.sh up prints them); every run uses topics, keyspaces and
 * databases of its own names.
 */
import { parseOptions } from './harness/cli.ts';
import { skipNoteRedone } from './harness/skip-notes.ts';
import { machine, previousRun, writeJson, type ResultRow, type RunResults } from './harness/report.ts';
import { writeDocs } from './harness/docs.ts';
import { sizeOfEventJson } from './harness/events.ts';
import type { Scenario } from './scenarios/scenario.ts';
import { ingestScenario } from './scenarios/ingest.ts';
import { freshnessScenario } from './scenarios/freshness.ts';
import { processorScenario } from './scenarios/processor.ts';
import { fanoutScenario } from './scenarios/fanout.ts';
import { seriesQueryScenario } from './scenarios/series-query.ts';
import { calendarQueryScenario } from './scenarios/calendar-query.ts';
import { sinksScenario } from './scenarios/sinks.ts';
import { cpuScenario } from './scenarios/cpu.ts';
import { memoryScenario } from './scenarios/memory.ts';
import { sustainedScenario } from './scenarios/sustained.ts';

const SCENARIOS: Scenario[] = [
  ingestScenario,
  freshnessScenario,
  processorScenario,
  fanoutScenario,
  memoryScenario,
  seriesQueryScenario,
  calendarQueryScenario,
  sinksScenario,
  cpuScenario,
  // Last: it takes minutes, and reads the max ingest rate from P1/P2 above.
  sustainedScenario,
];

const options = parseOptions(process.argv.slice(2));
const startedAt = new Date().toISOString();
const rows: ResultRow[] = [];
const skipped: string[] = [];
const profiles: Record<string, string[]> = {};
const profileName = (name: string) => (options.profile ? `${name}-${Date.now()}` : null);

for (const backend of options.backends) {
  if (
    backend === 'real' &&
    !(process.env.KAFKA_BROKERS && process.env.MONGODB_URL && process.env.CASSANDRA_CONTACT_POINTS && process.env.REDIS_URL)
  ) {
    throw new Error('--backend real needs KAFKA_BROKERS, MONGODB_URL, CASSANDRA_CONTACT_POINTS and REDIS_URL (see docs/services.md)');
  }
  for (const scenario of SCENARIOS) {
    if (options.only && !scenario.ids.some((id) => options.only!.has(id))) continue;
    process.stderr.write(`${scenario.ids.join('/')} on ${backend}\n`);
    const started = Date.now();
    try {
      const result = await scenario.run({ backend, options: { ...options, profileName }, only: options.only, earlier: rows });
      rows.push(...result.rows);
      skipped.push(...result.skipped);
    } catch (error) {
      const message = `${scenario.ids.join('/')} on ${backend} failed: ${(error as Error).stack ?? String(error)}`;
      process.stderr.write(`${message}\n`);
      skipped.push(message.split('\n')[0]!);
    }
    process.stderr.write(`  (${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  }
}

// A partial run (--only, one backend) keeps the other rows of the previous run in the summary.
const EARLIER = 'from an earlier run';
const requested = (row: ResultRow) => (!options.only || options.only.has(row.id)) && options.backends.includes(row.backend);
const previous = previousRun();
/**
 * Ids the brief later gave other meanings: S1 (sustained load) is now P10, and the calendar query
 * that was P10 is now P11. Rows of results written before that are not carried into a partial
 * run's page under ids that now mean something else.
 */
const renamedSince = (row: ResultRow) => row.id === 'S1' || (row.id === 'P10' && row.sustained === undefined);
const kept = previous.rows
  .filter((row) => !requested(row) && !renamedSince(row))
  .map((row) => (row.notes.includes(EARLIER) ? row : { ...row, notes: [...row.notes, EARLIER] }));
skipped.push(...previous.skipped.filter((note) => !skipNoteRedone(note, options)));
const results: RunResults = {
  startedAt,
  finishedAt: new Date().toISOString(),
  machine: machine(),
  options: { ...options, only: options.only ? [...options.only] : null },
  eventJsonBytes: sizeOfEventJson(),
  rows,
  skipped,
  profiles,
};
const file = writeJson({ ...results, rows: [...rows, ...kept] });
if (!options.noDocs) writeDocs({ ...results, rows: [...rows, ...kept] });
process.stderr.write(`results: ${file}\n`);
for (const row of rows) {
  const ratio = row.ratio ? `${row.ratio.median} (${row.ratio.min}–${row.ratio.max})` : '–';
  process.stderr.write(
    `${row.id} ${row.backend} ${row.variant}: ${ratio} target ${row.target} ${row.met === null ? '' : row.met ? 'met' : 'MISSED'}\n`,
  );
}
// kafkajs and the drivers keep sockets open for a while after disconnecting.
process.exit(0);
