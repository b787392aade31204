/**
 * P6: memory per idle subscriber: the growth of the service's resident memory per idle
 * graphql-ws subscriber of a live series, beside the growth of a raw `ws` server process's
 * resident memory per idle socket. Each pair uses fresh processes (memory is not given back
 * reliably after disconnects), measured after the connections settle; an RSS reading is the
 * median of 5 readings 100 ms apart.
 *
 * Judged: the marginal cost, the growth from M to 2M connections ÷ M. The growth of the first M
 * (reported as a context row) also holds one-off costs: setting up the first thousand
 * operations grows V8's young generation by some 17 MB, which the service then keeps, and
 * which a raw socket, allocating little, never causes. What one subscriber holds in the heap:
 * bench/heap-per-subscriber.ts (docs/performance.md, "Memory per subscriber").
 */
import { runPairs } from '../harness/pairs.ts';
import { rowOf } from '../harness/report.ts';
import { rssOf, startBenchServer, streamStatus, waitForSubscriptions, sleep } from '../harness/server.ts';
import { connectRaw, subscribeMany, subscribeRaw } from '../harness/gqlws.ts';
import { startWsBaseline } from '../harness/ws-baseline.ts';
import { LIVE_SERIES, LIVE_SERIES_VARIABLES } from './fanout.ts';
import type { Scenario } from './scenario.ts';

const M = 1_000;

interface Growth {
  /** RSS growth per connection over the first M. */
  first: number;
  /** RSS growth per connection from M to 2M. */
  marginal: number;
}

async function settledRss(pid: number): Promise<number> {
  await sleep(1_000);
  const readings: number[] = [];
  for (let i = 0; i < 5; i++) {
    readings.push(rssOf(pid));
    await sleep(100);
  }
  return readings.sort((a, b) => a - b)[2]!;
}

/**
 * How long a process's idle RSS must stay within STEADY_BYTES before the first reading, and the
 * longest the wait may take. The service on the real servers grows by some 20 MB over its first
 * ~16 s with no subscriber at all (measured: 224 → 234 MB in 2 s, flat until 8 s, 246 MB at 16 s,
 * flat after; the embedded service is flat from the start): the Kafka consumer joins its group,
 * the drivers fill their pools. Read while that goes on, it was counted as the subscribers'
 * memory (10–20 KB "per subscriber"). 10 s, so that the pause between its two steps does not
 * pass for the end of it.
 */
const STEADY_FOR_MS = 10_000;
const STEADY_BYTES = 512 * 1024;
const STEADY_AT_MOST_MS = 60_000;

/** Waits until the process's RSS has stopped growing on its own (see STEADY_FOR_MS). */
async function steadyRss(pid: number): Promise<void> {
  const deadline = Date.now() + STEADY_AT_MOST_MS;
  let since = Date.now();
  let reference = rssOf(pid);
  while (Date.now() < deadline && Date.now() - since < STEADY_FOR_MS) {
    await sleep(500);
    const now = rssOf(pid);
    if (Math.abs(now - reference) > STEADY_BYTES) {
      reference = now;
      since = Date.now();
    }
  }
}

/** RSS before, after M and after 2M connections opened by `open(count)`. */
async function growthOf(pid: number, open: (count: number) => Promise<void>): Promise<Growth> {
  await steadyRss(pid);
  const before = await settledRss(pid);
  await open(M);
  const afterFirst = await settledRss(pid);
  await open(M);
  const afterSecond = await settledRss(pid);
  return { first: (afterFirst - before) / M, marginal: (afterSecond - afterFirst) / M };
}

export const memoryScenario: Scenario = {
  ids: ['P6'],
  async run({ backend, options }) {
    // Per arm run, in order (the first pair is the warm-up).
    const streamlensRuns: Growth[] = [];
    const baselineRuns: Growth[] = [];
    const streamlensArm = async () => {
      const server = await startBenchServer(backend);
      const subscribers: { close(): void }[] = [];
      try {
        // Warm: the GraphQL paths and the bus are loaded before the first reading.
        await streamStatus(server.url);
        subscribers.push(await subscribeRaw(server.wsUrl, LIVE_SERIES, LIVE_SERIES_VARIABLES, () => {}));
        await waitForSubscriptions(server.url, 1);
        const growth = await growthOf(server.pid, async (count) => {
          subscribers.push(...(await subscribeMany(count, () => subscribeRaw(server.wsUrl, LIVE_SERIES, LIVE_SERIES_VARIABLES, () => {}))));
          await waitForSubscriptions(server.url, subscribers.length, 120_000);
        });
        streamlensRuns.push(growth);
        return { value: growth.marginal };
      } finally {
        for (const subscriber of subscribers) subscriber.close();
        await server.close();
      }
    };
    const baselineArm = async () => {
      const baseline = await startWsBaseline();
      const sockets = [await connectRaw(baseline.url, () => {})];
      try {
        const growth = await growthOf(baseline.pid, async (count) => {
          for (let i = 0; i < count; i++) sockets.push(await connectRaw(baseline.url, () => {}));
          await baseline.ask({ count: true });
        });
        baselineRuns.push(growth);
        return { value: growth.marginal };
      } finally {
        for (const socket of sockets) socket.terminate();
        await baseline.stop();
      }
    };
    const outcome = await runPairs({ label: `P6 ${backend}`, pairs: options.pairs, a: streamlensArm, b: baselineArm });
    // The same pairs, read as the growth over the first M connections (the warm-up pair dropped).
    const first = streamlensRuns.slice(1).map((run) => run.first);
    const firstBaseline = baselineRuns.slice(1).map((run) => run.first);
    const firstOutcome = {
      a: first,
      b: firstBaseline,
      ratios: first.map((a, i) => a / firstBaseline[i]!),
      aHistogram: null,
      bHistogram: null,
    };
    const labels = { a: 'Streamlens subscriber', b: 'raw ws connection', ratioOf: 'Streamlens ÷ baseline' };
    return {
      rows: [
        rowOf(
          {
            id: 'P6',
            variant: `M=${M} → ${2 * M}`,
            backend,
            what: 'resident memory per idle graphql-ws series subscriber (bytes), marginal',
            unit: 'bytes/connection',
            target: '≤ 2×',
            judged: true,
            notes: [
              `RSS growth from ${M} to ${2 * M} connections ÷ ${M}, fresh processes per pair, each idle until its RSS is steady before the first reading`,
            ],
          },
          outcome,
          labels,
          (row) => row.ratio!.median <= 2,
        ),
        rowOf(
          {
            id: 'P6',
            variant: `first M=${M}`,
            backend,
            what: 'resident memory per idle graphql-ws series subscriber (bytes), first M',
            unit: 'bytes/connection',
            target: '≤ 2×',
            judged: false,
            notes: [`RSS growth over the first ${M} connections ÷ ${M}: includes one-off heap growth (see bench/scenarios/memory.ts)`],
          },
          firstOutcome,
          labels,
          () => null,
        ),
      ],
      skipped: [],
    };
  },
};
