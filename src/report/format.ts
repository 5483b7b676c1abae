/**
 * How numbers read on the page: fixed decimals for model statistics, thousands separators
 * for counts, percentages for rates. One place, so every table and chart of a report agrees
 * and a reader can compare figures across sections.
 */

const INTEGER = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** A dash for values that do not exist (an empty bin's rate), rather than "NaN". */
const MISSING = '–';

export function formatCount(value: number): string {
  return Number.isFinite(value) ? INTEGER.format(value) : MISSING;
}

export function formatFixed(value: number, digits: number): string {
  if (!Number.isFinite(value)) return MISSING;
  // Avoids "-0.000" for tiny negative weights.
  const text = value.toFixed(digits);
  return Number(text) === 0 ? (0).toFixed(digits) : text;
}

export function formatPercent(rate: number, digits = 1): string {
  return Number.isFinite(rate) ? `${formatFixed(rate * 100, digits)}%` : MISSING;
}

export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return MISSING;
  if (seconds < 60) return `${formatFixed(seconds, 1)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${formatFixed(seconds - minutes * 60, 0)} s`;
}

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return MISSING;
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${formatFixed(value, unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** "2026-11-25 17:39 UTC" from an ISO 8601 time; any other text is shown as given. */
export function formatTimestamp(iso: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?Z$/.exec(iso);
  return match ? `${match[1]} ${match[2]} UTC` : iso;
}
