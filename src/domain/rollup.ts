/**
 * Rollup maths: how events become bucket aggregates, how aggregates merge, and how an aggregate
 * reads as a series point. Pure: no I/O, no clock.
 */
import type { DDSketch } from '@datadog/sketches-js';
import {
  decodeSketch,
  encodeSketch,
  isCanonicalStoredSketch,
  mergeSketch,
  newSketch,
  storedSketchQuantile,
  type EncodedSketch,
} from './sketch.ts';
import { DistinctSketch } from './distinct-sketch.ts';

/** Statistics of one key of `values` within one bucket. */
export interface ValueStats {
  count: number;
  /** Sum kept with Neumaier compensation, so merge order does not change the result. */
  sum: number;
  sumCompensation: number;
  min: number;
  max: number;
  sketch: DDSketch;
}

/**
 * What one bucket holds for one dimension combination. Value keys are chosen by clients, so
 * they live in a Map: in a plain object a key named `constructor` or `toString` would read a
 * member of Object.prototype instead of the key's statistics.
 */
export interface Aggregate {
  count: number;
  values: Map<string, ValueStats>;
  /**
   * One distinct-count sketch per key of the events' `distinct` (a Map for the same reason as
   * `values`). Only keys some event carried are present.
   */
  distinct: Map<string, DistinctSketch>;
}

export function emptyAggregate(): Aggregate {
  return { count: 0, values: new Map(), distinct: new Map() };
}

/** An event's distinct values, each hashed once (distinctHash), for the several rows it updates. */
export type DistinctHashes = ReadonlyArray<readonly [key: string, hash: number]>;

function sketchOf(aggregate: Aggregate, key: string): DistinctSketch {
  let sketch = aggregate.distinct.get(key);
  if (!sketch) aggregate.distinct.set(key, (sketch = new DistinctSketch()));
  return sketch;
}

function statsOf(aggregate: Aggregate, key: string): ValueStats {
  let stats = aggregate.values.get(key);
  if (!stats) aggregate.values.set(key, (stats = emptyValueStats()));
  return stats;
}

function addToSum(stats: ValueStats, addend: number): void {
  const total = stats.sum + addend;
  stats.sumCompensation += Math.abs(stats.sum) >= Math.abs(addend) ? stats.sum - total + addend : addend - total + stats.sum;
  stats.sum = total;
}

function emptyValueStats(): ValueStats {
  return { count: 0, sum: 0, sumCompensation: 0, min: Infinity, max: -Infinity, sketch: newSketch() };
}

/** Adds one event's measurements (and its hashed distinct values, if any) to the aggregate, in place. */
export function addEvent(aggregate: Aggregate, values: Record<string, number>, distinct: DistinctHashes = []): void {
  encodedTexts.delete(aggregate);
  aggregate.count += 1;
  for (const [key, hash] of distinct) sketchOf(aggregate, key).addHash(hash);
  // Object.entries reads only the event's own keys: a key named after a prototype member is data.
  for (const [key, value] of Object.entries(values)) {
    const stats = statsOf(aggregate, key);
    stats.count += 1;
    addToSum(stats, value);
    if (value < stats.min) stats.min = value;
    if (value > stats.max) stats.max = value;
    stats.sketch.accept(value);
  }
}

/** Merges `source` into `target`, in place. Merging is associative and commutative. */
export function mergeInto(target: Aggregate, source: Aggregate): void {
  encodedTexts.delete(target);
  target.count += source.count;
  for (const [key, stats] of source.values) mergeValue(target, key, stats);
  for (const [key, sketch] of source.distinct) sketchOf(target, key).merge(sketch);
}

/**
 * Merges the count, only one value's statistics (none when `valueKey` is null) and only one
 * distinct key's sketch (none when `distinctKey` is null or absent): queries merge many rows,
 * and merging (and decoding) sketches they will not read is the expensive part.
 */
export function mergeSelected(target: Aggregate, source: Aggregate, valueKey: string | null, distinctKey: string | null = null): void {
  encodedTexts.delete(target);
  target.count += source.count;
  const stats = valueKey === null ? undefined : source.values.get(valueKey);
  if (stats) mergeValue(target, valueKey!, stats);
  const sketch = distinctKey === null ? undefined : source.distinct.get(distinctKey);
  if (sketch) sketchOf(target, distinctKey!).merge(sketch);
}

