/**
 * The dashboard page in a real browser (Debian's Chromium, headless, driven by playwright-core)
 * against the real service process: it loads and connects, shows an ingest in the chart, the
 * top table and the feed, and after the service restarts (same port, same data) it reconnects, says
 * so, resumes its subscriptions from their cursors, and ends on exactly the stored totals.
 *
 * The checks read the numbers the page shows through `window.__dashboard.snapshot()` (and the
 * DOM for the table, the feed and the connection state), never pixels.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { buildDashboard } from '../../scripts/build-dashboard.ts';
import { launchChromium } from '../../scripts/chromium.ts';
import type { DashboardSnapshot } from '../../src/dashboard/snapshot.ts';
import { CreateApiKeyDocument, IngestDocument, ReadSeriesDocument, ReadTopDocument, type EventInput } from '../generated/operations.ts';
import { query, waitForLiveSubscriptions } from '../support/clients.ts';
import { removeDataDir, startServer, type TestServer } from '../support/server.ts';

const VIEW = '/dashboard?type=purchase&value=amount&measure=sum&interval=SECOND&groupBy=country';
/** What the page subscribes to: the series, the top ranking and the events of the chosen type. */
const PAGE_SUBSCRIPTIONS = 3;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

function purchase(id: string, country: string, amount: number): EventInput {
  return { id, type: 'purchase', dimensions: { country, plan: 'pro' }, values: { amount } };
}

/** Every bucket's count, added up per group. */
function countsByGroup(snapshot: DashboardSnapshot): Record<string, number> {
  return Object.fromEntries(
    snapshot.series.map((series) => [series.group ?? '(none)', series.points.reduce((total, point) => total + point.count, 0)]),
  );
}

function totalCount(snapshot: DashboardSnapshot): number {
  return Object.values(countsByGroup(snapshot)).reduce((a, b) => a + b, 0);
}

