/**
 * The subscriptions this instance serves: whose each one is, and the queue it delivers through.
 * Only the live service (live-service.ts) holds a registry; the subscription kinds see one slot.
 *
 * A subscription first reserves a slot, which checks the tenant's limit and takes the slot in
 * one synchronous step: concurrent subscribes each see the others, so together they can never
 * overshoot the limit, whatever they await afterwards.
 *
 * The registry also keeps each subscription within the lifetime of its credential: one timer per
 * subscription opened under an access token ends it with TOKEN_EXPIRED at the token's expiry
 * (cleared when it ends), and a refresh of its graphql-ws connection either moves it under the new
 * credential (new expiry, new key for revocation) or ends it with FORBIDDEN
 * (connection-credentials.ts decides which).
 */
import type { Principal } from '../auth/authenticator.ts';
import type { DataSlice } from '../auth/data-slice.ts';
import { createLiveQueue, type LiveQueue } from './live-queue.ts';
import type { TenantAccess } from '../auth/tenant-access.ts';
import { expiryOf, refusalOfRenewal, tokenExpiredError, type ConnectionCredentials } from './connection-credentials.ts';

/**
 * Whose a live subscription is and what it may see: revoking the key, a tenant limit or a
 * token's expiry applies to it.
 */
export interface LiveSubscriber extends TenantAccess {
  keyId: string | null;
  /**
   * The caller it was opened by: an access token's expiry ends it, and a refresh is judged
   * against it. Absent: it never expires (callers that have no principal, e.g. unit tests).
   */
  openedUnder?: Principal;
  /** The graphql-ws connection it was opened on, whose credentials a refresh replaces; null over HTTP and SSE. */
  connection?: ConnectionCredentials | null;
  /** The most it can deliver (connection-credentials.ts subscriptionSlice); absent: all of `openedUnder`'s slice. */
  delivers?: DataSlice;
}

/** The place of one subscription in the registry, from its reservation until its queue closes. */
export interface SubscriptionSlot {
  /**
   * The subscription's queue, held by this slot: ending the key's subscriptions fails it, a
   * shutdown waits for it to drain, and closing it frees the slot. Open it before the first
   * await, so that nothing can end the subscription before it has a queue to end.
   */
  openQueue<T>(options: { limit: number; overflowError: () => Error; onClose: () => void | Promise<void> }): LiveQueue<T>;
  /** Frees the slot of a subscription that failed to open (no-op once freed). */
  release(): void;
}

export interface OpenSubscription {
  queue: LiveQueue<unknown>;
  subscriber: LiveSubscriber;
  /** The key whose revocation ends it now: the opening key's, or the key of the credential a refresh moved it under. */
  keyId: string | null;
}

export interface SubscriptionRegistry {
  /** Takes a slot for the subscriber, or throws what `checkLimit` throws when its tenant is at the limit. */
  reserve(subscriber: LiveSubscriber): SubscriptionSlot;
  /** Subscriptions held open, of every tenant or of one. */
  openCount(tenant?: string): number;
  /** The queues of the open subscriptions, with their subscribers. */
  queues(): OpenSubscription[];
  /**
   * The connection's credentials were replaced: each of its subscriptions goes on under the new
   * ones (new expiry, new key) or, when they no longer allow it, ends with FORBIDDEN.
   */
  followConnection(connection: ConnectionCredentials): void;
}

/**
 * The longest delay Node's timers take (2^31 - 1 ms, about 24.8 days; longer ones fire at once).
 * Tokens live at most 24 h, so this only guards a far expiry, which is checked again when it fires.
 */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** What an entry asks of its registry. */
interface RegistryInternals {
  /** The subscription has ended (or failed to open): it no longer counts. */
  release(entry: Entry): void;
  /** Its queue is open: it lives under its current credential from now on. */
  opened(entry: Entry): void;
}

type QueueOptions = Parameters<SubscriptionSlot['openQueue']>[0];

/**
 * One subscription of the registry: its slot, and the options of its queue (which calls its
 * `onClose`). One object with shared methods rather than a slot, an options object and closures
 * per subscription (benchmark P6: memory per subscriber).
 */
class Entry implements SubscriptionSlot {
  readonly subscriber: LiveSubscriber;
  queue: LiveQueue<unknown> | null = null;
  keyId: string | null;
  expiryTimer: NodeJS.Timeout | null = null;
  /** The queue's options, as the subscription kind gave them (onClose: see below). */
  limit = 0;
  overflowError: () => Error = () => new Error('no queue');
  private closeQueue: QueueOptions['onClose'] | null = null;
  private readonly registry: RegistryInternals;

