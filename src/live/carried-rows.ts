/**
 * A rollup row carried by a series message, as the row the series store would have returned:
 * what live-series.ts and live-top.ts hold and merge in place of a store read.
 */
import { dimensionsKey } from '../domain/event.ts';
import type { Interval } from '../domain/interval.ts';
import type { CarriedRollupRow } from '../domain/live-messages.ts';
import { aggregateFromEncoded } from '../domain/rollup.ts';
import type { RollupRow } from '../ports/series-store.ts';

/** `value`: the one value the feed shows (its aggregate is decoded for that value only), or null. */
export function rollupRowOfCarried(
  carried: CarriedRollupRow,
  bucket: { tenant: string; type: string; interval: Interval; start: number },
  value: string | null,
): RollupRow {
  return {
    tenant: bucket.tenant,
    type: bucket.type,
    interval: bucket.interval,
    bucketStart: bucket.start,
    dimensionsKey: dimensionsKey(carried.dimensions),
    partition: carried.partition,
    dimensions: carried.dimensions,
    appliedOffset: carried.appliedOffset,
    aggregate: aggregateFromEncoded(carried.aggregate, value),
  };
}
