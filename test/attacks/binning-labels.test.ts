/**
 * Attack: label recovery by an agency from what federated binning showed it.
 *
 * The agency's view is every message it received (decoded from the frames on its channels
 * to the bank and to the arbiter), its own table and its own bins. The attack looks in the
 * view for any list of numbers with one entry per bin of its features, reads it as per-bin
 * bad counts, derives each bin's bad rate from its own bin sizes, and guesses y = 1 for
 * every row whose bin's rate exceeds ½; it reads any ciphertext as the mock backend's
 * plaintext layout if it can; with nothing usable it guesses the usual majority, y = 0.
 * Success measure: the share of aligned rows it labels correctly against the majority-class
 * rate.
 *
 * Positive control: a leaky bank that also sends each agency its bins' bad counts in the
 * clear (what a "share the bin statistics" shortcut would do). The attack must beat the
 * majority rate there by a wide margin, which proves it works; against the real protocol
 * (CKKS) it must not beat it at all.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { binIndex } from '../../src/binning/bins.ts';
import { binTables, type BinningResult } from '../../src/binning/in-process.ts';
import { loadFeatureTable, type FeatureTable } from '../../src/data/table.ts';
import { decodeMessage } from '../../src/transport/codec.ts';
import { SeededRng } from '../../src/util/rng.ts';
import { uscc } from '../helpers/ids.ts';

const AGENCY = 'tax_bureau';
const dir = mkdtempSync(join(tmpdir(), 'jinqiao-attack-binning-'));

/** 2,000 enterprises, about half of them bad, and an agency feature that predicts the label well. */
async function parties(): Promise<{ bank: FeatureTable; agency: FeatureTable; labelOf: Map<string, number> }> {
  const rng = SeededRng.fromSeed('jinqiao/test/attack-binning', 'data');
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(rng.nextFloat(), 1e-12))) * Math.cos(2 * Math.PI * rng.nextFloat());
  const bank = ['uscc,defaulted,loan_amount'];
  const agency = ['uscc,vat_paid,invoices'];
  const labelOf = new Map<string, number>();
  for (let i = 0; i < 2000; i++) {
    const id = uscc(70_000 + i);
    const vat = normal();
    const y = rng.nextFloat() < 1 / (1 + Math.exp(-3 * vat)) ? 1 : 0;
    labelOf.set(id, y);
    bank.push(`${id},${y},${(normal() * 10 + 100).toFixed(3)}`);
    agency.push(`${id},${vat.toFixed(4)},${Math.floor(rng.nextFloat() * 50)}`);
  }
  writeFileSync(join(dir, 'bank.csv'), bank.join('\n') + '\n');
  writeFileSync(join(dir, `${AGENCY}.csv`), agency.join('\n') + '\n');
  return {
    bank: await loadFeatureTable(join(dir, 'bank.csv'), { idColumn: 'uscc', labelColumn: 'defaulted' }),
    agency: await loadFeatureTable(join(dir, `${AGENCY}.csv`), { idColumn: 'uscc' }),
    labelOf,
  };
}

interface AgencyView {
  /** Every message it received, decoded (the leaky variant adds one the protocol has no type for). */
  readonly received: readonly Readonly<Record<string, unknown>>[];
  /** The agency's own bins: per feature, the edges it computed (it keeps them). */
  readonly edges: readonly (readonly number[])[];
}

/** The attack: label guesses for the agency's rows (by ID), from its view only. */
function attack(view: AgencyView, table: FeatureTable): Map<string, number> {
  const width = table.featureNames.length;
  const binsOf = (row: number) => view.edges.map((edges, j) => binIndex(edges.slice(1, -1), table.values[row * width + j]!));
  const binCounts = view.edges.map((edges) => new Array<number>(edges.length - 1).fill(0));
  for (let row = 0; row < table.rowCount; row++) binsOf(row).forEach((b, j) => binCounts[j]![b]!++);
  const columns = binCounts.reduce((a, c) => a + c.length, 0);
  // Any per-bin list of numbers anywhere in the view, read as bad counts.
  for (const msg of view.received) {
    for (const value of Object.values(msg)) {
      if (!Array.isArray(value) || value.length !== columns || !value.every((v) => typeof v === 'number')) continue;
      const rates = binCounts.map((counts, j) => {
        const offset = binCounts.slice(0, j).reduce((a, c) => a + c.length, 0);
        return counts.map((n, b) => (value[offset + b] as number) / Math.max(n, 1));
      });
      const strongest = rates.map((r) => Math.max(...r) - Math.min(...r)).reduce((best, spread, j, all) => (spread > all[best]! ? j : best), 0);
      return new Map(table.ids.map((id, row) => [id, rates[strongest]![binsOf(row)[strongest]!]! > 0.5 ? 1 : 0]));
    }
  }
  // Ciphertexts read as the mock backend's layout (tag, then Float64 slots): labels if readable.
  for (const msg of view.received) {
    if (msg.t !== 'bin.labels') continue;
    const tag = new TextDecoder().decode((msg.labels as Uint8Array[])[0]!.subarray(0, 8));
    if (tag.startsWith('JQMOCK')) throw new Error('the agency can read the labels: the mock backend hides nothing');
  }
  return new Map(table.ids.map((id) => [id, 0]));
}

function accuracy(guesses: Map<string, number>, labelOf: Map<string, number>): number {
  let right = 0;
  for (const [id, y] of guesses) if (labelOf.get(id) === y) right++;
  return right / guesses.size;
}

/** Runs the real protocol under CKKS and returns what the agency received; `leaky` adds the bank's leak. */
async function agencyView(data: Awaited<ReturnType<typeof parties>>, leaky: boolean): Promise<{ view: AgencyView; result: BinningResult }> {
  const frames: Uint8Array[] = [];
  const result = await binTables({
    label: { table: data.bank },
    features: [{ table: data.agency, name: AGENCY }],
    config: { he: 'ckks', threads: 0, seed: 'attack' },
    tap: (_from, to, frame) => {
      if (to === AGENCY) frames.push(frame);
    },
  });
  const agency = result.parties.find((p) => p.party === AGENCY)!;
  const received: Readonly<Record<string, unknown>>[] = frames.map((f) => decodeMessage(f));
  // The leaky variant: the bank also tells the agency its bins' bad counts, in the clear.
  if (leaky) received.push({ t: 'leak.binBads', bads: agency.features.flatMap((f) => [...f.bins.map((b) => b.bads), ...(f.missing ? [f.missing.bads] : [])]) });
  return { view: { received, edges: agency.features.map((f) => f.edges) }, result };
}

describe('attack: an agency recovers labels from what binning showed it', () => {
  it('succeeds against a bank that sends the agency per-bin bad counts (positive control)', async () => {
    const data = await parties();
    const { view, result } = await agencyView(data, true);
    const majority = Math.max(result.bads, result.rows - result.bads) / result.rows;
    const recovered = accuracy(attack(view, data.agency), data.labelOf);
    expect(majority).toBeLessThan(0.55);
    expect(recovered).toBeGreaterThan(majority + 0.2);
  }, 120_000);

  it('stays at the majority rate against the real protocol (CKKS)', async () => {
    const data = await parties();
    const { view, result } = await agencyView(data, false);
    const majority = Math.max(result.bads, result.rows - result.bads) / result.rows;
    expect(view.received.map((m) => m.t)).toContain('bin.labels');
    expect(view.received.map((m) => m.t)).not.toContain('bin.iv');
    expect(accuracy(attack(view, data.agency), data.labelOf)).toBeLessThanOrEqual(majority);
  }, 120_000);
});