  constructor(subscriber: LiveSubscriber, registry: RegistryInternals) {
    this.subscriber = subscriber;
    this.keyId = subscriber.keyId;
    this.registry = registry;
  }

  openQueue<T>(options: QueueOptions): LiveQueue<T> {
    this.limit = options.limit;
    this.overflowError = options.overflowError;
    this.closeQueue = options.onClose;
    // This entry is the queue's options: its onClose frees the slot, then runs the kind's own.
    const queue = createLiveQueue<T>(this);
    this.queue = queue as LiveQueue<unknown>;
    this.registry.opened(this);
    return queue;
  }

  onClose(): void | Promise<void> {
    this.release();
    return this.closeQueue?.();
  }

  release(): void {
    this.registry.release(this);
  }
}

export function createSubscriptionRegistry(
  checkLimit: (tenant: string, open: number) => void,
  now: () => number = Date.now,
): SubscriptionRegistry {
  const entries = new Set<Entry>();
  /**
   * The entries of each graphql-ws connection: a refresh visits its own subscriptions, not the
   * instance's. A connection with one subscription (the usual case) holds its entry itself, not
   * a set of one (about 350 bytes per connection: benchmark P6).
   */
  const byConnection = new Map<ConnectionCredentials, Entry | Set<Entry>>();
  const entriesOf = (connection: ConnectionCredentials): Iterable<Entry> => {
    const held = byConnection.get(connection);
    return held === undefined ? [] : held instanceof Set ? held : [held];
  };

  function openCount(tenant?: string): number {
    if (tenant === undefined) return entries.size;
    let open = 0;
    for (const entry of entries) if (entry.subscriber.tenant === tenant) open += 1;
    return open;
  }

  function clearExpiry(entry: Entry): void {
    if (entry.expiryTimer) clearTimeout(entry.expiryTimer);
    entry.expiryTimer = null;
  }

  /** Ends the subscription with TOKEN_EXPIRED at `expiresAt` (null: never), replacing any earlier timer. */
  function expireAt(entry: Entry, expiresAt: number | null): void {
    clearExpiry(entry);
    if (expiresAt === null) return;
    const check = () => {
      const left = expiresAt - now();
      if (left <= 0) {
        entry.expiryTimer = null;
        entry.queue?.fail(tokenExpiredError());
        return;
      }
      entry.expiryTimer = setTimeout(check, Math.min(left, MAX_TIMER_DELAY_MS));
      // An expiry never keeps the process alive by itself.
      entry.expiryTimer.unref();
    };
    check();
  }

  /**
   * Puts an open subscription under `current`, the credential it now lives by: the one it was
   * opened under, or its connection's after a refresh (also one that happened while it was
   * opening, so a refresh never misses a subscription still on its way in).
   */
  function liveUnder(entry: Entry, current: Principal): void {
    const { openedUnder } = entry.subscriber;
    if (!entry.queue || !openedUnder) return;
    const refusal = current === openedUnder ? null : refusalOfRenewal(openedUnder, current, entry.subscriber.delivers);
    if (refusal) {
      clearExpiry(entry);
      entry.queue.fail(refusal);
      return;
    }
    entry.keyId = current.keyId;
    expireAt(entry, expiryOf(current));
  }

  const internals: RegistryInternals = {
    release(entry) {
      clearExpiry(entry);
      entries.delete(entry);
      const { connection } = entry.subscriber;
      const held = connection ? byConnection.get(connection) : undefined;
      if (held === entry || (held instanceof Set && held.delete(entry) && held.size === 0)) byConnection.delete(connection!);
    },
    opened(entry) {
      const current = entry.subscriber.connection?.principal ?? entry.subscriber.openedUnder;
      if (current) liveUnder(entry, current);
    },
  };

  return {
    reserve(subscriber) {
      checkLimit(subscriber.tenant, openCount(subscriber.tenant));
      const entry = new Entry(subscriber, internals);
      entries.add(entry);
      const { connection } = subscriber;
      if (connection) {
        const held = byConnection.get(connection);
        if (held === undefined) byConnection.set(connection, entry);
        else if (held instanceof Set) held.add(entry);
        else byConnection.set(connection, new Set([held, entry]));
      }
      return entry;
    },
    openCount,
    queues() {
      const open: OpenSubscription[] = [];
      for (const { queue, subscriber, keyId } of entries) if (queue) open.push({ queue, subscriber, keyId });
      return open;
    },
    followConnection(connection) {
      // A copy: ending a subscription here releases its entry from the set being visited.
      for (const entry of [...entriesOf(connection)]) liveUnder(entry, connection.principal);
    },
  };
}
