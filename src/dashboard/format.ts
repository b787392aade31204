/** Number and time formats shared by the page's panels, in the reader's locale. */

const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–';
  return Number.isInteger(value) ? integer.format(value) : decimal.format(value);
}

/** 24-hour local time with seconds: what changes on a live page. */
export function formatTime(time: number | string): string {
  return new Date(time).toLocaleTimeString(undefined, { hour12: false });
}

/** "3 s", "4 min", "2 h": how far behind now a time is. */
export function formatAge(milliseconds: number): string {
  const seconds = Math.max(0, Math.round(milliseconds / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7_200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3_600)} h`;
}
