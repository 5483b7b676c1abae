/**
 * Unified social credit codes (统一社会信用代码, GB 32100-2015): the key every party uses
 * for an enterprise.
 *
 * 18 characters from `0-9 A-H J-N P-R T U W-Y` (no I, O, S, V, Z); the last is a check
 * character over the first 17 (weights 3^i mod 31). The embedded organisation-code check
 * (characters 9–17) is deliberately not enforced: not every registration type carries one.
 */

export const USCC_ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY';
const WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28] as const;
const VALUE_OF = new Map<string, number>([...USCC_ALPHABET].map((c, i) => [c, i]));
/** Character code → value, -1 outside the alphabet (the hot path avoids Map lookups). */
const VALUE_OF_CODE = new Int8Array(128).fill(-1);
for (let i = 0; i < USCC_ALPHABET.length; i++) VALUE_OF_CODE[USCC_ALPHABET.charCodeAt(i)] = i;
const SHAPE = /^[0-9A-HJ-NP-RTUW-Y]{18}$/;

/** Why a string is not a USCC, or undefined when it is one. Expects normalised input. */
export function usccProblem(code: string): string | undefined {
  if (code.length !== 18) return `a unified social credit code has 18 characters, this has ${code.length}`;
  if (!SHAPE.test(code)) {
    const bad = [...code].findIndex((c) => !VALUE_OF.has(c));
    return `character ${bad + 1} (${JSON.stringify(code[bad])}) is not allowed (I, O, S, V and Z never occur)`;
  }
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += VALUE_OF_CODE[code.charCodeAt(i)]! * WEIGHTS[i]!;
  const expected = USCC_ALPHABET[(31 - (sum % 31)) % 31]!;
  if (code[17] !== expected) return `check character is ${code[17]}, expected ${expected}`;
  return undefined;
}

export function isValidUscc(code: string): boolean {
  return usccProblem(code) === undefined;
}

/** The check character for the first 17 characters of a code. */
export function usccCheckCharacter(first17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) {
    const v = VALUE_OF.get(first17[i]!);
    if (v === undefined) throw new RangeError(`not a USCC character: ${first17[i]}`);
    sum += v * WEIGHTS[i]!;
  }
  return USCC_ALPHABET[(31 - (sum % 31)) % 31]!;
}

/** 18 characters of the USCC alphabet, whatever the check character says. */
export function looksLikeUscc(normalised: string): boolean {
  return SHAPE.test(normalised);
}
