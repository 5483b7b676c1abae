/**
 * Length-prefixed framing of messages over a byte stream (a TLS socket).
 *
 * On the wire each message is a 4-byte big-endian length followed by that many bytes of one
 * MessagePack frame (codec.ts). A length of 0 is a heartbeat: it carries nothing and tells
 * the peer that this party is alive while it computes (no MessagePack value is 0 bytes, so
 * it cannot be confused with a message).
 *
 * The decoder trusts nothing a peer sends: it reads a declared length before buffering the
 * body and rejects one above `MAX_FRAME_BYTES` at once, so a peer cannot make this party
 * allocate gigabytes by announcing them; every complete frame goes through the validating
 * codec. Any violation is an E_MESSAGE_MALFORMED error, after which the decoder accepts
 * nothing more (the stream has lost its frame boundaries and must be closed).
 */
import { errors, type JinqiaoError } from '../errors.ts';
import { decodeMessage, encodeMessage, MAX_FRAME_BYTES } from './codec.ts';
import type { Message } from '../protocol/messages.ts';

export const LENGTH_PREFIX_BYTES = 4;

/** The 4-byte big-endian prefix announcing a frame of `length` bytes. */
export function lengthPrefix(length: number): Uint8Array {
  const prefix = new Uint8Array(LENGTH_PREFIX_BYTES);
  new DataView(prefix.buffer).setUint32(0, length, false);
  return prefix;
}

/** A zero-length frame: "still here", nothing else. */
export const HEARTBEAT_FRAME: Uint8Array = lengthPrefix(0);

/** A message as it crosses the wire: the prefix and the MessagePack frame, kept apart to avoid copying large frames. */
export function encodeFrame(message: Message): { readonly prefix: Uint8Array; readonly frame: Uint8Array } {
  const frame = encodeMessage(message);
  if (frame.byteLength > MAX_FRAME_BYTES) {
    throw errors.messageMalformed(`${message.t}: frame of ${frame.byteLength} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit; send it in smaller batches`);
  }
  return { prefix: lengthPrefix(frame.byteLength), frame };
}

/**
 * Splits a byte stream into validated messages. Feed it chunks as they arrive, however
 * they are cut; it calls `onMessage` for each whole frame, in order.
 */
export class FrameDecoder {
  private readonly onMessage: (message: Message, frameBytes: number) => void;
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  /** Declared length of the frame being assembled, once its prefix is complete. */
  private expected: number | undefined;
  private failure: JinqiaoError | undefined;

  constructor(onMessage: (message: Message, frameBytes: number) => void) {
    this.onMessage = onMessage;
  }

  /** Bytes of an incomplete frame held so far (0 between frames). */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Throws E_MESSAGE_MALFORMED on the first bad frame, and again on every later call. */
  push(chunk: Uint8Array): void {
    if (this.failure) throw this.failure;
    if (chunk.byteLength === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    try {
      this.drain();
    } catch (e) {
      this.failure = e as JinqiaoError;
      this.chunks = [];
      this.buffered = 0;
      throw e;
    }
  }

  /** Why the stream cannot end here, or undefined when it ended on a frame boundary. */
  truncation(): string | undefined {
    if (this.buffered === 0) return undefined;
    return this.expected === undefined
      ? `the stream ended inside a length prefix (${this.buffered} of ${LENGTH_PREFIX_BYTES} bytes)`
      : `the stream ended inside a frame (${this.buffered} of ${this.expected} bytes)`;
  }

  private drain(): void {
    for (;;) {
      if (this.expected === undefined) {
        if (this.buffered < LENGTH_PREFIX_BYTES) return;
        const prefix = this.take(LENGTH_PREFIX_BYTES);
        const length = new DataView(prefix.buffer, prefix.byteOffset, LENGTH_PREFIX_BYTES).getUint32(0, false);
        if (length > MAX_FRAME_BYTES) {
          throw errors.messageMalformed(`declared frame length ${length} exceeds the ${MAX_FRAME_BYTES}-byte limit`);
        }
        if (length === 0) continue;
        this.expected = length;
      }
      if (this.buffered < this.expected) return;
      const frame = this.take(this.expected);
      this.expected = undefined;
      this.onMessage(decodeMessage(frame), frame.byteLength);
    }
  }

  /** Removes the first `n` buffered bytes; a frame within one chunk is a view, not a copy. */
  private take(n: number): Uint8Array {
    this.buffered -= n;
    const first = this.chunks[0]!;
    if (first.byteLength === n) {
      this.chunks.shift();
      return first;
    }
    if (first.byteLength > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const part = Math.min(chunk.byteLength, n - filled);
      out.set(chunk.subarray(0, part), filled);
      filled += part;
      if (part === chunk.byteLength) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(part);
    }
    return out;
  }
}
