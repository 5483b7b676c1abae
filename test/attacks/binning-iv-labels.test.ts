/**
 * Attack: an agency recovers labels from the IVs of features it crafted for the purpose.
 *
 * An agency chooses its own features. It adds a 0/1 feature "base" that is 0 on a set S of
 * 15% of its rows, and for every row i a feature "probe_i" that is 0 on S with row i added
 * (i outside S) or removed (i inside S), 1 elsewhere: every such feature falls into exactly
 * two bins, each above the minimum share, so binning takes them as they are. A feature's
 * IV is a known function of its bins' sizes and bad counts (README, *WOE and IV*). All the
 * probes outside S share one bin size, so their IVs take two values only, one for a bad row
 * and one for a good one; likewise inside S. The attack searches the total bads B and S's
 * bads b for the pair whose IV of "base" and of both kinds of probe equal what it was
 * told, labels each row by which prediction its probe's IV equals, and keeps the labelling
 * only if its counts agree with B and b. With no list holding one number per feature that
 * fits, it guesses the usual majority, y = 0.
 *
 * The agency's view is its transcript (src/transport/transcript.ts): every message it
 * received, from the bank and from the arbiter, with numbers in the clear. Success measure:
 * the share of rows labelled right against the majority-class rate.
 *
 * Positive control: the protocol as it was until the bank stopped sending each agency its
 * features' IVs: the same job's transcript plus the old `bin.iv` message holding the IVs the
 * bank computed (the bank's result). The attack must label nearly every row right there;
 * against the real protocol (CKKS) it must not beat the majority rate, and no IV may appear
 * anywhere in the agency's transcript.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { binTables, type BinningResult } from '../../src/binning/in-process.ts';
import { featureEvidence } from '../../src/binning/woe.ts';
import { loadFeatureTable } from '../../src/data/table.ts';
import { decodeMessage } from '../../src/transport/codec.ts';
import { transcriptEntry, type TranscriptEntry, type TranscriptValue } from '../../src/transport/transcript.ts';
import { SeededRng } from '../../src/util/rng.ts';
import { uscc } from '../helpers/ids.ts';

const AGENCY = 'tax_bureau';
const ROWS = 600;
const dir = mkdtempSync(join(tmpdir(), 'jinqiao-attack-binning-iv-'));

interface Probes {
  /** The agency's rows (its file order). */
  readonly ids: readonly string[];
  /** Per row: in the base set S. */
  readonly inBase: readonly boolean[];
}

/** The bank's 600 enterprises, about 30% bad, and the agency's crafted features over the same enterprises. */
async function parties() {
  const rng = SeededRng.fromSeed('jinqiao/test/attack-binning-iv', 'data');
  const ids = Array.from({ length: ROWS }, (_, i) => uscc(80_000 + i));
  const labelOf = new Map(ids.map((id) => [id, rng.nextFloat() < 0.3 ? 1 : 0]));
  const inBase = ids.map(() => rng.nextFloat() < 0.15);
  const bank = ['uscc,defaulted,loan_amount', ...ids.map((id) => `${id},${labelOf.get(id)},${(rng.nextFloat() * 100).toFixed(2)}`)];
  // Feature "base" is 0 on S; "probe_i" is 0 on S with row i toggled.
  const agency = [
    ['uscc', 'base', ...ids.map((_, i) => `probe_${i}`)].join(','),
    ...ids.map((id, r) => [id, inBase[r] ? 0 : 1, ...ids.map((_, i) => ((inBase[r] !== (r === i)) ? 0 : 1))].join(',')),
  ];
  writeFileSync(join(dir, 'bank.csv'), bank.join('\n') + '\n');
  writeFileSync(join(dir, `${AGENCY}.csv`), agency.join('\n') + '\n');
  return {
    bank: await loadFeatureTable(join(dir, 'bank.csv'), { idColumn: 'uscc', labelColumn: 'defaulted' }),
    agency: await loadFeatureTable(join(dir, `${AGENCY}.csv`), { idColumn: 'uscc' }),
    probes: { ids, inBase } satisfies Probes,
    labelOf,
  };
}

/** The IV the bank computes for a two-bin feature: `n` rows and `b` bads in the first bin, of `rows` rows and `bads` bads. */
function ivOf(n: number, b: number, rows: number, bads: number): number {
  if (b < 0 || b > n || bads - b < 0 || bads - b > rows - n) return NaN;
  return featureEvidence([n, rows - n], [b, bads - b], false, rows, bads).iv;
}

const same = (a: number, b: number) => Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(a));

