/**
 * The dashboard resumes with no gap, in a real browser (Debian's Chromium, headless, driven by
 * playwright-core) against the real service process. The test sits on the page's WebSocket
 * (Playwright's routeWebSocket): it sees what the page sends and receives, drops the socket, and
 * holds the page's reconnection attempts while events are processed that no subscription of the
 * page can see. When it lets the page back in, the page must:
 *   - subscribe to `series` again with `after` set to the last cursor it received, and to
 *     `events` with the last event cursor (`top` has no cursor: its first update is the ranking);
 *   - read nothing again over HTTP (the catalog of types aside): no series, top or events query;
 *   - end on exactly what the `series` query answers for the chart's window, and show exactly what
 *     the `top` query answers over the window the last `top` update names.
 * A cursor the server refuses makes the chart start over from a snapshot; and a page opened on a
 * server with no events waits for the first one on a subscription, not on a timer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page, WebSocketRoute } from 'playwright-core';
import { buildDashboard } from '../../scripts/build-dashboard.ts';
import { launchChromium } from '../../scripts/chromium.ts';
import type { DashboardSnapshot } from '../../src/dashboard/snapshot.ts';
import { IngestDocument, ReadSeriesDocument, ReadTopDocument, type EventInput } from '../generated/operations.ts';
import { query, waitForLiveSubscriptions, waitForProcessing, waitUntil } from '../support/clients.ts';
import { removeDataDir, startServer, type TestServer } from '../support/server.ts';

const VIEW = '/dashboard?type=purchase&value=amount&measure=sum&interval=SECOND&groupBy=country';
/** What the page subscribes to: the series, the top ranking and the events of the chosen type. */
const PAGE_SUBSCRIPTIONS = 3;
/** The chart's window at SECOND (src/dashboard/selection.ts WINDOW_MS): the series query below covers it. */
const CHART_WINDOW_MS = 15 * 60_000;
/** graphql-ws: a close code that is not fatal, so the page's client reconnects (its own "terminated" code). */
const RETRYABLE_CLOSE = 4499;

function purchase(id: string, country: string, amount: number): EventInput {
  return { id, type: 'purchase', dimensions: { country, plan: 'pro' }, values: { amount } };
}

interface GraphqlWsMessage {
  type: string;
  id?: string;
  payload?: { query?: string; variables?: Record<string, unknown> | null; data?: Record<string, unknown> };
}

/** What the page sent and received over its WebSockets, as the test saw it pass. */
interface Traffic {
  /** Each `subscribe` message: the operation's name and its `after` variable. */
  subscribes: { name: string; after: unknown }[];
  /** The cursor of the last series update delivered to the page. */
  lastSeriesCursor: string | null;
  /** The operation names of the page's HTTP requests to /graphql. */
  httpOperations: string[];
}

