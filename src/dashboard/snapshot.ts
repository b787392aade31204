/**
 * A read-only view of what the page shows, as numbers rather than pixels, published on
 * `window.__dashboard` so browser tests (and curious users in the console) can check it.
 */
import type { ConnectionState } from './api.ts';
import type { Selection } from './selection.ts';

export interface DashboardSnapshot {
  connection: ConnectionState;
  selection: Selection;
  /** With an access token: whose view it shows (in words), when it expires (ISO), whether the server said it has. */
  token: { view: string | null; expiresAt: string | null; expired: boolean } | null;
  /** ISO time, or null before the first series answer. */
  watermark: string | null;
  series: { group: string | null; points: { start: string; count: number; sum: number | null; distinct: number | null }[] }[];
  top: { key: string; count: number; sum: number | null; distinct: number | null }[];
  /** The window the top table ranks, as its last `top` update said (ISO, MINUTE-aligned); null before the first. */
  topWindow: { from: string; to: string } | null;
  /** Newest first, as listed. */
  feedIds: string[];
  /** The last cursor the chart's and the feed's subscriptions received: where they resume after a reconnect. */
  cursors: { series: string | null; events: string | null };
}

declare global {
  interface Window {
    __dashboard?: { snapshot(): DashboardSnapshot };
  }
}
