/**
 * The events subscription: a replay from the event store from a stream position, then the
 * live events from the bus, through one bounded queue, with no gap and no duplicate.
 *
 * The live topic is subscribed first and buffered while the replay runs; the replay then reads
 * every stored event after the starting position; finally the buffer and the live stream are
 * delivered, skipping whatever the replay already covered. Every event carries its log
 * position, and per partition positions only grow, so "already delivered" is one comparison.
 * Without `after`, the subscription starts where the stores stand now (their "stored through"
 * offsets), so even the first events cannot fall between the stores and the bus.
 */
import type { StoredEvent } from '../domain/event.ts';
import type { EventStore } from '../ports/event-store.ts';
import { liveTopics, type LiveBus } from '../ports/live-bus.ts';
import type { SeriesStore } from '../ports/series-store.ts';
import { decodeStreamCursor, encodeStreamCursor } from '../query/cursors.ts';
import { matchesEventQuery, toEventQuery, type EventFilterInput } from '../query/event-filter.ts';
import { decodeEventsMessage } from '../domain/live-messages.ts';
import type { LiveQueue } from './live-queue.ts';
import type { SubscriptionSlot } from './subscription-registry.ts';
import { StreamlensError, unavailable } from '../errors.ts';

export interface LiveEventEdge {
  cursor: string;
  node: StoredEvent;
}

export interface EventsSubscriptionDependencies {
  liveBus: LiveBus;
  eventStore: EventStore;
  /** Its progress says where the stores stand: where a subscription without a cursor starts. */
  seriesStore: SeriesStore;
  /** Limit of one subscriber's queue. */
  maxPendingEvents: number;
}

/** Events read from the store per replay query. */
const REPLAY_PAGE_SIZE = 500;

function tooSlow(): StreamlensError {
  return new StreamlensError(
    'SUBSCRIBER_TOO_SLOW',
    'this subscriber fell too far behind; subscribe again with `after` set to the last cursor it received',
  );
}

/** Where the stores stand now: every partition's "stored through" offset. */
async function currentStreamPosition(seriesStore: SeriesStore): Promise<Map<number, number>> {
  const progress = await seriesStore.loadProgress();
  return new Map([...progress].map(([partition, p]) => [partition, p.storedThrough]));
}

/**
 * Opens an events subscription in the slot reserved for it; `resumeFrom` is a cursor it
 * returned (or a query's streamCursor), or null to start where the stores stand now.
 */
export async function openEventsSubscription(
  dependencies: EventsSubscriptionDependencies,
  slot: SubscriptionSlot,
  tenant: string,
  filter: EventFilterInput | null | undefined,
  resumeFrom: string | null,
): Promise<AsyncIterable<LiveEventEdge>> {
  const { liveBus, eventStore, seriesStore, maxPendingEvents } = dependencies;
  const query = toEventQuery(tenant, filter);
  const delivered = resumeFrom ? decodeStreamCursor(resumeFrom) : null;

  let unsubscribe: () => Promise<void> = async () => {};
  const queue: LiveQueue<LiveEventEdge> = slot.openQueue<LiveEventEdge>({
    limit: maxPendingEvents,
    overflowError: tooSlow,
    onClose: () => unsubscribe(),
  });

  /**
   * Advances the position past the event; the edge to deliver when the event is new and
   * matches, else null (already delivered, or filtered out).
   */
  function offer(event: StoredEvent, position: Map<number, number>): LiveEventEdge | null {
    const seen = position.get(event.position.partition);
    if (seen !== undefined && event.position.offset <= seen) return null;
    position.set(event.position.partition, event.position.offset);
    return matchesEventQuery(event, query) ? { cursor: encodeStreamCursor(position), node: event } : null;
  }

  let buffer: StoredEvent[] | null = [];
  let position: Map<number, number> | null = null;
  unsubscribe = await liveBus.subscribe(liveTopics.events(tenant), onLiveMessage);

  function onLiveMessage(message: string): void {
    const events = decodeEventsMessage(message).events;
    if (buffer) {
      buffer.push(...events);
      // The replay is taking long and live traffic is heavy: better to start over later.
      if (buffer.length > maxPendingEvents) queue.fail(tooSlow());
      return;
    }
    for (const event of events) {
      const edge = offer(event, position!);
      if (edge && !queue.push(edge)) return;
    }
  }

  void (async () => {
    try {
      position = delivered ?? (await currentStreamPosition(seriesStore));
      for (;;) {
        const page = await eventStore.listAfterPositions(tenant, position, REPLAY_PAGE_SIZE);
        for (const event of page) {
          const edge = offer(event, position);
          if (edge && !(await queue.pushWhenRoom(edge))) return;
        }
        if (page.length < REPLAY_PAGE_SIZE) break;
      }
      const buffered = buffer ?? [];
      buffer = null;
      for (const event of buffered) {
        const edge = offer(event, position);
        if (edge && !queue.push(edge)) return;
      }
    } catch (error) {
      queue.fail(unavailable('the events subscription could not read history; subscribe again to continue', error));
    }
  })();
  return queue;
}
