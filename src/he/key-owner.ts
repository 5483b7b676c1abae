/**
 * (Arbiter) The CKKS key owner: makes the key pair, hands out the public bundle, and
 * answers masked decryption requests.
 *
 * Who learns what: the arbiter sees only masked values g + r (masking.ts) and the one
 * loss value; it never sees a party's mask. Parties get the public, relinearisation and
 * Galois keys, never the secret key. Security rests on the arbiter not colluding with the
 * label party (which holds [[d]] and could ask for it unmasked) and on 128-bit RLWE.
 *
 * Known weaknesses: the arbiter decrypts whatever it is sent, so it cannot tell a
 * gradient from another party's ciphertext relayed by a curious party; the protocol layer
 * must bind requests to their sender and round. Replies are rounded (Li–Micciancio
 * mitigation, see masking.ts), not noise-flooded.
 *
 * Keys go out in SEAL's seeded (`Serializable`) form with zstd: half the bytes. Galois
 * keys exist only for the steps asked for (`rotationSteps` in diagonals.ts).
 */
import { errors } from '../errors.ts';
import type { CiphertextBytes, HeKeyOwner, HeParams, MaskedPlainBytes, PublicKeyBundle } from './backend.ts';
import { checkBoundBits, checkCount, checkDecryptionRoom, checkPeriod, replicate, roundMasked, roundMaskedReply } from './masking.ts';
import { CkksCoefficients } from './ckks-coefficients.ts';
import type { SEALContext, SecretKey } from 'node-seal';
import { createContext, guarded, levelModulusBits, loadCiphertext, loadSeal, SealScope, scoped, type Seal } from './seal.ts';

export function checkRotationSteps(steps: readonly number[], slotCount: number): number[] {
  if (!Array.isArray(steps) || !steps.every((s) => Number.isInteger(s) && s !== 0 && Math.abs(s) < slotCount)) {
    throw errors.optionInvalid('rotationSteps', `must be non-zero integers with |step| < ${slotCount}`);
  }
  return [...new Set(steps)].sort((a, b) => a - b);
}

/** A kept secret key (`exportSecretKey`), loaded for `context`; bytes of another kind or other parameters are refused. */
function loadSecretKey(seal: Seal, context: SEALContext, bytes: Uint8Array, scope: SealScope): SecretKey {
  const key = scope.add(new seal.SecretKey());
  guarded(
    seal,
    () => key.loadFromArray(context, bytes),
    () => errors.keyInvalid('the arbiter\'s kept key', 'its bytes are not a CKKS secret key for the parameters it names', 'restore the key file the training job wrote (arbiter-key.secret); without it the encrypted model cannot be scored'),
  );
  return key;
}

export async function createCkksKeyOwner(params: HeParams, rotationSteps: readonly number[], kept?: Uint8Array): Promise<HeKeyOwner> {
  const seal = await loadSeal();
  const scope = new SealScope();
  try {
    const context = createContext(seal, params, scope);
    const slotCount = params.polyModulusDegree / 2;
    const steps = checkRotationSteps(rotationSteps, slotCount);
    const keygen = scope.add(kept === undefined ? new seal.KeyGenerator(context) : new seal.KeyGenerator(context, loadSecretKey(seal, context, kept, scope)));
    const secretKey = scope.add(keygen.secretKey());
    const zstd = seal.ComprModeType.zstd;
    const bundle: PublicKeyBundle = Object.freeze({
      params,
      rotationSteps: Object.freeze(steps),
      publicKey: scoped((s) => s.add(keygen.createPublicKeySerializable()).saveToArray(zstd) as Uint8Array),
      relinKeys: scoped((s) => s.add(keygen.createRelinKeysSerializable()).saveToArray(zstd) as Uint8Array),
      galoisKeys:
        steps.length === 0
          ? new Uint8Array(0)
          : scoped((s) => s.add(keygen.createGaloisKeysSerializableWithSteps(Int32Array.from(steps))).saveToArray(zstd) as Uint8Array),
    });
    const decryptor = scope.add(new seal.Decryptor(context, secretKey));
    const encoder = scope.add(new seal.CKKSEncoder(context));
    const publicKey = scope.add(keygen.createPublicKey());
    const encryptor = scope.add(new seal.Encryptor(context, publicKey));
    let packing: CkksCoefficients | undefined;
    const decryptRounded = (masked: CiphertextBytes, count: number, boundBits: number): Float64Array =>
      scoped((s) => {
        const ct = loadCiphertext(seal, context, params, masked, s);
        checkDecryptionRoom(params, levelModulusBits(context, ct, s), ct.scale(), boundBits);
        const plain = s.add(new seal.Plaintext());
        decryptor.decrypt(ct, plain);
        return roundMasked(params, encoder.decodeFloat64(plain) as Float64Array, count, boundBits);
      });
    return {
      params,
      slotCount,
      publicBundle: () => bundle,
      decryptMasked(masked: CiphertextBytes, count: number, boundBits: number): MaskedPlainBytes {
        checkCount(count, slotCount);
        checkBoundBits(params, boundBits);
        return roundMaskedReply(params, decryptRounded(masked, count, boundBits), count, boundBits);
      },
      refreshMasked(masked: CiphertextBytes, period: number, boundBits: number): CiphertextBytes {
        checkPeriod(period, slotCount);
        checkBoundBits(params, boundBits);
        const values = replicate(decryptRounded(masked, period, boundBits), slotCount);
        return scoped((s) => {
          const plain = s.add(new seal.Plaintext());
          encoder.encode(values, 2 ** params.scaleBits, plain);
          const fresh = s.add(new seal.Ciphertext());
          encryptor.encrypt(plain, fresh);
          values.fill(0);
          return fresh.saveToArray(seal.ComprModeType.none) as Uint8Array;
        });
      },
      decryptCoefficients(masked: CiphertextBytes, rowsPerChunk: number, count: number): MaskedPlainBytes {
        packing ??= new CkksCoefficients(seal, context, encoder, encryptor, scope.add(new seal.Evaluator(context)), scope);
        return packing.decrypt(decryptor, masked, rowsPerChunk, count);
      },
      exportSecretKey: () => secretKey.saveToArray(zstd) as Uint8Array,
      dispose: () => scope.dispose(),
    };
  } catch (e) {
    scope.dispose();
    throw e;
  }
}
