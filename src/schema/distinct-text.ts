/** The accuracy of distinct counts, as every schema description that returns or asks for one states it. */
import { DISTINCT_RELATIVE_ERROR, SPARSE_LIMIT } from '../domain/distinct-sketch.ts';

export const DISTINCT_ERROR_TEXT =
  `Exact up to ${SPARSE_LIMIT.toLocaleString('en')} different values; above, a HyperLogLog estimate with a standard error ` +
  `of 0.81%: at most ${DISTINCT_RELATIVE_ERROR * 100}% relative error at a million values (about 99 estimates in 100; measured: see docs/api.md).`;
