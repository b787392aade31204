/**
 * Live series that resume (issue 15), over graphql-ws and SSE, on both backends: the snapshot of
 * `from`, the `cursor` of every update and `series(query, after)` on another instance (after a
 * SIGKILL), final pushes with a late event inside the allowed lateness first, completion with
 * `to`, merged and zoned intervals with distinct, and hostile cursors and arguments.
 *
 * Event time is driven by the events themselves: every test takes its own later stretch of a
 * clock that starts hours ago, so the watermark (ALLOWED_LATENESS 30 s, no out-of-orderness)
 * only moves on when a test moves it.
 */
import { isDeepStrictEqual } from 'node:util';
import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, expectHealthy, realServerEnv, removeDataDir, startServer, type Backend, type TestServer } from '../support/server.ts';
import { query, sseClient, waitForLiveSubscriptions, waitForProcessing, wsClient } from '../support/clients.ts';
import { PROTOTYPE_MEMBERS } from '../support/prototype-members.ts';
import {
  IngestDocument,
  ListEventsDocument,
  ResumableSeriesDocument,
  ResumableSeriesTotalsDocument,
  type EventInput,
  type ResumableSeriesSubscription,
  type ResumableSeriesSubscriptionVariables,
  type ResumableSeriesTotalsQueryVariables,
} from '../generated/operations.ts';

type Update = ResumableSeriesSubscription['series'];
type Variables = ResumableSeriesSubscriptionVariables;

const MINUTE = 60_000;
/** Event time: a stretch of an hour per test, starting well in the past (SECOND_RETENTION is 6 h). */
const CLOCK_START = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 5 * 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** The subscribe call graphql-ws and graphql-sse clients share. */
interface SubscribingClient {
  subscribe<R>(
    request: { query: string; variables: Record<string, unknown> },
    sink: { next(result: { data?: R | null; errors?: readonly unknown[] }): void; error(error: unknown): void; complete(): void },
  ): () => void;
}

interface Followed {
  updates: Update[];
  errors: unknown[];
  completed: boolean;
  stop(): void;
}

/** A series subscription's updates, errors and completion. */
function follow(client: SubscribingClient, variables: Variables): Followed {
  const followed: Followed = { updates: [], errors: [], completed: false, stop: () => {} };
  followed.stop = client.subscribe<ResumableSeriesSubscription>(
    { query: print(ResumableSeriesDocument), variables: variables as Record<string, unknown> },
    {
      next: (result) => (result.errors ? followed.errors.push(...result.errors) : followed.updates.push(result.data!.series)),
      // graphql-ws hands a refused operation's errors over as one array.
      error: (error) => (Array.isArray(error) ? followed.errors.push(...error) : followed.errors.push(error)),
      complete: () => {
        followed.completed = true;
      },
    },
  );
  return followed;
}

/** What a client holds after applying the updates in order: each point's last total, by group and start. */
function applied(updates: readonly Update[]): Map<string, Update['point']> {
  const held = new Map<string, Update['point']>();
  for (const update of updates) held.set(`${JSON.stringify(update.groupKey)} ${update.point.start}`, update.point);
  return held;
}

async function storedTotals(server: TestServer, seriesQuery: ResumableSeriesTotalsQueryVariables['query']) {
  const { series } = await query(server.url, ResumableSeriesTotalsDocument, { query: seriesQuery });
  const held = new Map<string, Update['point']>();
  for (const s of series) for (const point of s.points) held.set(`${JSON.stringify(s.groupKey)} ${point.start}`, point);
  return held;
}

/** Only the totals: a live point read before finality says final: false where the query now says true. */
const totalsOnly = (held: Map<string, Update['point']>) =>
  new Map([...held].map(([key, point]) => [key, { count: point.count, sum: point.sum, distinct: point.distinct }]));

function serverEnv(backend: Backend): Record<string, string> {
  const eventTime = { ALLOWED_LATENESS: '30s', OUT_OF_ORDERNESS: '0s', IDLE_PARTITION_TIMEOUT: '1s' };
  return backend === 'real servers' ? { ...realServerEnv(), ...eventTime } : eventTime;
}

function errorCode(errors: readonly unknown[]): unknown {
  const first = errors[0] as { extensions?: { code?: unknown }; message?: string } | undefined;
  return first?.extensions?.code;
}

