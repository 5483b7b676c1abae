import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { MAX_FRAME_BYTES } from '../../src/transport/codec.ts';
import { encodeFrame, FrameDecoder, HEARTBEAT_FRAME, lengthPrefix } from '../../src/transport/frames.ts';
import { message, type Message } from '../../src/protocol/messages.ts';

function wire(...messages: Message[]): Uint8Array {
  const parts = messages.flatMap((m) => {
    const { prefix, frame } = encodeFrame(m);
    return [prefix, frame];
  });
  return concat(parts);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function collector(): { decoder: FrameDecoder; received: Message[] } {
  const received: Message[] = [];
  return { decoder: new FrameDecoder((m) => received.push(m)), received };
}

const sample = [
  message('psi.hello', { jobId: 'j-1', backend: 'x25519', idType: 'uscc', reveal: 'both' }),
  message('psi.blinded', { seq: 0, points: new Uint8Array(96).fill(9), last: false }),
  message('job.abort', { reason: 'stop' }),
];

describe('length-prefixed framing', () => {
  it('reassembles messages delivered one byte at a time', () => {
    const { decoder, received } = collector();
    for (const byte of wire(...sample)) decoder.push(Uint8Array.of(byte));
    expect(received.map((m) => m.t)).toEqual(['psi.hello', 'psi.blinded', 'job.abort']);
    expect(decoder.pendingBytes).toBe(0);
  });

  it('splits several messages coalesced into one chunk, and skips heartbeats', () => {
    const { decoder, received } = collector();
    decoder.push(concat([HEARTBEAT_FRAME, wire(...sample), HEARTBEAT_FRAME]));
    expect(received.map((m) => m.t)).toEqual(['psi.hello', 'psi.blinded', 'job.abort']);
    expect(new Uint8Array((received[1] as { points: Uint8Array }).points)).toEqual(new Uint8Array(96).fill(9));
  });

  it('rejects a declared length above MAX_FRAME_BYTES from its 4-byte prefix alone', () => {
    const { decoder, received } = collector();
    expect(() => decoder.push(lengthPrefix(MAX_FRAME_BYTES + 1))).toThrow(/declared frame length .* exceeds/);
    expect(decoder.pendingBytes).toBe(0);
    expect(received).toEqual([]);
  });

  it('delivers the messages before a bad frame, then accepts nothing more', () => {
    const { decoder, received } = collector();
    const junk = concat([lengthPrefix(3), Uint8Array.of(0xc1, 0xc1, 0xc1)]);
    let first: unknown;
    try {
      decoder.push(concat([wire(sample[0]!), junk]));
    } catch (e) {
      first = e;
    }
    expect(first).toMatchObject({ code: 'E_MESSAGE_MALFORMED' });
    expect(received.map((m) => m.t)).toEqual(['psi.hello']);
    expect(() => decoder.push(wire(sample[2]!))).toThrow(first as Error);
    expect(received).toHaveLength(1);
  });

  it('rejects truncated MessagePack and unknown message types inside well-formed frames', () => {
    const { frame } = encodeFrame(sample[1]!);
    const cut = frame.subarray(0, frame.byteLength - 5);
    expect(() => new FrameDecoder(() => {}).push(concat([lengthPrefix(cut.byteLength), cut]))).toThrow(/not MessagePack/);
    const unknown = new Packr({ useRecords: false }).pack({ t: 'psi.nope', v: 1 });
    expect(() => new FrameDecoder(() => {}).push(concat([lengthPrefix(unknown.byteLength), unknown]))).toThrow(/unknown message type/);
  });

  it('says where a stream that ends mid-frame was cut', () => {
    const { decoder } = collector();
    const bytes = wire(sample[1]!);
    decoder.push(bytes.subarray(0, 2));
    expect(decoder.truncation()).toMatch(/inside a length prefix \(2 of 4 bytes\)/);
    decoder.push(bytes.subarray(2, 20));
    expect(decoder.truncation()).toMatch(/inside a frame \(16 of \d+ bytes\)/);
    decoder.push(bytes.subarray(20));
    expect(decoder.truncation()).toBeUndefined();
  });
});
