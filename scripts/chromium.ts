/**
 * Headless Chromium for the browser tests and the dashboard screenshot: Debian's `chromium`
 * package driven by playwright-core, so nothing downloads a browser of its own.
 * `npm test` installs the package when it is missing (scripts/test.ts).
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `${CHROMIUM_PATH} is missing: install Debian's chromium package (apt-get install -y chromium); npm test does it for you`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    // No sandbox: tests run as root in containers, where Chromium's sandbox cannot start. The
    // rest keeps a headless run quiet and offline: no GPU, no QUIC, no background updates.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
