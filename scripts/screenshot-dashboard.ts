/**
 * `npm run screenshot`: makes docs/dashboard.png, the picture in the README. It builds the
 * dashboard, starts an embedded service of its own (a temporary DATA_DIR, any free port), sends
 * it a short demo stream with some history, opens the page in headless Chromium and waits
 * until the chart, the table and the feed have data before taking the picture.
 */
import { join } from 'node:path';
import { buildDashboard } from './build-dashboard.ts';
import { launchChromium } from './chromium.ts';
import { runDemo } from './demo.ts';
// The tests' helper starts the service exactly as `npm start` does and learns its port from the log.
import { removeDataDir, startServer } from '../test/support/server.ts';

const OUTPUT = join(import.meta.dirname, '..', 'docs', 'dashboard.png');
/** Page views per second: the busiest type, so every panel is full. */
const VIEW = '/dashboard?type=page_view&interval=SECOND';

await buildDashboard();
const server = await startServer();
const stopDemo = new AbortController();
const browser = await launchChromium();
try {
  // The chart's whole window of history, then a live stream while the page is open.
  await runDemo({ url: server.url, rate: 60, backfillMs: 15 * 60_000, durationMs: 0, log: () => {} });
  const live = runDemo({ url: server.url, rate: 60, signal: stopDemo.signal, log: () => {} });

  const page = await browser.newPage({ viewport: { width: 1360, height: 900 }, deviceScaleFactor: 1 });
  await page.goto(`${server.baseUrl}${VIEW}`);
  await page.waitForFunction(
    () => {
      const snapshot = window.__dashboard?.snapshot();
      return (
        snapshot &&
        snapshot.connection === 'connected' &&
        snapshot.series.length > 0 &&
        snapshot.top.length > 0 &&
        snapshot.feedIds.length >= 10
      );
    },
    undefined,
    { timeout: 30_000 },
  );
  // A few seconds of live updates, so the right edge of the chart is live data too.
  await page.waitForTimeout(4_000);
  await page.screenshot({ path: OUTPUT, fullPage: true });
  console.log(`wrote ${OUTPUT}`);
  stopDemo.abort();
  await live;
} finally {
  stopDemo.abort();
  await browser.close();
  await server.stop();
  removeDataDir(server.dataDir);
}
