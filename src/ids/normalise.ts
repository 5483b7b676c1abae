/**
 * ID normalisation, run locally by every party before anything is hashed.
 *
 * Both sides of a PSI must spell an enterprise's ID identically, byte for byte, or it will
 * not match. USCCs are NFKC-folded (full-width digits and letters typed in Chinese input
 * methods become ASCII), stripped of every kind of white space and upper-cased. Plain IDs
 * (integers, other strings) are only trimmed of white space and NFC-normalised: their case
 * and leading zeros may be significant.
 */
import { looksLikeUscc, usccProblem } from './uscc.ts';

export type IdType = 'uscc' | 'plain';
export type IdTypeOption = IdType | 'auto';

// JS `trim` covers Unicode White_Space and the BOM, but not the zero-width characters that
// copy-paste from web forms leaves behind.
const INVISIBLE = /[\u200B-\u200D\u2060\uFEFF]/g;
const ANY_SPACE = /[\s\u200B-\u200D\u2060\uFEFF]/g;

export type NormalisedId = { ok: true; id: string } | { ok: false; why: string };

// Already-clean IDs (the vast majority) skip Unicode folding, which dominates reading time.
const CLEAN_USCC = /^[0-9A-Z]{18}$/;
const CLEAN_PLAIN = /^[\x21-\x7e]+$/;

export function normaliseId(raw: string, type: IdType): NormalisedId {
  if (type === 'uscc') {
    if (CLEAN_USCC.test(raw)) {
      const why = usccProblem(raw);
      return why === undefined ? { ok: true, id: raw } : { ok: false, why };
    }
    const id = raw.normalize('NFKC').replace(ANY_SPACE, '').toUpperCase();
    if (id === '') return { ok: false, why: 'empty ID' };
    const why = usccProblem(id);
    return why === undefined ? { ok: true, id } : { ok: false, why };
  }
  if (CLEAN_PLAIN.test(raw)) return { ok: true, id: raw };
  const id = raw.replace(INVISIBLE, '').trim().normalize('NFC');
  return id === '' ? { ok: false, why: 'empty ID' } : { ok: true, id };
}

/**
 * Decides the ID type of a column from a sample of its raw values: USCC when at least 90%
 * of the non-empty values are USCC-shaped (so a few typos do not flip the column to plain,
 * where they would silently never match), plain otherwise.
 */
export function detectIdType(sample: readonly string[]): IdType {
  let nonEmpty = 0;
  let shaped = 0;
  for (const raw of sample) {
    const id = raw.normalize('NFKC').replace(ANY_SPACE, '').toUpperCase();
    if (id === '') continue;
    nonEmpty++;
    if (looksLikeUscc(id)) shaped++;
  }
  return nonEmpty > 0 && shaped >= 0.9 * nonEmpty ? 'uscc' : 'plain';
}
