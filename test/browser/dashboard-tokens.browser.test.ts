/**
 * The embedding example end to end, in a real browser (Debian's Chromium, playwright-core) against
 * the real service: a partner's key mints a token per customer the way `npm run demo -- --tokens`
 * does (its own functions), the dashboard opens from the printed link (token in the fragment),
 * says whose view it is and until when, shows that customer's numbers, history and live, and
 * nothing of another customer; takes a fresh token in place; and says plainly when a token has
 * expired, then takes a fresh one.
 *
 * The checks read the numbers through `window.__dashboard.snapshot()` and the DOM, never pixels.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { buildDashboard } from '../../scripts/build-dashboard.ts';
import { launchChromium } from '../../scripts/chromium.ts';
import { mintCustomerDashboard, type CustomerDashboard } from '../../scripts/demo.ts';
import { tokenFromFragment } from '../../src/dashboard/access.ts';
import type { DashboardSnapshot } from '../../src/dashboard/snapshot.ts';
import { CreateApiKeyDocument, IngestDocument, type EventInput } from '../generated/operations.ts';
import { query, waitForLiveSubscriptions, waitForProcessing, type Credentials } from '../support/clients.ts';
import { removeDataDir, startServer, type TestServer } from '../support/server.ts';

const ADMIN_KEY = 'dashboard-admin-key-0123456789abcdefghijkl';
/** The view the tests open: purchases, the sum of their amount, per second, by country. */
const VIEW = '?type=purchase&value=amount&measure=sum&interval=SECOND&groupBy=country';
/** What the page subscribes to: the series, the top ranking and the events of the chosen type. */
const PAGE_SUBSCRIPTIONS = 3;
const ACME_VIEW = 'customer is acme (click, page_view, purchase)';

function purchase(id: string, customer: string, country: string, amount: number): EventInput {
  return { id, type: 'purchase', dimensions: { customer, country, plan: 'pro' }, values: { amount } };
}

/** Every bucket's count, added up per group. */
function countsByGroup(snapshot: DashboardSnapshot): Record<string, number> {
  return Object.fromEntries(
    snapshot.series.map((series) => [series.group ?? '(none)', series.points.reduce((total, point) => total + point.count, 0)]),
  );
}

/** The demo's link, opened on the tests' view: the token stays in the fragment. */
function viewLink(dashboard: CustomerDashboard): string {
  const link = new URL(dashboard.link);
  link.search = VIEW;
  return link.href;
}

