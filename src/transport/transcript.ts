/**
 * A transcript for auditors: every message a party RECEIVED, as `{ from, type, fields }`,
 * with numbers and arrays of numbers as JSON numbers and ciphertexts, keys and other
 * opaque bytes as `{ bytes: <length> }`, so that an auditor can count what each party saw
 * in the clear. Values that travel as Float64 bytes but are numbers (`he.decrypted`'s
 * masked values) are decoded to numbers: the transcript must not hide a number as bytes.
 *
 * `recordingChannel` wraps any Channel (in-memory, TLS): it records on receipt and passes
 * every message through unchanged.
 */
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { writeAtomically } from '../data/write.ts';
import type { Channel } from '../protocol/channel.ts';
import type { Message, MessageOf, MessageType } from '../protocol/messages.ts';

export type TranscriptValue = string | number | boolean | { readonly bytes: number } | readonly TranscriptValue[];

export interface TranscriptEntry {
  readonly from: string;
  readonly type: string;
  readonly fields: Readonly<Record<string, TranscriptValue>>;
}

/** Fields whose bytes are Float64 little-endian numbers on the wire. */
const NUMBER_BYTES: ReadonlySet<string> = new Set(['he.decrypted.values']);

/** What a received message shows an auditor. */
export function transcriptEntry(from: string, msg: Message): TranscriptEntry {
  const fields: Record<string, TranscriptValue> = {};
  for (const [key, value] of Object.entries(msg)) {
    if (key === 't' || key === 'v') continue;
    fields[key] = NUMBER_BYTES.has(`${msg.t}.${key}`) ? float64s(value as Uint8Array) : shown(value);
  }
  return { from, type: msg.t, fields };
}

function shown(value: unknown): TranscriptValue {
  if (value instanceof Uint8Array) return { bytes: value.byteLength };
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>);
  if (Array.isArray(value)) return value.map(shown);
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  return String(value);
}

function float64s(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: Math.floor(bytes.byteLength / 8) }, (_, i) => view.getFloat64(8 * i, true));
}

/** Received messages per party, in order. */
export class Transcript {
  readonly #entries = new Map<string, TranscriptEntry[]>();

  record(party: string, from: string, msg: Message): void {
    let list = this.#entries.get(party);
    if (!list) this.#entries.set(party, (list = []));
    list.push(transcriptEntry(from, msg));
  }

  parties(): string[] {
    return [...this.#entries.keys()];
  }

  entries(party: string): readonly TranscriptEntry[] {
    return this.#entries.get(party) ?? [];
  }

  /** Writes `<dir>/<party>.jsonl` for every party, each file atomically. */
  async write(dir: string): Promise<string[]> {
    await mkdir(dir, { recursive: true });
    const files: string[] = [];
    for (const [party, entries] of this.#entries) {
      const file = join(dir, `${party}.jsonl`);
      await writeAtomically(file, async (out) => {
        for (const entry of entries) await out(JSON.stringify(entry) + '\n');
      });
      files.push(file);
    }
    return files;
  }
}

/** `channel` as `party` holds it, recording every message it receives into `transcript`. */
export function recordingChannel(channel: Channel, party: string, transcript: Transcript): Channel {
  return {
    peer: channel.peer,
    send: (msg) => channel.send(msg),
    close: (reason) => channel.close(reason),
    async next(): Promise<Message> {
      const msg = await channel.next();
      transcript.record(party, channel.peer, msg);
      return msg;
    },
    async receive<K extends MessageType>(type: K): Promise<MessageOf<K>> {
      const msg = await channel.receive(type);
      transcript.record(party, channel.peer, msg as unknown as Message);
      return msg;
    },
  };
}
