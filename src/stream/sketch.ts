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
  const positive = sketch.store as unknown as BinStore;
  const negative = sketch.negativeStore as unknown as BinStore;
  encoded.pk.forEach((key, i) => positive.add(key, encoded.pc[i]));
  encoded.nk.forEach((key, i) => negative.add(key, encoded.nc[i]));
  sketch.zeroCount = encoded.z;
  // The quantile walk ranks over `count`, which `add` on a store does not maintain on the sketch.
  sketch.count = encoded.z + positive.count + negative.count;
  return sketch;
}
