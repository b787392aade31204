/**
 * Time zones for the dashboard's picker and for the chart's day buckets. The platform's `Intl`
 * knows every zone's rules (daylight-saving time included), so nothing here is a table of offsets.
 */

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

const formatters = new Map<string, Intl.DateTimeFormat>();

function wallClockFormatter(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      // h23: midnight is hour 0 (some locales' defaults say 24).
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, formatter);
  }
  return formatter;
}

/** The wall-clock date and time in `zone` at `time`, as if that wall clock were UTC. */
function wallClockAsUtc(time: number, zone: string): number {
  const parts: Record<string, number> = {};
  for (const part of wallClockFormatter(zone).formatToParts(time)) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
}

/** How far the zone's wall clock is ahead of UTC at `time`, in milliseconds (whole seconds). */
function offsetAt(time: number, zone: string): number {
  return wallClockAsUtc(time, zone) - Math.floor(time / 1_000) * 1_000;
}

/** The instant the local day holding `time` starts in `zone`. */
export function dayStartIn(time: number, zone: string): number {
  const wallClock = wallClockAsUtc(time, zone);
  const localMidnight = wallClock - (((wallClock % 86_400_000) + 86_400_000) % 86_400_000);
  // The offset at `time` is a first guess; the offset at that guess corrects it on a day whose
  // offset changes (a daylight-saving day: the change happens after midnight, here or there).
  const guess = localMidnight - offsetAt(time, zone);
  return localMidnight - offsetAt(guess, zone);
}

/** The starts of the local days of `zone` that overlap [from, to), oldest first. */
export function dayStartsBetween(from: number, to: number, zone: string): number[] {
  const starts: number[] = [];
  // A local day lasts 23 to 25 hours, so 26 hours after a day's start is always in the next day.
  const intoNextDay = 26 * 3_600_000;
  for (let start = dayStartIn(from, zone); start < to; start = dayStartIn(start + intoNextDay, zone)) starts.push(start);
  return starts;
}
