/**
 * Time zones for the dashboard's picker and for the chart's day buckets. The platform's `Intl`
 * knows every zone's rules (daylight-saving time included), so nothing here is a table of offsets.
 * Local days come from domain/calendar.ts, the rule the series query cuts buckets with, so the
 * chart's days are the server's days.
 */
import { calendarBucketStart, calendarBucketStartsBetween } from '../domain/calendar.ts';

/** The zone the browser runs in: what the picker starts on. */
export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** The picker's choices: the browser's zone and UTC first, then every zone the browser knows. */
export function timeZoneChoices(browserZone: string): string[] {
  const known = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  return [...new Set([browserZone, 'UTC', ...known])];
}

/** Whether the browser knows the zone (a zone typed into the URL may be anything). */
export function isKnownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The instant the local day holding `time` starts in `zone`: the server's own rule (domain/calendar.ts). */
export function dayStartIn(time: number, zone: string): number {
  return calendarBucketStart(time, 'DAY', zone);
}

/** The starts of the local days of `zone` that overlap [from, to), oldest first, as the series query cuts them. */
export function dayStartsBetween(from: number, to: number, zone: string): number[] {
  return calendarBucketStartsBetween(from, to, 'DAY', zone) ?? [];
}
