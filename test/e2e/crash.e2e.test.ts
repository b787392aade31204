/**
 * Crash safety: SIGKILL the service at random moments during a sustained ingest, restart it
 * on the same DATA_DIR, and prove that every ACCEPTED event is stored exactly once and that
 * the rollups equal the totals recomputed from the raw events.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS, newDataDir, realServerEnv, removeDataDir, startServer, type Backend } from '../support/server.ts';
import { waitForProcessing } from '../support/clients.ts';
import { expectExactlyOnce, newLedger, resendUnanswered, sustainIngest, type IngestShape } from '../support/exactly-once.ts';

/**
 * SIGKILLs per backend. On Kafka every restart waits for the group to drop the killed member
 * (its session timeout), so the real-server run crashes fewer times; test/faults/ crashes it ten times.
 */
const ROUNDS: Record<Backend, number> = { embedded: 4, 'real servers': 2 };
const SHAPE: IngestShape = { type: 'crash_test', writers: 3, batchSize: 25 };

describe.each(BACKENDS)('crash safety on %s', (backend) => {
  const dataDir = newDataDir();
  afterAll(() => removeDataDir(dataDir));

  it('loses nothing and counts nothing twice across SIGKILLs', { timeout: 300_000 }, async () => {
    const ledger = newLedger();
    // Every restart must find the same log and stores: the same DATA_DIR, topic, database and keyspace.
    const env = backend === 'real servers' ? realServerEnv() : {};
    const rounds = ROUNDS[backend];
    for (let round = 0; round < rounds; round++) {
      const server = await startServer({ dataDir, backend, env });
      // Clients retry what they never heard back about, as a real client would after a crash.
      await resendUnanswered(server.url, ledger);

      const stop = { now: false };
      const ingesting = sustainIngest(server.url, SHAPE, ledger, { idPrefix: `r${round}`, stop });
      await new Promise((resolve) => setTimeout(resolve, 300 + Math.random() * 1200));
      await server.kill();
      stop.now = true;
      await ingesting;
    }

    const server = await startServer({ dataDir, backend, env });
    try {
      await resendUnanswered(server.url, ledger);
      // On Kafka the restarted consumer first waits for the group to drop the killed member.
      await waitForProcessing(server.url, 120_000);

      console.info(`crash test on ${backend}: ${ledger.accepted.size} events accepted over ${rounds} SIGKILLs`);
      // Enough traffic that the kills landed mid-ingest and mid-processing.
      expect(ledger.accepted.size).toBeGreaterThan(rounds * SHAPE.writers * SHAPE.batchSize);
      const events = await expectExactlyOnce(server.url, SHAPE.type, ledger);
      expect(events.reduce((sum, event) => sum + (event.values.amount as number), 0)).toBeGreaterThan(0);
    } finally {
      await server.stop();
    }
  });
});
