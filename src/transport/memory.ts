/**
 * In-memory channels for running every party in one process (tests, research, the demo).
 *
 * Messages are really encoded to bytes and decoded on the other side, so what a test taps
 * here is exactly what would cross the network, and no object is shared between parties.
 */
import { errors } from '../errors.ts';
import { expectType, unlessAborted, type Channel } from '../protocol/channel.ts';
import { decodeMessage, encodeMessage } from './codec.ts';
import type { Message, MessageOf, MessageType } from '../protocol/messages.ts';

/** Sees every frame: `from` and `to` are party names. Used by leak-canary tests and byte counts. */
export type FrameTap = (from: string, to: string, frame: Uint8Array) => void;

class Mailbox {
  private readonly frames: Uint8Array[] = [];
  private waiter: { resolve: (f: Uint8Array) => void; reject: (e: Error) => void } | undefined;
  private closedWith: Error | undefined;

  push(frame: Uint8Array): void {
    if (this.closedWith) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve(frame);
    } else {
      this.frames.push(frame);
    }
  }

  next(): Promise<Uint8Array> {
    const frame = this.frames.shift();
    if (frame) return Promise.resolve(frame);
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  close(error: Error): void {
    if (this.closedWith) return;
    this.closedWith = error;
    this.waiter?.reject(error);
    this.waiter = undefined;
  }
}

class MemoryChannel implements Channel {
  readonly self: string;
  readonly peer: string;
  private readonly inbox: Mailbox;
  private readonly outbox: Mailbox;
  private readonly tap: FrameTap | undefined;
  bytesSent = 0;

  constructor(self: string, peer: string, inbox: Mailbox, outbox: Mailbox, tap: FrameTap | undefined) {
    this.self = self;
    this.peer = peer;
    this.inbox = inbox;
    this.outbox = outbox;
    this.tap = tap;
  }

  async send<K extends MessageType>(message: MessageOf<K>): Promise<void> {
    const frame = encodeMessage(message as unknown as Message);
    this.bytesSent += frame.byteLength;
    this.tap?.(this.self, this.peer, frame);
    this.outbox.push(frame);
  }

  async next(): Promise<Message> {
    return unlessAborted(decodeMessage(await this.inbox.next()), this.peer);
  }

  async receive<K extends MessageType>(type: K): Promise<MessageOf<K>> {
    return expectType(await this.next(), type, this.peer);
  }

  close(reason = 'closed'): void {
    const err = errors.channelClosed(this.self, reason);
    this.outbox.close(err);
    this.inbox.close(errors.channelClosed(this.peer, reason));
  }
}

/** Two connected ends: what `a` sends, `b` receives, and back. */
export function memoryChannelPair(a: string, b: string, tap?: FrameTap): [MemoryChannel, MemoryChannel] {
  const toA = new Mailbox();
  const toB = new Mailbox();
  return [new MemoryChannel(a, b, toA, toB, tap), new MemoryChannel(b, a, toB, toA, tap)];
}

export type { MemoryChannel };
