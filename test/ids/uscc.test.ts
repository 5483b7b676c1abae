import { describe, expect, it } from 'vitest';
import { detectIdType, isValidUscc, normaliseId, usccCheckCharacter, usccProblem } from '../../src/ids/index.ts';
import { uscc } from '../helpers/ids.ts';

describe('unified social credit codes (GB 32100-2015)', () => {
  it('accepts well-formed codes with a correct check character', () => {
    for (const code of ['91350100M000100Y43', '91440300708461136T']) {
      expect(usccProblem(code), code).toBeUndefined();
    }
  });

  it('computes the check character with weights 3^i mod 31', () => {
    expect(usccCheckCharacter('91350100M000100Y4')).toBe('3');
    for (let n = 0; n < 500; n++) expect(isValidUscc(uscc(n))).toBe(true);
  });

  it('rejects a wrong check character, a wrong length and forbidden letters, saying which', () => {
    expect(usccProblem('91350100M000100Y44')).toMatch(/check character is 4, expected 3/);
    expect(usccProblem('91350100M000100Y4')).toMatch(/18 characters, this has 17/);
    expect(usccProblem('91350100M000100I43')).toMatch(/character 16 \("I"\)/);
  });

  it('normalises white space of every kind, full-width characters and case before checking', () => {
    const code = '91350100M000100Y43';
    const typed = '\u3000９１３５０１００ｍ０００１００y43\u200B ';
    expect(normaliseId(typed, 'uscc')).toEqual({ ok: true, id: code });
    expect(normaliseId(' \t', 'uscc')).toEqual({ ok: false, why: 'empty ID' });
  });

  it('keeps plain IDs as written apart from surrounding white space', () => {
    expect(normaliseId('\u00A0 007 \u3000', 'plain')).toEqual({ ok: true, id: '007' });
    expect(normaliseId('ab', 'plain')).toEqual({ ok: true, id: 'ab' });
  });

  it('detects a USCC column even with a few typos, and integers as plain', () => {
    const codes = Array.from({ length: 50 }, (_, i) => uscc(i));
    codes[3] = codes[3]!.slice(0, 17) + 'Z';
    expect(detectIdType(codes)).toBe('uscc');
    expect(detectIdType(['1', '2', '3'])).toBe('plain');
    expect(detectIdType([])).toBe('plain');
  });
});
