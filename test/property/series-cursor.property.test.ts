/**
 * The resume rule of a live series cursor (src/live/series-cursor.ts), over random histories of
 * rollup row writes across log partitions: a cursor taken at any moment, then more writes, then a
 * resume that looks from `resumeRanges` and selects with `bucketsToResend`. Properties:
 *   - no bucket whose rows changed after the cursor is missed (nor any from `resendFrom` on);
 *   - the buckets looked at start no later than any bucket that could change after the cursor;
 *   - a cursor survives encoding, and any other text is refused with BAD_USER_INPUT, never a crash.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bucketsToResend,
  decodeSeriesCursor,
  encodeSeriesCursor,
  resumeRanges,
  seriesQueryDigest,
  type ResumeRow,
} from '../../src/live/series-cursor.ts';
import { StreamlensError } from '../../src/errors.ts';
import { fuzzSettings } from './fuzz-settings.ts';

const settings = fuzzSettings('series-cursor.property', { seed: 1515, runs: 300 });
const PARTITIONS = 3;
const BUCKET_MS = 10;
const LATENESS_MS = 20;

/** One batch of one partition: the rows (bucket, combination) it changes, and how far event time moves. */
interface Write {
  partition: number;
  rows: { bucketIndex: number; combination: number }[];
  watermarkStep: number;
}

const write: fc.Arbitrary<Write> = fc.record({
  partition: fc.nat(PARTITIONS - 1),
  rows: fc.array(fc.record({ bucketIndex: fc.nat(4), combination: fc.nat(2) }), { minLength: 1, maxLength: 4 }),
  watermarkStep: fc.nat(15),
});

/** The stores' state: rows by id, each partition's stored offset, the watermark. */
class Model {
  rows = new Map<string, ResumeRow & { combination: number }>();
  storedThrough = new Map<number, number>();
  watermark = 0;

  /** The processor counts an event only in a bucket that is not final: end + lateness above the watermark. */
  apply(w: Write): void {
    const offset = (this.storedThrough.get(w.partition) ?? -1) + 1;
    for (const { bucketIndex, combination } of w.rows) {
      // The earliest bucket that is not final: its end plus the lateness lies past the watermark.
      const lowest = Math.floor((this.watermark - LATENESS_MS - BUCKET_MS) / BUCKET_MS) + 1;
      const bucket = (lowest + bucketIndex) * BUCKET_MS;
      if (bucket + BUCKET_MS + LATENESS_MS <= this.watermark) continue;
      this.rows.set(`${bucket}/${combination}/${w.partition}`, { bucket, partition: w.partition, appliedOffset: offset, combination });
    }
    this.storedThrough.set(w.partition, offset);
    this.watermark += w.watermarkStep;
  }

  snapshotOfBuckets(): Map<number, string> {
    const byBucket = new Map<number, string[]>();
    for (const [id, row] of this.rows) byBucket.set(row.bucket, [...(byBucket.get(row.bucket) ?? []), `${id}@${row.appliedOffset}`]);
    return new Map([...byBucket].map(([bucket, ids]) => [bucket, ids.sort().join(',')]));
  }
}

describe('series cursor resume', () => {
  it('sends every bucket changed after the cursor, looking from early enough', () => {
    fc.assert(
      fc.property(
        fc.array(write, { maxLength: 12 }),
        fc.array(write, { maxLength: 12 }),
        fc.option(fc.nat(8)),
        (before, after, resendIndex) => {
          const model = new Model();
          for (const w of before) model.apply(w);
          const cursor = {
            position: new Map(model.storedThrough),
            settledBefore: model.watermark - LATENESS_MS,
            resendFrom: resendIndex === null ? null : resendIndex * BUCKET_MS,
          };
          const seen = model.snapshotOfBuckets();
          for (const w of after) model.apply(w);
          const now = model.snapshotOfBuckets();
          const { changedFrom, resendFrom } = resumeRanges(cursor, null);
          // What a resume sends: the changed buckets among those ending after `changedFrom`, and every bucket from `resendFrom` on.
          const read = [...model.rows.values()].filter((row) => row.bucket + BUCKET_MS > changedFrom);
          const resent = bucketsToResend(read, { position: cursor.position, resendFrom: null });
          for (const row of model.rows.values()) if (resendFrom !== null && row.bucket + BUCKET_MS > resendFrom) resent.add(row.bucket);
          for (const [bucket, rows] of now) {
            if (seen.get(bucket) !== rows) expect(resent.has(bucket)).toBe(true);
            if (cursor.resendFrom !== null && bucket >= cursor.resendFrom) expect(resent.has(bucket)).toBe(true);
          }
        },
      ),
      settings,
    );
  });

  it('decodes what it encodes', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.nat(511), fc.maxSafeNat()), { selector: ([partition]) => partition, maxLength: 20 }),
        fc.option(fc.integer({ min: -1e15, max: 1e15 })),
        fc.option(fc.integer({ min: -1e15, max: 1e15 })),
        fc.nat(),
        fc.string(),
        (pairs, settledBefore, resendFrom, issuedAt, query) => {
          const cursor = { query: seriesQueryDigest(query), position: new Map(pairs), settledBefore, resendFrom, issuedAt };
          expect(decodeSeriesCursor(encodeSeriesCursor(cursor))).toEqual(cursor);
        },
      ),
      settings,
    );
  });

  it('refuses any other text with BAD_USER_INPUT', () => {
    const refusedPlainly = (text: string) => {
      try {
        decodeSeriesCursor(text);
        return false;
      } catch (error) {
        return error instanceof StreamlensError && error.code === 'BAD_USER_INPUT';
      }
    };
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json().map((json) => Buffer.from(json).toString('base64url')),
          fc.jsonValue().map((value) => Buffer.from(JSON.stringify(['p', value, value, value, value, value])).toString('base64url')),
        ),
        (text) => {
          expect(refusedPlainly(text)).toBe(true);
        },
      ),
      settings,
    );
  });
});
