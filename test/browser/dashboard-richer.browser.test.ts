/**
 * The dashboard's controls for the richer questions, in a real browser (Debian's Chromium,
 * headless, driven by playwright-core) against the real service process: the second group-by
 * field (→ `groupByDimensions`), the filter row (→ `where`), the unique-users measure (→ series
 * `distinct` and `top` ranked by DISTINCT) and the time-zone picker (→ `timeZone`), which starts
 * on the browser's zone. Controls are found by their labels and driven like a person would (the
 * filter value is typed and applied with Enter); the numbers are read through
 * `window.__dashboard.snapshot()` and the DOM, never pixels, and are exact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { buildDashboard } from '../../scripts/build-dashboard.ts';
import { launchChromium } from '../../scripts/chromium.ts';
import type { DashboardSnapshot } from '../../src/dashboard/snapshot.ts';
import { dayStartIn } from '../../src/dashboard/time-zone.ts';
import { IngestDocument, type EventInput } from '../generated/operations.ts';
import { query, waitForLiveSubscriptions, waitForProcessing } from '../support/clients.ts';
import { removeDataDir, startServer, type TestServer } from '../support/server.ts';

/** What the page subscribes to: the series, the top ranking and the events of the chosen type. */
const PAGE_SUBSCRIPTIONS = 3;
const MINUTE_MS = 60_000;
/** `Series.group` of (FR, no plan): the values joined by ", ", an absent one shown as nothing. */
const FR_WITHOUT_PLAN = 'FR, ';

type Totals = { count: number; sum: number; distinct: number };

/** Every bucket's count, sum and unique users, added up per group (the events of a test share one bucket). */
function totalsByGroup(snapshot: DashboardSnapshot): Record<string, Totals> {
  return Object.fromEntries(
    snapshot.series.map((series) => [
      series.group ?? '(none)',
      series.points.reduce(
        (total, point) => ({
          count: total.count + point.count,
          sum: total.sum + (point.sum ?? 0),
          distinct: total.distinct + (point.distinct ?? 0),
        }),
        { count: 0, sum: 0, distinct: 0 },
      ),
    ]),
  );
}