describe("the embedding example: one customer's dashboard through an access token", () => {
  let server: TestServer;
  let browser: Browser;
  let partner: Credentials;
  let page: Page;
  let webSocketsOpened = 0;
  const pageErrors: string[] = [];

  const snapshotOf = (shown: Page) => shown.evaluate(() => window.__dashboard!.snapshot());

  /** Polls the page until `check` holds; on time-out, fails with what the page last showed. */
  async function waitForPage(shown: Page, what: string, check: (snapshot: DashboardSnapshot) => boolean, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    let last: DashboardSnapshot | undefined;
    while (Date.now() < deadline) {
      last = await snapshotOf(shown);
      if (check(last)) return last;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`timed out waiting for ${what}; the page shows ${JSON.stringify(last).slice(0, 3000)}`);
  }

  async function ingest(events: EventInput[]): Promise<void> {
    const { ingest: result } = await query(server.url, IngestDocument, { events }, partner);
    expect(result.accepted).toBe(events.length);
  }

  beforeAll(async () => {
    // The server serves dist/dashboard: build it from the sources under test first.
    await buildDashboard();
    server = await startServer({ env: { ADMIN_KEY } });
    const created = await query(
      server.url,
      CreateApiKeyDocument,
      { tenant: 'partner', scopes: ['READ', 'INGEST'], name: 'partner backend' },
      { apiKey: ADMIN_KEY },
    );
    partner = { apiKey: created.createApiKey.key };
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('websocket', () => (webSocketsOpened += 1));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (server) removeDataDir(server.dataDir);
  });

  it("opens from the demo's link, says whose view it is, and shows that customer's history only", async () => {
    await ingest([
      purchase('a-1', 'acme', 'NL', 10),
      purchase('a-2', 'acme', 'DE', 5),
      purchase('g-1', 'globex', 'NL', 100),
      purchase('g-2', 'globex', 'FR', 7),
      // A type only the other customer has: the token's catalog must not offer it.
      { id: 'g-3', type: 'page_view', dimensions: { customer: 'globex', country: 'NL' }, values: { duration_ms: 900 } },
    ]);
    await waitForProcessing(server.url, 30_000, partner);

    const acme = await mintCustomerDashboard(server.url, partner.apiKey!, 'acme', '1h');
    expect(acme.link).toMatch(/\/dashboard#token=slt_/);
    await page.goto(viewLink(acme));
    await page.locator('#connection-text').getByText('connected', { exact: true }).waitFor({ timeout: 15_000 });

    // The token leaves the address bar (no bookmark, no history entry, no copy-paste carries it).
    expect(new URL(page.url()).hash).toBe('');
    const shown = await waitForPage(
      page,
      "acme's two purchases",
      (s) => s.feedIds.length >= 2 && s.top.length >= 2 && s.series.length >= 2,
    );
    expect(shown.token).toEqual({ view: ACME_VIEW, expiresAt: acme.expiresAt, expired: false });
    expect(await page.locator('#access').textContent()).toMatch(
      /^Viewing customer is acme \(click, page_view, purchase\) · token expires at \S+ \(in (59|60) min\)$/,
    );
    expect([...shown.feedIds].sort()).toEqual(['a-1', 'a-2']);
    expect(countsByGroup(shown)).toEqual({ DE: 1, NL: 1 });
    expect(shown.top).toEqual([
      { key: 'NL', count: 1, sum: 10, distinct: null },
      { key: 'DE', count: 1, sum: 5, distinct: null },
    ]);
    // Only the types the slice holds are offered: globex's page views are not.
    expect(
      await page.locator('#type option').evaluateAll((options) => options.map((option) => (option as HTMLOptionElement).value)),
    ).toEqual(['purchase']);
    expect(pageErrors).toEqual([]);
  });

  it("shows the customer's new events live, and none of another customer's", async () => {
    await waitForLiveSubscriptions(server.url, PAGE_SUBSCRIPTIONS, partner);
    await ingest([
      purchase('a-3', 'acme', 'NL', 20),
      purchase('g-4', 'globex', 'NL', 1_000),
      purchase('a-4', 'acme', 'FR', 3),
      purchase('g-5', 'globex', 'DE', 1),
    ]);
    await waitForProcessing(server.url, 30_000, partner);
    const shown = await waitForPage(
      page,
      "acme's live purchases in the chart, the table and the feed",
      (s) =>
        s.feedIds.includes('a-3') &&
        s.feedIds.includes('a-4') &&
        s.top.some((row) => row.key === 'FR') &&
        Object.values(countsByGroup(s)).reduce((a, b) => a + b, 0) === 4,
    );
    expect([...shown.feedIds].sort()).toEqual(['a-1', 'a-2', 'a-3', 'a-4']);
    expect(countsByGroup(shown)).toEqual({ DE: 1, FR: 1, NL: 2 });
    expect(shown.top).toEqual([
      { key: 'NL', count: 2, sum: 30, distinct: null },
      { key: 'DE', count: 1, sum: 5, distinct: null },
      { key: 'FR', count: 1, sum: 3, distinct: null },
    ]);
    expect(await page.locator('#feed li').count()).toBe(4);
    expect(pageErrors).toEqual([]);
  });

  it('takes a fresh token in place: the same connection goes on live under the new expiry', async () => {
    const socketsBefore = webSocketsOpened;
    const fresh = await mintCustomerDashboard(server.url, partner.apiKey!, 'acme', '2h');
    await page.locator('#api-key').fill(tokenFromFragment(new URL(fresh.link).hash)!);
    await page.locator('#api-key-form button').click();
    const refreshed = await waitForPage(page, 'the fresh expiry', (s) => s.token?.expiresAt === fresh.expiresAt);
    expect(refreshed.token).toEqual({ view: ACME_VIEW, expiresAt: fresh.expiresAt, expired: false });
    // Refreshed with a graphql-ws ping on the open socket: no new connection, nothing re-read.
    expect(webSocketsOpened).toBe(socketsBefore);
    expect(refreshed.connection).toBe('connected');

    await ingest([purchase('a-5', 'acme', 'DE', 2), purchase('g-6', 'globex', 'DE', 500)]);
    await waitForProcessing(server.url, 30_000, partner);
    const shown = await waitForPage(page, 'the purchase sent after the refresh', (s) => s.feedIds.includes('a-5'));
    expect(shown.feedIds[0]).toBe('a-5');
    expect([...shown.feedIds].sort()).toEqual(['a-1', 'a-2', 'a-3', 'a-4', 'a-5']);
    expect(pageErrors).toEqual([]);
  });

  it('refuses a tampered, a huge and a broken token in the link plainly, shows nothing, and does not retry', async () => {
    const acme = tokenFromFragment(new URL((await mintCustomerDashboard(server.url, partner.apiKey!, 'acme', '1h')).link).hash)!;
    const [payload, signature] = acme.slice('slt_'.length).split('.') as [string, string];
    // Another customer written into the payload, the signature kept: the page may believe it, the server does not.
    const edited = Buffer.from(Buffer.from(payload, 'base64url').toString('utf8').replace('"acme"', '"globex"')).toString('base64url');
    const tampered = `slt_${edited}.${signature}`;
    for (const [what, token] of [
      ['tampered', encodeURIComponent(tampered)],
      ['100 KB', `slt_${'A'.repeat(100_000)}.${signature}`],
      // The UTF-8 bytes of a lone surrogate: the page reads replacement characters, which no header may carry.
      ['lone surrogate', `slt_%ED%A0%80.${signature}`],
    ] as const) {
      const refused = await browser.newPage();
      const errors: string[] = [];
      refused.on('pageerror', (error) => errors.push(error.message));
      let sockets = 0;
      refused.on('websocket', () => (sockets += 1));
      await refused.goto(`${server.baseUrl}/dashboard${VIEW}#token=${token}`);
      await refused.locator('#connection-text').getByText('disconnected', { exact: true }).waitFor({ timeout: 15_000 });
      const shown = await snapshotOf(refused);
      expect(shown.connection, what).toBe('disconnected');
      expect(shown.series, what).toEqual([]);
      expect(shown.feedIds, what).toEqual([]);
      expect(shown.top, what).toEqual([]);
      expect(await refused.locator('#problem').isVisible(), what).toBe(true);
      expect(errors, what).toEqual([]);
      // "disconnected" is the state graphql-ws reaches only when it gives up: one refusal, no retry loop.
      expect(sockets, what).toBe(1);
      await refused.close();
    }
  });

  it('says plainly when the token has expired, and takes a fresh one', async () => {
    const shortLived = await mintCustomerDashboard(server.url, partner.apiKey!, 'globex', '3s');
    const globexPage = await browser.newPage();
    globexPage.on('pageerror', (error) => pageErrors.push(error.message));
    await globexPage.goto(viewLink(shortLived));

    await globexPage.locator('#problem').getByText('Your access token expired').waitFor({ timeout: 20_000 });
    const problem = await globexPage.locator('#problem').textContent();
    expect(problem).toMatch(/^Your access token expired at \S+, so this view has stopped updating\. Ask for a fresh one/);
    expect(await globexPage.locator('#connection-text').textContent()).toBe('token expired');
    expect(await globexPage.locator('#access').getAttribute('data-expired')).toBe('true');
    expect(await globexPage.locator('#access').textContent()).toMatch(
      /^Viewing customer is globex \(click, page_view, purchase\) · token expired at \S+$/,
    );
    const expired = await snapshotOf(globexPage);
    expect(expired.connection).toBe('expired');
    expect(expired.token).toEqual({
      view: 'customer is globex (click, page_view, purchase)',
      expiresAt: shortLived.expiresAt,
      expired: true,
    });

    const fresh = await mintCustomerDashboard(server.url, partner.apiKey!, 'globex', '1h');
    await globexPage.locator('#api-key').fill(tokenFromFragment(new URL(fresh.link).hash)!);
    await globexPage.locator('#api-key-form button').click();
    await globexPage.locator('#connection-text').getByText('connected', { exact: true }).waitFor({ timeout: 15_000 });
    const shown = await waitForPage(
      globexPage,
      "globex's purchases under the fresh token",
      (s) => s.feedIds.includes('g-1') && s.feedIds.includes('g-6'),
    );
    expect(await globexPage.locator('#problem').isHidden()).toBe(true);
    expect(shown.token).toEqual({ view: 'customer is globex (click, page_view, purchase)', expiresAt: fresh.expiresAt, expired: false });
    expect([...shown.feedIds].sort()).toEqual(['g-1', 'g-2', 'g-4', 'g-5', 'g-6']);
    await globexPage.close();
    expect(pageErrors).toEqual([]);
  }, 60_000);
});
