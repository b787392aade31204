/**
 * The cursor of a live series update, and which buckets a resume from it sends. Pure.
 *
 * A cursor says what its subscriber has once it has received the update: every change of a
 * stored row up to `position` (per log partition, the processor's "stored through" offset: a row
 * written later has a higher appliedOffset in its partition), except the buckets from
 * `resendFrom` on, whose first points (a snapshot or a resume still being delivered) it may not
 * have yet. No row of a stored bucket ending at or before `settledBefore` (the watermark minus
 * the allowed lateness when `position` was read) can change after it: the processor quarantines
 * such late events. So a resume re-reads the buckets from the one holding `settledBefore` on and
 * sends those with a row applied past `position`, and every bucket from `resendFrom` on.
 *
 * The cursor also names its query (a digest of every argument that decides the points) and its
 * age, so that a cursor of another query, or one too old, is refused instead of answered wrongly.
 * Clients treat it as an opaque string: base64url JSON, like the other cursors (query/cursors.ts).
 */
import { createHash } from 'node:crypto';
import { badInput, StreamlensError } from '../errors.ts';
import { MAX_STREAM_CURSOR_PARTITIONS } from '../query/cursors.ts';

export interface SeriesCursor {
  /** The digest of the subscription's query (seriesQueryDigest). */
  query: string;
  /** Per log partition, the stored-through offset every change up to which the subscriber has. */
  position: ReadonlyMap<number, number>;
  /** Watermark minus allowed lateness when `position` was read; null before any watermark. */
  settledBefore: number | null;
  /** Every bucket starting at or after this is sent again on resume; null: none. */
  resendFrom: number | null;
  /** When `position` was read (ms): how old the cursor is. */
  issuedAt: number;
}

/** The cursor's kind tag: a cursor of another field (events, pages) is refused here. */
const KIND = 'p';
/** Characters of the query digest kept: 96 bits tell any two queries apart. */
const DIGEST_CHARS = 16;
/**
 * The longest cursor text: MAX_STREAM_CURSOR_PARTITIONS pairs of the largest offsets (about 40
 * characters each as base64url JSON) and the other fields, with room to spare. Checked first.
 */
export const MAX_SERIES_CURSOR_CHARS = 32_768;
/**
 * A resume re-reads every stored bucket from the cursor's oldest changeable one to now. Past a
 * day that is a read as large as a new snapshot, and SECOND rows may have been purged meanwhile
 * (SECOND_RETENTION, 6 h by default): a client that old subscribes again with `from` instead.
 */
export const MAX_SERIES_CURSOR_AGE_MS = 86_400_000;
/** Clocks of instances differ a little; a cursor issued further in the future than this was not issued here. */
const MAX_CLOCK_SKEW_MS = 300_000;

/** The digest of everything that decides a live series' points: a cursor of another query is refused. */
export function seriesQueryDigest(query: unknown): string {
  return createHash('sha256').update(JSON.stringify(query)).digest('base64url').slice(0, DIGEST_CHARS);
}

export function encodeSeriesCursor(cursor: SeriesCursor): string {
  const pairs = [...cursor.position].sort(([a], [b]) => a - b);
  return Buffer.from(JSON.stringify([KIND, cursor.query, pairs, cursor.settledBefore, cursor.resendFrom, cursor.issuedAt])).toString(
    'base64url',
  );
}

const notOurs = () => badInput('after: the cursor is not one a series subscription returned');
const isInteger = (value: unknown): value is number => Number.isSafeInteger(value);
const isIntegerOrNull = (value: unknown): value is number | null => value === null || Number.isSafeInteger(value);

