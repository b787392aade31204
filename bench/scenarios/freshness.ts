/**
 * P3: freshness, the time from `ingest` returning to a graphql-ws subscriber receiving the
 * event, p50/p99, while other clients ingest at half the maximum ingest rate (batches of 100).
 * Kafka: beside raw kafkajs produce (send resolved) → consume on the same broker, under the same
 * background load and with the consumer settings Streamlens uses. Embedded: against the
 * absolute target (p99 ≤ 20 ms), no baseline arm.
 */
import type { Consumer, Producer } from 'kafkajs';
import { benchBatch, benchEvent, logRecordOf } from '../harness/events.ts';
import { newHistogram, recordMs, percentileMs } from '../harness/hdr.ts';
import { forSeconds, runPairs, runRounds, type ArmResult } from '../harness/pairs.ts';
import { rowOf } from '../harness/report.ts';
import { median } from '../harness/stats.ts';
import { drained, ingest, startBenchServer, sleep, waitForSubscriptions, type BenchServer } from '../harness/server.ts';
import { subscribeToArrivals } from '../harness/gqlws.ts';
import { ACKS_ALL, PRODUCE_TIMEOUT_MS, baselineProducer, createTopic, kafka } from '../harness/kafka.ts';
import type { Scenario } from './scenario.ts';

const PROBE_EVERY_MS = 20;
const LOAD_BATCH = 100;