describe('dashboard page', () => {
  let server: TestServer;
  let port: number;
  let dataDir: string;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  /** When the page was opened: its chart's window starts 15 minutes before (SECOND). */
  let loadedAt = 0;

  const snapshot = () => page.evaluate(() => window.__dashboard!.snapshot());

  /** Polls the page until `check` holds; on time-out, fails with what the page last showed. */
  async function waitForPage(what: string, check: (snapshot: DashboardSnapshot) => boolean, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    let last: DashboardSnapshot | undefined;
    while (Date.now() < deadline) {
      last = await snapshot();
      if (check(last)) return last;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`timed out waiting for ${what}; the page shows ${JSON.stringify(last).slice(0, 3000)}`);
  }

  async function ingest(events: EventInput[]): Promise<void> {
    const { ingest: result } = await query(server.url, IngestDocument, { events });
    expect(result.accepted).toBe(events.length);
  }

  beforeAll(async () => {
    // The server serves dist/dashboard: build it from the sources under test first.
    await buildDashboard();
    port = await freePort();
    server = await startServer({ env: { PORT: String(port) } });
    dataDir = server.dataDir;
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (dataDir) removeDataDir(dataDir);
  });

  it('loads, connects and shows the chosen view', async () => {
    loadedAt = Date.now();
    const response = await page.goto(`${server.baseUrl}${VIEW}`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-type']).toBe('text/html; charset=utf-8');

    await page.locator('#connection-text').getByText('connected', { exact: true }).waitFor();
    expect(await page.locator('#connection').getAttribute('data-state')).toBe('connected');
    expect(await page.locator('#type').inputValue()).toBe('purchase');
    expect(await page.locator('#group-by').inputValue()).toBe('country');
    const shown = await snapshot();
    const browserZone = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(shown.selection).toEqual({
      type: 'purchase',
      value: 'amount',
      measure: 'sum',
      interval: 'SECOND',
      groupBy: 'country',
      secondGroupBy: null,
      filter: null,
      timeZone: browserZone,
    });
    expect(shown.series).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it('shows an ingest in the chart, the top table and the feed', async () => {
    await waitForLiveSubscriptions(server.url, PAGE_SUBSCRIPTIONS);
    const purchases = [
      purchase('p-1', 'NL', 49.5),
      purchase('p-2', 'NL', 10),
      purchase('p-3', 'NL', 0.5),
      purchase('p-4', 'DE', 20),
      purchase('p-5', 'DE', 5),
      purchase('p-6', 'FR', 7),
    ];
    // Another type: in the same batch, and in none of the panels.
    await ingest([...purchases, { id: 'v-1', type: 'page_view', dimensions: { country: 'NL' }, values: { duration_ms: 900 } }]);

    const shown = await waitForPage(
      'the six purchases in the chart, the table and the feed',
      (s) => totalCount(s) === 6 && s.top.length === 3 && s.feedIds.length === 6,
    );
    expect(countsByGroup(shown)).toEqual({ DE: 2, FR: 1, NL: 3 });
    const sums = Object.fromEntries(shown.series.map((s) => [s.group, s.points.reduce((total, p) => total + (p.sum ?? 0), 0)]));
    expect(sums).toEqual({ DE: 25, FR: 7, NL: 60 });
    // Ranked by the sum of amount, because a value is chosen.
    expect(shown.top).toEqual([
      { key: 'NL', count: 3, sum: 60, distinct: null },
      { key: 'DE', count: 2, sum: 25, distinct: null },
      { key: 'FR', count: 1, sum: 7, distinct: null },
    ]);
    expect([...shown.feedIds].sort()).toEqual(['p-1', 'p-2', 'p-3', 'p-4', 'p-5', 'p-6']);
    expect(shown.watermark).not.toBeNull();

    // What a person sees matches the numbers.
    expect(await page.locator('#top-body tr').evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.key))).toEqual([
      'NL',
      'DE',
      'FR',
    ]);
    expect(await page.locator('#top-body tr[data-key="NL"] .count').textContent()).toBe('3');
    expect(await page.locator('#feed li').count()).toBe(6);
    await page.locator('#feed li[data-id="p-6"]').getByText('country=FR').waitFor();
    expect(await page.locator('.u-legend .u-series .u-label').allTextContents()).toEqual(['DE', 'FR', 'NL']);
    expect(await page.locator('#chart canvas').count()).toBe(1);
  });

  it('reconnects after the service restarts, resumes from its cursors with no gap, and goes on live', async () => {
    await server.stop();
    await page.locator('#connection-text').getByText('reconnecting…', { exact: true }).waitFor();

    server = await startServer({ dataDir, env: { PORT: String(port) } });
    // Sent at once, so it is most likely processed before the page has subscribed again (the
    // page waits at least half a second between attempts): only the resume from the page's
    // cursors can bring it in.
    await ingest([purchase('p-while-away', 'DE', 3)]);
    await page.locator('#connection-text').getByText('resumed', { exact: true }).waitFor({ timeout: 20_000 });
    expect(await page.locator('#connection').getAttribute('data-state')).toBe('resumed');
    await waitForPage('the purchase sent while the page was away', (s) => s.feedIds.includes('p-while-away') && totalCount(s) === 7);

    await waitForLiveSubscriptions(server.url, PAGE_SUBSCRIPTIONS);
    await ingest([purchase('p-after-restart', 'NL', 40)]);
    const shown = await waitForPage(
      'the purchase sent after the page resumed',
      (s) => s.feedIds.includes('p-after-restart') && totalCount(s) === 8 && s.top[0]?.count === 4,
    );
    expect(countsByGroup(shown)).toEqual({ DE: 3, FR: 1, NL: 4 });
    expect(shown.top).toEqual([
      { key: 'NL', count: 4, sum: 100, distinct: null },
      { key: 'DE', count: 3, sum: 28, distinct: null },
      { key: 'FR', count: 1, sum: 7, distinct: null },
    ]);
    expect(shown.feedIds.slice(0, 2)).toEqual(['p-after-restart', 'p-while-away']);
    expect(shown.connection).toBe('resumed');

    // No gap: every point of the chart is the stored one, and the table is the `top` query over
    // the window its last update names.
    const { series } = await query(server.url, ReadSeriesDocument, {
      query: {
        type: 'purchase',
        value: 'amount',
        interval: 'SECOND',
        groupBy: 'country',
        from: new Date(loadedAt - 15 * 60_000).toISOString(),
        to: new Date(Date.now() + 60_000).toISOString(),
      },
    });
    const pointsOf = (points: readonly { start: string; count: number; sum: number | null }[]) =>
      points.map(({ start, count, sum }) => ({ start, count, sum }));
    expect(Object.fromEntries(shown.series.map((one) => [one.group, pointsOf(one.points)]))).toEqual(
      Object.fromEntries(series.map((one) => [one.group, pointsOf(one.points)])),
    );
    const { top } = await query(server.url, ReadTopDocument, {
      query: { type: 'purchase', by: 'country', value: 'amount', limit: 10, from: shown.topWindow!.from, to: shown.topWindow!.to },
    });
    expect(shown.top.map(({ key, count, sum }) => ({ key, count, sum }))).toEqual(top);
    expect(pageErrors).toEqual([]);
  }, 60_000);
});

describe('dashboard page with API keys on', () => {
  const ADMIN_KEY = 'dashboard-admin-key-0123456789abcdefghijkl';
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    await buildDashboard();
    server = await startServer({ env: { ADMIN_KEY } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
  });

  it('shows the tenant of the key entered, and nothing without one', async () => {
    const created = await query(
      server.url,
      CreateApiKeyDocument,
      { tenant: 'dash', scopes: ['READ', 'INGEST'], name: 'dashboard' },
      { apiKey: ADMIN_KEY },
    );
    const key = { apiKey: created.createApiKey.key };
    const page = await browser.newPage();
    await page.goto(`${server.baseUrl}${VIEW}`);
    // Without a key the page cannot read anything, and says why.
    await page.getByText('an API key is required').first().waitFor({ timeout: 10_000 });
    expect((await page.evaluate(() => window.__dashboard!.snapshot())).series).toEqual([]);

    await page.locator('#api-key').fill(key.apiKey);
    await page.locator('#api-key-form button').click();
    await page.locator('#connection-text').getByText('connected', { exact: true }).waitFor({ timeout: 15_000 });
    await waitForLiveSubscriptions(server.url, PAGE_SUBSCRIPTIONS, key);
    expect((await query(server.url, IngestDocument, { events: [purchase('k-1', 'NL', 12)] }, key)).ingest.accepted).toBe(1);
    const deadline = Date.now() + 15_000;
    let shown = await page.evaluate(() => window.__dashboard!.snapshot());
    while (!(shown.feedIds.includes('k-1') && totalCount(shown) === 1) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      shown = await page.evaluate(() => window.__dashboard!.snapshot());
    }
    expect(shown.feedIds).toEqual(['k-1']);
    expect(countsByGroup(shown)).toEqual({ NL: 1 });
    await page.close();
  }, 60_000);
});
