/**
 * P6: memory per idle subscriber: the growth of the service's resident memory when M idle
 * graphql-ws subscribers of a live series connect, ÷ M; beside the growth of a raw `ws`
 * server process's resident memory when M idle sockets connect, ÷ M. Each pair uses fresh
 * processes (memory is not given back reliably after disconnects), measured after the
 * connections settle; the RSS is the median of 5 readings 100 ms apart.
 */
import { runPairs } from '../harness/pairs.ts';
import { rowOf } from '../harness/report.ts';
import { rssOf, startBenchServer, streamStatus, waitForSubscriptions, sleep } from '../harness/server.ts';
import { connectRaw, subscribeMany, subscribeRaw } from '../harness/gqlws.ts';
import { startWsBaseline } from '../harness/ws-baseline.ts';
import { LIVE_SERIES, LIVE_SERIES_VARIABLES } from './fanout.ts';
import type { Scenario } from './scenario.ts';

const M = 1_000;

async function settledRss(pid: number): Promise<number> {
  await sleep(1_000);
  const readings: number[] = [];
  for (let i = 0; i < 5; i++) {
    readings.push(rssOf(pid));
    await sleep(100);
  }
  return readings.sort((a, b) => a - b)[2]!;
}

export const memoryScenario: Scenario = {
  ids: ['P6'],
  async run({ backend, options }) {
    const streamlensArm = async () => {
      const server = await startBenchServer(backend);
      try {
        // Warm: the GraphQL paths and the bus are loaded before the first reading.
        await streamStatus(server.url);
        const warm = await subscribeRaw(server.wsUrl, LIVE_SERIES, LIVE_SERIES_VARIABLES, () => {});
        await waitForSubscriptions(server.url, 1);
        const before = await settledRss(server.pid);
        const subscribers = await subscribeMany(M, () => subscribeRaw(server.wsUrl, LIVE_SERIES, LIVE_SERIES_VARIABLES, () => {}));
        await waitForSubscriptions(server.url, M + 1, 120_000);
        const after = await settledRss(server.pid);
        for (const subscriber of [warm, ...subscribers]) subscriber.close();
        return { value: (after - before) / M };
      } finally {
        await server.close();
      }
    };
    const baselineArm = async () => {
      const baseline = await startWsBaseline();
      try {
        const warm = await connectRaw(baseline.url, () => {});
        const before = await settledRss(baseline.pid);
        const sockets = [warm];
        for (let i = 0; i < M; i++) sockets.push(await connectRaw(baseline.url, () => {}));
        await baseline.ask({ count: true });
        const after = await settledRss(baseline.pid);
        for (const socket of sockets) socket.terminate();
        return { value: (after - before) / M };
      } finally {
        await baseline.stop();
      }
    };
    const outcome = await runPairs({ label: `P6 ${backend}`, pairs: options.pairs, a: streamlensArm, b: baselineArm });
    return {
      rows: [
        rowOf(
          {
            id: 'P6',
            variant: `M=${M}`,
            backend,
            what: 'resident memory per idle graphql-ws series subscriber (bytes)',
            unit: 'bytes/connection',
            target: '≤ 2×',
            judged: true,
            notes: ['RSS growth ÷ M, fresh processes per pair'],
          },
          outcome,
          { a: 'Streamlens subscriber', b: 'raw ws connection', ratioOf: 'Streamlens ÷ baseline' },
          (row) => row.ratio!.median <= 2,
        ),
      ],
      skipped: [],
    };
  },
};
