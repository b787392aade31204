import { describe, expect, it } from 'vitest';
import { createSharedFeeds, type SharedFeed } from '../../src/live/shared-feeds.ts';

/** A feed that knows its subscribers and counts its closes; `close()` resolves when `finishClosing` is called. */
class FakeFeed implements SharedFeed {
  closed = false;
  closes = 0;
  readonly subscribers = new Set<string>();
  readonly name: string;
  private finish: () => void = () => {};
  constructor(name: string) {
    this.name = name;
  }
  inUse(): boolean {
    return this.subscribers.size > 0;
  }
  close(): Promise<void> {
    this.closed = true;
    this.closes += 1;
    return new Promise((resolve) => {
      this.finish = resolve;
    });
  }
  finishClosing(): void {
    this.finish();
  }
}

/** Lets every pending continuation run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Shared feeds whose openings the test settles itself, and subscribers that join and leave them as the subscription kinds do. */
function sharedFakeFeeds() {
  const feeds = createSharedFeeds<FakeFeed>();
  const openings: ((outcome: FakeFeed | Error) => void)[] = [];
  const open = () =>
    new Promise<FakeFeed>((resolve, reject) => {
      openings.push((outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome)));
    });
  const join = async (key: string, subscriber: string) => {
    const feed = await feeds.acquire(key, open);
    feed.subscribers.add(subscriber);
    return feed;
  };
  const leave = (feed: FakeFeed, subscriber: string) => {
    feed.subscribers.delete(subscriber);
    return feeds.release(feed);
  };
  /** Once the subscribers on their way have reached their opening: the latest opening resolves with a new feed. */
  const openNext = async () => {
    await settle();
    const feed = new FakeFeed(`feed-${openings.length}`);
    openings.at(-1)!(feed);
    return feed;
  };
  /** `subscriber` alone in a feed opened for it. */
  const joinNew = async (key: string, subscriber: string) => {
    const joined = join(key, subscriber);
    const feed = await openNext();
    expect(await joined).toBe(feed);
    return feed;
  };
  return { feeds, join, leave, openNext, joinNew, openings, opened: () => openings.length };
}

describe('shared feeds', () => {
  it('share one opening between concurrent first subscribers, and keep other keys apart', async () => {
    const { feeds, join, joinNew, openNext, opened } = sharedFakeFeeds();
    const first = join('a', 'first');
    const second = join('a', 'second');
    const feed = await openNext();
    expect(opened()).toBe(1);
    expect(await first).toBe(feed);
    expect(await second).toBe(feed);
    expect([...feed.subscribers]).toEqual(['first', 'second']);

    const other = await joinNew('b', 'other');
    expect(other).not.toBe(feed);
    expect(opened()).toBe(2);
    expect(feeds.handedOut().map((handed) => handed.name)).toEqual(['feed-1', 'feed-2']);
  });

  it('forget an opening that failed: every waiter gets its error, and the next subscriber opens anew', async () => {
    const { feeds, join, joinNew, openings, opened } = sharedFakeFeeds();
    const first = join('a', 'first');
    const second = join('a', 'second');
    await settle();
    const refused = new Error('the bus refused the subscription');
    openings[0]!(refused);
    await expect(first).rejects.toBe(refused);
    await expect(second).rejects.toBe(refused);
    expect(feeds.handedOut()).toEqual([]);

    await joinNew('a', 'third');
    expect(opened()).toBe(2);
  });

  it('close a feed when the subscriber leaving it leaves it unused, once, and open a new one for the next', async () => {
    const { feeds, join, leave, joinNew, opened } = sharedFakeFeeds();
    const feed = await joinNew('a', 'first');
    expect(await join('a', 'second')).toBe(feed);

    await leave(feed, 'first');
    expect(feed.closes).toBe(0);
    const lastLeft = leave(feed, 'second');
    expect(feed.closes).toBe(1);
    expect(feeds.handedOut()).toEqual([]);
    feed.finishClosing();
    await lastLeft;
    // A release that finds the feed released already closes nothing again.
    await feeds.release(feed);
    expect(feed.closes).toBe(1);

    expect(await joinNew('a', 'third')).not.toBe(feed);
    expect(opened()).toBe(2);
  });

  it('give a subscriber that arrives while the feed is closing a new feed, even one already waiting for the old one', async () => {
    const { join, leave, joinNew, openNext, opened } = sharedFakeFeeds();
    const feed = await joinNew('a', 'first');

    // Waits for the open feed, and resumes only after its last subscriber has left it.
    const waiting = join('a', 'waiting');
    const left = leave(feed, 'first');
    expect(feed.closed).toBe(true);
    // Arrives while the old feed is still closing.
    const arriving = join('a', 'arriving');
    const newFeed = await openNext();
    expect(opened()).toBe(2);
    expect(await waiting).toBe(newFeed);
    expect(await arriving).toBe(newFeed);
    expect([...feed.subscribers]).toEqual([]);
    expect([...newFeed.subscribers].sort()).toEqual(['arriving', 'waiting']);
    feed.finishClosing();
    await left;
    expect(feed.closes).toBe(1);
  });

  it("pass over a feed that stopped by itself for a new one, without its remaining subscribers' release touching the new one", async () => {
    const { feeds, join, leave, joinNew, opened } = sharedFakeFeeds();
    const failed = await joinNew('a', 'first');
    // As a top feed that failed: it stopped, and its subscriber has not left yet.
    failed.closed = true;

    const successor = await joinNew('a', 'second');
    expect(opened()).toBe(2);
    await leave(failed, 'first');
    expect(failed.closes).toBe(0);
    expect(await join('a', 'third')).toBe(successor);
    expect(opened()).toBe(2);
    expect(feeds.handedOut()).toEqual([successor]);
  });
});
