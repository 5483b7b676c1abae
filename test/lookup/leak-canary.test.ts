/**
 * The leak canary for verification and lookup: every byte either party sends (and the
 * published tag files: prepared verification and PSI tags, blind lookup's labeled set) is searched for every planted ID, claimed
 * value and register value, in every encoding we can think of, and for the unblinded
 * H1(input) an eavesdropper could compute from a guess. Identified lookup sends IDs and
 * values by design: it is the positive control that shows the search finds them.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimKeys, verificationInput } from '../../src/lookup/bands.ts';
import { prepareLabeledSet, runLookup } from '../../src/lookup/lookup.ts';
import { oprfHashPrefix } from '../../src/lookup/online.ts';
import { ephemeralOprfKey } from '../../src/lookup/oprf-key.ts';
import { prepareRegister, runUnbalancedPsi } from '../../src/lookup/unbalanced-psi.ts';
import { parseFieldCheck, preparedVerifyDomain, prepareVerification, runPreparedVerification, runVerification, VERIFY_DOMAIN } from '../../src/lookup/verify.ts';
import { loadBackend } from '../../src/psi/backends/index.ts';
import { inlineExecutor } from '../../src/psi/executor.ts';
import { decodeMessage } from '../../src/transport/codec.ts';
import { findNeedles } from '../helpers/canary.ts';
import { uscc } from '../helpers/ids.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-lookup-canary-'));
const ids = Array.from({ length: 40 }, (_, i) => uscc(4000 + i));
// Values long enough (≥ 8 bytes as text) that a chance match in random bytes is negligible.
const registerVat = ids.map((_, i) => (1_234_567.25 + i * 1_001.5).toFixed(2));
const registerStaff = ids.map((_, i) => String(10_000_000 + i * 7919));
const claimedVat = ids.map((_, i) => (Number(registerVat[i]) * (i % 2 ? 1.03 : 1.4)).toFixed(2));
const claimedStaff = ids.map((_, i) => String(Number(registerStaff[i]) + (i % 3)));
const registerFile = join(dir, 'register.csv');
writeFileSync(registerFile, 'id,vat,staff,grade\n' + ids.map((id, i) => `${id},${registerVat[i]},${registerStaff[i]},grade-${9_000_000 + i}`).join('\n') + '\n');
// The bank asks about half of the register's enterprises and about as many it does not hold.
const asked = [...ids.slice(0, 20), ...Array.from({ length: 20 }, (_, i) => uscc(9000 + i))];
const claimsFile = join(dir, 'claims.csv');
writeFileSync(claimsFile, 'id,vat,staff\n' + asked.map((id, i) => `${id},${claimedVat[i % 40]},${claimedStaff[i % 40]}`).join('\n') + '\n');
const queriesFile = join(dir, 'queries.csv');
writeFileSync(queriesFile, 'id\n' + asked.join('\n') + '\n');

function textNeedles(name: string, value: string): [string, Uint8Array][] {
  const utf8 = Buffer.from(value, 'utf8');
  const out: [string, Uint8Array][] = [
    [`${name} utf8`, utf8],
    [`${name} utf16`, Buffer.from(value, 'utf16le')],
    [`${name} hex`, Buffer.from(utf8.toString('hex'))],
    [`${name} base64`, Buffer.from(utf8.toString('base64').replace(/=+$/, ''))],
  ];
  const n = Number(value);
  if (value !== '' && Number.isFinite(n)) {
    const be = Buffer.alloc(8);
    be.writeDoubleBE(n);
    const le = Buffer.alloc(8);
    le.writeDoubleLE(n);
    out.push([`${name} f64be`, be], [`${name} f64le`, le]);
  }
  return out.filter(([, bytes]) => bytes.length >= 8);
}

const planted: [string, Uint8Array][] = [
  ...ids.flatMap((id, i) => [...textNeedles(`id ${i}`, id), ...textNeedles(`register vat ${i}`, registerVat[i]!), ...textNeedles(`register staff ${i}`, registerStaff[i]!), ...textNeedles(`grade ${i}`, `grade-${9_000_000 + i}`)]),
  ...asked.slice(20).flatMap((id, i) => textNeedles(`unheld id ${i}`, id)),
  ...claimedVat.flatMap((v, i) => textNeedles(`claimed vat ${i}`, v)),
  ...claimedStaff.flatMap((v, i) => textNeedles(`claimed staff ${i}`, v)),
];

/** The key id the bank's session names (public: it is in the tag file's header). */
function helloKeyId(frames: readonly Buffer[]): string {
  const hello = frames.map((f) => decodeMessage(f)).find((m) => m.t === 'oprf.hello');
  if (hello?.t !== 'oprf.hello') throw new Error('no oprf.hello was sent');
  return hello.keyId;
}

