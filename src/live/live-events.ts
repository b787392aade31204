/**
 * The events subscription: a replay from the event store from a stream position, then the
 * live events from the bus, through one bounded queue, with no gap and no duplicate, even when
 * the bus loses messages.
 *
 * The subscription keeps its coverage: per log partition, the offset through which every
 * counted event of its tenant has been offered to it (event-coverage.ts). It subscribes to the
 * live topic first, then reads where the stores stand (the "stored through" offset of every
 * partition), replays the stored events from its starting position up to there (never further:
 * claims of a batch still in flight are visible before the batch is stored, and its live message
 * comes later), and then takes the live messages in order. Each message says which range of
 * its partition it covers; one that does not start where the subscription stands leaves a gap,
 * which is read from the store before the message's events are offered. When the bus says it
 * may have lost messages, and when a periodic check finds the subscription behind what was
 * stored a while ago, it reads from the store up to the stored position. Work that must wait
 * for a store read (a gap, a fill) queues behind it in arrival order, so events are offered in
 * log order per partition; a message that continues the coverage while nothing waits is offered
 * at once, with no store read.
 * Without `after`, the subscription starts where the stores stand now.
 */
import type { StoredEvent } from '../domain/event.ts';
import type { EventStore } from '../ports/event-store.ts';
import { liveTopics, type LiveBus } from '../ports/live-bus.ts';
import { checkCursorAge, decodeStreamCursorWithAge, encodeStreamCursor, type CursorSeal } from '../query/cursors.ts';
import { isWholeTenant } from '../auth/data-slice.ts';
import { matchesEventQuery, toEventQuery, type EventFilterInput } from '../query/event-filter.ts';
import { decodeEventsMessage, type EventsMessage } from '../domain/live-messages.ts';
import { behindStored, completeThrough, planMessage } from './event-coverage.ts';
import type { StoredPosition, StoredPositionReader } from './stored-position.ts';
import type { LiveQueue } from './live-queue.ts';
import type { SubscriptionSlot } from './subscription-registry.ts';
import { narrowEventQuery, type TenantAccess } from '../auth/tenant-access.ts';
import { StreamlensError, unavailable } from '../errors.ts';

export interface LiveEventEdge {
  cursor: string;
  node: StoredEvent;
}

/** An open events subscription, as the periodic check of the live service sees it. */
export interface EventsFollower {
  /**
   * Reads from the store whatever the subscription has not been offered up to `stored`, a
   * stored position read at least one check period ago: its live messages are long due, so if
   * the subscription is still behind it, they were lost (or covered nothing of its tenant).
   */
  catchUpTo(stored: StoredPosition): void;
}

export interface EventsSubscriptionDependencies {
  liveBus: LiveBus;
  eventStore: EventStore;
  /** Where the stores stand; callers of the same moment share one read. */
  storedPosition: StoredPositionReader;
  /** The open subscriptions, for the periodic check: each is in it while it is open. */
  followers: Set<EventsFollower>;
  /** Limit of one subscriber's queue, and of the events waiting behind a store read. */
  maxPendingEvents: number;
  /** EVENT_RETENTION: a resume from a cursor older than this is refused; null: kept forever. */
  eventRetentionMs: number | null;
  /** Seals the cursors a token with a slice is given, and opens them again (cursors.ts CursorSeal). */
  cursorSeal: CursorSeal;
}

/** Events read from the store per replay query. */
const REPLAY_PAGE_SIZE = 500;

function tooSlow(): StreamlensError {
  return new StreamlensError(
    'SUBSCRIBER_TOO_SLOW',
    'this subscriber fell too far behind; subscribe again with `after` set to the last cursor it received',
  );
}

/** What waits behind a store read, in arrival order. */
type Work =
  | { kind: 'message'; message: EventsMessage }
  /** Read the store up to these offsets; null: up to where the stores stand when the read starts. */
  | { kind: 'fill'; through: StoredPosition | null };

/**
 * Opens an events subscription in the slot reserved for it; `resumeFrom` is a cursor it
 * returned (or a query's streamCursor), or null to start where the stores stand now.
 */
