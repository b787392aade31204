/**
 * Quantile sketches (DDSketch, 1% relative accuracy) and their storage form.
 *
 * The library's own protobuf form stores every bin between the lowest and highest key, which
 * costs about 3 KB even for a handful of values; rollups keep one sketch per value key per
 * bucket per dimension combination, so we store only the non-empty bins instead.
 */
import { DDSketch } from '@datadog/sketches-js';

/** The relative accuracy promised by the product brief for p50/p90/p95/p99. */
export const SKETCH_RELATIVE_ACCURACY = 0.01;

export function newSketch(): DDSketch {
  return new DDSketch({ relativeAccuracy: SKETCH_RELATIVE_ACCURACY });
}

/**
 * Merges `from` into `into`, bin by bin, over the stores' own arrays.
 *
 * For whoever upgrades `@datadog/sketches-js` (findings on 2.1.1): its merges are not used here,
 * because two of them lose values while still counting them, which moves every quantile:
 * - `DDSketch.merge` merges only the positive store: the negative values of `from` are dropped
 *   when `into` is not empty;
 * - `DenseStore.merge` extends its range with `_extendRange(minKey, maxKey)`, which starts with
 *   `secondKey = secondKey || key`: a `maxKey` of 0 (values in (0.980, 1.0] at 1% accuracy, or
 *   their negatives) reads as absent, the range stops short of key 0, and the bins written past
 *   the array's end become NaN (`undefined + count`). Rows {0.5} and {0.5, 1, 1, 1} merged into
 *   one point then answered p50 = 0.50 instead of 1.0 (test/unit/sketch-merge.test.ts).
 * Before switching back to the library's merge, run that test and the property test
 * test/property/sketch-merge.property.test.ts against the new version.
 *
 * A merge allocates nothing when `into` already spans `from`'s keys, and otherwise one array
 * spanning exactly both ranges (the layout `fillStore` makes), so the stores stay valid for the
 * library's `add` (which extends with a single key, the case its `||` gets right).
 */
export function mergeSketch(into: DDSketch, from: DDSketch): void {
  if (from.count === 0) return;
  mergeBins(into.store as unknown as BinStore, from.store as unknown as BinStore);
  mergeBins(into.negativeStore as unknown as BinStore, from.negativeStore as unknown as BinStore);
  into.zeroCount += from.zeroCount;
  // The quantile walk ranks over the sketch's `count`; its min, max and sum are not read here
  // (the aggregate keeps exact ones of its own).
  into.count += from.count;
}

/** Adds every bin of `from` to `into`, growing `into` to span both key ranges first when it must. */
function mergeBins(into: BinStore, from: BinStore): void {
  if (from.count === 0) return;
  if (into.count === 0 || from.minKey < into.minKey || from.maxKey > into.maxKey) {
    spanKeys(into, Math.min(into.minKey, from.minKey), Math.max(into.maxKey, from.maxKey));
  }
  for (let key = from.minKey; key <= from.maxKey; key++) {
    const count = from.bins[key - from.offset] ?? 0;
    if (count > 0) into.bins[key - into.offset]! += count;
  }
  into.count += from.count;
}

/**
 * Lays `store` out over one array holding exactly the keys [minKey, maxKey], its bins kept.
 * An empty store's minKey and maxKey are ±Infinity, which Math.min/max above already skip.
 */
function spanKeys(store: BinStore, minKey: number, maxKey: number): void {
  const bins = new Array<number>(maxKey - minKey + 1).fill(0);
  if (store.count > 0) {
    for (let key = store.minKey; key <= store.maxKey; key++) bins[key - minKey] = store.bins[key - store.offset] ?? 0;
  }
  store.bins = bins;
  store.offset = minKey;
  store.minKey = minKey;
  store.maxKey = maxKey;
}

/** Sparse bins: parallel arrays of bin keys and counts, plus the count of zeros. */
export interface EncodedSketch {
  z: number;
  pk: number[];
  pc: number[];
  nk: number[];
  nc: number[];
}

interface BinStore {
  bins: number[];
  offset: number;
  minKey: number;
  maxKey: number;
  count: number;
  add(key: number, weight?: number): void;
}

function sparseBins(store: BinStore): { keys: number[]; counts: number[] } {
  const keys: number[] = [];
  const counts: number[] = [];
  if (store.count === 0) return { keys, counts };
  for (let key = store.minKey; key <= store.maxKey; key++) {
    const count = store.bins[key - store.offset] ?? 0;
    if (count > 0) {
      keys.push(key);
      counts.push(count);
    }
  }
  return { keys, counts };
}

