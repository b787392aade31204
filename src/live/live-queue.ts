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

interface LiveQueueOptions {
  limit: number;
  overflowError: () => Error;
  /** Called once when the consumer stops reading (return, error, or end). */
  onClose: () => void | Promise<void>;
}

export function createLiveQueue<T>(options: LiveQueueOptions): LiveQueue<T> {
  return new BoundedQueue<T>(options);
}

/**
 * A class rather than a closure per method: every open subscription holds one queue, and its
 * methods are then shared by all of them (benchmark P6: memory per subscriber).
 */
class BoundedQueue<T> implements LiveQueue<T> {
  private readonly options: LiveQueueOptions;
  /** Items not yet taken, by conflation key; made on the first item that waits (most subscribers idle with none). */
  private pending: Map<string, T> | null = null;
  private sequence = 0;
  private waiting: ((result: IteratorResult<T>) => void) | null = null;
  private failWaiting: ((error: Error) => void) | null = null;
  private failure: Error | null = null;
  /** The failure has been thrown to the reader once: the iterator is done from then on. */
  private failureReported = false;
  private closed = false;
  private drainWaiters: (() => void)[] | null = null;
  private roomWaiters: (() => void)[] | null = null;

  constructor(options: LiveQueueOptions) {
    this.options = options;
  }

  private pendingCount(): number {
    return this.pending?.size ?? 0;
  }

  private settleRoomWaiters(): void {
    if (this.roomWaiters && (this.closed || this.failure || this.pendingCount() < this.options.limit)) {
      for (const resolve of this.roomWaiters) resolve();
      this.roomWaiters = null;
    }
  }

  private settleDrainWaiters(): void {
    if (this.drainWaiters && (this.closed || this.failure || (this.pendingCount() === 0 && this.waiting))) {
      for (const resolve of this.drainWaiters) resolve();
      this.drainWaiters = null;
    }
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pending = null;
    this.settleDrainWaiters();
    this.settleRoomWaiters();
    await this.options.onClose();
  }

  push(item: T, conflationKey?: string): boolean {
    if (this.closed || this.failure) return false;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = this.failWaiting = null;
      resolve({ value: item, done: false });
      return true;
    }
    const key = conflationKey ?? `#${this.sequence++}`;
    const pending = (this.pending ??= new Map());
    if (!pending.has(key) && pending.size >= this.options.limit) {
      this.fail(this.options.overflowError());
      return false;
    }
    pending.set(key, item);
    return true;
  }

  async pushWhenRoom(item: T): Promise<boolean> {
    while (!this.closed && !this.failure && this.pendingCount() >= this.options.limit) {
      await new Promise<void>((resolve) => (this.roomWaiters ??= []).push(resolve));
    }
    return this.push(item);
  }

  fail(error: Error): void {
    if (this.closed || this.failure) return;
    this.failure = error;
    this.pending = null;
    this.settleDrainWaiters();
    this.settleRoomWaiters();
    if (this.failWaiting) {
      // The reader waits: it gets the error, once the queue has closed.
      const reject = this.failWaiting;
      this.waiting = this.failWaiting = null;
      this.failureReported = true;
      void this.close().finally(() => reject(error));
    }
  }

  async next(): Promise<IteratorResult<T>> {
    // An iterator that has thrown is finished: a reader that asks again (graphql-yoga turns a
    // thrown error into a result and asks for the next one) gets the end, never the error again.
    if (this.failureReported) return { value: undefined, done: true };
    if (this.failure) {
      this.failureReported = true;
      const error = this.failure;
      await this.close();
      throw error;
    }
    if (this.closed) return { value: undefined, done: true };
    const first = this.pending?.entries().next();
    if (first && !first.done) {
      this.pending!.delete(first.value[0]);
      this.settleRoomWaiters();
      return { value: first.value[1], done: false };
    }
    const nextItem = new Promise<IteratorResult<T>>((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiting = reject;
    });
    this.settleDrainWaiters();
    return nextItem;
  }

  async return(): Promise<IteratorResult<T>> {
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = this.failWaiting = null;
      resolve({ value: undefined, done: true });
    }
    await this.close();
    return { value: undefined, done: true };
  }

  async throw(error: unknown): Promise<IteratorResult<T>> {
    await this.close();
    throw error;
  }

  drained(): Promise<void> {
    return new Promise<void>((resolve) => {
      (this.drainWaiters ??= []).push(resolve);
      this.settleDrainWaiters();
    });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