describe('dashboard page across a dropped connection', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const traffic: Traffic = { subscribes: [], lastSeriesCursor: null, httpOperations: [] };
  /** While set, the page's connection attempts reach nothing (the socket opens and stays silent). */
  let holdingConnections = false;
  const heldConnections: WebSocketRoute[] = [];
  /** The page's side of its current connection to the server. */
  let connected: WebSocketRoute | null = null;
  /** When the page was opened: every event of this file is younger than the chart's window (15 minutes) from then. */
  let openedAt = 0;
  /** While set, a series subscription that resumes from a cursor reaches the server with this one instead. */
  let forgedSeriesCursor: string | null = null;

  const snapshot = () => page.evaluate(() => window.__dashboard!.snapshot());

  async function waitForPage(what: string, check: (snapshot: DashboardSnapshot) => boolean, on: Page = page) {
    const deadline = Date.now() + 15_000;
    let last: DashboardSnapshot | undefined;
    while (Date.now() < deadline) {
      last = await on.evaluate(() => window.__dashboard!.snapshot());
      if (check(last)) return last;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`timed out waiting for ${what}; the page shows ${JSON.stringify(last).slice(0, 3000)}`);
  }

  async function ingest(events: EventInput[]): Promise<void> {
    const { ingest: result } = await query(server.url, IngestDocument, { events });
    expect(result.accepted).toBe(events.length);
    await waitForProcessing(server.url);
  }

  /** The chart as the page holds it, and as the `series` query answers over the chart's window: group → points. */
  async function chartAndStored(shown: DashboardSnapshot, since: number) {
    const { series } = await query(server.url, ReadSeriesDocument, {
      query: {
        type: 'purchase',
        value: 'amount',
        interval: 'SECOND',
        groupBy: 'country',
        from: new Date(since - CHART_WINDOW_MS).toISOString(),
        to: new Date(Date.now() + 60_000).toISOString(),
      },
    });
    const stored = Object.fromEntries(
      series.map((one) => [one.group ?? '(none)', one.points.map(({ start, count, sum }) => ({ start, count, sum }))]),
    );
    const chart = Object.fromEntries(
      shown.series.map((one) => [one.group ?? '(none)', one.points.map(({ start, count, sum }) => ({ start, count, sum }))]),
    );
    return { chart, stored };
  }

  /** The top table as the page shows it, and as the `top` query answers over the window its last update named. */
  async function tableAndStored(shown: DashboardSnapshot) {
    const window = shown.topWindow!;
    const { top } = await query(server.url, ReadTopDocument, {
      query: { type: 'purchase', by: 'country', value: 'amount', limit: 10, from: window.from, to: window.to },
    });
    return { table: shown.top.map(({ key, count, sum }) => ({ key, count, sum })), stored: top };
  }

  beforeAll(async () => {
    await buildDashboard();
    server = await startServer();
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('request', (request) => {
      if (request.method() !== 'POST' || !request.url().endsWith('/graphql')) return;
      const body = JSON.parse(request.postData() ?? '{}') as { query?: string };
      traffic.httpOperations.push(/^(?:query|mutation)\s+(\w+)/.exec(body.query ?? '')?.[1] ?? '(anonymous)');
    });
    await page.routeWebSocket(/\/graphql$/, (pageSide) => {
      if (holdingConnections) {
        // Not connected to the server: the page's socket opens and nothing ever answers it.
        heldConnections.push(pageSide);
        return;
      }
      const serverSide = pageSide.connectToServer();
      const seriesOperations = new Set<string>();
      pageSide.onMessage((message) => {
        const parsed = JSON.parse(String(message)) as GraphqlWsMessage;
        if (parsed.type === 'subscribe') {
          const name = /subscription\s+(\w+)/.exec(parsed.payload?.query ?? '')?.[1] ?? '(anonymous)';
          const after = parsed.payload?.variables?.after ?? null;
          traffic.subscribes.push({ name, after });
          if (name === 'DashboardLiveSeries') seriesOperations.add(parsed.id!);
          if (name === 'DashboardLiveSeries' && after !== null && forgedSeriesCursor !== null) {
            serverSide.send(
              JSON.stringify({
                ...parsed,
                payload: { ...parsed.payload, variables: { ...parsed.payload!.variables, after: forgedSeriesCursor } },
              }),
            );
            return;
          }
        }
        serverSide.send(message);
      });
      serverSide.onMessage((message) => {
        const parsed = JSON.parse(String(message)) as GraphqlWsMessage;
        const update = parsed.payload?.data?.series as { cursor?: string } | undefined;
        if (parsed.type === 'next' && seriesOperations.has(parsed.id!) && update?.cursor) traffic.lastSeriesCursor = update.cursor;
        pageSide.send(message);
      });
      connected = pageSide;
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
  });

  it('on a server with no events yet, waits for the first one, then shows its type', async () => {
    const empty = await browser.newPage();
    empty.on('pageerror', (error) => pageErrors.push(error.message));
    const catalogReads: string[] = [];
    empty.on('request', (request) => {
      if (request.method() === 'POST' && request.postData()?.includes('query DashboardEventTypes')) catalogReads.push(request.url());
    });
    await empty.goto(`${server.baseUrl}/dashboard`);
    await empty.locator('#connection-text').getByText('connected', { exact: true }).waitFor();
    await empty.locator('#chart-empty').getByText('No events yet.').waitFor();
    // What it waits with: one events subscription, of every type (not a timer re-reading the catalog).
    await waitForLiveSubscriptions(server.url, 1);
    expect(catalogReads).toHaveLength(1);

    await ingest([purchase('p-1', 'NL', 49.5), purchase('p-2', 'DE', 20)]);
    const shown = await waitForPage(
      'the first type, with its two purchases',
      (s) =>
        s.selection.type === 'purchase' && s.feedIds.length === 2 && s.series[0]?.points.reduce((n, point) => n + point.count, 0) === 2,
      empty,
    );
    expect([...shown.feedIds].sort()).toEqual(['p-1', 'p-2']);
    // Read again once, when the first event came.
    expect(catalogReads).toHaveLength(2);
    await empty.close();
    await waitForLiveSubscriptions(server.url, 0);
  });

  it('resumes the chart and the feed from their cursors, re-reads nothing, and ends on the stored totals', async () => {
    // Events before the page opens (p-1 and p-2, above): the chart's snapshot brings them, the feed's query too.
    openedAt = Date.now();
    await page.goto(`${server.baseUrl}${VIEW}`);
    await page.locator('#connection-text').getByText('connected', { exact: true }).waitFor();
    await waitForLiveSubscriptions(server.url, PAGE_SUBSCRIPTIONS);
    await ingest([purchase('p-3', 'NL', 0.5), purchase('p-4', 'FR', 7)]);
    const before = await waitForPage(
      'the four purchases in the chart, the table and the feed',
      (s) =>
        s.feedIds.length === 4 &&
        s.top.length === 3 &&
        s.series.reduce((n, one) => n + one.points.reduce((m, p) => m + p.count, 0), 0) === 4,
    );
    expect(before.top).toEqual([
      { key: 'NL', count: 2, sum: 50, distinct: null },
      { key: 'DE', count: 1, sum: 20, distinct: null },
      { key: 'FR', count: 1, sum: 7, distinct: null },
    ]);
    // The first subscriptions: from nothing (the feed from the position its query was read at).
    expect(traffic.subscribes.map(({ name }) => name).sort()).toEqual(['DashboardLiveEvents', 'DashboardLiveSeries', 'DashboardLiveTop']);
    expect(traffic.subscribes.find(({ name }) => name === 'DashboardLiveSeries')!.after).toBeNull();
    expect(typeof traffic.subscribes.find(({ name }) => name === 'DashboardLiveEvents')!.after).toBe('string');
    expect(before.cursors.series).toBe(traffic.lastSeriesCursor);
    const subscribesBeforeDrop = traffic.subscribes.length;
    const httpBeforeDrop = traffic.httpOperations.length;

    // Drop the connection, and keep the page out while events arrive that it cannot see live:
    // new buckets, a bucket it already holds (NL's), and a new country for the table.
    holdingConnections = true;
    // Closing the page's side closes the server's too (Playwright forwards a close by default).
    await connected!.close({ code: RETRYABLE_CLOSE, reason: 'dropped by the test' });
    await page.locator('#connection-text').getByText('reconnecting…', { exact: true }).waitFor();
    await waitForLiveSubscriptions(server.url, 0);
    const cursorAtDrop = (await snapshot()).cursors.series;
    expect(typeof cursorAtDrop).toBe('string');
    expect(cursorAtDrop).toBe(traffic.lastSeriesCursor);
    await ingest([purchase('p-5', 'NL', 100), purchase('p-6', 'BE', 3), purchase('p-7', 'DE', 1)]);
    await waitUntil(async () => heldConnections.length > 0, 15_000, 'the page trying to reconnect');
    const away = await snapshot();
    expect(away.feedIds).not.toContain('p-5');
    expect(away.top.map(({ key }) => key)).not.toContain('BE');

    // Let it back in.
    holdingConnections = false;
    for (const held of heldConnections.splice(0)) held.close({ code: RETRYABLE_CLOSE, reason: 'let in by the test' });
    await page.locator('#connection-text').getByText('resumed', { exact: true }).waitFor({ timeout: 20_000 });
    await waitForLiveSubscriptions(server.url, PAGE_SUBSCRIPTIONS);

    const resubscribed = traffic.subscribes.slice(subscribesBeforeDrop);
    expect(resubscribed.map(({ name }) => name).sort()).toEqual(['DashboardLiveEvents', 'DashboardLiveSeries', 'DashboardLiveTop']);
    expect(resubscribed.find(({ name }) => name === 'DashboardLiveSeries')!.after).toBe(cursorAtDrop);
    expect(resubscribed.find(({ name }) => name === 'DashboardLiveEvents')!.after).toBe(away.cursors.events);

    const after = await waitForPage(
      'what was processed while the page was away',
      (s) => ['p-5', 'p-6', 'p-7'].every((id) => s.feedIds.includes(id)) && s.top.some(({ key }) => key === 'BE') && s.top[0]?.sum === 150,
    );
    expect([...after.feedIds].sort()).toEqual(['p-1', 'p-2', 'p-3', 'p-4', 'p-5', 'p-6', 'p-7']);
    // No gap: the chart holds exactly the stored points of its window, the table the stored ranking.
    await waitUntil(
      async () => {
        const { chart, stored } = await chartAndStored(await snapshot(), openedAt);
        const canonical = (byGroup: Record<string, unknown>) => JSON.stringify(Object.entries(byGroup).sort());
        return canonical(chart) === canonical(stored);
      },
      15_000,
      'the chart to equal the series query',
    );
    const settled = await snapshot();
    const { chart, stored } = await chartAndStored(settled, openedAt);
    expect(chart).toEqual(stored);
    expect(Object.keys(chart).sort()).toEqual(['BE', 'DE', 'FR', 'NL']);
    const { table, stored: storedTop } = await tableAndStored(settled);
    expect(table).toEqual(storedTop);
    expect(table).toEqual([
      { key: 'NL', count: 3, sum: 150 },
      { key: 'DE', count: 2, sum: 21 },
      { key: 'FR', count: 1, sum: 7 },
      { key: 'BE', count: 1, sum: 3 },
    ]);
    // Nothing re-read over HTTP: the resumed subscriptions brought it (the catalog of types aside).
    expect(traffic.httpOperations.slice(httpBeforeDrop).filter((name) => name !== 'DashboardEventTypes')).toEqual([]);
    expect(traffic.httpOperations.filter((name) => name !== 'DashboardEventTypes')).toEqual(['DashboardLatestEvents']);
    // The catalog is read when the page loads and once after the reconnect: on no timer.
    expect(traffic.httpOperations.filter((name) => name === 'DashboardEventTypes')).toHaveLength(2);
    expect(settled.connection).toBe('resumed');
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('starts the chart over from a snapshot when the server refuses its cursor, and ends on the stored totals', async () => {
    const subscribesBefore = traffic.subscribes.length;
    // The page resumes from its cursor; on the way, the test puts one the server cannot read in its place.
    forgedSeriesCursor = 'not-a-cursor-the-server-returned';
    await connected!.close({ code: RETRYABLE_CLOSE, reason: 'dropped by the test' });
    await page.locator('#connection-text').getByText('reconnecting…', { exact: true }).waitFor();
    await page.locator('#connection-text').getByText('resumed', { exact: true }).waitFor({ timeout: 20_000 });
    await waitUntil(
      async () => traffic.subscribes.slice(subscribesBefore).filter(({ name }) => name === 'DashboardLiveSeries').length === 2,
      15_000,
      'the chart subscribing again without a cursor',
    );
    forgedSeriesCursor = null;
    expect(
      traffic.subscribes
        .slice(subscribesBefore)
        .filter(({ name }) => name === 'DashboardLiveSeries')
        .map(({ after }) => after === null),
    ).toEqual([false, true]);
    await waitForLiveSubscriptions(server.url, PAGE_SUBSCRIPTIONS);
    await ingest([purchase('p-8', 'FR', 4)]);
    await waitForPage(
      'the purchase after the chart started over',
      (s) => s.feedIds.includes('p-8') && s.top.some(({ key, count }) => key === 'FR' && count === 2),
    );
    await waitUntil(
      async () => {
        const { chart, stored } = await chartAndStored(await snapshot(), openedAt);
        const canonical = (byGroup: Record<string, unknown>) => JSON.stringify(Object.entries(byGroup).sort());
        return canonical(chart) === canonical(stored);
      },
      15_000,
      'the chart to equal the series query',
    );
    const shown = await snapshot();
    const { chart, stored } = await chartAndStored(shown, openedAt);
    expect(chart).toEqual(stored);
    expect(Object.keys(chart).sort()).toEqual(['BE', 'DE', 'FR', 'NL']);
    // Started over quietly: the refusal of a cursor is not a problem to show.
    expect(await page.locator('#problem').isHidden()).toBe(true);
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
