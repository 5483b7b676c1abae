/** Parsers for option values shared by several commands; each names the option it rejects. */
import { partyNameOf } from '../data/table.ts';
import { errors } from '../errors.ts';

export function parseThreads(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  return parseNonNegativeInt('--threads', value);
}

export function parseNonNegativeInt(option: string, value: string): number {
  if (!/^\d+$/.test(value.trim())) throw errors.optionInvalid(option, `"${value}" is not a whole number`);
  return Number(value.trim());
}

export function parsePositiveNumber(option: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw errors.optionInvalid(option, `"${value}" is not a positive number`);
  return n;
}

export function parseNonNegativeNumber(option: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw errors.optionInvalid(option, `"${value}" is not a number >= 0`);
  return n;
}

/** `name=path` or `path` (the party is then named after the file, as in training). */
export function parsePartyFile(spec: string): { name?: string; file: string } {
  const eq = spec.indexOf('=');
  if (eq > 0 && !spec.slice(0, eq).includes('/')) return { name: spec.slice(0, eq), file: spec.slice(eq + 1) };
  return { file: spec };
}

export function partyName(spec: { name?: string; file: string }): string {
  return spec.name ?? partyNameOf(spec.file);
}