describe('dashboard controls for the richer questions', () => {
  let server: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];

  async function ingest(events: EventInput[]): Promise<void> {
    const { ingest: result } = await query(server.url, IngestDocument, { events });
    expect(result.accepted).toBe(events.length);
  }

  /** A page in a browser whose clock runs in `timeZone`. */
  async function openPage(timeZone: string): Promise<Page> {
    const context = await browser.newContext({ timezoneId: timeZone });
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    return page;
  }

  /** Polls the page until `check` holds; on time-out, fails with what the page last showed. */
  async function waitForPage(page: Page, what: string, check: (snapshot: DashboardSnapshot) => boolean, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    let last: DashboardSnapshot | undefined;
    while (Date.now() < deadline) {
      last = await page.evaluate(() => window.__dashboard!.snapshot());
      if (check(last)) return last;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`timed out waiting for ${what}; the page shows ${JSON.stringify(last).slice(0, 3000)}`);
  }

  const rowKeys = (page: Page) => page.locator('#top-body tr').evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.key));

  beforeAll(async () => {
    // The server serves dist/dashboard: build it from the sources under test first.
    await buildDashboard();
    server = await startServer();
    browser = await launchChromium();
  });

  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
  });

  it('groups by two dimensions, filters with every kind of condition, and counts unique users', async () => {
    // One timestamp for all, a second ago: every event is in the same MINUTE bucket, so the
    // unique users of a group are the users of its one point.
    const at = new Date(Math.floor((Date.now() - 1_000) / 1_000) * 1_000).toISOString();
    const purchase = (id: string, country: string, plan: string | null, amount: number, user: string): EventInput => ({
      id,
      type: 'purchase',
      timestamp: at,
      dimensions: plan === null ? { country } : { country, plan },
      values: { amount },
      distinct: { user },
    });
    await ingest([
      purchase('p-1', 'NL', 'pro', 10, 'u-1'),
      purchase('p-2', 'NL', 'free', 5, 'u-2'),
      purchase('p-3', 'NL', 'pro', 20, 'u-1'),
      purchase('p-4', 'DE', 'pro', 7, 'u-3'),
      purchase('p-5', 'DE', 'free', 3, 'u-3'),
      purchase('p-6', 'FR', null, 2, 'u-4'),
      purchase('p-7', 'DE', 'pro', 4, 'u-5'),
      purchase('p-8', 'NL', 'pro', 1, 'u-1'),
    ]);
    await waitForProcessing(server.url);

    const page = await openPage('UTC');
    await page.goto(`${server.baseUrl}/dashboard?type=purchase&value=amount&measure=sum&interval=MINUTE&groupBy=country`);
    await page.locator('#connection-text').getByText('connected', { exact: true }).waitFor();
    let shown = await waitForPage(page, 'the purchases by country', (s) => s.series.length === 3);
    expect(totalsByGroup(shown)).toEqual({
      DE: { count: 3, sum: 14, distinct: 0 },
      FR: { count: 1, sum: 2, distinct: 0 },
      NL: { count: 4, sum: 36, distinct: 0 },
    });

    // The second group-by field: one line per (country, plan).
    await page.getByLabel('Then by').selectOption('plan');
    shown = await waitForPage(page, 'the purchases by country and plan', (s) => s.series.length === 5);
    expect(shown.selection.secondGroupBy).toBe('plan');
    expect(totalsByGroup(shown)).toEqual({
      'DE, free': { count: 1, sum: 3, distinct: 0 },
      'DE, pro': { count: 2, sum: 11, distinct: 0 },
      [FR_WITHOUT_PLAN]: { count: 1, sum: 2, distinct: 0 },
      'NL, free': { count: 1, sum: 5, distinct: 0 },
      'NL, pro': { count: 3, sum: 31, distinct: 0 },
    });
    expect(await page.locator('#chart-title').textContent()).toBe('Sum of amount · purchase by country and plan');
    // The legend names an absent value.
    expect(await page.locator('.u-legend .u-series .u-label').allTextContents()).toEqual([
      'DE, free',
      'DE, pro',
      'FR, no plan',
      'NL, free',
      'NL, pro',
    ]);

    // The filter row: plan is not free (which also keeps FR, whose events have no plan).
    await page.getByLabel('Dimension').selectOption('plan');
    await page.getByLabel('Condition').selectOption('neq');
    await page.getByLabel('Filter value').fill('free');
    await page.getByLabel('Filter value').press('Enter');
    shown = await waitForPage(
      page,
      'the purchases whose plan is not free',
      (s) => s.series.length === 3 && s.feedIds.length === 6 && s.top.length === 3,
    );
    expect(shown.selection.filter).toEqual({ key: 'plan', operator: 'neq', text: 'free' });
    expect(totalsByGroup(shown)).toEqual({
      'DE, pro': { count: 2, sum: 11, distinct: 0 },
      [FR_WITHOUT_PLAN]: { count: 1, sum: 2, distinct: 0 },
      'NL, pro': { count: 3, sum: 31, distinct: 0 },
    });
    expect(shown.top).toEqual([
      { key: 'NL', count: 3, sum: 31, distinct: null },
      { key: 'DE', count: 2, sum: 11, distinct: null },
      { key: 'FR', count: 1, sum: 2, distinct: null },
    ]);
    expect([...shown.feedIds].sort()).toEqual(['p-1', 'p-3', 'p-4', 'p-6', 'p-7', 'p-8']);
    expect(await page.locator('#chart-title').textContent()).toBe('Sum of amount · purchase by country and plan · where plan is not free');
    expect(page.url()).toContain('filterKey=plan&filterOp=neq&filterValue=free');

    // Unique users: NL's three pro purchases are one user's; the top table ranks by users.
    await page.getByRole('combobox', { name: 'Show' }).selectOption('distinct');
    shown = await waitForPage(
      page,
      'unique users',
      // The chart's snapshot comes point by point: wait for all three groups' points.
      (s) =>
        s.top[0]?.distinct === 2 && s.series.length === 3 && s.series.every((series) => series.points.every((p) => p.distinct !== null)),
    );
    expect(totalsByGroup(shown)).toEqual({
      'DE, pro': { count: 2, sum: 11, distinct: 2 },
      [FR_WITHOUT_PLAN]: { count: 1, sum: 2, distinct: 1 },
      'NL, pro': { count: 3, sum: 31, distinct: 1 },
    });
    expect(shown.top).toEqual([
      { key: 'DE', count: 2, sum: 11, distinct: 2 },
      { key: 'FR', count: 1, sum: 2, distinct: 1 },
      { key: 'NL', count: 3, sum: 31, distinct: 1 },
    ]);
    expect(await rowKeys(page)).toEqual(['DE', 'FR', 'NL']);
    expect(await page.locator('#top-body tr[data-key="DE"] .distinct').textContent()).toBe('2');
    expect(await page.locator('#top-sum-head').textContent()).toBe('Unique users');
    expect(await page.locator('#top-title').textContent()).toBe('Top country by unique users');

    // Live: a purchase by a new user arrives, and the unique users of NL, pro grow by one.
    await waitForLiveSubscriptions(server.url, PAGE_SUBSCRIPTIONS);
    await ingest([
      { id: 'p-9', type: 'purchase', dimensions: { country: 'NL', plan: 'pro' }, values: { amount: 8 }, distinct: { user: 'u-6' } },
    ]);
    shown = await waitForPage(
      page,
      'the live purchase by a new user',
      (s) =>
        s.feedIds.includes('p-9') && totalsByGroup(s)['NL, pro']?.distinct === 2 && s.top.find((row) => row.key === 'NL')?.distinct === 2,
    );
    expect(totalsByGroup(shown)['NL, pro']).toEqual({ count: 4, sum: 39, distinct: 2 });

    // Other operators, typed with the keyboard: country is one of NL, FR; then plan is absent.
    await page.getByLabel('Dimension').selectOption('country');
    await page.getByLabel('Condition').selectOption('in');
    await page.getByLabel('Filter value').fill('NL, FR');
    await page.getByLabel('Filter value').press('Enter');
    shown = await waitForPage(page, 'the purchases in NL or FR', (s) => s.series.length === 3 && s.feedIds.length === 6);
    expect(totalsByGroup(shown)).toEqual({
      [FR_WITHOUT_PLAN]: { count: 1, sum: 2, distinct: 1 },
      'NL, free': { count: 1, sum: 5, distinct: 1 },
      'NL, pro': { count: 4, sum: 39, distinct: 2 },
    });
    await page.getByLabel('Dimension').selectOption('plan');
    await page.getByLabel('Condition').selectOption('absent');
    shown = await waitForPage(page, 'the purchases without a plan', (s) => s.feedIds.length === 1 && s.series.length === 1);
    expect(shown.feedIds).toEqual(['p-6']);
    expect(totalsByGroup(shown)).toEqual({ [FR_WITHOUT_PLAN]: { count: 1, sum: 2, distinct: 1 } });
    expect(await page.getByLabel('Filter value').isDisabled()).toBe(true);
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it("starts the time-zone picker on the browser's zone, and days follow the picked zone", async () => {
    // A zone whose latest midnight was long enough ago for an event a minute after it, and
    // recent enough that an event half an hour before it is within the allowed lateness (24 h).
    // New York and Tokyo are 13 to 14 hours apart, so one of them always qualifies.
    const now = Date.now();
    const zone = ['America/New_York', 'Asia/Tokyo'].find((candidate) => {
      const sinceMidnight = now - dayStartIn(now, candidate);
      return sinceMidnight >= 5 * MINUTE_MS && sinceMidnight <= 20 * 60 * MINUTE_MS;
    })!;
    const midnight = dayStartIn(now, zone);
    const visit = (id: string, time: number, user: string): EventInput => ({
      id,
      type: 'visit',
      timestamp: new Date(time).toISOString(),
      distinct: { user },
    });
    // Two visits on the evening before, one just after midnight: two local days, one UTC day
    // (neither zone's midnight is near UTC midnight).
    await ingest([
      visit('v-1', midnight - 30 * MINUTE_MS, 'u-1'),
      visit('v-2', midnight - 20 * MINUTE_MS, 'u-2'),
      visit('v-3', midnight + MINUTE_MS, 'u-1'),
    ]);
    await waitForProcessing(server.url);

    const page = await openPage(zone);
    await page.goto(`${server.baseUrl}/dashboard?type=visit&interval=DAY`);
    await page.locator('#connection-text').getByText('connected', { exact: true }).waitFor();
    expect(await page.getByLabel('Time zone').inputValue()).toBe(zone);
    let shown = await waitForPage(page, `the visits in ${zone} days`, (s) => s.series[0]?.points.length === 2);
    expect(shown.selection.timeZone).toBe(zone);
    const dayBefore = dayStartIn(midnight - 30 * MINUTE_MS, zone);
    expect(shown.series).toEqual([
      {
        group: null,
        points: [
          { start: new Date(dayBefore).toISOString(), count: 2, sum: null, distinct: null },
          { start: new Date(midnight).toISOString(), count: 1, sum: null, distinct: null },
        ],
      },
    ]);
    expect(await page.locator('#chart-window').textContent()).toBe(`last 30 days, per day, days in ${zone}`);

    await page.getByRole('combobox', { name: 'Show' }).selectOption('distinct');
    shown = await waitForPage(
      page,
      'unique visitors per local day',
      (s) => s.series[0]?.points.length === 2 && s.series[0].points.every((p) => p.distinct !== null),
    );
    expect(shown.series[0]!.points.map((p) => [p.start, p.count, p.distinct])).toEqual([
      [new Date(dayBefore).toISOString(), 2, 2],
      [new Date(midnight).toISOString(), 1, 1],
    ]);

    // UTC: the three visits are one day, and its unique visitors are two, not 2 + 1.
    await page.getByLabel('Time zone').selectOption('UTC');
    shown = await waitForPage(page, 'the visits in UTC days', (s) => s.selection.timeZone === 'UTC' && s.series[0]?.points.length === 1);
    expect(shown.series[0]!.points.map((p) => [p.start, p.count, p.distinct])).toEqual([
      [new Date(dayStartIn(midnight, 'UTC')).toISOString(), 3, 2],
    ]);
    expect(page.url()).toContain('timeZone=UTC');
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
