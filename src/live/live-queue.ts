/**
 * A subscriber's bounded queue: the only buffer between the live bus and one client's socket.
 *
 * Items pushed with a conflation key replace the pending item with the same key (a newer value
 * of the same series bucket makes the older one pointless). When more than `limit` items are
 * pending the queue fails instead of growing: a slow client never grows server memory.
 */
export interface LiveQueue<T> extends AsyncIterableIterator<T> {
  /** Returns false when the queue is over its limit (it has then failed with `overflowError`). */
  push(item: T, conflationKey?: string): boolean;
  /**
   * Waits for room, then pushes: for producers that can wait (a replay from the stores), so a
   * slow reader slows the replay down instead of failing. Resolves false if the queue closed.
   */
  pushWhenRoom(item: T): Promise<boolean>;
  fail(error: Error): void;
  /**
   * Resolves once the reader has taken every pending item and asked for the next one (so the
   * last item has been handed on), or the queue has closed: a graceful shutdown waits for it.
   */
  drained(): Promise<void>;
}

export function createLiveQueue<T>(options: {
  limit: number;
  overflowError: () => Error;
  /** Called once when the consumer stops reading (return, error, or end). */
  onClose: () => void | Promise<void>;
}): LiveQueue<T> {
  const pending = new Map<string, T>();
  let sequence = 0;
  let waiting: ((result: IteratorResult<T>) => void) | null = null;
  let failWaiting: ((error: Error) => void) | null = null;
  let failure: Error | null = null;
  /** The failure has been thrown to the reader once: the iterator is done from then on. */
  let failureReported = false;
  let closed = false;
  let drainWaiters: (() => void)[] = [];
  let roomWaiters: (() => void)[] = [];

  function settleRoomWaiters(): void {
    if (closed || failure || pending.size < options.limit) {
      for (const resolve of roomWaiters) resolve();
      roomWaiters = [];
    }
  }

  function settleDrainWaiters(): void {
    if (closed || failure || (pending.size === 0 && waiting)) {
      for (const resolve of drainWaiters) resolve();
      drainWaiters = [];
    }
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    pending.clear();
    settleDrainWaiters();
    settleRoomWaiters();
    await options.onClose();
  }

  const queue: LiveQueue<T> = {
    push(item, conflationKey) {
      if (closed || failure) return false;
      if (waiting) {
        const resolve = waiting;
        waiting = failWaiting = null;
        resolve({ value: item, done: false });
        return true;
      }
      const key = conflationKey ?? `#${sequence++}`;
      if (!pending.has(key) && pending.size >= options.limit) {
        queue.fail(options.overflowError());
        return false;
      }
      pending.set(key, item);
      return true;
    },
    async pushWhenRoom(item) {
      while (!closed && !failure && pending.size >= options.limit) {
        await new Promise<void>((resolve) => roomWaiters.push(resolve));
      }
      return queue.push(item);
    },
    fail(error) {
      if (closed || failure) return;
      failure = error;
      pending.clear();
      settleDrainWaiters();
      settleRoomWaiters();
      if (failWaiting) {
        const reject = failWaiting;
        waiting = failWaiting = null;
        reject(error);
      }
    },
    async next() {
      // An iterator that has thrown is finished: a reader that asks again (graphql-yoga turns a
      // thrown error into a result and asks for the next one) gets the end, never the error again.
      if (failureReported) return { value: undefined, done: true };
      if (failure) {
        failureReported = true;
        const error = failure;
        await close();
        throw error;
      }
      if (closed) return { value: undefined, done: true };
      const first = pending.entries().next();
      if (!first.done) {
        pending.delete(first.value[0]);
        settleRoomWaiters();
        return { value: first.value[1], done: false };
      }
      const nextItem = new Promise<IteratorResult<T>>((resolve, reject) => {
        waiting = resolve;
        failWaiting = (error) => {
          failureReported = true;
          void close().finally(() => reject(error));
        };
      });
      settleDrainWaiters();
      return nextItem;
    },
    async return() {
      if (waiting) {
        const resolve = waiting;
        waiting = failWaiting = null;
        resolve({ value: undefined, done: true });
      }
      await close();
      return { value: undefined, done: true };
    },
    async throw(error) {
      await close();
      throw error;
    },
    drained() {
      return new Promise<void>((resolve) => {
        drainWaiters.push(resolve);
        settleDrainWaiters();
      });
    },
    [Symbol.asyncIterator]() {
      return queue;
    },
  };
  return queue;
}
