/**
 * Calendar buckets in a time zone: where a local day, a week (from Monday) and a calendar month
 * start, as UTC instants. Pure (no I/O, no clock): the offsets come from the platform's time-zone
 * database through Intl.DateTimeFormat, so no offset is written here by hand, and a day that
 * changes daylight-saving time simply has 23 or 25 hours.
 */

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export const CALENDAR_UNITS = ['DAY', 'WEEK', 'MONTH'] as const;
export type CalendarUnit = (typeof CALENDAR_UNITS)[number];

/** A date on a wall calendar: month 1–12, day 1–31. */
export interface CivilDate {
  year: number;
  month: number;
  day: number;
}

/**
 * The longest IANA name is 32 characters (America/Argentina/ComodRivadavia); 64 leaves room for
 * new ones and keeps a huge string from reaching Intl at all.
 */
export const MAX_TIME_ZONE_LENGTH = 64;
/**
 * The shape of an IANA name (Area/Location, UTC, Etc/GMT+5, EST5EDT). It leaves out what Intl
 * accepts besides names, such as offsets ("+05:30"): the contract asks for a name.
 */
const TIME_ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/;

/**
 * One formatter per zone (creating one costs far more than using it). Only names Intl resolved
 * are kept, under their canonical spelling; there are about 600, so the map stays small, and it
 * is bounded anyway in case a platform resolves many spellings to distinct names.
 */
const formatters = new Map<string, Intl.DateTimeFormat>();
const MAX_FORMATTERS = 1_000;

function formatterFor(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      // h23: midnight is 00, never 24 (hour12: false answers 24 on some platforms).
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    if (formatters.size >= MAX_FORMATTERS) formatters.clear();
    formatters.set(zone, formatter);
  }
  return formatter;
}

/**
 * The zone's identity as the platform names it (any spelling or alias of a zone gives the same:
 * "america/new_york" → "America/New_York", "Asia/Kolkata" → "Asia/Calcutta" in Node's ICU), or
 * null when `name` is not a time-zone name the platform knows.
 */
export function canonicalTimeZone(name: string): string | null {
  if (name.length === 0 || name.length > MAX_TIME_ZONE_LENGTH || !TIME_ZONE_NAME.test(name)) return null;
  try {
    const zone = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
    formatterFor(zone);
    return zone;
  } catch {
    return null; // RangeError: Invalid time zone specified
  }
}

/** UTC milliseconds of a wall-clock time; setUTCFullYear, because Date.UTC reads years 0–99 as 1900–1999. */
function wallClockMs(date: CivilDate, hour = 0, minute = 0, second = 0): number {
  const wall = new Date(0);
  wall.setUTCFullYear(date.year, date.month - 1, date.day);
  wall.setUTCHours(hour, minute, second, 0);
  return wall.getTime();
}

function civilDateOfMs(ms: number): CivilDate {
  const date = new Date(ms);
  return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() };
}