export async function openEventsSubscription(
  dependencies: EventsSubscriptionDependencies,
  slot: SubscriptionSlot,
  access: TenantAccess,
  filter: EventFilterInput | null | undefined,
  resumeFrom: string | null,
): Promise<AsyncIterable<LiveEventEdge>> {
  const { liveBus, eventStore, storedPosition, followers, maxPendingEvents } = dependencies;
  const { tenant } = access;
  // The filter within the caller's slice: the replay and the live events both match it.
  const query = narrowEventQuery(access, toEventQuery(tenant, filter));
  const resumed = resumeFrom ? decodeStreamCursorWithAge(dependencies.cursorSeal.open(resumeFrom)) : null;
  if (resumed) checkCursorAge(resumed, dependencies.eventRetentionMs, Date.now());

  /** Per partition, the offset through which every counted event has been offered (event-coverage.ts). */
  const coverage = new Map<number, number>();
  /** Whether the replay is done: until then, live messages wait in `backlog`. */
  let started = false;
  const backlog: Work[] = [];
  /** Events held in `backlog`, bounded like the queue. */
  let backlogEvents = 0;
  let pumping = false;
  let closed = false;

  const follower: EventsFollower = {
    catchUpTo(stored) {
      if (!started || closed) return;
      const behind = behindStored(coverage, stored);
      if (behind.size > 0) enqueue({ kind: 'fill', through: behind });
    },
  };
  let unsubscribe: () => Promise<void> = async () => {};
  const queue: LiveQueue<LiveEventEdge> = slot.openQueue<LiveEventEdge>({
    limit: maxPendingEvents,
    overflowError: tooSlow,
    onClose: () => {
      closed = true;
      followers.delete(follower);
      return unsubscribe();
    },
  });

  /** Moves the coverage past the event; the edge to deliver when it matches, else null. */
  function offer(event: StoredEvent): LiveEventEdge | null {
    coverage.set(event.position.partition, event.position.offset);
    // Later records of the partition were received after this one: the cursor's age (cursors.ts).
    if (!matchesEventQuery(event, query)) return null;
    const cursor = encodeStreamCursor(coverage, event.receivedAt);
    // Its offsets count every event of the partitions: sealed for a token, so they cannot count other customers'.
    return { cursor: isWholeTenant(access.slice) ? cursor : dependencies.cursorSeal.seal(cursor), node: event };
  }

  function advance(partition: number, through: number): void {
    if (through > completeThrough(coverage, partition)) coverage.set(partition, through);
  }

  /** Reads the stored events above the coverage, up to `through` per partition, and offers them. False once the queue closed. */
  async function fill(through: StoredPosition): Promise<boolean> {
    if (through.size === 0) return true;
    for (;;) {
      const page = await eventStore.listAfterPositions(tenant, coverage, REPLAY_PAGE_SIZE, through);
      for (const event of page) {
        if (event.position.offset <= completeThrough(coverage, event.position.partition)) continue;
        const edge = offer(event);
        if (edge && !(await queue.pushWhenRoom(edge))) return false;
      }
      if (page.length < REPLAY_PAGE_SIZE) break;
    }
    for (const [partition, offset] of through) advance(partition, offset);
    return true;
  }

  /** Takes the queued work in order, reading the store where needed. */
  async function pump(): Promise<void> {
    pumping = true;
    try {
      while (backlog.length > 0 && !closed) {
        const work = backlog.shift()!;
        if (work.kind === 'fill') {
          const stored = work.through ?? (await storedPosition());
          if (!(await fill(behindStored(coverage, stored)))) return;
          continue;
        }
        const { message } = work;
        backlogEvents -= message.events?.length ?? 0;
        const plan = planMessage(completeThrough(coverage, message.partition), message);
        if (plan.fillThrough !== null && !(await fill(new Map([[message.partition, plan.fillThrough]])))) return;
        for (const event of plan.events) {
          if (event.position.offset <= completeThrough(coverage, message.partition)) continue;
          const edge = offer(event);
          if (edge && !(await queue.pushWhenRoom(edge))) return;
        }
        advance(message.partition, plan.advanceTo);
      }
    } catch (error) {
      queue.fail(unavailable('the events subscription could not read history; subscribe again to continue', error));
    } finally {
      pumping = false;
    }
  }

  function enqueue(work: Work): void {
    if (closed) return;
    const last = backlog.at(-1);
    // A fill up to the stored position already waiting covers this one too.
    if (work.kind === 'fill' && work.through === null && last?.kind === 'fill' && last.through === null) return;
    backlog.push(work);
    if (work.kind === 'message') {
      backlogEvents += work.message.events?.length ?? 0;
      // The store reads are taking long and live traffic is heavy: better to start over later.
      if (backlogEvents > maxPendingEvents) {
        queue.fail(tooSlow());
        return;
      }
    }
    if (started && !pumping) void pump();
  }

  function onLiveMessage(text: string): void {
    if (closed) return;
    const message = decodeEventsMessage(text);
    if (started && !pumping && backlog.length === 0) {
      const standsAt = completeThrough(coverage, message.partition);
      const plan = planMessage(standsAt, message);
      if (plan.fillThrough === null) {
        // The common case: the message continues the coverage, so it is offered at once.
        for (const event of plan.events) {
          const edge = offer(event);
          if (edge && !queue.push(edge)) return;
        }
        advance(message.partition, plan.advanceTo);
        return;
      }
    }
    enqueue({ kind: 'message', message });
  }

  unsubscribe = await liveBus.subscribe(liveTopics.events(tenant), onLiveMessage, () => enqueue({ kind: 'fill', through: null }));
  followers.add(follower);

  void (async () => {
    try {
      // Read after the bus subscription is active: every batch stored later is announced to it.
      const stored = await storedPosition();
      for (const [partition, offset] of resumed?.position ?? stored) coverage.set(partition, offset);
      // The replay reads only what is stored; the rest comes live (or by a gap's fill).
      if (!(await fill(behindStored(coverage, stored)))) return;
      started = true;
      await pump();
    } catch (error) {
      queue.fail(unavailable('the events subscription could not read history; subscribe again to continue', error));
    }
  })();
  return queue;
}
