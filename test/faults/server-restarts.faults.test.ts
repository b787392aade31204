/**
 * The servers fail, not the service: during a sustained ingest into one Streamlens instance on
 * the four real servers, restart the Kafka broker, then Redis (scripts/services.sh restart: same
 * ports, same data). Clients retry every UNAVAILABLE answer with backoff, as the API tells them
 * to. Then: /ready went 503 while Kafka was down and is 200 again, every ACCEPTED event is stored
 * exactly once, the rollups equal the raw events' totals, and live updates flow again.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { newDataDir, realServerEnv, removeDataDir, startServer, type TestServer } from '../support/server.ts';
import { sseClient, subscribe, waitForLiveSubscriptions, waitForProcessing, waitUntil } from '../support/clients.ts';
import {
  expectExactlyOnce,
  newLedger,
  readStreamStatus,
  resendUnanswered,
  sendUntilAccepted,
  sustainIngest,
  type IngestShape,
} from '../support/exactly-once.ts';
import { assertRestartable, ensureServiceUp, restartService, type RestartableService } from '../support/service-restarts.ts';
import { LiveEventsDocument } from '../generated/operations.ts';

const SHAPE: IngestShape = { type: 'restart_fault', writers: 3, batchSize: 25, pauseBetweenBatchesMs: 100 };
/** Ingest between the faults, so that each restart lands in the middle of traffic and processing. */
const STEADY_MS = 2_000;
/** How often /ready is polled: the Kafka restart takes a few seconds, the Redis one a fraction of one. */
const READY_POLL_MS = 100;
/** A recovered instance is ready again within this (kafkajs reconnects with backoff). */
const RECOVERY_TIMEOUT_MS = 30_000;

interface ReadinessSample {
  at: number;
  status: number;
}

/** Polls GET /ready until stopped; a request that fails outright counts as status 0. */
function pollReadiness(baseUrl: string) {
  const samples: ReadinessSample[] = [];
  let polling = true;
  const done = (async () => {
    while (polling) {
      let status = 0;
      try {
        status = (await fetch(`${baseUrl}/ready`, { signal: AbortSignal.timeout(10_000) })).status;
      } catch {
        // counted as not ready
      }
      samples.push({ at: performance.now(), status });
      await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
    }
  })();
  return {
    samples,
    async stop() {
      polling = false;
      await done;
    },
    /** From the first answer other than 200 after `since` to the next 200: how long readiness stayed false. */
    notReadyMsSince(since: number): number | null {
      const after = samples.filter((s) => s.at >= since);
      const firstDown = after.findIndex((s) => s.status !== 200);
      if (firstDown < 0) return null;
      const backUp = after.slice(firstDown).find((s) => s.status === 200);
      return (backUp?.at ?? performance.now()) - after[firstDown]!.at;
    },
    lastStatus: () => samples[samples.length - 1]?.status,
  };
}

let server: TestServer;
const dataDir = newDataDir();

beforeAll(async () => {
  // Fails with a clear message when these servers are not services.sh's to restart.
  assertRestartable(['kafka', 'redis']);
  server = await startServer({ dataDir, backend: 'real servers', env: realServerEnv() });
});

afterAll(async () => {
  await server?.stop();
  removeDataDir(dataDir);
});

it('keeps exactly-once and recovers readiness across a Kafka broker restart and a Redis restart', { timeout: 180_000 }, async () => {
  const began = performance.now();
  const ledger = newLedger();
  const readiness = pollReadiness(server.baseUrl);
  const stop = { now: false };
  const ingesting = sustainIngest(server.url, SHAPE, ledger, { idPrefix: 'restart', stop, maxBatchesPerWriter: Number.POSITIVE_INFINITY });
  const restartedMs: Partial<Record<RestartableService, number>> = {};
  const notReadyMs: Partial<Record<RestartableService, number | null>> = {};
  const readyAgainMs: Partial<Record<RestartableService, number>> = {};
  const unavailableDuring: Partial<Record<RestartableService, number>> = {};
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  try {
    await sleep(STEADY_MS);
    for (const service of ['kafka', 'redis'] as const) {
      const unavailableBefore = ledger.unavailableAnswers;
      const restartBegan = performance.now();
      restartedMs[service] = await restartService(service);
      await waitUntil(
        async () => readiness.lastStatus() === 200 && readiness.samples.at(-1)!.at > restartBegan + restartedMs[service]!,
        RECOVERY_TIMEOUT_MS,
        `/ready 200 after the ${service} restart`,
      );
      readyAgainMs[service] = performance.now() - restartBegan;
      notReadyMs[service] = readiness.notReadyMsSince(restartBegan);
      unavailableDuring[service] = ledger.unavailableAnswers - unavailableBefore;
      await sleep(STEADY_MS);
    }
  } finally {
    stop.now = true;
    await ingesting;
    await readiness.stop();
    // Whatever failed above, the servers stay up for whoever runs next.
    for (const service of ['kafka', 'redis'] as const) await ensureServiceUp(service);
  }

  // The outage was real and visible: clients were refused with UNAVAILABLE and /ready said so.
  expect(unavailableDuring.kafka, 'UNAVAILABLE answers while Kafka restarted').toBeGreaterThan(0);
  expect(notReadyMs.kafka, '/ready answered 503 while Kafka restarted').not.toBeNull();
  expect(readiness.lastStatus()).toBe(200);

  // Live updates flow through the restarted Redis: a subscriber sees an event ingested now.
  const sse = sseClient(server.url);
  const live = await subscribe(sse, LiveEventsDocument, { filter: { types: ['restart_fault_marker'] } });
  try {
    await waitForLiveSubscriptions(server.url, 1);
    const marker = [{ id: 'after-restarts', type: 'restart_fault_marker', values: { amount: 1 } }];
    expect(await sendUntilAccepted(server.url, marker, newLedger(), { now: false })).toBe(true);
    expect((await live.waitFor(1, 15_000))[0]!.events.node.id).toBe('after-restarts');
  } finally {
    live.stop();
    sse.dispose();
  }

  await resendUnanswered(server.url, ledger);
  await waitForProcessing(server.url, 60_000);
  await expectExactlyOnce(server.url, SHAPE.type, ledger);

  // One process saw everything, so its counters are the whole story: every event acknowledged
  // ACCEPTED more than once is a second record in the log that must have been skipped.
  const status = await readStreamStatus(server.url);
  expect(status.poisonRecords).toBe(0);
  expect(status.quarantined).toBe(0);
  expect(status.duplicates).toBeGreaterThanOrEqual(ledger.acceptedAcks - ledger.accepted.size);

  const seconds = (ms: number | null | undefined) => (ms == null ? 'never' : `${(ms / 1000).toFixed(1)} s`);
  console.info(
    `server restarts: ${ledger.accepted.size} distinct events accepted (${ledger.acceptedAcks} ACCEPTED acks, ` +
      `${ledger.unavailableAnswers} UNAVAILABLE answers retried, duplicates skipped ${status.duplicates}); ` +
      `kafka restart ${seconds(restartedMs.kafka)}, /ready not 200 for ${seconds(notReadyMs.kafka)}, ready again after ${seconds(readyAgainMs.kafka)}, ` +
      `${unavailableDuring.kafka} UNAVAILABLE; redis restart ${seconds(restartedMs.redis)}, /ready not 200 for ${seconds(notReadyMs.redis)}, ` +
      `${unavailableDuring.redis} UNAVAILABLE; total ${seconds(performance.now() - began)}`,
  );
});