/** The cursor inside `text`; BAD_USER_INPUT for anything a series subscription did not return. */
export function decodeSeriesCursor(text: string): SeriesCursor {
  if (text.length > MAX_SERIES_CURSOR_CHARS) {
    throw badInput(
      `after: the cursor is too long to be one a series subscription returned (at most ${MAX_SERIES_CURSOR_CHARS} characters)`,
    );
  }
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw notOurs();
  }
  if (!Array.isArray(parts) || parts.length !== 6 || parts[0] !== KIND) throw notOurs();
  const [, query, pairs, settledBefore, resendFrom, issuedAt] = parts as unknown[];
  if (typeof query !== 'string' || query.length !== DIGEST_CHARS || !Array.isArray(pairs)) throw notOurs();
  if (pairs.length > MAX_STREAM_CURSOR_PARTITIONS) {
    throw badInput(`after: the cursor names ${pairs.length} partitions; a cursor names at most ${MAX_STREAM_CURSOR_PARTITIONS}`);
  }
  const position = new Map<number, number>();
  for (const pair of pairs) {
    if (!Array.isArray(pair) || pair.length !== 2 || !isInteger(pair[0]) || !isInteger(pair[1]) || position.has(pair[0])) throw notOurs();
    position.set(pair[0], pair[1]);
  }
  if (!isIntegerOrNull(settledBefore) || !isIntegerOrNull(resendFrom) || !isInteger(issuedAt)) throw notOurs();
  return { query, position, settledBefore, resendFrom, issuedAt };
}

/**
 * Refuses a cursor of another query (BAD_USER_INPUT), one from the future (forged) and one older
 * than `maxAgeMs` (CURSOR_EXPIRED, as an events cursor past the retention).
 */
export function checkSeriesCursor(cursor: SeriesCursor, query: string, now: number, maxAgeMs = MAX_SERIES_CURSOR_AGE_MS): void {
  if (cursor.query !== query) {
    throw badInput(
      'after: the cursor was returned by a series subscription with another query (type, value, interval, timeZone, grouping, filters, distinct, from or to differ); resume with the query it was returned for',
    );
  }
  if (cursor.issuedAt - now > MAX_CLOCK_SKEW_MS) throw notOurs();
  if (now - cursor.issuedAt > maxAgeMs) {
    throw new StreamlensError(
      'CURSOR_EXPIRED',
      `the cursor is older than ${maxAgeMs / 3_600_000} h, the longest a series subscription resumes from: subscribe again with \`from\` (a snapshot) instead of \`after\``,
    );
  }
}

/** One stored row as a resume sees it: which bucket it counts in, and how far its partition was applied. */
export interface ResumeRow {
  /** The start of the subscription's bucket that holds the row. */
  bucket: number;
  partition: number;
  appliedOffset: number;
}

/**
 * The buckets a resume from `cursor` sends: those with a row applied past the cursor's position
 * (a partition the cursor does not name had nothing stored: any row of it is new), and every
 * bucket from `resendFrom` on that has a row.
 */
export function bucketsToResend(rows: Iterable<ResumeRow>, cursor: Pick<SeriesCursor, 'position' | 'resendFrom'>): Set<number> {
  const buckets = new Set<number>();
  for (const row of rows) {
    if (buckets.has(row.bucket)) continue;
    const resent = cursor.resendFrom !== null && row.bucket >= cursor.resendFrom;
    if (resent || row.appliedOffset > (cursor.position.get(row.partition) ?? -1)) buckets.add(row.bucket);
  }
  return buckets;
}

/**
 * What a resume from `cursor` reads, within a subscription whose range starts at `from`: the
 * buckets ending after `changedFrom` may have changed (a row applied past the position says which
 * did; -Infinity: any), and every bucket from `resendFrom` on is sent whether it changed or not.
 */
export function resumeRanges(
  cursor: Pick<SeriesCursor, 'settledBefore' | 'resendFrom'>,
  from: number | null,
): { changedFrom: number; resendFrom: number | null } {
  const floor = from ?? Number.NEGATIVE_INFINITY;
  return {
    changedFrom: Math.max(cursor.settledBefore ?? Number.NEGATIVE_INFINITY, floor),
    resendFrom: cursor.resendFrom === null ? null : Math.max(cursor.resendFrom, floor),
  };
}
