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
import { GraphQLError } from 'graphql';
import type { StoredEvent } from '../domain/event.ts';
import { liveTopics } from '../ports/live-bus.ts';
import { decodeStreamCursor, encodeStreamCursor } from '../query/cursors.ts';
import { matchesEventQuery, toEventQuery, type EventFilterInput } from '../query/event-filter.ts';
import { decodeEventsMessage } from '../stream/live-messages.ts';
import { createLiveQueue, type LiveQueue } from './live-queue.ts';
import { openSubscriptionsOf, type GraphQLContext } from '../resolvers/context.ts';

export interface LiveEventEdge {
  cursor: string;
  node: StoredEvent;
}

/** Events read from the store per replay query. */
const REPLAY_PAGE_SIZE = 500;

function tooSlow(): GraphQLError {
  return new GraphQLError('this subscriber fell too far behind; subscribe again with `after` set to the last cursor it received', {
    extensions: { code: 'SUBSCRIBER_TOO_SLOW' },
  });
}

/** Where the stores stand now: every partition's "stored through" offset. */
async function currentStreamPosition(context: GraphQLContext): Promise<Map<number, number>> {
  const progress = await context.services.seriesStore.loadProgress();
  return new Map([...progress].map(([partition, p]) => [partition, p.storedThrough]));
}

export async function subscribeToEvents(
  context: GraphQLContext,
  tenant: string,
  filter: EventFilterInput | null | undefined,
  after: string | null | undefined,
): Promise<AsyncIterable<LiveEventEdge>> {
  const { services } = context;
  services.limits.checkSubscriptions(tenant, openSubscriptionsOf(services, tenant));
  const query = toEventQuery(tenant, filter);
  const resumeFrom = after ?? context.lastEventId ?? null;
  const delivered = resumeFrom ? decodeStreamCursor(resumeFrom) : null;

  let unsubscribe: () => Promise<void> = async () => {};
  const queue: LiveQueue<LiveEventEdge> = createLiveQueue<LiveEventEdge>({
    limit: services.live.maxPendingEvents,
    overflowError: tooSlow,
    onClose: () => {
      services.live.queues.delete(queue as LiveQueue<unknown>);
      return unsubscribe();
    },
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

  // The slot is taken before the first await: concurrent subscribes each see the others, so
  // together they can never overshoot the tenant's limit.
  services.live.queues.set(queue as LiveQueue<unknown>, { keyId: context.auth.ok ? context.auth.principal.keyId : null, tenant });

  let buffer: StoredEvent[] | null = [];
  let position: Map<number, number> | null = null;
  try {
    unsubscribe = await services.liveBus.subscribe(liveTopics.events(tenant), onLiveMessage);
  } catch (error) {
    services.live.queues.delete(queue as LiveQueue<unknown>);
    throw error;
  }

  function onLiveMessage(message: string): void {
    const events = decodeEventsMessage(message).events;
    if (buffer) {
      buffer.push(...events);
      // The replay is taking long and live traffic is heavy: better to start over later.
      if (buffer.length > services.live.maxPendingEvents) queue.fail(tooSlow());
      return;
    }
    for (const event of events) {
      const edge = offer(event, position!);
      if (edge && !queue.push(edge)) return;
    }
  }

  void (async () => {
    try {
      position = delivered ?? (await currentStreamPosition(context));
      for (;;) {
        const page = await services.eventStore.listAfterPositions(tenant, position, REPLAY_PAGE_SIZE);
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
      queue.fail(
        new GraphQLError('the events subscription could not read history; subscribe again to continue', {
          extensions: { code: 'UNAVAILABLE', retryable: true },
          originalError: error as Error,
        }),
      );
    }
  })();
  return queue;
}
