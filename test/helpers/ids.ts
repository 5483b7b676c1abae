/** Generators of realistic enterprise IDs for tests and benchmarks. */
import { usccCheckCharacter, USCC_ALPHABET } from '../../src/ids/uscc.ts';

/** A valid unified social credit code derived from `n` (distinct n give distinct codes). */
export function uscc(n: number): string {
  // Registration authority 9 (industry and commerce), type 1 (enterprise), region code, body.
  let body = '';
  let v = n;
  for (let i = 0; i < 9; i++) {
    body = USCC_ALPHABET[v % 31] + body;
    v = Math.floor(v / 31);
  }
  const first17 = '91' + '110108' + body;
  return first17 + usccCheckCharacter(first17);
}

/** Writes a CSV with header `id,amount` and one row per ID. */
export function idCsv(ids: readonly string[]): string {
  return 'id,amount\n' + ids.map((id, i) => `${csvField(id)},${i}`).join('\n') + '\n';
}

function csvField(value: string): string {
  return /[",\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}
