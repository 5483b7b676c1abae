/** Parsers for option values shared by several commands; each names the option it rejects. */
import { Option } from 'commander';
import { CSV_ENCODINGS } from '../data/csv.ts';
import { partyNameOf } from '../data/table.ts';
import { errors } from '../errors.ts';
import { checkThreads } from '../util/threads.ts';

export function parseThreads(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  return checkThreads('--threads', parseNonNegativeInt('--threads', value));
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

/** A probability strictly between 0 and 1 (a threshold or a move of a probability of default). */
export function parseProbability(option: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n >= 1) throw errors.optionInvalid(option, `"${value}" is not a probability between 0 and 1`);
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

/** `--encoding`: the tables' text encoding, for files whose detection guesses wrong. */
export function encodingOption(): Option {
  return new Option('--encoding <name>', 'text encoding of the CSV files (default: UTF-8, or GB18030 when the bytes are not UTF-8)').choices(['auto', ...CSV_ENCODINGS]).default('auto');
}

/**
 * The agency's options of an online session (`--key`, `--max-evaluations`, `--audit`) apply
 * only with `--prepared`: given without it they would be ignored, so the first given is refused.
 */
export function refuseWithoutPrepared(options: readonly (readonly [option: string, value: unknown])[], why: string, instead: string): void {
  const given = options.find(([, value]) => value !== undefined);
  if (given) throw errors.optionInvalid(given[0], `applies only with --prepared (the agency's online session); ${why}`, `leave out ${given[0]}, or give --prepared <tags> instead of ${instead}`);
}

/**
 * The summary lines of register rows skipped by the rule of `psi prepare` (verify, lookup):
 * invalid or empty IDs, and repeats of an ID, whose first row is kept.
 */
export function skippedRegisterRows(file: string, report: { readonly invalid: number; readonly invalidLines: readonly number[]; readonly repeats: number; readonly repeatLines: readonly number[] }): string[] {
  const lines: string[] = [];
  const more = (count: number, shown: readonly number[]) => shown.join(', ') + (count > shown.length ? ', …' : '');
  if (report.invalid > 0) lines.push(`skipped:  ${report.invalid} register rows with an invalid or empty ID in ${file} (lines ${more(report.invalid, report.invalidLines)})`);
  if (report.repeats > 0) lines.push(`skipped:  ${report.repeats} register rows repeating an ID in ${file}, the first row of each kept (lines ${more(report.repeats, report.repeatLines)})`);
  return lines;
}