/**
 * The number of different values of `distinctKey` in the aggregate (0 when no event carried
 * that key), or null when no key is asked for. Exact up to SPARSE_LIMIT values, within 2% at a
 * million (distinct-sketch.ts).
 */
export function distinctCount(aggregate: Aggregate, distinctKey: string | null | undefined): number | null {
  if (distinctKey == null) return null;
  return aggregate.distinct.get(distinctKey)?.estimate() ?? 0;
}

function mergeValue(target: Aggregate, key: string, stats: ValueStats): void {
  const into = statsOf(target, key);
  into.count += stats.count;
  addToSum(into, stats.sum);
  addToSum(into, stats.sumCompensation);
  into.min = Math.min(into.min, stats.min);
  into.max = Math.max(into.max, stats.max);
  mergeSketch(into.sketch, stats.sketch);
}

/** A deep copy: merging into an empty aggregate copies every sketch too. */
export function cloneAggregate(aggregate: Aggregate): Aggregate {
  const copy = emptyAggregate();
  mergeInto(copy, aggregate);
  return copy;
}

/** The exact sum of a value's measurements, as far as doubles allow. */
export function valueSum(stats: ValueStats): number {
  return stats.sum + stats.sumCompensation;
}

export interface PointStats {
  count: number;
  sum: number | null;
  min: number | null;
  max: number | null;
  avg: number | null;
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
}

/** Reads a point: the event count, and the statistics of `valueKey` when one is asked for. */
export function pointStats(aggregate: Aggregate, valueKey: string | null | undefined): PointStats {
  const stats = valueKey ? aggregate.values.get(valueKey) : undefined;
  if (!stats || stats.count === 0) {
    return { count: aggregate.count, sum: null, min: null, max: null, avg: null, p50: null, p90: null, p95: null, p99: null };
  }
  const sum = valueSum(stats);
  const storedSketch = stats instanceof StoredValueStats ? stats.untouchedStoredSketch() : null;
  return {
    count: aggregate.count,
    sum,
    min: stats.min,
    max: stats.max,
    avg: sum / stats.count,
    p50: clampedQuantile(stats, storedSketch, 0.5),
    p90: clampedQuantile(stats, storedSketch, 0.9),
    p95: clampedQuantile(stats, storedSketch, 0.95),
    p99: clampedQuantile(stats, storedSketch, 0.99),
  };
}

/**
 * The sketch answers within 1% of the true quantile; clamping to the exact min and max keeps p99
 * of a single value equal to that value instead of 1% above it. A sketch still in its stored
 * form is read as it is.
 */
function clampedQuantile(stats: ValueStats, storedSketch: EncodedSketch | null, quantile: number): number {
  const value = storedSketch ? storedSketchQuantile(storedSketch, quantile) : stats.sketch.getValueAtQuantile(quantile);
  return Math.min(stats.max, Math.max(stats.min, value));
}

interface EncodedValueStats {
  n: number;
  s: number;
  c: number;
  lo: number;
  hi: number;
  q: EncodedSketch;
}
/** The storage form of an aggregate, parsed: what encodeAggregate writes as JSON (and live messages carry). */
export interface EncodedAggregate {
  n: number;
  v: Record<string, EncodedValueStats>;
  /** Distinct sketches by key (DistinctSketch.encode); absent when no event carried one. */
  d?: Record<string, string>;
}

/**
 * The storage text of aggregates encoded since they last changed. A processed batch's rows are
 * written (the store encodes them) and then published (live messages carry the same text), so
 * the second encoding is a lookup. Every function here that changes an aggregate forgets its
 * text first; the processor forgets the texts of a batch once it is published (forgetEncoding),
 * so the rows it keeps between batches do not keep them too.
 */
const encodedTexts = new WeakMap<Aggregate, string>();

/** The storage form of an aggregate: compact JSON, the same for every store. */
export function encodeAggregate(aggregate: Aggregate): string {
  let text = encodedTexts.get(aggregate);
  if (text === undefined) {
    text = JSON.stringify(encodedAggregateOf(aggregate));
    encodedTexts.set(aggregate, text);
  }
  return text;
}