describe.each(BACKENDS)('resumable live series on %s', (backend) => {
  /** Set before the first server starts: on the real servers, the names every instance of this file shares. */
  let env: Record<string, string> = {};
  let server: TestServer;
  /** The other instance: a second server on the real servers; on the embedded stack, this one restarted. */
  let other: TestServer | null = null;
  let clock = CLOCK_START;
  /** The next test's stretch of event time: an hour after the last one. */
  const nextStretch = () => (clock += 3_600_000);

  beforeAll(async () => {
    env = serverEnv(backend);
    server = await startServer({ backend, env });
  }, 120_000);
  afterAll(async () => {
    for (const s of [server, other]) if (s) await s.stop();
    for (const s of new Set([server?.dataDir, other?.dataDir])) if (s) removeDataDir(s);
  });

  async function ingest(target: TestServer, events: EventInput[]): Promise<void> {
    expect((await query(target.url, IngestDocument, { events })).ingest.accepted).toBe(events.length);
    await waitForProcessing(target.url, 90_000);
  }

  it('sends a snapshot ordered by start, a late event, every point again final, then completes (graphql-ws and SSE)', async () => {
    const start = nextStretch();
    await ingest(server, [
      { id: 'snap-1', type: 'snap', timestamp: iso(start + 5_000), dimensions: { country: 'NL' }, values: { v: 1 } },
      { id: 'snap-2', type: 'snap', timestamp: iso(start + 65_000), dimensions: { country: 'NL' }, values: { v: 2 } },
      { id: 'snap-3', type: 'snap', timestamp: iso(start + 70_000), dimensions: { country: 'DE' }, values: { v: 3 } },
    ]);
    const ws = wsClient(server.wsUrl);
    const range = {
      type: 'snap',
      interval: 'MINUTE' as const,
      value: 'v',
      groupBy: 'country',
      from: iso(start),
      to: iso(start + 2 * MINUTE),
    };
    const sse = sseClient(server.url);
    const live = follow(ws, { query: range });
    const viaSse = follow(sse, { query: range });
    await expect.poll(() => live.updates.length, { timeout: 15_000 }).toBe(3);
    expect(live.updates.map((u) => [u.point.start, u.group, u.point.count, u.point.sum, u.point.final])).toEqual([
      [iso(start), 'NL', 1, 1, false],
      [iso(start + MINUTE), 'DE', 1, 3, false],
      [iso(start + MINUTE), 'NL', 1, 2, false],
    ]);
    expect(live.updates.every((u) => typeof u.cursor === 'string' && u.cursor.length > 0)).toBe(true);

    // 25 s behind the watermark (start + 70 s): inside the allowed lateness, so it still counts.
    await ingest(server, [
      { id: 'snap-late', type: 'snap', timestamp: iso(start + 45_000), dimensions: { country: 'NL' }, values: { v: 4 } },
    ]);
    await expect.poll(() => live.updates.length, { timeout: 15_000 }).toBe(4);
    expect(live.updates[3]!.point).toMatchObject({ start: iso(start), count: 2, sum: 5, final: false });
    expect(live.completed).toBe(false);

    // Event time moves past both buckets' ends plus the lateness, outside the range.
    await ingest(server, [
      { id: 'snap-later', type: 'snap', timestamp: iso(start + 5 * MINUTE), dimensions: { country: 'NL' }, values: { v: 9 } },
    ]);
    await expect.poll(() => live.completed, { timeout: 30_000 }).toBe(true);
    const finals = live.updates.slice(4);
    expect(finals.map((u) => [u.point.start, u.group, u.point.count, u.point.sum, u.point.final]).sort()).toEqual([
      [iso(start), 'NL', 2, 5, true],
      [iso(start + MINUTE), 'DE', 1, 3, true],
      [iso(start + MINUTE), 'NL', 1, 2, true],
    ]);
    expect(live.errors).toEqual([]);
    // SSE: the same updates (the final pushes in any order), and the same completion.
    await expect.poll(() => viaSse.completed, { timeout: 30_000 }).toBe(true);
    const described = (updates: Update[]) => updates.map((u) => [u.point.start, u.group, u.point.count, u.point.sum, u.point.final]);
    expect(described(viaSse.updates.slice(0, 4))).toEqual(described(live.updates.slice(0, 4)));
    expect(described(viaSse.updates.slice(4)).sort()).toEqual(described(finals).sort());
    expect(viaSse.errors).toEqual([]);
    sse.dispose();
    // Where the subscription ended is exactly what the series query answers.
    const { from, to, ...shape } = range;
    expect(applied(live.updates)).toEqual(await storedTotals(server, { ...shape, from, to }));
    await ws.dispose();
  }, 120_000);

  it('serves merged and zoned intervals with distinct: the snapshot and each live total equal the series query (SSE)', async () => {
    const start = nextStretch();
    const events = (prefix: string, at: number) =>
      ['u1', 'u2', 'u1'].map((user, i) => ({
        id: `${prefix}-${i}`,
        type: 'zoned',
        timestamp: iso(at + i * 7 * MINUTE),
        dimensions: { plan: i === 1 ? 'pro' : 'free' },
        distinct: { user },
        values: { v: i + 1 },
      }));
    await ingest(server, events('zoned-a', start));
    const sse = sseClient(server.url);
    try {
      for (const [interval, timeZone] of [
        ['FIFTEEN_MINUTES', null],
        ['DAY', 'Asia/Kolkata'],
        ['WEEK', 'America/New_York'],
      ] as const) {
        const asked = {
          type: 'zoned',
          interval,
          timeZone,
          value: 'v',
          distinct: 'user',
          groupByDimensions: ['plan'],
          from: iso(start - 8 * 86_400_000),
        };
        const live = follow(sse, { query: asked });
        const stored = await storedTotals(server, { ...asked, to: iso(start + 3_600_000) });
        await expect.poll(() => live.updates.length, { timeout: 15_000 }).toBe(stored.size);
        expect(applied(live.updates)).toEqual(stored);
        // Ordered by start within each group.
        for (const plan of ['free', 'pro']) {
          const starts = live.updates.filter((u) => u.groupKey.plan === plan).map((u) => Date.parse(u.point.start));
          expect(starts).toEqual([...starts].sort((a, b) => a - b));
        }
        live.stop();
      }
      // Live: a merged bucket's update is its new total, the same as the query's.
      const asked = { type: 'zoned', interval: 'FIFTEEN_MINUTES' as const, value: 'v', distinct: 'user', groupByDimensions: ['plan'] };
      const live = follow(sse, { query: asked });
      await waitForLiveSubscriptions(server.url, 1);
      await ingest(server, [
        // 10 s after the watermark (the last event, 14 minutes in): in the first quarter hour.
        {
          id: 'zoned-b',
          type: 'zoned',
          timestamp: iso(start + 14 * MINUTE + 10_000),
          dimensions: { plan: 'free' },
          distinct: { user: 'u3' },
          values: { v: 10 },
        },
      ]);
      await expect.poll(() => live.updates.length, { timeout: 15_000 }).toBeGreaterThan(0);
      const stored = await storedTotals(server, { ...asked, from: iso(start), to: iso(start + 3_600_000) });
      const bucket = `${JSON.stringify({ plan: 'free' })} ${iso(start)}`;
      expect(stored.get(bucket)).toMatchObject({ count: 3, sum: 14, distinct: 2 });
      expect(applied(live.updates).get(bucket)).toEqual(stored.get(bucket));
      live.stop();
    } finally {
      sse.dispose();
    }
  }, 120_000);

  it('resumes with `after` on another instance after a SIGKILL, with every change made meanwhile, and ends on the stored totals', async () => {
    const start = nextStretch();
    const asked = { type: 'moved', interval: 'MINUTE' as const, value: 'v', groupBy: 'shop', from: iso(start) };
    const batch = (prefix: string, count: number, offsetMs: number): EventInput[] =>
      Array.from({ length: count }, (_, i) => ({
        id: `${prefix}-${i}`,
        type: 'moved',
        timestamp: iso(start + offsetMs + i * 1_000),
        dimensions: { shop: `s${i % 3}` },
        values: { v: i + 1 },
      }));
    await ingest(server, batch('moved-a', 12, 0));
    if (backend === 'real servers') {
      other = await startServer({ backend, env });
    }
    const firstWs = wsClient(server.wsUrl);
    const before = follow(firstWs, { query: asked });
    await expect.poll(() => before.updates.length, { timeout: 15_000 }).toBe(3);
    await waitForLiveSubscriptions(server.url, 1);
    await ingest(server, batch('moved-b', 6, 20_000));
    await expect
      .poll(() => [...applied(before.updates).values()].reduce((total, point) => total + point.count, 0), { timeout: 15_000 })
      .toBe(18);
    const cursor = before.updates.at(-1)!.cursor;
    const seen = before.updates.length;

    await server.kill();
    firstWs.dispose();
    if (backend === 'embedded') {
      // The embedded stack is one process: the other instance is a new one on the same data.
      other = await startServer({ backend, env, dataDir: server.dataDir });
    }
    const resumedOn = other!;
    // Changes while nobody listens: a new bucket and a correction of an old one.
    await ingest(resumedOn, [...batch('moved-c', 4, 60_000), ...batch('moved-d', 2, 30_000)]);
    const resumedWs = wsClient(resumedOn.wsUrl);
    const after = follow(resumedWs, { query: asked, after: cursor });
    const expected = async () => storedTotals(resumedOn, { ...asked, to: iso(start + 3_600_000) });
    const all = () => [...before.updates.slice(0, seen), ...after.updates];
    /** The client's points (the updates it received before the kill, then after the resume) equal the stored totals. */
    const expectToEndOnStoredTotals = async (events: number) => {
      const counted = () => [...applied(all()).values()].reduce((total, point) => total + point.count, 0);
      const same = async () => counted() === events && isDeepStrictEqual(totalsOnly(applied(all())), totalsOnly(await expected()));
      // On Kafka the killed instance's partitions move to the other one first (the group's session timeout).
      await expect.poll(same, { timeout: 90_000 }).toBe(true);
      expect(totalsOnly(applied(all()))).toEqual(totalsOnly(await expected()));
      // Every event ingested so far, whichever instance processed it.
      expect(counted()).toBe(events);
    };
    await expectToEndOnStoredTotals(12 + 6 + 4 + 2);
    // And on live from there.
    await waitForLiveSubscriptions(resumedOn.url, 1);
    await ingest(resumedOn, batch('moved-e', 3, 90_000));
    await expectToEndOnStoredTotals(12 + 6 + 4 + 2 + 3);
    expect(after.errors).toEqual([]);
    after.stop();
    await resumedWs.dispose();
    if (backend === 'embedded') server = other!;
  }, 240_000);

  it('refuses forged, foreign, expired and malformed cursors and arguments plainly, and stays healthy', async () => {
    const target = other ?? server;
    const ws = wsClient(target.wsUrl);
    const start = nextStretch();
    const base = { type: 'hostile_series', interval: 'MINUTE' as const, from: iso(start) };
    const refusal = async (variables: Variables): Promise<{ code: unknown; message: string }> => {
      const followed = follow(ws, variables);
      await expect.poll(() => followed.errors.length, { timeout: 10_000 }).toBeGreaterThan(0);
      return { code: errorCode(followed.errors), message: String((followed.errors[0] as { message?: string }).message) };
    };
    try {
      await ingest(target, [{ id: 'hostile-1', type: 'hostile_series', timestamp: iso(start + 1_000) }]);
      const live = follow(ws, { query: base });
      await expect.poll(() => live.updates.length, { timeout: 15_000 }).toBe(1);
      const cursor = live.updates[0]!.cursor;
      live.stop();
      const parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
      const forged = (change: (copy: unknown[]) => void) => {
        const copy = structuredClone(parts);
        change(copy);
        return Buffer.from(JSON.stringify(copy)).toString('base64url');
      };
      const { events } = await query(target.url, ListEventsDocument, { first: 1 });

      for (const after of [
        'not a cursor',
        '\ud800',
        'x'.repeat(40_000),
        events.streamCursor,
        forged((copy) => (copy[2] = [[0, 'one']])),
        forged((copy) => (copy[2] = Array.from({ length: 600 }, (_, i) => [i, 1]))),
        forged((copy) => (copy[5] = Date.now() + 86_400_000)),
        ...PROTOTYPE_MEMBERS.map((name) => Buffer.from(JSON.stringify(['p', name, [], null, null, Date.now()])).toString('base64url')),
      ]) {
        expect((await refusal({ query: base, after })).code).toBe('BAD_USER_INPUT');
      }
      const foreign = await refusal({ query: { ...base, value: 'other' }, after: cursor });
      expect(foreign).toMatchObject({ code: 'BAD_USER_INPUT' });
      expect(foreign.message).toContain('another query');
      expect((await refusal({ query: base, after: forged((copy) => (copy[5] = Date.now() - 2 * 86_400_000)) })).code).toBe(
        'CURSOR_EXPIRED',
      );

      for (const timeZone of ['\ud800', 'x'.repeat(1_000), '+05:30', ...PROTOTYPE_MEMBERS]) {
        expect((await refusal({ query: { ...base, timeZone, interval: 'DAY' } })).code).toBe('BAD_USER_INPUT');
      }
      for (const distinct of ['\ud800', '__proto__', 'x'.repeat(1_000)]) {
        expect((await refusal({ query: { ...base, distinct } })).code).toBe('BAD_USER_INPUT');
      }
      expect((await refusal({ query: { ...base, to: base.from } })).code).toBe('BAD_USER_INPUT');
      // Twenty years of MINUTE buckets: refused as the series query refuses it.
      expect((await refusal({ query: { ...base, from: iso(Date.now() - 20 * 365 * 86_400_000) } })).code).toBe('BAD_USER_INPUT');
      await expectHealthy(target);
      await waitForLiveSubscriptions(target.url, 0);
    } finally {
      await ws.dispose();
    }
  }, 120_000);
});
