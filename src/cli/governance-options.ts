/**
 * Shared by the governance commands (consent, policy, audit, keys): command groups whose
 * sub-commands treat usage errors as bad input (exit 2, as the top level does), and
 * parsers for list and time options that name the option they reject.
 */
import { Command, type CommanderError } from 'commander';
import { errors, shownValue } from '../errors.ts';

/** A command with sub-commands; sub-commands made with `.command()` inherit its exit handling. */
export function commandGroup(name: string, description: string): Command {
  return new Command(name).description(description).exitOverride(exitOnUsageError);
}

function exitOnUsageError(err: CommanderError): never {
  process.exit(err.exitCode === 0 ? 0 : 2);
}

/** `a,b , c` → ['a', 'b', 'c']; repeated options are concatenated by `collectNames`. */
export function parseNameList(option: string, value: string): string[] {
  const names = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) throw errors.optionInvalid(option, 'give at least one name (comma-separated)');
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined) throw errors.optionInvalid(option, `${shownValue(twice)} is given twice`);
  return names;
}

/** Commander collector for options that may be repeated. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function parseTime(option: string, value: string): Date {
  const time = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(time.getTime())) throw errors.optionInvalid(option, `"${value}" is not an ISO 8601 date or time, e.g. 2025-01-31 or 2025-01-31T08:00:00Z`);
  return time;
}
