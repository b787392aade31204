import { describe, expect, it } from 'vitest';
import {
  calendarBucketStart,
  calendarBucketStartsBetween,
  canonicalTimeZone,
  nextCalendarBucketStart,
  startOfLocalDay,
  utcOffsetMs,
} from '../../src/domain/calendar.ts';
import { planBuckets, resolveTimeZone } from '../../src/query/bucket-plan.ts';

const t = (iso: string) => Date.parse(iso);
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();
/** Every bucket of [from, to) as [start, hours long]. */
function bucketsOf(from: string, to: string, unit: 'DAY' | 'WEEK' | 'MONTH', zone: string): [string, number][] {
  const starts = calendarBucketStartsBetween(t(from), t(to), unit, zone)!;
  return starts.map((start) => [iso(start), (nextCalendarBucketStart(start, unit, zone) - start) / HOUR]);
}

describe('local days across daylight-saving changes', () => {
  it('America/New_York: 2026-03-08 has 23 hours, 2026-11-01 has 25', () => {
    expect(bucketsOf('2026-03-07T12:00:00Z', '2026-03-09T12:00:00Z', 'DAY', 'America/New_York')).toEqual([
      ['2026-03-07T05:00:00.000Z', 24],
      ['2026-03-08T05:00:00.000Z', 23],
      ['2026-03-09T04:00:00.000Z', 24],
    ]);
    expect(bucketsOf('2026-10-31T12:00:00Z', '2026-11-02T12:00:00Z', 'DAY', 'America/New_York')).toEqual([
      ['2026-10-31T04:00:00.000Z', 24],
      ['2026-11-01T04:00:00.000Z', 25],
      ['2026-11-02T05:00:00.000Z', 24],
    ]);
  });

  it('Europe/Berlin: 2026-03-29 has 23 hours, 2026-10-25 has 25', () => {
    expect(bucketsOf('2026-03-29T00:00:00Z', '2026-03-29T23:00:00Z', 'DAY', 'Europe/Berlin')).toEqual([
      ['2026-03-28T23:00:00.000Z', 23],
      ['2026-03-29T22:00:00.000Z', 24],
    ]);
    expect(bucketsOf('2026-10-25T00:00:00Z', '2026-10-25T23:00:00Z', 'DAY', 'Europe/Berlin')).toEqual([['2026-10-24T22:00:00.000Z', 25]]);
  });

  it('a day whose midnight is skipped starts at the change (America/Sao_Paulo, 2018-11-04 at 00:00)', () => {
    expect(startOfLocalDay('America/Sao_Paulo', { year: 2018, month: 11, day: 4 })).toBe(t('2018-11-04T03:00:00Z'));
    expect(bucketsOf('2018-11-04T12:00:00Z', '2018-11-04T13:00:00Z', 'DAY', 'America/Sao_Paulo')).toEqual([
      ['2018-11-04T03:00:00.000Z', 23],
    ]);
  });

  it('a change at 24:00 gives the day before it 25 hours (Asia/Tehran, 2021-09-21)', () => {
    expect(bucketsOf('2021-09-21T12:00:00Z', '2021-09-22T12:00:00Z', 'DAY', 'Asia/Tehran')).toEqual([
      ['2021-09-20T19:30:00.000Z', 25],
      ['2021-09-21T20:30:00.000Z', 24],
    ]);
    // The repeated hour (the wall clock reads 23:xx of the 21st again) belongs to the day it is in.
    expect(calendarBucketStart(t('2021-09-21T20:00:00Z'), 'DAY', 'Asia/Tehran')).toBe(t('2021-09-20T19:30:00Z'));
  });
});

describe('half- and quarter-hour zones', () => {
  it('Asia/Kathmandu (+5:45) days start at 18:15 UTC', () => {
    expect(utcOffsetMs('Asia/Kathmandu', t('2026-06-01T00:00:00Z'))).toBe(5.75 * HOUR);
    expect(bucketsOf('2026-06-01T00:00:00Z', '2026-06-02T00:00:00Z', 'DAY', 'Asia/Kathmandu')).toEqual([
      ['2026-05-31T18:15:00.000Z', 24],
      ['2026-06-01T18:15:00.000Z', 24],
    ]);
  });

  it('Asia/Kolkata (+5:30) days start at 18:30 UTC, and Australia/Eucla (+8:45) at 15:15', () => {
    expect(calendarBucketStart(t('2026-06-01T18:29:59.999Z'), 'DAY', 'Asia/Kolkata')).toBe(t('2026-05-31T18:30:00Z'));
    expect(calendarBucketStart(t('2026-06-01T18:30:00Z'), 'DAY', 'Asia/Kolkata')).toBe(t('2026-06-01T18:30:00Z'));
    expect(calendarBucketStart(t('2026-06-01T12:00:00Z'), 'DAY', 'Australia/Eucla')).toBe(t('2026-05-31T15:15:00Z'));
  });
});

