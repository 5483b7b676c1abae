import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '../../src/transport/codec.ts';
import { message } from '../../src/protocol/messages.ts';

describe('wire codec', () => {
  it('round-trips every PSI message', () => {
    const msgs = [
      message('psi.hello', { jobId: 'j', backend: 'x25519', idType: 'uscc', reveal: 'both' }),
      message('psi.blinded', { seq: 3, points: new Uint8Array(64).fill(7), last: true }),
      message('psi.reblinded', { seq: 0, points: new Uint8Array(0), last: false }),
      message('job.abort', { reason: 'stopped' }),
    ];
    for (const m of msgs) {
      const back = decodeMessage(encodeMessage(m)) as Record<string, unknown>;
      expect({ ...back, ...('points' in back ? { points: new Uint8Array(back.points as Uint8Array) } : {}) }).toEqual(m);
    }
  });

  it('is readable by a standard MessagePack decoder (no record extension)', () => {
    const frame = encodeMessage(message('job.abort', { reason: 'x' }));
    const plain = new Packr().unpack(frame) as Map<string, unknown>;
    expect(Object.fromEntries(plain)).toEqual({ t: 'job.abort', v: 1, reason: 'x' });
  });

  it('rejects trailing bytes, truncation, unknown types, wrong versions and wrong field types', () => {
    const frame = encodeMessage(message('psi.blinded', { seq: 1, points: new Uint8Array(32), last: false }));
    const p = new Packr({ useRecords: false });
    expect(() => decodeMessage(new Uint8Array([...frame, 0]))).toThrow(/one value per frame/);
    expect(() => decodeMessage(frame.subarray(0, frame.length - 3))).toThrow(/not MessagePack/);
    expect(() => decodeMessage(p.pack({ t: 'psi.nope', v: 1 }))).toThrow(/unknown message type/);
    expect(() => decodeMessage(p.pack({ t: 'job.abort', v: 9, reason: 'x' }))).toThrow(/version 9/);
    expect(() => decodeMessage(p.pack({ t: 'psi.blinded', v: 1, seq: -1, points: new Uint8Array(0), last: true }))).toThrow(/"seq" must be uint/);
    expect(() => decodeMessage(p.pack({ t: 'job.abort', v: 1, reason: 'x', id: '91350100M000100Y43' }))).toThrow(/unexpected field "id"/);
    expect(() => decodeMessage(p.pack([1, 2]))).toThrow(/must be a map/);
  });

  it('refuses the hellos of a peer that hashes IDs onto the curve or its twist (version 1), whose points would match nothing', () => {
    const p = new Packr({ useRecords: false });
    expect(() => decodeMessage(p.pack({ t: 'psi.hello', v: 1, jobId: 'j', backend: 'x25519', idType: 'uscc', reveal: 'both' }))).toThrow(/psi.hello: version 1 is not the supported version 2/);
    expect(() => decodeMessage(p.pack({ t: 'oprf.hello', v: 1, keyId: 'k', backend: 'x25519', domain: 'psi' }))).toThrow(/oprf.hello: version 1 is not the supported version 2/);
    expect(() => decodeMessage(p.pack({ t: 'score.hello', v: 1, modelJobId: 'm', session: 's' }))).toThrow(/score.hello: version 1 is not the supported version 2/);
  });

  it('carries a job spec as a record of plain values, and refuses anything else inside it', () => {
    const spec = { kind: 'training', jobId: 'j', purpose: 'credit-modeling', table: 't', arbiter: 'arbiter', parties: ['bank', 'tax'], idType: 'uscc', modelJobId: '' };
    const config = { epochs: 3, earlyStopping: { patience: 2, minDelta: 0.01 }, schedule: null };
    expect(decodeMessage(encodeMessage(message('job.spec', { ...spec, config })))).toMatchObject({ config });
    const p = new Packr({ useRecords: false });
    for (const bad of [{ epochs: new Uint8Array(3) }, { lr: Infinity }, [1, 2], 'epochs=3', { deep: JSON.parse('{"a":'.repeat(12) + '1' + '}'.repeat(12)) }]) {
      expect(() => decodeMessage(p.pack({ t: 'job.spec', v: 2, ...spec, config: bad }))).toThrow(/"config" must be record/);
    }
  });
});
