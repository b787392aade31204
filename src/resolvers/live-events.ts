/** The events subscription: matching events from the live bus, through a bounded queue. */
import { GraphQLError } from 'graphql';
import type { StoredEvent } from '../domain/event.ts';
import { liveTopics } from '../ports/live-bus.ts';
import { encodeStreamCursor } from '../query/cursors.ts';
import { matchesEventQuery, toEventQuery, type EventFilterInput } from '../query/event-filter.ts';
import { decodeEventsMessage } from '../stream/live-messages.ts';
import { createLiveQueue, type LiveQueue } from './live-queue.ts';
import type { GraphQLContext } from './context.ts';

export interface LiveEventEdge {
  cursor: string;
  node: StoredEvent;
}

export async function subscribeToEvents(
  context: GraphQLContext,
  filter: EventFilterInput | null | undefined,
): Promise<AsyncIterable<LiveEventEdge>> {
  const query = toEventQuery(context.tenant, filter);
  let unsubscribe: () => Promise<void> = async () => {};
  const queue = createLiveQueue<LiveEventEdge>({
    limit: context.services.live.maxPendingEvents,
    overflowError: () =>
      new GraphQLError('this subscriber fell too far behind; subscribe again to continue', {
        extensions: { code: 'SUBSCRIBER_TOO_SLOW' },
      }),
    onClose: () => {
      context.services.live.queues.delete(queue as LiveQueue<unknown>);
      return unsubscribe();
    },
  });
  unsubscribe = await context.services.liveBus.subscribe(liveTopics.events(context.tenant), (message) => {
    for (const event of decodeEventsMessage(message).events) {
      if (matchesEventQuery(event, query) && !queue.push({ cursor: encodeStreamCursor(event.position), node: event })) return;
    }
  });
  context.services.live.queues.add(queue as LiveQueue<unknown>);
  return queue;
}