export function encodeSketch(sketch: DDSketch): EncodedSketch {
  const positive = sparseBins(sketch.store as unknown as BinStore);
  const negative = sparseBins(sketch.negativeStore as unknown as BinStore);
  return { z: sketch.zeroCount, pk: positive.keys, pc: positive.counts, nk: negative.keys, nc: negative.counts };
}

export function decodeSketch(encoded: EncodedSketch): DDSketch {
  const sketch = newSketch();
  const positive = fillStore(sketch.store as unknown as BinStore, encoded.pk, encoded.pc);
  const negative = fillStore(sketch.negativeStore as unknown as BinStore, encoded.nk, encoded.nc);
  sketch.zeroCount = encoded.z;
  // The quantile walk ranks over `count`, which filling a store does not maintain on the sketch.
  sketch.count = encoded.z + positive + negative;
  return sketch;
}

/**
 * Lays sparse bins out as one dense array spanning exactly their keys, and returns their total
 * count. Adding them one by one (`store.add`) would grow the array in 128-bin chunks and re-centre
 * it, allocating several arrays per sketch: on a query reading thousands of rows, that garbage
 * was the largest single cost. The store stays valid for later `add` and `merge` calls, which
 * extend it as they would any store.
 */
function fillStore(store: BinStore, keys: readonly number[], counts: readonly number[]): number {
  if (keys.length === 0) return 0;
  let minKey = keys[0]!;
  let maxKey = minKey;
  for (const key of keys) {
    if (key < minKey) minKey = key;
    if (key > maxKey) maxKey = key;
  }
  const bins = new Array<number>(maxKey - minKey + 1).fill(0);
  let total = 0;
  for (let i = 0; i < keys.length; i++) {
    bins[keys[i]! - minKey]! += counts[i]!;
    total += counts[i]!;
  }
  store.bins = bins;
  store.offset = minKey;
  store.minKey = minKey;
  store.maxKey = maxKey;
  store.count = total;
  return total;
}

/** The key ↔ value mapping every sketch here shares (same relative accuracy, so the same mapping). */
const MAPPING = newSketch().mapping;

/**
 * The value at `quantile` of a sketch still in its stored form, exactly as
 * `decodeSketch(encoded).getValueAtQuantile(quantile)` answers it, without building the sketch:
 * a query reading one stored sketch per point only needs four quantiles of each. Relies on
 * `encodeSketch`'s layout: keys ascending, each once, counts positive.
 */
export function storedSketchQuantile(encoded: EncodedSketch, quantile: number): number {
  const negativeCount = totalOf(encoded.nc);
  const count = encoded.z + negativeCount + totalOf(encoded.pc);
  if (quantile < 0 || quantile > 1 || count === 0) return NaN;
  const rank = quantile * (count - 1);
  if (rank < negativeCount) {
    // The negative store ranks from the value nearest zero outwards, as DDSketch's does.
    return -MAPPING.value(keyAtRank(encoded.nk, encoded.nc, negativeCount - rank - 1, false));
  }
  if (rank < encoded.z + negativeCount) return 0;
  return MAPPING.value(keyAtRank(encoded.pk, encoded.pc, rank - encoded.z - negativeCount, true));
}

/** Whether sparse bins are laid out as `encodeSketch` writes them (what the quantile walk relies on). */
export function isCanonicalStoredSketch(encoded: EncodedSketch): boolean {
  return isAscending(encoded.pk) && isAscending(encoded.nk);
}

function isAscending(keys: readonly number[]): boolean {
  for (let i = 1; i < keys.length; i++) if (!(keys[i - 1]! < keys[i]!)) return false;
  return true;
}

function totalOf(counts: readonly number[]): number {
  let total = 0;
  for (const count of counts) total += count;
  return total;
}

/** DenseStore.keyAtRank over sparse bins: `lower` finds the first key whose running count exceeds `rank`. */
function keyAtRank(keys: readonly number[], counts: readonly number[], rank: number, lower: boolean): number {
  let running = 0;
  for (let i = 0; i < keys.length; i++) {
    running += counts[i]!;
    if (lower ? running > rank : running >= rank + 1) return keys[i]!;
  }
  return keys[keys.length - 1]!;
}