describe('weeks and months', () => {
  it('a week starts on Monday, across a year boundary', () => {
    // 2026-12-31 is a Thursday: its week starts on Monday 2026-12-28 and runs into 2027.
    expect(bucketsOf('2026-12-31T00:00:00Z', '2027-01-05T00:00:00Z', 'WEEK', 'UTC')).toEqual([
      ['2026-12-28T00:00:00.000Z', 168],
      ['2027-01-04T00:00:00.000Z', 168],
    ]);
    // In New York, the week of the November change has 169 hours, the one of the March change 167.
    expect(bucketsOf('2026-11-01T12:00:00Z', '2026-11-01T13:00:00Z', 'WEEK', 'America/New_York')).toEqual([
      ['2026-10-26T04:00:00.000Z', 169],
    ]);
    expect(bucketsOf('2026-03-08T12:00:00Z', '2026-03-08T13:00:00Z', 'WEEK', 'America/New_York')).toEqual([
      ['2026-03-02T05:00:00.000Z', 167],
    ]);
  });

  it('a month is the calendar month: 31, 30, 29 (February 2028) and 28 days', () => {
    expect(bucketsOf('2027-12-15T00:00:00Z', '2028-05-01T00:00:00Z', 'MONTH', 'UTC').map(([start, hours]) => [start, hours / 24])).toEqual([
      ['2027-12-01T00:00:00.000Z', 31],
      ['2028-01-01T00:00:00.000Z', 31],
      ['2028-02-01T00:00:00.000Z', 29],
      ['2028-03-01T00:00:00.000Z', 31],
      ['2028-04-01T00:00:00.000Z', 30],
    ]);
    expect(bucketsOf('2027-02-10T00:00:00Z', '2027-02-11T00:00:00Z', 'MONTH', 'UTC')).toEqual([['2027-02-01T00:00:00.000Z', 28 * 24]]);
    // In New York, March 2026 loses the hour of its change.
    expect(bucketsOf('2026-03-10T00:00:00Z', '2026-03-11T00:00:00Z', 'MONTH', 'America/New_York')).toEqual([
      ['2026-03-01T05:00:00.000Z', 31 * 24 - 1],
    ]);
  });

  it('refuses more buckets than asked for without building them', () => {
    expect(calendarBucketStartsBetween(t('2000-01-01T00:00:00Z'), t('2030-01-01T00:00:00Z'), 'DAY', 'Asia/Kolkata', 100)).toBeNull();
  });
});

describe('time-zone names', () => {
  it('resolves every spelling and alias of a zone to one identity, UTC by default', () => {
    expect(canonicalTimeZone('america/new_york')).toBe('America/New_York');
    expect(canonicalTimeZone('asia/kolkata')).toBe(canonicalTimeZone('Asia/Calcutta'));
    expect(canonicalTimeZone('Etc/UTC')).toBe('UTC');
    expect(resolveTimeZone(undefined, 'query.timeZone')).toEqual({ name: 'UTC', id: 'UTC' });
    expect(resolveTimeZone('utc', 'query.timeZone')).toEqual({ name: 'utc', id: 'UTC' });
    expect(resolveTimeZone('Asia/Kolkata', 'query.timeZone')).toEqual({ name: 'Asia/Kolkata', id: canonicalTimeZone('Asia/Kolkata') });
  });

  it.each(['', 'Mars/Olympus_Mons', '+05:30', '__proto__', 'constructor', 'UTC\ud800', 'A'.repeat(10_000), '../etc/passwd'])(
    'refuses %j',
    (name) => {
      expect(canonicalTimeZone(name)).toBeNull();
      expect(() => resolveTimeZone(name, 'query.timeZone')).toThrow(/query.timeZone: .* is not a known IANA time zone name/);
    },
  );
});

