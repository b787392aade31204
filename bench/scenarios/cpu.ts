/**
 * P9: CPU per ingested event: the service process's user + system CPU time (from /proc) while
 * it ingests batches of 100 (4 concurrent clients) and processes them to the end (lag 0),
 * ÷ the events; beside `JSON.stringify(JSON.parse(text))` of the same event's JSON,
 * micro-benchmarked in this process on the same Node (process.cpuUsage).
 */
import { benchBatch, benchEvent } from '../harness/events.ts';
import { forSeconds, runPairs } from '../harness/pairs.ts';
import { rowOf } from '../harness/report.ts';
import { cpuSecondsOf, drained, ingest, startBenchServer } from '../harness/server.ts';
import type { Scenario } from './scenario.ts';

export const cpuScenario: Scenario = {
  ids: ['P9'],
  async run({ backend, options }) {
    const server = await startBenchServer(backend, { profile: options.profileName?.(`P9-${backend}`) ?? null });
    const text = JSON.stringify(benchEvent('cpu'));
    let sink = 0;
    try {
      const streamlensArm = async () => {
        const before = cpuSecondsOf(server.pid);
        const { count } = await forSeconds(options.seconds, 4, () => ingest(server.url, benchBatch('cpu', 100)));
        await drained(server.url, 120_000);
        const cpu = cpuSecondsOf(server.pid) - before;
        return { value: (cpu / count) * 1e6 };
      };
      const baselineArm = async () => {
        const before = process.cpuUsage();
        let iterations = 0;
        const deadline = performance.now() + options.seconds * 1000;
        while (performance.now() < deadline) {
          for (let i = 0; i < 1000; i++) sink += JSON.stringify(JSON.parse(text)).length;
          iterations += 1000;
        }
        const used = process.cpuUsage(before);
        return { value: (used.user + used.system) / iterations };
      };
      const outcome = await runPairs({
        label: `P9 ${backend}`,
        pairs: options.pairs,
        a: streamlensArm,
        b: baselineArm,
        settle: async () => void (await drained(server.url)),
      });
      return {
        rows: [
          rowOf(
            {
              id: 'P9',
              variant: 'batch 100',
              backend,
              what: 'CPU per ingested event (ingest + processing, service process)',
              unit: 'µs CPU/event',
              target: '≤ 25×',
              judged: true,
              notes: [
                `event JSON ${Buffer.byteLength(text)} bytes; clock ticks of /proc are 10 ms, so each arm runs ≥ ${options.seconds} s`,
                `(${sink > 0 ? 'checksum ok' : ''})`,
              ],
            },
            outcome,
            { a: 'Streamlens service CPU/event', b: 'JSON.parse + JSON.stringify/event', ratioOf: 'Streamlens ÷ baseline' },
            (row) => row.ratio!.median <= 25,
          ),
        ],
        skipped: [],
      };
    } finally {
      await server.close();
    }
  },
};
