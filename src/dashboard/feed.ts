/** The feed of the latest events of the chosen type, newest first. */
import { formatNumber, formatTime } from './format.ts';

export interface FeedEvent {
  id: string;
  type: string;
  timestamp: string;
  dimensions: Record<string, unknown>;
  values: Record<string, unknown>;
}

export const FEED_LENGTH = 50;

/**
 * Adds events to the feed, without duplicates (the latest events read when a feed starts over may
 * include some the subscription already delivered), keeping the newest FEED_LENGTH by event time.
 */
export function mergeIntoFeed(feed: readonly FeedEvent[], incoming: readonly FeedEvent[]): FeedEvent[] {
  const byId = new Map(feed.map((event) => [event.id, event]));
  for (const event of incoming) byId.set(event.id, event);
  return [...byId.values()]
    .sort((a, b) => Date.parse(b.timestamp) - Date.parse(a.timestamp) || (a.id < b.id ? 1 : -1))
    .slice(0, FEED_LENGTH);
}

export function renderFeed(list: HTMLOListElement, feed: readonly FeedEvent[]): void {
  list.replaceChildren(
    ...feed.map((event) => {
      const item = document.createElement('li');
      item.dataset.id = event.id;
      const time = document.createElement('time');
      time.dateTime = event.timestamp;
      time.textContent = formatTime(event.timestamp);
      const id = document.createElement('code');
      id.className = 'event-id';
      id.textContent = event.id;
      id.title = event.id;
      const details = document.createElement('span');
      details.className = 'event-details';
      details.append(
        ...Object.entries(event.dimensions).map(([key, value]) => tag('dimension', `${key}=${String(value)}`)),
        ...Object.entries(event.values).map(([key, value]) =>
          tag('value', `${key} ${typeof value === 'number' ? formatNumber(value) : String(value)}`),
        ),
      );
      item.append(time, id, details);
      return item;
    }),
  );
}

function tag(kind: 'dimension' | 'value', text: string): HTMLElement {
  const element = document.createElement('span');
  element.className = `tag ${kind}`;
  element.textContent = text;
  return element;
}
