/**
 * Canonical JSON: the one byte string a governance document is signed and hashed as.
 *
 * A signature over JSON only means something if signer and verifier serialise the same
 * value to the same bytes. This is the subset of RFC 8785 (JCS) that governance documents
 * need: object keys sorted by UTF-16 code units, no white space, strings and finite numbers
 * as ECMAScript's `JSON.stringify` writes them (which is what JCS prescribes). Values JSON
 * cannot carry faithfully (undefined, NaN, infinities, bigints, dates, byte arrays, class
 * instances) are rejected rather than silently changed, so nothing is signed that the
 * verifier would read differently.
 */
import { errors } from '../errors.ts';

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

/** The canonical text of `value`; `path` names the offending field in errors. */
export function canonicalJson(value: unknown, path = '(value)'): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw errors.optionInvalid(path, `${value} cannot be represented in JSON`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v, i) => canonicalJson(v, `${path}[${i}]`)).join(',')}]`;
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k], `${path}.${k}`)}`).join(',')}}`;
  }
  throw errors.optionInvalid(path, `a ${describe(value)} is not a plain JSON value`, 'pass strings, finite numbers, booleans, null, arrays and plain objects');
}

function describe(value: unknown): string {
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object without prototype';
  return typeof value;
}
