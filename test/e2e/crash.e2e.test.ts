/**
 * Crash safety: SIGKILL the service at random moments during a sustained ingest, restart it
 * on the same DATA_DIR, and prove that every ACCEPTED event is stored exactly once and that
 * the rollups equal the totals recomputed from the raw events.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS, newDataDir, realServerEnv, removeDataDir, startServer, type Backend, type TestServer } from '../support/server.ts';
import { execute, query, waitForProcessing } from '../support/clients.ts';
import {
  IngestDocument,
  ListEventsDocument,
  ListEventTypesDocument,
  ReadSeriesDocument,
  type EventInput,
  type ListEventsQuery,
} from '../generated/operations.ts';

/**
 * SIGKILLs per backend. On Kafka every restart waits for the group to drop the killed member
 * (its session timeout), so the real-server run crashes fewer times.
 */
const ROUNDS: Record<Backend, number> = { embedded: 4, 'real servers': 2 };
const WRITERS = 3;
const BATCH_SIZE = 25;
const COUNTRIES = ['NL', 'DE', 'US', 'FR'];

/** What the client knows: ids acknowledged ACCEPTED, and batches whose answer it never got. */
let accepted = new Set<string>();
let unanswered: EventInput[][] = [];

function batch(round: number, writer: number, sequence: number): EventInput[] {
  return Array.from({ length: BATCH_SIZE }, (_, i) => {
    const n = sequence * BATCH_SIZE + i;
    return {
      id: `r${round}-w${writer}-${n}`,
      type: 'crash_test',
      dimensions: { country: COUNTRIES[n % COUNTRIES.length]!, writer },
      values: { amount: (n % 17) + 0.25 },
    };
  });
}

async function send(server: TestServer, events: EventInput[]): Promise<boolean> {
  try {
    const result = await execute(server.url, IngestDocument, { events });
    if (!result.data) return false;
    for (const ack of result.data.ingest.acks) if (ack.status === 'ACCEPTED') accepted.add(ack.id!);
    return true;
  } catch {
    return false; // the connection died with the process: the outcome is unknown
  }
}

/** Writers send batches back to back, and every fourth batch resends the previous one (a client retry). */
async function sustainIngest(server: TestServer, round: number, stop: { now: boolean }) {
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, writer) => {
      let previous: EventInput[] | null = null;
      for (let sequence = 0; !stop.now && sequence < 400; sequence++) {
        const events: EventInput[] = previous && sequence % 4 === 0 ? previous : batch(round, writer, sequence);
        if (!(await send(server, events))) {
          unanswered.push(events);
          return;
        }
        previous = events;
      }
    }),
  );
}

type EventNode = ListEventsQuery['events']['edges'][number]['node'];

async function allEvents(url: string): Promise<EventNode[]> {
  const nodes: EventNode[] = [];
  let after: string | null = null;
  do {
    const page: ListEventsQuery = await query(url, ListEventsDocument, { filter: { types: ['crash_test'] }, first: 1000, after });
    nodes.push(...page.events.edges.map((edge) => edge.node));
    after = page.events.pageInfo.hasNextPage ? page.events.pageInfo.endCursor : null;
  } while (after);
  return nodes;
}

describe.each(BACKENDS)('crash safety on %s', (backend) => {
  const dataDir = newDataDir();
  afterAll(() => removeDataDir(dataDir));

  it('loses nothing and counts nothing twice across SIGKILLs', { timeout: 300_000 }, async () => {
    accepted = new Set();
    unanswered = [];
    // Every restart must find the same log and stores: the same DATA_DIR, topic, database and keyspace.
    const env = backend === 'real servers' ? realServerEnv() : {};
    const rounds = ROUNDS[backend];
    for (let round = 0; round < rounds; round++) {
      const server = await startServer({ dataDir, backend, env });
      // Clients retry what they never heard back about, as a real client would after a crash.
      const retries = unanswered;
      unanswered = [];
      for (const events of retries) expect(await send(server, events)).toBe(true);

      const stop = { now: false };
      const ingesting = sustainIngest(server, round, stop);
      await new Promise((resolve) => setTimeout(resolve, 300 + Math.random() * 1200));
      await server.kill();
      stop.now = true;
      await ingesting;
    }

    const server = await startServer({ dataDir, backend, env });
    try {
      for (const events of unanswered) expect(await send(server, events)).toBe(true);
      // On Kafka the restarted consumer first waits for the group to drop the killed member.
      await waitForProcessing(server.url, 120_000);

      const events = await allEvents(server.url);
      const ids = events.map((e) => e.id);
      console.info(`crash test on ${backend}: ${accepted.size} events accepted over ${rounds} SIGKILLs`);
      // Enough traffic that the kills landed mid-ingest and mid-processing.
      expect(ids.length).toBeGreaterThan(rounds * WRITERS * BATCH_SIZE);
      expect(new Set(ids).size).toBe(ids.length);
      expect(new Set(ids)).toEqual(accepted);

      // Recompute the totals from the raw events and compare them with every rollup.
      const byCountry = new Map<string, { count: number; sum: number }>();
      let totalSum = 0;
      for (const event of events) {
        const country = String(event.dimensions.country);
        const amount = event.values.amount as number;
        const entry = byCountry.get(country) ?? { count: 0, sum: 0 };
        entry.count += 1;
        entry.sum += amount;
        byCountry.set(country, entry);
        totalSum += amount;
      }
      const from = new Date(Date.now() - 2 * 86_400_000).toISOString();
      const to = new Date(Date.now() + 86_400_000).toISOString();
      for (const interval of ['MINUTE', 'HOUR', 'DAY'] as const) {
        const { series } = await query(server.url, ReadSeriesDocument, {
          query: { type: 'crash_test', value: 'amount', interval, from, to, groupBy: 'country' },
        });
        const rolledUp = new Map(
          series.map((s) => [s.group!, { count: s.points.reduce((n, p) => n + p.count, 0), sum: s.points.reduce((n, p) => n + (p.sum ?? 0), 0) }]),
        );
        expect([...rolledUp.keys()].sort()).toEqual([...byCountry.keys()].sort());
        for (const [country, expected] of byCountry) {
          expect(rolledUp.get(country)!.count, `${interval} ${country} count`).toBe(expected.count);
          expect(rolledUp.get(country)!.sum, `${interval} ${country} sum`).toBeCloseTo(expected.sum, 6);
        }
      }
      const { eventTypes } = await query(server.url, ListEventTypesDocument);
      expect(eventTypes.find((t) => t.type === 'crash_test')!.count).toBe(events.length);
      expect(totalSum).toBeGreaterThan(0);
    } finally {
      await server.stop();
    }
  });
});
