/**
 * The processor's live updates: after a batch is stored, its counted events go to each tenant's
 * events topic with the log range they cover, and its changed buckets to their series topics.
 *
 * The bus is at most once, so a message names its range (partition, from, to]: a subscriber that
 * sees one not starting where it stands fills the gap from the stores (src/live/live-events.ts).
 * While this instance publishes a partition's batches one after another, a tenant's next message
 * starts where its last one ended, so batches without an event of the tenant cost its subscribers
 * nothing. A message the bus refuses is kept (merged per topic) and tried again, as a doorbell
 * ("this range is stored, read it") for events and as the merged buckets for series.
 */
import { liveTopics, type LiveBus } from '../ports/live-bus.ts';
import type { StoredEvent } from '../domain/event.ts';
import type { Interval } from '../domain/interval.ts';
import { encodeLiveMessage, mergeUnpublished, type EventsMessage, type LiveTopic, type SeriesMessage } from '../domain/live-messages.ts';
import type { CountedEvent, mergeIntoRollups } from './rollup-plan.ts';

/** How often live messages that could not be published are tried again: a bus outage lasts seconds. */
export const REPUBLISH_EVERY_MS = 1_000;
/** Live messages kept for a retry: one per topic (merged), so this bounds the topics, not the traffic. */
const MAX_UNPUBLISHED_TOPICS = 10_000;
/**
 * Tenants whose last message this instance remembers per partition. Forgetting costs only a
 * store read per subscriber (its next message starts at its batch), so the bound is memory's.
 */
const MAX_ANNOUNCED_TENANTS = 10_000;

export interface LivePublisherOptions {
  liveBus: LiveBus;
  logger: { warn(object: object, message: string): void; error(object: object, message: string): void };
  /** The watermark series messages carry: the one shown (the processor's). */
  watermark(): number | null;
}

export interface LivePublisher {
  /** Publishes a stored batch's updates; never rejects (a refused message is kept for a retry). */
  publish(
    partition: number,
    firstOffset: number,
    lastOffset: number,
    counted: CountedEvent[],
    changedRollups: ReturnType<typeof mergeIntoRollups>,
  ): Promise<void>;
  /** Tries the refused messages again, oldest first; stops at the first the bus still refuses. */
  retryUnpublished(): Promise<void>;
}

export function createLivePublisher(options: LivePublisherOptions): LivePublisher {
  const { liveBus, logger } = options;
  /**
   * Per partition, what this instance announced on the bus: the last offset of the last batch
   * it published, and per tenant where that tenant's last message ended. While batches follow
   * each other in one instance, a tenant's next message starts where its last one ended: the
   * batches in between held nothing of the tenant, so its subscribers, who heard nothing, have
   * no gap to fill.
   */
  const announced = new Map<number, { through: number; tenantFrom: Map<string, number> }>();
  /** Live messages the bus refused, to try again: by topic (events: per partition). */
  const unpublished = new Map<string, { topic: string; message: EventsMessage | SeriesMessage }>();

  /**
   * Publishes the batch's live updates: per tenant its counted events with the range they cover,
   * per (tenant, interval, type) the changed buckets. The bus is best effort: the data is stored,
   * so a failed publish does not fail the batch; it is kept and tried again (retryUnpublished),
   * and the tenant's next message starts at its batch, so its subscribers see the gap and read it.
   */
  async function publish(
    partition: number,
    firstOffset: number,
    lastOffset: number,
    counted: CountedEvent[],
    changedRollups: ReturnType<typeof mergeIntoRollups>,
  ): Promise<void> {
    let partitionState = announced.get(partition);
    // Another instance may have processed the records in between: nothing is known of them.
    if (!partitionState || partitionState.through !== firstOffset - 1) {
      partitionState = { through: firstOffset - 1, tenantFrom: new Map() };
      announced.set(partition, partitionState);
    }
    if (partitionState.tenantFrom.size > MAX_ANNOUNCED_TENANTS) partitionState.tenantFrom.clear();
    const eventsByTenant = new Map<string, StoredEvent[]>();
    for (const { event } of counted) {
      const list = eventsByTenant.get(event.tenant) ?? [];
      list.push(event);
      eventsByTenant.set(event.tenant, list);
    }
    const watermark = options.watermark();
    const bucketsByTopic = new Map<LiveTopic<SeriesMessage>, SeriesMessage>();
    for (const row of changedRollups) {
      const topic = liveTopics.series(row.tenant, row.interval as Interval, row.type);
      let message = bucketsByTopic.get(topic);
      if (!message) bucketsByTopic.set(topic, (message = { watermark, buckets: [] }));
      message.buckets.push({ start: row.bucketStart, dimensions: row.dimensions });
    }
    const publications: Promise<void>[] = [];
    for (const [tenant, events] of eventsByTenant) {
      const message: EventsMessage = { partition, from: partitionState.tenantFrom.get(tenant) ?? firstOffset - 1, to: lastOffset, events };
      const tenantFrom = partitionState.tenantFrom;
      publications.push(
        liveBus.publish(liveTopics.events(tenant), encodeLiveMessage(message)).then(
          () => {
            tenantFrom.set(tenant, lastOffset);
          },
          (error: unknown) => {
            tenantFrom.delete(tenant);
            keepUnpublished(liveTopics.events(tenant), { ...message, events: null });
            throw error;
          },
        ),
      );
    }
    for (const [topic, message] of bucketsByTopic) {
      publications.push(
        liveBus.publish(topic, encodeLiveMessage(message)).catch((error: unknown) => {
          keepUnpublished(topic, message);
          throw error;
        }),
      );
    }
    const results = await Promise.allSettled(publications);
    partitionState.through = lastOffset;
    for (const result of results) {
      if (result.status === 'rejected') logger.warn({ err: result.reason }, 'a live update could not be published; it will be tried again');
    }
  }

  /** Keeps a refused message for a retry, merged with what its topic already waits with. */
  function keepUnpublished(topic: string, message: EventsMessage | SeriesMessage): void {
    const key = 'partition' in message ? `${topic}\u0000${message.partition}` : topic;
    const waiting = unpublished.get(key)?.message;
    if (!waiting && unpublished.size >= MAX_UNPUBLISHED_TOPICS) {
      logger.error({ topic }, 'too many live updates wait for the bus; this one is dropped (subscribers catch up by their periodic check)');
      return;
    }
    unpublished.set(key, { topic, message: waiting ? mergeUnpublished(waiting, message) : message });
  }

  async function retryUnpublished(): Promise<void> {
    for (const [key, { topic, message }] of [...unpublished]) {
      try {
        // The topic was bound to its message's type when the message was first published.
        const text: string = 'partition' in message ? encodeLiveMessage(message) : encodeLiveMessage(message);
        await liveBus.publish(topic, text);
        if (unpublished.get(key)?.message === message) unpublished.delete(key);
      } catch {
        // Still refused (the bus is down): the next round tries again.
        return;
      }
    }
  }

  return { publish, retryUnpublished };
}
