/**
 * The feeds of one subscription kind (series, top) on this instance, shared by the subscribers
 * that ask for the same thing: every subscriber with the same key is served by one feed (one bus
 * subscription, one merge), opened for the first and closed when the last has left.
 *
 * - Concurrent first subscribers share one opening: the opening is remembered before it is
 *   awaited, so the second finds it and waits for the same feed.
 * - An opening that fails is forgotten: its waiters all get its error, and the next subscriber
 *   opens anew.
 * - A subscriber that leaves a feed nobody else is in (`inUse()` false) closes it, and the feed
 *   is forgotten at once (a key that is never asked for again holds nothing): a subscriber that
 *   arrives while it is closing, even one already waiting for it, gets a new feed, never the one
 *   that stopped listening.
 * - A feed that stopped by itself (top's, on a failure) is never handed out either: the next
 *   subscriber of its key opens a new one, and it is forgotten when its own subscribers have left.
 *
 * Which subscribers keep a feed open is the feed's to say (`inUse`): a subscriber still waiting
 * for an opening does not, and a series subscriber that has completed no longer does.
 */

/** What a shared feed must offer. */
export interface SharedFeed {
  /** True once it stopped listening; `close()` sets it before it first awaits. */
  readonly closed: boolean;
  /** True while a subscriber keeps it open. */
  inUse(): boolean;
  close(): Promise<void>;
}

export interface SharedFeeds<Feed extends SharedFeed> {
  /**
   * The open feed of `key`, opened with `open` when there is none (or when the one there has
   * stopped). Rejects with the opening's error when it fails. The caller takes its subscriber
   * into the feed before it next awaits, so that no release in between finds the feed unused.
   */
  acquire(key: string, open: () => Promise<Feed>): Promise<Feed>;
  /**
   * A subscriber has left `feed` (the feed has let it go): when nobody keeps it open any more it
   * is forgotten and closed (resolves once it has closed).
   */
  release(feed: Feed): Promise<void>;
  /** The feeds handed out and not released yet, in the order they were first handed out. */
  handedOut(): Feed[];
}

/** Where a handed-out feed is remembered. */
interface Place<Feed> {
  key: string;
  opening: Promise<Feed>;
}

export function createSharedFeeds<Feed extends SharedFeed>(): SharedFeeds<Feed> {
  /** The open (or opening) feed of each key. */
  const openings = new Map<string, Promise<Feed>>();
  const handed = new Map<Feed, Place<Feed>>();

  /** Forgets `opening` unless a newer opening has taken its key already. */
  const forget = (key: string, opening: Promise<Feed>) => {
    if (openings.get(key) === opening) openings.delete(key);
  };

  return {
    async acquire(key, open) {
      for (;;) {
        let opening = openings.get(key);
        if (!opening) {
          const opened = open();
          openings.set(key, opened);
          opened.catch(() => forget(key, opened));
          opening = opened;
        }
        const feed = await opening;
        if (!feed.closed) {
          if (!handed.has(feed)) handed.set(feed, { key, opening });
          return feed;
        }
        // It stopped (its last subscriber left while this one waited for it, or it failed): a new one.
        forget(key, opening);
      }
    },
    async release(feed) {
      const place = handed.get(feed);
      if (!place || feed.inUse()) return;
      handed.delete(feed);
      forget(place.key, place.opening);
      if (!feed.closed) await feed.close();
    },
    handedOut: () => [...handed.keys()],
  };
}