/** Drops the text encodeAggregate keeps for the aggregate (it is made again if asked for). */
export function forgetEncoding(aggregate: Aggregate): void {
  encodedTexts.delete(aggregate);
}

/** The storage form of an aggregate before it is written as JSON (a live message embeds it in its own). */
export function encodedAggregateOf(aggregate: Aggregate): EncodedAggregate {
  // JSON.stringify writes a key named `constructor` or `toString` like any other own key.
  const values: Record<string, EncodedValueStats> = {};
  for (const [key, stats] of aggregate.values) {
    values[key] = {
      n: stats.count,
      s: stats.sum,
      c: stats.sumCompensation,
      lo: stats.min,
      hi: stats.max,
      q: encodeSketch(stats.sketch),
    };
  }
  const encoded: EncodedAggregate = { n: aggregate.count, v: values };
  if (aggregate.distinct.size > 0) {
    const distinct: Record<string, string> = {};
    for (const [key, sketch] of aggregate.distinct) distinct[key] = sketch.encode();
    encoded.d = distinct;
  }
  return encoded;
}

/**
 * A value's statistics as read for a query: the sketch stays in its stored sparse form, and
 * becomes a DDSketch only when something asks for `sketch` (a merge of several rows, say). A
 * point read from one row, the common case at fine intervals, then never builds one: building
 * thousands of them per query was most of its garbage.
 */
class StoredValueStats implements ValueStats {
  count: number;
  sum: number;
  sumCompensation: number;
  min: number;
  max: number;
  #storedSketch: EncodedSketch;
  #sketch: DDSketch | null = null;

  constructor(stored: EncodedValueStats) {
    this.count = stored.n;
    this.sum = stored.s;
    this.sumCompensation = stored.c;
    this.min = stored.lo;
    this.max = stored.hi;
    this.#storedSketch = stored.q;
  }

  get sketch(): DDSketch {
    this.#sketch ??= decodeSketch(this.#storedSketch);
    return this.#sketch;
  }

  /** The stored form while no DDSketch was built from it; after that the sketch is the truth (it may have changed). */
  untouchedStoredSketch(): EncodedSketch | null {
    return this.#sketch === null ? this.#storedSketch : null;
  }
}

/**
 * The aggregate of a stored row. With `onlyValue`, only that value's statistics are decoded
 * (null: none): the sketches are the costly part, and a query reads one value at most; their
 * sketches are built only when needed (StoredValueStats). Distinct sketches stay their stored
 * text until something merges or reads them (DistinctSketch.fromStored), so a query that asks
 * for no distinct count decodes none.
 */
export function decodeAggregate(text: string, onlyValue?: string | null): Aggregate {
  return aggregateFromEncoded(JSON.parse(text) as EncodedAggregate, onlyValue);
}

/**
 * decodeAggregate of an already parsed storage form. The aggregate may share parts of `encoded`
 * (stored sketches), which nothing changes: several readers may decode the same parsed form.
 */
export function aggregateFromEncoded(encoded: EncodedAggregate, onlyValue?: string | null): Aggregate {
  const values = new Map<string, ValueStats>();
  if (onlyValue === undefined) {
    for (const [key, stats] of Object.entries(encoded.v)) values.set(key, decodedValueStats(stats));
  } else if (onlyValue !== null && Object.hasOwn(encoded.v, onlyValue)) {
    // Own keys only: `encoded.v` is a plain object, where `constructor` is always "present".
    const stats = encoded.v[onlyValue]!;
    values.set(onlyValue, isCanonicalStoredSketch(stats.q) ? new StoredValueStats(stats) : decodedValueStats(stats));
  }
  const distinct = new Map<string, DistinctSketch>();
  if (encoded.d) for (const [key, text] of Object.entries(encoded.d)) distinct.set(key, DistinctSketch.fromStored(text));
  return { count: encoded.n, values, distinct };
}

function decodedValueStats(stats: EncodedValueStats): ValueStats {
  return { count: stats.n, sum: stats.s, sumCompensation: stats.c, min: stats.lo, max: stats.hi, sketch: decodeSketch(stats.q) };
}
