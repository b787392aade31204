/**
 * Where the stores stand: every partition's "stored through" offset (the processor's progress).
 * Every events subscription reads it when it starts and when the bus may have lost messages;
 * after a Redis reconnect that is every subscription at once, so callers of one moment share
 * one read of the progress instead of one each.
 *
 * A caller only joins a read that has not started yet: a read begun before the caller asked
 * could miss a batch stored just before the caller's reason to ask (a reconnect), and a
 * subscription relies on the position being read after that.
 */
import type { SeriesStore } from '../ports/series-store.ts';

export type StoredPosition = ReadonlyMap<number, number>;

export type StoredPositionReader = () => Promise<StoredPosition>;

export function createStoredPositionReader(seriesStore: Pick<SeriesStore, 'loadProgress'>): StoredPositionReader {
  /** The read scheduled for the next turn of the event loop, not started yet. */
  let scheduled: Promise<StoredPosition> | null = null;
  return () => {
    if (!scheduled) {
      scheduled = new Promise<StoredPosition>((resolve, reject) => {
        setImmediate(() => {
          scheduled = null;
          seriesStore
            .loadProgress()
            .then((progress) => resolve(new Map([...progress].map(([partition, p]) => [partition, p.storedThrough]))), reject);
        });
      });
    }
    return scheduled;
  };
}
