/**
 * Series messages carry the changed rollup rows (src/domain/live-messages.ts): whole, with their
 * partition and appliedOffset, each within MAX_CARRIED_ROW_CHARS and the message within
 * MAX_CARRIED_MESSAGE_CHARS; a row past either bound is named as a doorbell instead, so every
 * changed row is in the message one way or the other. A message kept for a retry names its rows.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeSeriesMessage,
  encodeSeriesRows,
  MAX_CARRIED_MESSAGE_CHARS,
  MAX_CARRIED_ROW_CHARS,
  mergeUnpublished,
  type CarriedRollupRow,
  type ChangedRollupRow,
  type SeriesMessage,
} from '../../src/domain/live-messages.ts';
import { distinctHash, SPARSE_LIMIT } from '../../src/domain/distinct-sketch.ts';
import {
  addEvent,
  aggregateFromEncoded,
  emptyAggregate,
  encodeAggregate,
  pointStats,
  distinctCount,
  type EncodedAggregate,
} from '../../src/domain/rollup.ts';

function changedRow(start: number, dimensions: Record<string, string>, amounts: number[], partition = 0): ChangedRollupRow {
  const aggregate = emptyAggregate();
  for (const amount of amounts) addEvent(aggregate, { amount, constructor: amount * 2 });
  return { bucketStart: start, dimensions, partition, appliedOffset: 40 + amounts.length, aggregate };
}

describe('series messages with rows', () => {
  it('carry a small row whole: its bucket, dimensions, partition, offset and aggregate', () => {
    const dimensions = { country: 'N"L', constructor: 'x', 'emoji 🙂': '\u0000' };
    const { text, doorbells } = encodeSeriesRows(120_000, [changedRow(60_000, dimensions, [3, 4, 5], 2)]);
    expect(doorbells).toEqual([]);
    const message = decodeSeriesMessage(text);
    expect(message.watermark).toBe(120_000);
    expect(message.buckets).toEqual([]);
    expect(message.rows!.map(({ aggregate: _, ...row }) => row)).toEqual([{ start: 60_000, dimensions, partition: 2, appliedOffset: 43 }]);
    const aggregate = aggregateFromEncoded(message.rows![0]!.aggregate);
    expect(pointStats(aggregate, 'amount')).toMatchObject({ count: 3, sum: 12, min: 3, max: 5, avg: 4 });
    // A value key named after a prototype member is data, on the bus as in the store.
    expect(pointStats(aggregate, 'constructor')).toMatchObject({ count: 3, sum: 24 });
    // Decoding for one value keeps that one only, as a store read for a series does.
    expect([...aggregateFromEncoded(message.rows![0]!.aggregate, 'amount').values.keys()]).toEqual(['amount']);
  });

  it('carry a row exactly as the store encodes it', () => {
    const row = changedRow(60_000, { country: 'N"L', constructor: 'x' }, [3, 4], 1);
    const stored = encodeAggregate(row.aggregate);
    const { text } = encodeSeriesRows(null, [row]);
    const carried: CarriedRollupRow = {
      start: row.bucketStart,
      dimensions: row.dimensions,
      partition: row.partition,
      appliedOffset: row.appliedOffset,
      aggregate: JSON.parse(stored) as EncodedAggregate,
    };
    expect(text).toBe(`{"watermark":null,"buckets":[],"rows":[${JSON.stringify(carried)}]}`);
  });

  it('name a row too large to carry (a dense distinct sketch) as a doorbell, and carry the others', () => {
    const dense = emptyAggregate();
    for (let user = 0; user <= SPARSE_LIMIT; user++) addEvent(dense, {}, [['user', distinctHash(`user-${user}`)]]);
    expect(distinctCount(dense, 'user')).toBeGreaterThan(SPARSE_LIMIT * 0.9);
    const small = changedRow(0, { country: 'DE' }, [1]);
    const { text, doorbells } = encodeSeriesRows(null, [
      { bucketStart: 0, dimensions: { country: 'NL' }, partition: 1, appliedOffset: 9, aggregate: dense },
      small,
    ]);
    expect(doorbells).toEqual([{ start: 0, dimensions: { country: 'NL' } }]);
    const message = decodeSeriesMessage(text);
    expect(message.buckets).toEqual([{ start: 0, dimensions: { country: 'NL' } }]);
    expect(message.rows!.map((row) => row.dimensions)).toEqual([{ country: 'DE' }]);
    expect(text.length).toBeLessThan(MAX_CARRIED_ROW_CHARS);
  });

  it('carry rows up to the message bound and name the rest, so every changed row is in it once', () => {
    const rows = Array.from({ length: 3_000 }, (_, index) => changedRow(index * 1_000, { page: `page-${index}` }, [index, index + 1]));
    const { text, doorbells } = encodeSeriesRows(5, rows);
    const message = decodeSeriesMessage(text);
    expect(message.rows!.length).toBeGreaterThan(0);
    expect(doorbells.length).toBeGreaterThan(0);
    expect(message.buckets).toEqual(doorbells);
    // In the order given: the first rows carried, the rest named.
    expect([...message.rows!.map((row) => row.start), ...message.buckets.map((bucket) => bucket.start)]).toEqual(
      rows.map((row) => row.bucketStart),
    );
    expect(text.length).toBeLessThanOrEqual(MAX_CARRIED_MESSAGE_CHARS + JSON.stringify(doorbells).length + 64);
  });

  it('name the carried rows of two refused messages as doorbells, once each, for the retry', () => {
    const first = decodeSeriesMessage(encodeSeriesRows(10, [changedRow(0, { c: 'a' }, [1]), changedRow(0, { c: 'b' }, [1])]).text);
    const second: SeriesMessage = {
      watermark: 20,
      buckets: [
        { start: 0, dimensions: { c: 'a' } },
        { start: 1_000, dimensions: { c: 'a' } },
      ],
    };
    expect(mergeUnpublished(first, second)).toEqual({
      watermark: 20,
      buckets: [
        { start: 0, dimensions: { c: 'a' } },
        { start: 0, dimensions: { c: 'b' } },
        { start: 1_000, dimensions: { c: 'a' } },
      ],
    });
  });
});