describe('which stored rows serve a query', () => {
  const plan = (interval: Parameters<typeof planBuckets>[0]['interval'], timeZone: string, from: string, to: string) =>
    planBuckets({ interval, timeZone, from: t(from), to: t(to) }, 10_000);
  const reads = (p: ReturnType<typeof plan>) => p.reads.map((block) => `${block.interval} ${iso(block.from)} ${iso(block.to)}`);

  it('stored intervals read their own rows', () => {
    expect(reads(plan('HOUR', 'Asia/Kolkata', '2026-06-01T00:30:00Z', '2026-06-01T02:00:00Z'))).toEqual([
      'HOUR 2026-06-01T00:00:00.000Z 2026-06-01T02:00:00.000Z',
    ]);
    expect(reads(plan('DAY', 'UTC', '2026-06-01T12:00:00Z', '2026-06-03T00:00:00Z'))).toEqual([
      'DAY 2026-06-01T00:00:00.000Z 2026-06-03T00:00:00.000Z',
    ]);
  });

  it('FIFTEEN_MINUTES reads MINUTE rows and aligns to the hour', () => {
    const p = plan('FIFTEEN_MINUTES', 'UTC', '2026-06-01T10:20:00Z', '2026-06-01T11:00:00Z');
    expect(p.starts.map(iso)).toEqual(['2026-06-01T10:15:00.000Z', '2026-06-01T10:30:00.000Z', '2026-06-01T10:45:00.000Z']);
    expect(reads(p)).toEqual(['MINUTE 2026-06-01T10:15:00.000Z 2026-06-01T11:00:00.000Z']);
    expect(p.mergedBuckets).toBe(45);
    expect(iso(p.bucketOf(t('2026-06-01T10:44:00Z')))).toBe('2026-06-01T10:30:00.000Z');
  });

  it('days in a whole-hour zone read HOUR rows only, in one read', () => {
    const p = plan('DAY', 'America/New_York', '2026-03-07T05:00:00Z', '2026-03-10T04:00:00Z');
    expect(reads(p)).toEqual(['HOUR 2026-03-07T05:00:00.000Z 2026-03-10T04:00:00.000Z']);
    expect(p.mergedBuckets).toBe(24 + 23 + 24);
    expect(iso(p.endOf(t('2026-03-08T05:00:00Z')))).toBe('2026-03-09T04:00:00.000Z');
  });

  it('days in a quarter-hour zone read MINUTE rows around each local midnight, HOUR rows in one read', () => {
    const p = plan('DAY', 'Asia/Kathmandu', '2026-06-01T00:00:00Z', '2026-06-02T00:00:00Z');
    expect(reads(p)).toEqual([
      'MINUTE 2026-05-31T18:15:00.000Z 2026-05-31T19:00:00.000Z',
      'HOUR 2026-05-31T19:00:00.000Z 2026-06-02T18:00:00.000Z',
      'MINUTE 2026-06-01T18:00:00.000Z 2026-06-01T19:00:00.000Z',
      'MINUTE 2026-06-02T18:00:00.000Z 2026-06-02T18:15:00.000Z',
    ]);
    // The HOUR row of 18:00 on June 1 straddles midnight (18:15): read, dropped, and covered by MINUTE rows.
    expect(p.keeps('HOUR', t('2026-06-01T18:00:00Z'))).toBe(false);
    expect(p.keeps('HOUR', t('2026-06-01T19:00:00Z'))).toBe(true);
    expect(p.keeps('MINUTE', t('2026-06-01T18:14:00Z'))).toBe(true);
    expect(p.mergedBuckets).toBe(45 + 47 + 60 + 15);
  });

  it('a UTC month reads DAY rows; a New York month DAY rows inside and HOUR rows at its edges', () => {
    expect(reads(plan('MONTH', 'UTC', '2028-02-10T00:00:00Z', '2028-02-11T00:00:00Z'))).toEqual([
      'DAY 2028-02-01T00:00:00.000Z 2028-03-01T00:00:00.000Z',
    ]);
    expect(reads(plan('MONTH', 'America/New_York', '2026-02-10T00:00:00Z', '2026-02-11T00:00:00Z'))).toEqual([
      'HOUR 2026-02-01T05:00:00.000Z 2026-02-02T00:00:00.000Z',
      'DAY 2026-02-02T00:00:00.000Z 2026-03-01T00:00:00.000Z',
      'HOUR 2026-03-01T00:00:00.000Z 2026-03-01T05:00:00.000Z',
    ]);
  });

  it('refuses a range of more buckets than a query may answer', () => {
    expect(() => plan('WEEK', 'UTC', '1970-01-01T00:00:00Z', '2200-01-01T00:00:00Z')).toThrow(/more than 10000 WEEK buckets/);
    expect(() => plan('FIVE_MINUTES', 'UTC', '2026-01-01T00:00:00Z', '2026-03-01T00:00:00Z')).toThrow(/16992 FIVE_MINUTES buckets/);
  });

  it('refuses a zone whose days start off the minute (Africa/Monrovia, −0:44:30 until 1972)', () => {
    expect(() => plan('DAY', 'Africa/Monrovia', '1971-06-01T00:00:00Z', '1971-06-02T00:00:00Z')).toThrow(/not on a whole minute/);
  });
});
