/**
 * Attack: reading register values off a verification tag file, offline (the bank's view).
 * At loan-book scale the agency publishes tags of (id ‖ field ‖ band key) for every value it
 * holds (`psi prepare --field`). A bank holding the file and the list of enterprise IDs
 * (the worst case: a public directory of the whole register) computes, without a single
 * OPRF evaluation, the tag of every candidate input, every staff count from 0 to 499 and
 * every VAT band of the range, and looks each up in the file.
 *
 * Its view: the tag file (header: key id, domain, fields, count; the sorted tags) and the
 * candidate IDs. Success measure: enterprises whose staff count and VAT band it recovers
 * (chance: one staff count in 500, one band in ~70).
 *
 * Positive control: tags as unkeyed hashes H2(H1(x)) (the agency's multiply left out): the
 * dictionary recovers every enterprise's values. Real protocol: tags are H2(k·H1(x)) under
 * the agency's key; the same dictionary finds no tag, and the bank's best guess stays at
 * chance.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { gridWidth, registerKeys, verificationInput } from '../../src/lookup/bands.ts';
import { oprfHashPrefix } from '../../src/lookup/online.ts';
import { tagOf, TAG_BYTES } from '../../src/lookup/oprf.ts';
import { readTagFile } from '../../src/lookup/tag-file.ts';
import { parseFieldCheck, prepareVerification } from '../../src/lookup/verify.ts';
import { loadBackend } from '../../src/psi/backends/index.ts';
import { POINT_BYTES } from '../../src/psi/group.ts';
import { uscc } from '../helpers/ids.ts';

/** The leaky variant: the agency's offline phase hashes its inputs into the group and never raises them to its key. */
const leaky = vi.hoisted(() => ({ on: false }));
vi.mock('../../src/psi/executor.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/psi/executor.ts')>();
  const { loadBackend: load } = await import('../../src/psi/backends/index.ts');
  return {
    ...real,
    inlineExecutor: () => {
      const inline = real.inlineExecutor();
      return {
        ...inline,
        hashAndBlind: async (...args: Parameters<typeof inline.hashAndBlind>) => {
          if (!leaky.on) return inline.hashAndBlind(...args);
          const [name, prefix, batch] = args;
          const group = await load(name);
          const n = batch.offsets.length - 1;
          const out = new Uint8Array(n * 32);
          for (let i = 0; i < n; i++) group.hashToGroup(Buffer.concat([prefix, batch.bytes.subarray(batch.offsets[i]!, batch.offsets[i + 1]!)]), out, i * 32);
          return out;
        },
      };
    },
  };
});

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-attack-dictionary-'));
const N = 80;
const ids = Array.from({ length: N }, (_, i) => uscc(95_000 + i));
const [LOW, HIGH] = [Math.log(10), Math.log(1e4)];
const vat = ids.map((_, i) => Math.exp(LOW + (HIGH - LOW) * ((i * 0.6180339887) % 1)));
const staff = ids.map((_, i) => (i * 7919 + 13) % 500);
const VAT = parseFieldCheck('vat:tol=0.1');
const STAFF = parseFieldCheck('staff');
const registerFile = join(dir, 'register.csv');
writeFileSync(registerFile, 'uscc,vat,staff\n' + ids.map((id, i) => `${id},${vat[i]},${staff[i]}`).join('\n') + '\n');

/** (Bank) Looks up the unkeyed tag of every candidate input; returns per enterprise the staff count and VAT grid-0 band it finds. */
async function dictionary(file: string): Promise<{ staff: (number | undefined)[]; vatBand: (string | undefined)[]; tried: number }> {
  const { header, tags } = await readTagFile(file);
  const prefix = oprfHashPrefix(header.keyId, header.domain);
  const group = await loadBackend(header.backend);
  const point = new Uint8Array(POINT_BYTES);
  const tag = new Uint8Array(TAG_BYTES);
  let tried = 0;
  const held = (input: string) => {
    tried++;
    group.hashToGroup(Buffer.concat([prefix, Buffer.from(input)]), point, 0);
    tagOf(point, tag, 0);
    return tags.indexOf(tag, 0) >= 0;
  };
  const W = gridWidth(VAT.tolerance!);
  const grid0 = Array.from({ length: Math.ceil((HIGH - LOW) / W) + 4 }, (_, j) => `g0:+${Math.floor(LOW / W) - 2 + j}`);
  return {
    staff: ids.map((id) => Array.from({ length: 500 }, (_, s) => s).find((s) => held(verificationInput(id, STAFF.field, `eq:${s}`)))),
    vatBand: ids.map((id) => grid0.find((key) => held(verificationInput(id, VAT.field, key)))),
    tried,
  };
}

async function prepare(name: string): Promise<string> {
  const out = join(dir, `${name}.tags`);
  await prepareVerification({ register: { file: registerFile, idColumn: 'uscc' }, checks: [VAT, STAFF], keyDir: join(dir, `${name}-key`), backend: 'x25519', out, threads: 0 });
  return out;
}

describe('attack: reading register values off a verification tag file by dictionary', () => {
  it('positive control: from unkeyed tags, the dictionary recovers every staff count and VAT band', async () => {
    leaky.on = true;
    let file: string;
    try {
      file = await prepare('unkeyed');
    } finally {
      leaky.on = false;
    }
    const found = await dictionary(file);
    ids.forEach((_, e) => {
      expect(found.staff[e]).toBe(staff[e]);
      expect(found.vatBand[e]).toBe(registerKeys(vat[e]!, VAT)[0]);
    });
  }, 60_000);

  it('from the keyed tags, the same dictionary finds nothing', async () => {
    const found = await dictionary(await prepare('keyed'));
    expect(found.tried).toBeGreaterThan(N * 500);
    expect(found.staff.filter((s) => s !== undefined)).toEqual([]);
    expect(found.vatBand.filter((b) => b !== undefined)).toEqual([]);
  }, 60_000);
});
