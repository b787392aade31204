/**
 * Crash safety on the four real servers, ten times over: SIGKILL the service at a random moment
 * of a sustained ingest, start it again on the same topic, database and keyspace, let the
 * clients send again what they never heard back about, and after the last round prove that every
 * ACCEPTED event is stored exactly once and that the rollups equal the raw events' totals.
 *
 * Each restart joins the consumer group only once the coordinator has dropped the killed member,
 * after its session timeout (10 s, kafka-event-log.ts): that wait is most of a round.
 */
import { afterAll, expect, it } from 'vitest';
import { newDataDir, realServerEnv, removeDataDir, startServer } from '../support/server.ts';
import { waitForProcessing } from '../support/clients.ts';
import {
  expectExactlyOnce,
  newLedger,
  readStreamStatus,
  resendUnanswered,
  sustainIngest,
  type IngestShape,
} from '../support/exactly-once.ts';

const ROUNDS = 10;
/** About 750 events a second: well within what the processor keeps up with on this 2-core machine. */
const SHAPE: IngestShape = { type: 'sigkill_fault', writers: 3, batchSize: 25, pauseBetweenBatchesMs: 100 };
/** The kill lands this long into a round's ingest, at random. */
const MIN_INGEST_MS = 300;
const MAX_INGEST_MS = 2_000;

const dataDir = newDataDir();
afterAll(() => removeDataDir(dataDir));

it(`loses nothing and counts nothing twice across ${ROUNDS} SIGKILLs on the real servers`, { timeout: 240_000 }, async () => {
  const began = performance.now();
  const ledger = newLedger();
  // Every instance must find the same log and stores: the same topic, database and keyspace.
  const env = realServerEnv();
  const startupsMs: number[] = [];
  let resent = 0;

  for (let round = 0; round < ROUNDS; round++) {
    const startAsked = performance.now();
    const server = await startServer({ dataDir, backend: 'real servers', env });
    startupsMs.push(performance.now() - startAsked);
    // Clients send again what they never heard back about, as a real client would after a crash.
    resent += await resendUnanswered(server.url, ledger);

    const stop = { now: false };
    const ingesting = sustainIngest(server.url, SHAPE, ledger, { idPrefix: `r${round}`, stop });
    await new Promise((resolve) => setTimeout(resolve, MIN_INGEST_MS + Math.random() * (MAX_INGEST_MS - MIN_INGEST_MS)));
    await server.kill();
    stop.now = true;
    await ingesting;
  }

  const startAsked = performance.now();
  const server = await startServer({ dataDir, backend: 'real servers', env });
  startupsMs.push(performance.now() - startAsked);
  try {
    resent += await resendUnanswered(server.url, ledger);
    const recoveryStarted = performance.now();
    await waitForProcessing(server.url, 60_000).catch((error: Error) => {
      throw new Error(`${error.message}; the last instance's log ends with:\n${server.output().slice(-4000)}`);
    });
    const catchUpMs = performance.now() - recoveryStarted;

    const events = await expectExactlyOnce(server.url, SHAPE.type, ledger);
    // Enough traffic that the kills landed mid-ingest and mid-processing.
    expect(events.length).toBeGreaterThan(ROUNDS * SHAPE.writers * SHAPE.batchSize);
    // Every record in the log is a valid event stamped now: none may be skipped or quarantined.
    const status = await readStreamStatus(server.url);
    expect(status.poisonRecords).toBe(0);
    expect(status.quarantined).toBe(0);

    const seconds = (ms: number) => (ms / 1000).toFixed(1);
    console.info(
      `SIGKILL faults: ${ledger.accepted.size} distinct events accepted (${ledger.acceptedAcks} ACCEPTED acks, ` +
        `${resent} unanswered batches sent again, ${ledger.unavailableAnswers} UNAVAILABLE answers) over ${ROUNDS} SIGKILLs; ` +
        `instance start-ups ${startupsMs.map(seconds).join(', ')} s; final catch-up ${seconds(catchUpMs)} s; ` +
        `total ${seconds(performance.now() - began)} s`,
    );
  } finally {
    await server.stop();
  }
});
