/**
 * Rough figures on the embedded default, for a quick look (the full side-by-side benchmark
 * suite is separate): ingest events/s at batches of 1, 100 and 1000 events, and freshness,
 * the time from `ingest` returning to a graphql-ws subscriber receiving the event.
 *
 *   node bench/quick.ts [--seconds 5] [--concurrency 4]
 */
import { parseArgs } from 'node:util';
import { print } from 'graphql';
import { IngestDocument, LiveEventsDocument } from '../test/generated/operations.ts';
import { startServer, removeDataDir } from '../test/support/server.ts';
import { subscribe, waitForLiveSubscriptions, waitForProcessing, wsClient } from '../test/support/clients.ts';

const { values: args } = parseArgs({
  options: { seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '4' } },
});
const seconds = Number(args.seconds);
const concurrency = Number(args.concurrency);

function event(i: number, type: string) {
  // About 300 bytes of JSON, 3 dimensions and 2 values, as in the benchmark brief.
  return {
    id: `${type}-${i}-${Math.random().toString(36).slice(2)}`,
    type,
    source: 'bench',
    dimensions: {
      country: ['NL', 'DE', 'US', 'FR', 'GB'][i % 5],
      plan: ['free', 'pro', 'team'][i % 3],
      device: ['mobile', 'desktop'][i % 2],
    },
    values: { amount: (i % 100) + 0.99, duration_ms: 100 + (i % 900) },
    properties: { page: `/products/${i % 50}`, referrer: 'https://example.com/campaign?utm_source=bench' },
  };
}

function percentiles(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1);
  return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${sorted.at(-1)!.toFixed(1)} ms, n ${sorted.length}`;
}

// Per-key rate limits would cap what is measured.
const server = await startServer({ env: { INGEST_RATE_PER_KEY: '100000000', QUERY_RATE_PER_KEY: '1000000' } });
const query = print(IngestDocument);
async function post(events: unknown[]) {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables: { events } }),
  });
  const body = (await response.json()) as { data?: { ingest: { accepted: number } } };
  if (!body.data) throw new Error(JSON.stringify(body));
  return body.data.ingest.accepted;
}

try {
  for (const batchSize of [1, 100, 1000]) {
    let accepted = 0;
    const requestMs: number[] = [];
    const deadline = Date.now() + seconds * 1000;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: concurrency }, async (_, worker) => {
        for (let n = 0; Date.now() < deadline; n++) {
          const events = Array.from({ length: batchSize }, (_, i) => event(n * batchSize + i + worker * 1e9, `bench_${batchSize}`));
          const sent = performance.now();
          // Read the answer first: `accepted += await …` would read `accepted` before awaiting
          // and lose the other clients' increments.
          const acknowledged = await post(events);
          accepted += acknowledged;
          requestMs.push(performance.now() - sent);
        }
      }),
    );
    const elapsed = (Date.now() - started) / 1000;
    console.log(
      `ingest, batch ${String(batchSize).padStart(4)}: ${Math.round(accepted / elapsed)} events/s acknowledged ` +
        `(${accepted} in ${elapsed.toFixed(1)} s, ${concurrency} concurrent clients; request ${percentiles(requestMs)})`,
    );
    await waitForProcessing(server.url);
  }

  const ws = wsClient(server.wsUrl);
  const live = await subscribe(ws, LiveEventsDocument, { filter: { types: ['freshness'] } });
  await waitForLiveSubscriptions(server.url, 1);
  const latencies: number[] = [];
  const fromSend: number[] = [];
  for (let i = 0; i < 300; i++) {
    const sent = performance.now();
    await post([event(i, 'freshness')]);
    const returned = performance.now();
    await live.waitFor(i + 1);
    latencies.push(performance.now() - returned);
    fromSend.push(performance.now() - sent);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  // The processor often delivers before the HTTP answer reaches the client, hence near-zero figures.
  console.log(`freshness (ingest returns → graphql-ws subscriber receives), ${latencies.length} events: ${percentiles(latencies)}`);
  console.log(`ingest sent → graphql-ws subscriber receives: ${percentiles(fromSend)}`);
  live.stop();
  await ws.dispose();
} finally {
  await server.stop();
  removeDataDir(server.dataDir);
}