/** Every list of numbers anywhere in the transcript. */
function numberLists(view: readonly TranscriptEntry[]): number[][] {
  const lists: number[][] = [];
  const visit = (value: TranscriptValue) => {
    if (!Array.isArray(value)) return;
    if (value.every((v) => typeof v === 'number')) lists.push(value as number[]);
    else value.forEach(visit);
  };
  for (const entry of view) Object.values(entry.fields).forEach(visit);
  return lists;
}

/** The attack: label guesses for the agency's rows (by ID), from its transcript and its own crafted features only. */
function attack(view: readonly TranscriptEntry[], probes: Probes): Map<string, number> {
  const rows = probes.ids.length;
  const m = probes.inBase.filter(Boolean).length;
  for (const list of numberLists(view)) {
    if (list.length !== rows + 1) continue;
    const [base, ...probe] = list as [number, ...number[]];
    for (let bads = 1; bads < rows; bads++) {
      for (let b = Math.max(0, bads - (rows - m)); b <= Math.min(m, bads); b++) {
        if (!same(ivOf(m, b, rows, bads), base)) continue;
        // Outside S a probe's first bin has m + 1 rows; inside S, m − 1.
        const predicted = (inBase: boolean, y: number) => (inBase ? ivOf(m - 1, b - y, rows, bads) : ivOf(m + 1, b + y, rows, bads));
        const guesses = probes.inBase.map((inBase, i) => (same(predicted(inBase, 1), probe[i]!) ? 1 : same(predicted(inBase, 0), probe[i]!) ? 0 : -1));
        if (guesses.includes(-1)) continue;
        const badsInBase = guesses.filter((y, i) => y === 1 && probes.inBase[i]).length;
        if (badsInBase !== b || guesses.filter((y) => y === 1).length !== bads) continue;
        return new Map(probes.ids.map((id, i) => [id, guesses[i]!]));
      }
    }
  }
  return new Map(probes.ids.map((id) => [id, 0]));
}

function accuracy(guesses: Map<string, number>, labelOf: Map<string, number>): number {
  let right = 0;
  for (const [id, y] of guesses) if (labelOf.get(id) === y) right++;
  return right / guesses.size;
}

describe('attack: an agency recovers labels from the IVs of features it crafted', () => {
  let data: Awaited<ReturnType<typeof parties>>;
  let result: BinningResult;
  /** The agency's transcript of the real protocol. */
  let view: TranscriptEntry[];
  let majority: number;

  beforeAll(async () => {
    data = await parties();
    const frames: [string, Uint8Array][] = [];
    result = await binTables({
      label: { table: data.bank },
      features: [{ table: data.agency, name: AGENCY }],
      config: { he: 'ckks', threads: 0, seed: 'attack-iv' },
      tap: (from, to, frame) => {
        if (to === AGENCY) frames.push([from, frame]);
      },
    });
    view = frames.map(([from, frame]) => transcriptEntry(from, decodeMessage(frame)));
    majority = Math.max(result.bads, result.rows - result.bads) / result.rows;
  }, 180_000);

  /** What the bank computed for each of the agency's features (the IVs it used to send back). */
  const bankIvs = () => result.parties.find((p) => p.party === AGENCY)!.features.map((f) => f.iv);

  it('every crafted feature is binned as crafted: two bins, S (or S with one row toggled) and the rest', () => {
    const features = result.parties.find((p) => p.party === AGENCY)!.features;
    expect(features).toHaveLength(ROWS + 1);
    expect(features.every((f) => f.bins.length === 2 && f.missing === null)).toBe(true);
    const m = data.probes.inBase.filter(Boolean).length;
    expect(features[0]!.bins[0]!.count).toBe(m);
    expect(new Set(features.slice(1).map((f) => f.bins[0]!.count))).toEqual(new Set([m - 1, m + 1]));
  });

  it('labels nearly every row when the agency receives its features\' IVs (the old bin.iv: positive control)', () => {
    const leaky = [...view, { from: 'label', type: 'bin.iv', fields: { iv: bankIvs() } }];
    const recovered = accuracy(attack(leaky, data.probes), data.labelOf);
    expect(majority).toBeLessThan(0.75);
    expect(recovered).toBeGreaterThan(0.99);
  });

  it('stays at the majority rate against the real protocol (CKKS), and no IV is in the agency\'s transcript', () => {
    const types = view.map((e) => e.type);
    expect(types).toContain('bin.labels');
    expect(types).not.toContain('bin.iv');
    const numbers = new Set(numberLists(view).flat());
    for (const entry of view) for (const value of Object.values(entry.fields)) if (typeof value === 'number') numbers.add(value);
    expect(bankIvs().filter((iv) => numbers.has(iv))).toEqual([]);
    expect(accuracy(attack(view, data.probes), data.labelOf)).toBeLessThanOrEqual(majority);
  });
});
