/**
 * The catalog entry of a type as an access token with conditions sees it. The stored catalog
 * counts every event of the type, whoever it belongs to, so it cannot answer for a slice; the
 * rollup rows can, because each row is one combination of dimension values, which the slice's
 * conditions decide exactly as they decide an event (matchesConditions).
 *
 * - count, dimension keys and value keys: from the type's DAY rows that match the slice, over the
 *   days the whole type's catalog spans (the fewest rows that hold every event).
 * - firstSeen and lastSeen: the first minute of the first matching day, and the last minute of
 *   the last one, read from MINUTE rows: to the minute (the start of that minute), which is as
 *   precise as a rollup row is. An event time of another end user in the same minute is never told.
 *
 * Every row read is spent from the operation's query budget, so a long history is refused with
 * QUERY_TOO_LARGE rather than read whole.
 */
import { matchesConditions } from '../domain/dimension-conditions.ts';
import { bucketEnd, bucketStart } from '../domain/interval.ts';
import type { RollupRow, SeriesStore } from '../ports/series-store.ts';
import { capCatalogKeys } from '../stream/rollup-plan.ts';
import type { TenantAccess } from '../auth/tenant-access.ts';
import type { QueryBudget } from './query-limits.ts';
import type { EventTypeSummary } from './event-type-summary.ts';

/** What the rows of the slice say about the type, or null when the slice holds none of its events. Pure. */
export function summarizeRows(
  type: string,
  dayRows: readonly RollupRow[],
):
  | (Omit<EventTypeSummary, 'firstSeen' | 'lastSeen'> & {
      firstDay: number;
      lastDay: number;
    })
  | null {
  let count = 0;
  let firstDay = Infinity;
  let lastDay = -Infinity;
  const dimensions = new Set<string>();
  const values = new Set<string>();
  for (const row of dayRows) {
    if (row.aggregate.count === 0) continue;
    count += row.aggregate.count;
    firstDay = Math.min(firstDay, row.bucketStart);
    lastDay = Math.max(lastDay, row.bucketStart);
    for (const key of Object.keys(row.dimensions)) dimensions.add(key);
    for (const key of row.aggregate.values.keys()) values.add(key);
  }
  if (count === 0) return null;
  const cappedDimensions = capCatalogKeys([...dimensions].sort());
  const cappedValues = capCatalogKeys([...values].sort());
  return {
    type,
    count,
    firstDay,
    lastDay,
    dimensions: cappedDimensions.kept,
    values: cappedValues.kept,
    droppedDimensionKeys: cappedDimensions.cut,
    droppedValueKeys: cappedValues.cut,
  };
}

export async function summarizeSlice(
  seriesStore: SeriesStore,
  access: TenantAccess,
  whole: EventTypeSummary,
  budget: QueryBudget,
): Promise<EventTypeSummary | null> {
  const where = access.slice.where;
  const read = async (interval: 'DAY' | 'MINUTE', from: number, to: number, valueKey: null | undefined) => {
    const rows = await seriesStore.readRollups({
      tenant: access.tenant,
      type: whole.type,
      interval,
      from,
      to,
      // DAY rows name the value keys (absent: every value's statistics); MINUTE rows only their minute.
      ...(valueKey === null ? { valueKey: null } : {}),
      maxRows: budget.rowsLeft(),
    });
    budget.spendRows(rows.length, `the catalog of type ${whole.type} within the access token's slice reads rollup rows`);
    return rows.filter((row) => matchesConditions(row.dimensions, where));
  };
  const days = await read('DAY', bucketStart(whole.firstSeen, 'DAY'), bucketEnd(bucketStart(whole.lastSeen, 'DAY'), 'DAY'), undefined);
  const summary = summarizeRows(whole.type, days);
  if (!summary) return null;
  const { firstDay, lastDay, ...rest } = summary;
  const minutesOf = (day: number) => read('MINUTE', day, bucketEnd(day, 'DAY'), null);
  const firstMinutes = (await minutesOf(firstDay)).filter((row) => row.aggregate.count > 0);
  const lastMinutes = firstDay === lastDay ? firstMinutes : (await minutesOf(lastDay)).filter((row) => row.aggregate.count > 0);
  // MINUTE rows are kept as long as DAY rows; should one be missing, the day is the answer's precision.
  const firstSeen = firstMinutes.reduce((earliest, row) => Math.min(earliest, row.bucketStart), Infinity);
  const lastSeen = lastMinutes.reduce((latest, row) => Math.max(latest, row.bucketStart), -Infinity);
  return {
    ...rest,
    firstSeen: Number.isFinite(firstSeen) ? firstSeen : firstDay,
    lastSeen: Number.isFinite(lastSeen) ? lastSeen : lastDay,
  };
}