/** Batches of 100 at `eventsPerSecond`, from 2 loops, until `stop()`; resolves when stopped. */
function backgroundLoad(eventsPerSecond: number, send: () => Promise<void>): { stop(): Promise<void> } {
  let running = true;
  const intervalMs = (LOAD_BATCH / eventsPerSecond) * 1000;
  const started = performance.now();
  let sent = 0;
  const loop = async () => {
    while (running) {
      const due = started + sent * intervalMs;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      sent += 1;
      await send();
    }
  };
  const loops = [loop(), loop()];
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function maxIngestRate(server: BenchServer, seconds: number): Promise<number> {
  const { count, elapsedS } = await forSeconds(seconds, 4, () => ingest(server.url, benchBatch('fresh_load', LOAD_BATCH)));
  await drained(server.url);
  return count / elapsedS;
}

export const freshnessScenario: Scenario = {
  ids: ['P3'],
  async run({ backend, options, earlier }) {
    const server = await startBenchServer(backend, { profile: options.profileName?.('P3-server') ?? null });
    const client = backend === 'real' ? kafka('bench-p3') : null;
    const admin = client?.admin() ?? null;
    let producer: Producer | null = null;
    let consumer: Consumer | null = null;
    let topic = '';
    const waiting = new Map<string, (receivedAt: number) => void>();
    const subscriber = await subscribeToArrivals(server.wsUrl, 'fresh_probe', waiting);
    try {
      await waitForSubscriptions(server.url, 1);
      const measured = earlier.find(
        (row) => row.backend === backend && (row.id === 'P1' || row.id === 'P2') && row.variant === 'batch 100',
      );
      const maxRate = measured?.streamlens.median ?? (await maxIngestRate(server, options.seconds));
      const loadRate = maxRate / 2;
      const armSeconds = options.seconds * 2;

      if (client && admin) {
        await admin.connect();
        topic = await createTopic(admin, 'bench_p3_baseline');
        producer = await baselineProducer(client);
        consumer = client.consumer({ groupId: `${topic}.bench`, maxWaitTimeInMs: 500, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
        await consumer.connect();
        await consumer.subscribe({ topics: [topic], fromBeginning: false });
        let ready: () => void = () => {};
        const assigned = new Promise<void>((resolve) => (ready = resolve));
        consumer.on(consumer.events.GROUP_JOIN, () => ready());
        await consumer.run({
          eachBatch: async ({ batch }) => {
            const now = performance.now();
            for (const message of batch.messages) {
              const key = message.key?.toString();
              if (key && key.startsWith('fresh_probe-')) waiting.get(key)?.(now);
            }
          },
        });
        await assigned;
        // fromBeginning: false starts at the end: a probe sent right after joining could be missed.
        await sleep(1_000);
      }

      /**
       * Per Streamlens arm, for the notes: the share of probes pushed to the subscriber before
       * `ingest` had returned (recorded as 1 µs, the histogram's floor), and the p50/p99 from the
       * moment the probe was sent, which that floor does not hide.
       */
      const pushedBeforeReturn: number[] = [];
      const fromSent: { p50: number; p99: number }[] = [];

      /** One arm: background load plus a probe every 20 ms, for armSeconds. */
      async function arm(sendLoad: () => Promise<void>, sendProbe: (id: string) => Promise<void>, streamlens = false): Promise<ArmResult> {
        const histogram = newHistogram();
        const sentHistogram = newHistogram();
        const load = backgroundLoad(loadRate, sendLoad);
        const deadline = performance.now() + armSeconds * 1000;
        let lost = 0;
        let early = 0;
        let probes = 0;
        while (performance.now() < deadline) {
          const event = benchEvent('fresh_probe');
          const received = new Promise<number>((resolve) => waiting.set(event.id, resolve));
          const timeout = sleep(5_000).then(() => -1);
          const sentAt = performance.now();
          await sendProbe(event.id);
          const returnedAt = performance.now();
          const at = await Promise.race([received, timeout]);
          waiting.delete(event.id);
          if (at < 0) lost += 1;
          else {
            probes += 1;
            if (at < returnedAt) early += 1;
            recordMs(histogram, at - returnedAt);
            recordMs(sentHistogram, at - sentAt);
          }
          await sleep(PROBE_EVERY_MS);
        }
        await load.stop();
        if (lost > 0) process.stderr.write(`  ${lost} probes not received within 5 s\n`);
        if (streamlens) {
          pushedBeforeReturn.push(probes > 0 ? early / probes : 0);
          fromSent.push({ p50: percentileMs(sentHistogram, 50), p99: percentileMs(sentHistogram, 99) });
        }
        return { value: percentileMs(histogram, 99), histogram };
      }
      const streamlensNotes = () => [
        `pushed before ingest returned (counted as 1 µs): ${Math.round(median(pushedBeforeReturn) * 100)}% of probes (median of the arms)`,
        `from ingest sent → received: p50 ${median(fromSent.map((f) => f.p50)).toFixed(2)} ms, p99 ${median(fromSent.map((f) => f.p99)).toFixed(2)} ms (medians of the arms)`,
      ];

      const streamlensArm = () =>
        arm(
          async () => void (await ingest(server.url, benchBatch('fresh_load', LOAD_BATCH))),
          async (id) => {
            await ingest(server.url, [{ ...benchEvent('fresh_probe'), id }]);
          },
          true,
        );
      const settle = async () => void (await drained(server.url));
      if (producer) {
        const baselineArm = () =>
          arm(
            async () => {
              const records = benchBatch('fresh_load', LOAD_BATCH).map((event) => logRecordOf(event));
              await producer!.send({ topic, messages: records, acks: ACKS_ALL, timeout: PRODUCE_TIMEOUT_MS });
            },
            async (id) => {
              const record = logRecordOf({ ...benchEvent('fresh_probe'), id });
              await producer!.send({ topic, messages: [{ key: id, value: record.value }], acks: ACKS_ALL, timeout: PRODUCE_TIMEOUT_MS });
            },
          );
        const outcome = await runPairs({ label: `P3 ${backend}`, pairs: options.pairs, a: streamlensArm, b: baselineArm, settle });
        return {
          rows: [
            rowOf(
              {
                id: 'P3',
                variant: `load ${Math.round(loadRate)} ev/s`,
                backend,
                what: 'freshness: ingest returns → graphql-ws subscriber receives (ms), at half the max ingest rate, Kafka log',
                unit: 'ms (p99 per pair)',
                target: 'p99 ≤ 50 ms',
                judged: true,
                notes: [
                  `max ingest rate ${Math.round(maxRate)} events/s (P1 batch 100${measured ? '' : ', measured here'}); probes every ${PROBE_EVERY_MS} ms`,
                  ...streamlensNotes(),
                ],
              },
              outcome,
              { a: 'Streamlens p99', b: 'kafkajs produce → consume p99', ratioOf: 'Streamlens p99 ÷ baseline p99' },
              (row) => (row.latency?.streamlens?.p99 ?? Infinity) <= 50,
            ),
          ],
          skipped: [],
        };
      }
      const outcome = await runRounds(`P3 ${backend}`, options.pairs, streamlensArm, settle);
      return {
        rows: [
          rowOf(
            {
              id: 'P3',
              variant: `load ${Math.round(loadRate)} ev/s`,
              backend,
              what: 'freshness: ingest returns → graphql-ws subscriber receives (ms), at half the max ingest rate, embedded log',
              unit: 'ms (p99 per round)',
              target: 'p99 ≤ 20 ms',
              judged: true,
              notes: [
                `max ingest rate ${Math.round(maxRate)} events/s (P2 batch 100${measured ? '' : ', measured here'}); probes every ${PROBE_EVERY_MS} ms`,
                'no baseline arm: the embedded target is absolute',
                ...streamlensNotes(),
              ],
            },
            outcome,
            { a: 'Streamlens p99', b: null, ratioOf: '' },
            (row) => (row.latency?.streamlens?.p99 ?? Infinity) <= 20,
          ),
        ],
        skipped: [],
      };
    } finally {
      subscriber.close();
      await consumer?.disconnect().catch(() => {});
      await producer?.disconnect().catch(() => {});
      if (admin && topic) await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin?.disconnect().catch(() => {});
      await server.close();
    }
  },
};