/** The wall clock in `zone` at `instant`, to the second, as fields. */
function wallClockAt(zone: string, instant: number): { date: CivilDate; hour: number; minute: number; second: number } {
  const fields: Record<string, number> = {};
  for (const part of formatterFor(zone).formatToParts(instant)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  return {
    date: { year: fields.year!, month: fields.month!, day: fields.day! },
    hour: fields.hour!,
    minute: fields.minute!,
    second: fields.second!,
  };
}

/** How far the zone's wall clock is ahead of UTC at `instant` (negative west of Greenwich). */
export function utcOffsetMs(zone: string, instant: number): number {
  const wall = wallClockAt(zone, instant);
  const wholeSecond = Math.floor(instant / 1000) * 1000;
  return wallClockMs(wall.date, wall.hour, wall.minute, wall.second) - wholeSecond;
}

/** The local calendar date in `zone` at `instant`. */
export function localDateAt(zone: string, instant: number): CivilDate {
  return wallClockAt(zone, instant).date;
}

/**
 * Reads offsets through a small memo: enumerating consecutive days asks for the offset at the
 * same instants twice (a day's "after" is the day after next's "before").
 */
type OffsetReader = (instant: number) => number;

function offsetReader(zone: string): OffsetReader {
  const memo = new Map<number, number>();
  return (instant) => {
    let offset = memo.get(instant);
    if (offset === undefined) {
      offset = utcOffsetMs(zone, instant);
      // Bounded: an enumeration asks for about one new instant per bucket.
      if (memo.size >= 4_096) memo.clear();
      memo.set(instant, offset);
    }
    return offset;
  };
}

/**
 * The first instant of `date` in `zone`: the earliest instant whose wall clock reads that date.
 * Usually its midnight; where a change skips midnight (clocks jump from 00:00 to 01:00), the
 * change itself; where a change repeats midnight, the first of the two.
 *
 * It compares the offsets a day before and a day after local midnight: no zone changes its offset
 * twice within two days, so when they agree midnight has that offset, and when they differ one of
 * them holds at midnight, or midnight falls in the gap of a spring-forward change.
 */
export function startOfLocalDay(zone: string, date: CivilDate, offsetAt: OffsetReader = offsetReader(zone)): number {
  const midnight = wallClockMs(date);
  const before = offsetAt(midnight - DAY_MS);
  const after = offsetAt(midnight + DAY_MS);
  if (before === after) return midnight - before;
  const readsMidnight = (offset: number) => offsetAt(midnight - offset) === offset;
  const candidates = [midnight - before, midnight - after].filter((_, index) => readsMidnight(index === 0 ? before : after));
  if (candidates.length > 0) return Math.min(...candidates);
  // Midnight is skipped: the day starts at the change, the first instant at the new offset, in
  // (midnight - after, midnight - before]. Changes happen on whole seconds.
  let low = midnight - after; // still at the old offset
  let high = midnight - before; // already at the new one
  while (high - low > 1000) {
    const middle = low + Math.floor((high - low) / 2000) * 1000;
    if (offsetAt(middle) === after) high = middle;
    else low = middle;
  }
  return high;
}

/** The first day of the bucket of `unit` that holds `date`: itself, its Monday, or the 1st of its month. */
function firstDayOfBucket(date: CivilDate, unit: CalendarUnit): CivilDate {
  if (unit === 'DAY') return date;
  if (unit === 'MONTH') return { year: date.year, month: date.month, day: 1 };
  const ms = wallClockMs(date);
  const daysSinceMonday = (new Date(ms).getUTCDay() + 6) % 7; // getUTCDay: Sunday 0 … Saturday 6
  return civilDateOfMs(ms - daysSinceMonday * DAY_MS);
}

function firstDayOfNextBucket(first: CivilDate, unit: CalendarUnit): CivilDate {
  if (unit === 'DAY') return civilDateOfMs(wallClockMs(first) + DAY_MS);
  if (unit === 'WEEK') return civilDateOfMs(wallClockMs(first) + 7 * DAY_MS);
  return first.month === 12 ? { year: first.year + 1, month: 1, day: 1 } : { year: first.year, month: first.month + 1, day: 1 };
}

/**
 * The start of the local day, week (Monday) or month that holds `instant` in `zone`: the latest
 * bucket start at or before it. That is the start of the bucket of its wall-clock date, except
 * where clocks are set back from after midnight to before it (00:30 back to 23:30): the repeated
 * half hour of the previous date comes after the new day started, and belongs to the new day, so
 * that buckets never overlap. (Tehran's DST ended at 24:00 until 2022: that is not such a case,
 * the clock read 00:00 only at the change, so the day before simply had 25 hours.)
 */
export function calendarBucketStart(instant: number, unit: CalendarUnit, zone: string): number {
  const offsetAt = offsetReader(zone);
  let start = startOfLocalDay(zone, firstDayOfBucket(localDateAt(zone, instant), unit), offsetAt);
  for (
    let next = nextCalendarBucketStart(start, unit, zone, offsetAt);
    next <= instant;
    next = nextCalendarBucketStart(next, unit, zone, offsetAt)
  ) {
    start = next;
  }
  return start;
}

/**
 * The start of the bucket after the one starting at `start`. A date that never happened in the
 * zone (Pacific/Apia skipped 2011-12-30 crossing the date line) starts where the next one does,
 * and is passed over: a bucket is never empty.
 */
export function nextCalendarBucketStart(
  start: number,
  unit: CalendarUnit,
  zone: string,
  offsetAt: OffsetReader = offsetReader(zone),
): number {
  return bucketAfter(start, firstDayOfBucket(localDateAt(zone, start), unit), unit, zone, offsetAt).start;
}

function bucketAfter(
  start: number,
  first: CivilDate,
  unit: CalendarUnit,
  zone: string,
  offsetAt: OffsetReader,
): { start: number; first: CivilDate } {
  let next = { start, first };
  while (next.start <= start) {
    const nextFirst = firstDayOfNextBucket(next.first, unit);
    next = { start: startOfLocalDay(zone, nextFirst, offsetAt), first: nextFirst };
  }
  return next;
}

/**
 * The starts of every bucket of `unit` in `zone` that overlaps [from, to), in order, or null
 * when there are more than `maxBuckets` (found without building them all).
 */
export function calendarBucketStartsBetween(
  from: number,
  to: number,
  unit: CalendarUnit,
  zone: string,
  maxBuckets = Number.POSITIVE_INFINITY,
): number[] | null {
  if (to <= from) return [];
  const offsetAt = offsetReader(zone);
  const starts: number[] = [];
  let start = calendarBucketStart(from, unit, zone);
  // Walks the calendar dates rather than reading each start's date back: one offset read per bucket.
  let first = firstDayOfBucket(localDateAt(zone, start), unit);
  while (start < to) {
    if (starts.length === maxBuckets) return null;
    starts.push(start);
    ({ start, first } = bucketAfter(start, first, unit, zone, offsetAt));
  }
  return starts;
}

/** True when `instant` is on a whole minute / whole hour of UTC: which stored rollups can split there. */
export const isWholeMinute = (instant: number) => instant % MINUTE_MS === 0;
export const isWholeHour = (instant: number) => instant % HOUR_MS === 0;
