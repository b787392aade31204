/**
 * P1 (Kafka log) and P2 (embedded log): events/s acknowledged by `ingest` through GraphQL over
 * HTTP, against a plain client appending the same batches with the same durability:
 * - P1: a kafkajs producer with Streamlens' producer settings sending each batch as one send;
 * - P2: better-sqlite3 appends to a table like the embedded log's, WAL + synchronous=FULL, one
 *   transaction per batch.
 * Both arms use the same number of concurrent senders. Between arms the server's processor is
 * let catch up, so that the backlog of one arm does not slow the next one down.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Producer } from 'kafkajs';
import { coresUsed, cpuSnapshot } from '../harness/cpu.ts';
import { benchBatch, logRecordOf } from '../harness/events.ts';
import { forSeconds, runPairs } from '../harness/pairs.ts';
import { rowOf, type ResultRow } from '../harness/report.ts';
import { median } from '../harness/stats.ts';
import { drained, ingest, startBenchServer } from '../harness/server.ts';
import { ACKS_ALL, PRODUCE_TIMEOUT_MS, baselineProducer, createTopic, kafka } from '../harness/kafka.ts';
import type { Scenario } from './scenario.ts';

export const BATCH_SIZES = [1, 100, 1000];
/** Concurrent senders in both arms. */
export const CONCURRENCY = 4;

function sqliteBaseline(): { append(records: { key: string; value: string }[]): void; close(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'streamlens-bench-sqlite-'));
  const db = new Database(join(dir, 'log.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(
    'CREATE TABLE records (offset INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, value TEXT NOT NULL, appended_at INTEGER NOT NULL)',
  );
  const insert = db.prepare('INSERT INTO records (key, value, appended_at) VALUES (?, ?, ?)');
  const appendAll = db.transaction((records: { key: string; value: string }[], now: number) => {
    for (const record of records) insert.run(record.key, record.value, now);
  });
  return {
    append: (records) => appendAll(records, Date.now()),
    close() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const CORES = availableParallelism();

function medianOf(samples: { machine: number; process: number }[], which: 'machine' | 'process'): string {
  return samples.length === 0 ? '–' : median(samples.map((sample) => sample[which])).toFixed(2);
}

export const ingestScenario: Scenario = {
  ids: ['P1', 'P2'],
  async run({ backend, options, only }) {
    const id = backend === 'real' ? 'P1' : 'P2';
    if (only && !only.has(id)) return { rows: [], skipped: [] };
    const rows: ResultRow[] = [];
    const server = await startBenchServer(backend, { profile: options.profileName?.(`${id}-server`) ?? null });
    let producer: Producer | null = null;
    let sqlite: ReturnType<typeof sqliteBaseline> | null = null;
    let topic = '';
    const client = backend === 'real' ? kafka() : null;
    const admin = client?.admin() ?? null;
    try {
      if (client && admin) {
        await admin.connect();
        topic = await createTopic(admin, 'bench_p1_baseline');
        producer = await baselineProducer(client);
      } else {
        sqlite = sqliteBaseline();
      }
      for (const batchSize of BATCH_SIZES) {
        const type = `ingest_${batchSize}`;
        // Where the two cores went in each arm: the service (ingest and its processor, which
        // drains the arm's events at the same time) against everything else on the machine.
        const streamlensCpu: { machine: number; process: number }[] = [];
        const baselineCpu: { machine: number; process: number }[] = [];
        const streamlensArm = async () => {
          const start = cpuSnapshot(server.pid);
          const { count, elapsedS } = await forSeconds(options.seconds, CONCURRENCY, () => ingest(server.url, benchBatch(type, batchSize)));
          streamlensCpu.push(coresUsed(start, cpuSnapshot(server.pid), CORES));
          return { value: count / elapsedS };
        };
        const baselineArm = async () => {
          const start = cpuSnapshot(process.pid);
          const { count, elapsedS } = await forSeconds(options.seconds, CONCURRENCY, async () => {
            const records = benchBatch(type, batchSize).map((event) => logRecordOf(event));
            if (producer) {
              await producer.send({ topic, messages: records, acks: ACKS_ALL, timeout: PRODUCE_TIMEOUT_MS });
            } else {
              sqlite!.append(records);
              // Let the other senders (and the timer) run: better-sqlite3 is synchronous.
              await new Promise((resolve) => setImmediate(resolve));
            }
            return records.length;
          });
          baselineCpu.push(coresUsed(start, cpuSnapshot(process.pid), CORES));
          return { value: count / elapsedS };
        };
        const outcome = await runPairs({
          label: `${id} ${backend} batch ${batchSize}`,
          pairs: options.pairs,
          a: streamlensArm,
          b: baselineArm,
          settle: async () => {
            await drained(server.url, 60_000);
          },
        });
        const target = id === 'P1' ? 0.7 : 0.5;
        rows.push(
          rowOf(
            {
              id,
              variant: `batch ${batchSize}`,
              backend,
              what: `events/s acknowledged by ingest (GraphQL over HTTP, ${CONCURRENCY} concurrent clients), ${id === 'P1' ? 'Kafka' : 'embedded'} log`,
              unit: 'events/s',
              target: `≥ ${target}×`,
              judged: batchSize === 100,
              notes: [
                ...(batchSize === 100 ? [] : ['context row: the target is set at batches of 100']),
                `cores busy (of ${CORES}), median of the arms: Streamlens arm ${medianOf(streamlensCpu, 'machine')}, of which the service ${medianOf(streamlensCpu, 'process')}; baseline arm ${medianOf(baselineCpu, 'machine')}, of which the baseline client ${medianOf(baselineCpu, 'process')}`,
              ],
            },
            outcome,
            {
              a: 'Streamlens ingest',
              b: id === 'P1' ? 'kafkajs producer, same settings' : 'better-sqlite3, WAL + synchronous=FULL, one transaction per batch',
              ratioOf: 'Streamlens ÷ baseline',
            },
            (row) => row.ratio!.median >= target,
          ),
        );
      }
    } finally {
      await producer?.disconnect().catch(() => {});
      if (admin && topic) await admin.deleteTopics({ topics: [topic] }).catch(() => {});
      await admin?.disconnect().catch(() => {});
      sqlite?.close();
      await server.close();
    }
    return { rows, skipped: [] };
  },
};
