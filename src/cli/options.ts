/** Parsers for option values shared by several commands; each names the option it rejects. */
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