/** H1(input) for guessed inputs: what an eavesdropper could compute without the key. */
async function unblindedHashes(keyId: string, domain: string, inputs: readonly string[]): Promise<[string, Uint8Array][]> {
  const group = await loadBackend('x25519');
  const prefix = oprfHashPrefix(keyId, domain);
  return inputs.map((input) => {
    const h = new Uint8Array(32);
    group.hashToGroup(Buffer.concat([prefix, Buffer.from(input)]), h, 0);
    return [`H1(${input})`, h.subarray(0, 16)];
  });
}

describe('verification and lookup leak canary', () => {
  it('blind verification: no ID, claimed value or register value in any message', async () => {
    const frames: Buffer[] = [];
    const r = await runVerification({
      claims: { file: claimsFile, idColumn: 'id' },
      register: { file: registerFile, idColumn: 'id' },
      checks: [parseFieldCheck('vat:tol=0.05'), parseFieldCheck('staff')],
      backend: 'x25519',
      threads: 0,
      tap: (_f, _t, frame) => frames.push(Buffer.from(frame)),
    });
    expect(r.verdicts.filter((v) => v.consistent).length).toBeGreaterThan(5);
    const wire = Buffer.concat(frames);
    expect(wire.length).toBeGreaterThan(asked.length * 2 * 32 * 2);
    expect(findNeedles(wire, planted)).toEqual([]);
    const inputs = asked.flatMap((id, i) => [
      verificationInput(id, 'vat', claimKeys(Number(claimedVat[i % 40]), { field: 'vat', tolerance: 0.05 })[0]),
      verificationInput(id, 'staff', claimKeys(Number(claimedStaff[i % 40]), { field: 'staff', tolerance: undefined })[0]),
    ]);
    const keyId = helloKeyId(frames);
    expect(findNeedles(wire, await unblindedHashes(keyId, VERIFY_DOMAIN, inputs))).toEqual([]);
  });

  it('verification against prepared tags (loan-book scale): no ID, claimed value or register value in any message or in the tag file', async () => {
    const checks = [parseFieldCheck('vat:tol=0.05'), parseFieldCheck('staff')];
    const tags = join(dir, 'verify.tags');
    const keyDir = join(dir, 'verify-key');
    await prepareVerification({ register: { file: registerFile, idColumn: 'id' }, checks, keyDir, backend: 'x25519', out: tags, threads: 0 });
    const frames: Buffer[] = [];
    const r = await runPreparedVerification({ claims: { file: claimsFile, idColumn: 'id' }, prepared: tags, keyDir, threads: 0, tap: (_f, _t, frame) => frames.push(Buffer.from(frame)) });
    expect(r.verdicts.filter((v) => v.consistent).length).toBeGreaterThan(5);
    const wire = Buffer.concat(frames);
    expect(wire.length).toBeGreaterThan(asked.length * 2 * 32 * 2);
    expect(findNeedles(wire, planted)).toEqual([]);
    expect(findNeedles(readFileSync(tags), planted)).toEqual([]);
    const inputs = asked.flatMap((id, i) => [
      verificationInput(id, 'vat', claimKeys(Number(claimedVat[i % 40]), { field: 'vat', tolerance: 0.05 })[0]),
      verificationInput(id, 'staff', claimKeys(Number(claimedStaff[i % 40]), { field: 'staff', tolerance: undefined })[0]),
    ]);
    expect(findNeedles(wire, await unblindedHashes(helloKeyId(frames), preparedVerifyDomain(checks), inputs))).toEqual([]);
  });

  it('unbalanced PSI against prepared tags: no ID in any message or in the tag file', async () => {
    const tags = join(dir, 'psi.tags');
    const keyDir = join(dir, 'psi-key');
    await prepareRegister({ file: registerFile, idColumn: 'id', keyDir, backend: 'x25519', out: tags, threads: 0 });
    const frames: Buffer[] = [];
    const r = await runUnbalancedPsi({ bank: { file: queriesFile, idColumn: 'id' }, prepared: tags, keyDir, threads: 0, tap: (_f, _t, frame) => frames.push(Buffer.from(frame)) });
    expect(r.intersection).toBe(20);
    const wire = Buffer.concat(frames);
    expect(wire.length).toBeGreaterThan(asked.length * 32 * 2);
    expect(findNeedles(wire, planted)).toEqual([]);
    expect(findNeedles(readFileSync(tags), planted)).toEqual([]);
    expect(findNeedles(wire, await unblindedHashes(helloKeyId(frames), 'psi', asked))).toEqual([]);
  });

  it('blind lookup: no ID or field value in any message or in the published labeled set', async () => {
    const frames: Buffer[] = [];
    const r = await runLookup({
      queries: { file: queriesFile, idColumn: 'id' },
      register: { file: registerFile, idColumn: 'id' },
      request: { partner: 'bank', purpose: 'loan-verification', fields: ['vat', 'staff', 'grade'] },
      blind: true,
      agency: {},
      backend: 'x25519',
      threads: 0,
      tap: (_f, _t, frame) => frames.push(Buffer.from(frame)),
    });
    expect(r.answered).toBe(20);
    expect(r.rows[3]).toEqual([registerVat[3], registerStaff[3], `grade-${9_000_003}`]);
    const wire = Buffer.concat(frames);
    expect(findNeedles(wire, planted)).toEqual([]);
    const keyId = helloKeyId(frames);
    expect(findNeedles(wire, await unblindedHashes(keyId, 'lookup:loan-verification', asked))).toEqual([]);

    // What the agency publishes for the bank: tags and sealed labels, under a key of its own.
    const register = { idType: 'uscc' as const, columns: ['id', 'vat', 'staff', 'grade'], rows: new Map(ids.map((id, i) => [id, [id, registerVat[i]!, registerStaff[i]!, `grade-${9_000_000 + i}`]])) };
    const key = await ephemeralOprfKey('x25519');
    const set = await prepareLabeledSet({ executor: inlineExecutor(), key }, register, { partner: 'bank', purpose: 'loan-verification', fields: ['vat', 'staff', 'grade'] }, {});
    const published = Buffer.concat([set.tags.tags, set.tags.labels!]);
    expect(set.tags.size).toBe(ids.length);
    expect(findNeedles(published, planted)).toEqual([]);
    expect(findNeedles(published, await unblindedHashes(key.keyId, set.domain, ids))).toEqual([]);
  });

  it('positive control: identified lookup sends IDs and values by design, and the search finds them', async () => {
    const frames: Buffer[] = [];
    await runLookup({
      queries: { file: queriesFile, idColumn: 'id' },
      register: { file: registerFile, idColumn: 'id' },
      request: { partner: 'bank', purpose: 'loan-verification', fields: ['vat'] },
      blind: false,
      agency: {},
      backend: 'x25519',
      tap: (_f, _t, frame) => frames.push(Buffer.from(frame)),
    });
    const found = findNeedles(Buffer.concat(frames), planted);
    expect(found).toContain('id 0 utf8');
    expect(found).toContain('register vat 3 utf8');
    expect(found).not.toContain('register staff 3 utf8');
  });
});
