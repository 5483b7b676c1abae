import { chmodSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/governance/canonical.ts';
import { generateKeyPair, keyIdOf, loadPublicKey, loadSecretKey, saveKeyPair, sign, verify } from '../../src/governance/keys.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-keys-'));

describe('party keys', () => {
  it('names a key by the hex of the first 16 bytes of SHA-256 of its public key', () => {
    const pair = generateKeyPair();
    expect(pair.keyId).toBe(bytesToHex(sha256(pair.publicKey).subarray(0, 16)));
    expect(keyIdOf(pair.publicKey)).toMatch(/^[0-9a-f]{32}$/);
  });

  it('saves the secret key with mode 0600, loads both halves back, and never overwrites', async () => {
    const pair = generateKeyPair();
    const { secretKeyFile, publicKeyFile } = await saveKeyPair(join(dir, 'platform'), pair);
    if (process.platform !== 'win32') expect(statSync(secretKeyFile).mode & 0o777).toBe(0o600);
    expect(await loadSecretKey(secretKeyFile)).toEqual(pair);
    expect(await loadPublicKey(publicKeyFile)).toEqual({ publicKey: pair.publicKey, keyId: pair.keyId });
    expect(readFileSync(publicKeyFile, 'utf8')).not.toContain(bytesToHex(pair.secretKey));
    await expect(saveKeyPair(join(dir, 'platform'), generateKeyPair())).rejects.toMatchObject({ code: 'E_OUTPUT_UNWRITABLE' });
    expect(await loadSecretKey(secretKeyFile)).toEqual(pair);
  });

  it('refuses a secret key others can read, and a secret key passed where a public key belongs', async () => {
    const { secretKeyFile } = await saveKeyPair(join(dir, 'careless'), generateKeyPair());
    await expect(loadPublicKey(secretKeyFile)).rejects.toMatchObject({ code: 'E_KEY_INVALID' });
    if (process.platform === 'win32') return;
    chmodSync(secretKeyFile, 0o644);
    await expect(loadSecretKey(secretKeyFile)).rejects.toMatchObject({ code: 'E_KEY_INVALID', hint: expect.stringContaining('chmod 600') });
  });

  it('binds every signature to its kind of document', () => {
    const pair = generateKeyPair();
    const message = utf8ToBytes('entry');
    const signature = sign(pair.secretKey, 'jinqiao/audit-entry/v1', message);
    expect(verify(pair.publicKey, 'jinqiao/audit-entry/v1', message, signature)).toBe(true);
    expect(verify(pair.publicKey, 'jinqiao/consent/v1', message, signature)).toBe(false);
    expect(verify(pair.publicKey, 'jinqiao/audit-entry/v1', message, signature.subarray(1))).toBe(false);
  });
});

describe('canonical JSON', () => {
  it('serialises equal values to equal bytes whatever the key order', () => {
    expect(canonicalJson({ b: [1, { d: 'x', c: null }], a: true })).toBe('{"a":true,"b":[1,{"c":null,"d":"x"}]}');
  });

  it('rejects what JSON cannot carry faithfully, naming where', () => {
    expect(() => canonicalJson({ a: { b: Number.NaN } }, 'details')).toThrow(/details\.a\.b/);
    expect(() => canonicalJson({ when: new Date() }, 'details')).toThrow(/details\.when.*Date/);
    expect(() => canonicalJson({ x: undefined })).toThrow(/undefined/);
  });
});
