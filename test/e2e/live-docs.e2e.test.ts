/**
 * docs/api.md's "Live aggregates" tells the truth. Its ingest mutation is sent to a real server on
 * each backend; then every example subscription of the section runs over graphql-ws and over SSE,
 * and what it sends must equal the JSON list printed under it, exactly: the first updates (the
 * snapshot of a series, the first ranking of a top), in order within each group, and, for a series
 * with `to`, nothing more before it completes. And the client recipe is followed as written:
 * subscribe with `from`, keep the last cursor, resubscribe with `after` after missing changes, and
 * end on exactly what the `series` query answers. (test/unit/graphiql-examples.test.ts checks that
 * the same examples validate against the schema and show every new argument.)
 */
import { readFileSync } from 'node:fs';
import type { ExecutionResult } from 'graphql';
import type { Client as WsClient } from 'graphql-ws';
import type { Client as SseClient } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sseClient, waitForProcessing, waitUntil, wsClient } from '../support/clients.ts';
import { BACKENDS, removeDataDir, startServer, type TestServer } from '../support/server.ts';

const API_DOC = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');

function docSection(title: string): string {
  const start = API_DOC.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`docs/api.md has no "## ${title}" section`);
  const end = API_DOC.indexOf('\n## ', start + 1);
  return API_DOC.slice(start, end < 0 ? undefined : end);
}

interface Example {
  name: string;
  operation: string;
  /** The `data` of each update it sends first, in order within each group. */
  answer: unknown[];
}

/**
 * The section's mutation; each subscription followed by the JSON list of what it sends; and the
 * recipe's operation (the one with an `$after` variable), which has no printed answer.
 */
function examplesOf(section: string): { setup: string; examples: Example[]; recipe: string } {
  const blocks = [...section.matchAll(/```(graphql|json)\n([\s\S]*?)```/g)].map((match) => ({ language: match[1]!, text: match[2]! }));
  const [setup, ...rest] = blocks;
  if (setup?.language !== 'graphql' || !setup.text.startsWith('mutation')) throw new Error('the section starts with its ingest mutation');
  const examples: Example[] = [];
  let recipe: string | null = null;
  for (let index = 0; index < rest.length; index += 1) {
    const operation = rest[index]!;
    if (operation.language !== 'graphql') throw new Error(`a json block without its operation: ${operation.text.slice(0, 80)}`);
    if (operation.text.includes('$after')) {
      recipe = operation.text;
      continue;
    }
    const answer = rest[index + 1];
    if (answer?.language !== 'json')
      throw new Error(`every example is a graphql block followed by its json answer; see: ${operation.text.slice(0, 80)}`);
    index += 1;
    const name = /^subscription\s+(\w+)/.exec(operation.text)?.[1] ?? operation.text.slice(0, 40);
    examples.push({ name, operation: operation.text, answer: JSON.parse(answer.text) as unknown[] });
  }
  if (!recipe) throw new Error('the section has no recipe operation (one with $after)');
  return { setup: setup.text, examples, recipe };
}

const { setup, examples, recipe } = examplesOf(docSection('Live aggregates'));

async function post(server: TestServer, operation: string, variables?: Record<string, unknown>): Promise<ExecutionResult> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query: operation, variables }),
  });
  return (await response.json()) as ExecutionResult;
}

/** What one subscription sent: its updates (the `data` of each), its errors, and whether it completed. */
interface Run {
  updates: Record<string, unknown>[];
  errors: unknown[];
  completed: boolean;
  stop(): void;
}

function run(client: WsClient | SseClient, operation: string, variables: Record<string, unknown> = {}): Run {
  const result: Run = { updates: [], errors: [], completed: false, stop: () => {} };
  result.stop = client.subscribe<Record<string, unknown>>(
    { query: operation, variables },
    {
      next: (message) => {
        if (message.errors) result.errors.push(...message.errors);
        else result.updates.push(message.data as Record<string, unknown>);
      },
      error: (error) => void result.errors.push(error),
      complete: () => {
        result.completed = true;
      },
    },
  );
  return result;
}

/**
 * The updates in the order the docs print them: grouped by their group (stable, so the order
 * within a group is the order sent), since different groups' updates may interleave.
 */
function byGroup(updates: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  const groupOf = (update: Record<string, unknown>) => {
    const series = update.series as { group?: unknown; groupKey?: unknown } | undefined;
    return series ? JSON.stringify([series.group ?? null, series.groupKey ?? null]) : '';
  };
  return [...updates].sort((a, b) => (groupOf(a) < groupOf(b) ? -1 : groupOf(a) > groupOf(b) ? 1 : 0));
}

/** A series example with `to` completes once its range is final and sent final (checked every 2 s). */
const COMPLETION_TIMEOUT_MS = 30_000;

