/**
 * Group commit: concurrent calls share one flush (one fsync, one produce request) instead of
 * queueing for one each. Both event logs append this way: the embedded log writes a group in
 * one SQLite transaction, the Kafka log sends it in one produce request (or a few, by size).
 *
 * - The calls of one tick leave together: the first call schedules a flush for the next turn of
 *   the event loop, and every call made until then joins it.
 * - One flush at a time: a call made while a flush runs waits for the next one, which starts as
 *   soon as the running one ends. Groups are flushed in call order, so appends that follow one
 *   another keep their order.
 * - Each caller learns its own group's outcome: a failed flush rejects exactly its callers, with
 *   the error it threw, and the next group is flushed all the same.
 */
export interface GroupCommit<Item> {
  /** Queues one call's item; settles when the flush that carries it does. */
  add(item: Item): Promise<void>;
  /** Settles once every item added so far is flushed (or failed). Never rejects. */
  flushed(): Promise<void>;
}

interface Pending<Item> {
  item: Item;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export function createGroupCommit<Item>(flush: (items: Item[]) => Promise<void> | void): GroupCommit<Item> {
  let queued: Pending<Item>[] = [];
  let draining: Promise<void> | null = null;

  async function drain(): Promise<void> {
    // The calls made in the same tick as the first one join its flush.
    await new Promise((resolve) => setImmediate(resolve));
    while (queued.length > 0) {
      const group = queued;
      queued = [];
      try {
        await flush(group.map((pending) => pending.item));
      } catch (error) {
        for (const pending of group) pending.reject(error);
        continue;
      }
      for (const pending of group) pending.resolve();
    }
    draining = null;
  }

  return {
    add(item) {
      return new Promise<void>((resolve, reject) => {
        queued.push({ item, resolve, reject });
        draining ??= drain();
      });
    },

    async flushed() {
      await draining;
    },
  };
}