describe.each(BACKENDS)('docs/api.md "Live aggregates" on %s', (backend) => {
  let server: TestServer;
  const clients: { close(): void }[] = [];
  const transports: [string, () => WsClient | SseClient][] = [
    ['graphql-ws', () => wsClient(server.wsUrl)],
    ['SSE', () => sseClient(server.url)],
  ];

  beforeAll(async () => {
    server = await startServer({ backend });
    const ingested = await post(server, setup);
    expect(ingested).toEqual({ data: { ingest: { accepted: 7 } } });
    await waitForProcessing(server.url);
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
  });

  function connect(make: () => WsClient | SseClient): WsClient | SseClient {
    const client = make();
    clients.push({ close: () => void client.dispose() });
    return client;
  }

  it('has examples with answers, and the recipe', () => {
    expect(examples.map((example) => example.name)).toEqual([
      'SettledRevenuePerQuarterHour',
      'SettledUniqueBuyersPerNewYorkDay',
      'TopCountriesByRevenueLive',
      'TopPlansByUniqueBuyersLive',
    ]);
    expect(recipe).toContain('after: $after');
  });

  describe.each(transports)('over %s', (_transport, make) => {
    it.each(examples.map((example) => [example.name, example] as const))('%s sends what is printed', async (_name, example) => {
      const client = connect(make);
      const completes = /\bto:\s*"/.test(example.operation);
      const sent = run(client, example.operation);
      try {
        await waitUntil(
          async () => sent.errors.length > 0 || sent.updates.length >= example.answer.length,
          COMPLETION_TIMEOUT_MS,
          `${example.answer.length} updates`,
        );
        expect(sent.errors).toEqual([]);
        if (completes) {
          await waitUntil(async () => sent.completed || sent.errors.length > 0, COMPLETION_TIMEOUT_MS, 'completion');
          expect(sent.errors).toEqual([]);
          // Everything it sent before completing: the snapshot, and no further push.
          expect(byGroup(sent.updates)).toEqual(example.answer);
        } else {
          expect(byGroup(sent.updates.slice(0, example.answer.length))).toEqual(example.answer);
        }
      } finally {
        sent.stop();
      }
    });
  });

  it('follows the recipe: a snapshot from `from`, the last cursor kept, changes missed meanwhile resumed with `after`', async () => {
    type Point = { start: string; count: number; sum: number | null; final: boolean };
    type Update = { series: { group: string | null; cursor: string; point: Point } };
    // The stored totals, as the `series` query answers them over the recipe's range (from its `from` to tomorrow).
    const seriesQuery = recipe
      .replace(/^subscription\s+\w+\(\$after: String\)/, 'query RecipeTotals')
      .replace(', after: $after', '')
      .replace('from: "2026-11-27T00:00:00Z"', `from: "2026-11-27T00:00:00Z", to: "${new Date(Date.now() + 2 * 86_400_000).toISOString()}"`)
      .replace(/\n\s*cursor\n/, '\n')
      .replace('point {', 'points {');
    const storedTotals = async () => {
      const answer = await post(server, seriesQuery);
      expect(answer.errors).toBeUndefined();
      const totals = new Map<string, Point>();
      for (const series of (answer.data as { series: { group: string | null; points: Point[] }[] }).series) {
        for (const point of series.points) totals.set(`${series.group}|${point.start}`, point);
      }
      return totals;
    };
    const held = new Map<string, Point>();
    const hold = (updates: readonly Record<string, unknown>[]) => {
      for (const { series } of updates as unknown as Update[]) held.set(`${series.group}|${series.point.start}`, series.point);
    };

    const client = connect(() => wsClient(server.wsUrl));
    const expectedSnapshot = await storedTotals();
    const first = run(client, recipe, { after: null });
    await waitUntil(async () => first.errors.length > 0 || first.updates.length >= expectedSnapshot.size, 15_000, 'the snapshot');
    expect(first.errors).toEqual([]);
    hold(first.updates);
    expect(held).toEqual(expectedSnapshot);
    const lastCursor = (first.updates.at(-1) as unknown as Update).series.cursor;
    expect(typeof lastCursor).toBe('string');
    first.stop();

    // While nothing listens: a new country today, and more for one that is there.
    const missed = await post(
      server,
      `mutation { ingest(events: [
        { id: "order-8", type: "purchase", dimensions: { country: "BE", plan: "pro" }, values: { amount: 100 }, distinct: { user: "u-6" } }
        { id: "order-9", type: "purchase", dimensions: { country: "FR", plan: "pro" }, values: { amount: 1 }, distinct: { user: "u-4" } }
      ]) { accepted } }`,
    );
    expect(missed).toEqual({ data: { ingest: { accepted: 2 } } });
    await waitForProcessing(server.url);
    const expectedAfter = await storedTotals();
    const today = [...expectedAfter.keys()].filter((key) => key.startsWith('BE|'));
    expect(today).toHaveLength(1);

    const resumed = run(client, recipe, { after: lastCursor });
    try {
      // Every change after the cursor comes (unchanged points may come again): the page ends on the stored totals.
      await waitUntil(
        async () => {
          if (resumed.errors.length > 0) return true;
          hold(resumed.updates);
          return JSON.stringify([...held].sort()) === JSON.stringify([...expectedAfter].sort());
        },
        15_000,
        'the changes missed while away',
      );
      expect(resumed.errors).toEqual([]);
      expect(held).toEqual(expectedAfter);
      const resent = (resumed.updates as unknown as Update[]).map(({ series }) => `${series.group}|${series.point.start}`);
      expect(resent).toContain(today[0]);
      expect(resent.filter((key) => key.startsWith('FR|'))).not.toHaveLength(0);
    } finally {
      resumed.stop();
    }
  }, 60_000);
});
