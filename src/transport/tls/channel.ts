/**
 * A `Channel` over one mutually authenticated TLS connection, the network twin of
 * memory.ts: the same messages, the same `FrameTap` and `bytesSent`, the same close
 * semantics, so a protocol cannot tell which one it runs on.
 *
 * Who learns what: TLS hides the traffic from the network and authenticates both ends by
 * certificate; it hides nothing from the peer, which sees every message this party sends
 * (the protocols, not the transport, keep plaintext out of messages). A network observer
 * still sees the timing and sizes of frames, hence roughly the set sizes of a PSI.
 *
 * Failure handling: a reset, a peer that closes, a malformed frame or a peer silent for
 * `timeoutMs` while this party waits on it fails every pending and later receive (and
 * send) with an error naming the peer and the reason; nothing hangs and nothing throws out
 * of a socket handler. Heartbeats (frames.ts) keep a live but busy peer from looking
 * silent, so the timeout measures liveness, not how long a computation takes.
 *
 * Flow control both ways: `send` resolves once the socket has room again (it waits for
 * 'drain' when `write()` returns false), and the receiving side stops reading the socket
 * while more than `INBOX_HIGH_WATER_BYTES` of messages wait to be consumed, so TCP pushes
 * back on the sender instead of either process buffering a whole 10M-ID PSI.
 */
import type { TLSSocket } from 'node:tls';
import { errors, type JinqiaoError } from '../../errors.ts';
import { expectType, unlessAborted, type Channel } from '../../protocol/channel.ts';
import { encodeFrame, FrameDecoder, HEARTBEAT_FRAME } from '../frames.ts';
import type { FrameTap } from '../memory.ts';
import type { Message, MessageOf, MessageType } from '../../protocol/messages.ts';
import { describeSocketError, formatSeconds } from './reasons.ts';

/** Decoded messages held for a slow consumer before the socket stops being read. */
export const INBOX_HIGH_WATER_BYTES = 8 * 1024 * 1024;
/** The longest gap between heartbeats; shorter when `timeoutMs` is short. */
const MAX_HEARTBEAT_INTERVAL_MS = 5000;

export interface TlsChannelOptions {
  readonly timeoutMs: number;
  readonly tap?: FrameTap | undefined;
}

interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: JinqiaoError) => void;
}

export class TlsChannel implements Channel {
  /** This party's name: the CN of its own certificate. */
  readonly self: string;
  /** The peer's name for error messages and taps: the CN of its certificate. */
  readonly peer: string;
  /** The CN of the peer's verified certificate. */
  readonly peerName: string;
  /** SHA-256 of the peer's certificate (DER), colon-separated hex as `jinqiao init-party` prints it. */
  readonly peerFingerprint: string;
  /** `host:port` of the other end. */
  readonly peerAddress: string;
  /** Bytes of message frames sent, counted as memory.ts counts them (prefixes, heartbeats and TLS records excluded). */
  bytesSent = 0;
  /** Resolves with the reason once the channel is closed or fails, at either end (a host frees what waited on it). */
  readonly closed: Promise<JinqiaoError>;
  private readonly onClosed: (reason: JinqiaoError) => void;

  private readonly socket: TLSSocket;
  private readonly timeoutMs: number;
  private readonly tap: FrameTap | undefined;
  private readonly decoder: FrameDecoder;
  private readonly inbox: { message: Message; bytes: number }[] = [];
  private inboxBytes = 0;
  private readonly receivers: Waiter<Message>[] = [];
  private readonly drainWaiters: Waiter<void>[] = [];
  private closedWith: JinqiaoError | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private watchdog: NodeJS.Timeout | undefined;
  /** When the peer was last heard from, or a wait began, whichever is later. */
  private quietSince = performance.now();

  /** Takes over an authorised socket; `buffered` holds bytes already read past the preamble. */
  constructor(socket: TLSSocket, options: TlsChannelOptions, buffered?: Uint8Array) {
    let onClosed!: (reason: JinqiaoError) => void;
    this.closed = new Promise((resolve) => (onClosed = resolve));
    this.onClosed = onClosed;
    const own = socket.getCertificate();
    const theirs = socket.getPeerCertificate();
    this.socket = socket;
    this.timeoutMs = options.timeoutMs;
    this.tap = options.tap;
    this.self = own && 'subject' in own ? commonName(own.subject) : 'this party';
    this.peerName = commonName(theirs.subject);
    this.peer = this.peerName;
    this.peerFingerprint = theirs.fingerprint256;
    this.peerAddress = `${socket.remoteAddress}:${socket.remotePort}`;
    this.decoder = new FrameDecoder((message, bytes) => this.deliver(message, bytes));

    socket.setKeepAlive(true);
    // Every send is one whole frame (prefix and body corked together), so Nagle's algorithm
    // has nothing left to coalesce; it only holds a small frame that follows another until
    // the peer's delayed ACK (~40 ms on Linux): an OPRF call's hello then blinded batch paid
    // that on every call (verify of one enterprise: 48 ms, 2.7 ms without it).
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('end', () => this.fail(errors.channelClosed(this.where, this.decoder.truncation() ?? 'closed by the peer')));
    socket.on('error', (e: Error) => this.fail(errors.channelClosed(this.where, describeSocketError(e))));
    socket.on('close', () => this.fail(errors.channelClosed(this.where, 'connection closed')));
    const interval = Math.min(MAX_HEARTBEAT_INTERVAL_MS, options.timeoutMs / 4);
    this.heartbeat = setInterval(() => this.beat(), interval).unref();
    if (buffered && buffered.byteLength > 0) this.onData(buffered);
    socket.resume();
  }

  async send<K extends MessageType>(message: MessageOf<K>): Promise<void> {
    if (this.closedWith) throw this.peerAbort() ?? this.closedWith;
    const { prefix, frame } = encodeFrame(message as unknown as Message);
    this.bytesSent += frame.byteLength;
    this.tap?.(this.self, this.peerName, frame);
    this.socket.cork();
    this.socket.write(prefix);
    const room = this.socket.write(frame);
    this.socket.uncork();
    if (!room) {
      await new Promise<void>((resolve, reject) => {
        this.drainWaiters.push({ resolve, reject });
        this.startWaiting();
      });
    }
  }

  async next(): Promise<Message> {
    return unlessAborted(await this.nextMessage(), this.peer);
  }

  async receive<K extends MessageType>(type: K): Promise<MessageOf<K>> {
    return expectType(await this.next(), type, this.peer);
  }

  /** Why the channel is over (closed here, by the peer, or a broken connection); undefined while it is usable. */
  get closedReason(): JinqiaoError | undefined {
    return this.closedWith;
  }

  /** Sends what is already written, then closes; receives still pending here reject with `reason`. */
  close(reason = 'closed'): void {
    if (this.closedWith) return;
    this.settle(errors.channelClosed(this.peer, reason));
    this.socket.end();
    // A peer that never answers our close must not keep the socket open forever.
    setTimeout(() => this.socket.destroy(), this.timeoutMs).unref();
  }

  /**
   * The peer's unread `job.abort`, as the error it means. A peer that stops a job says why,
   * then closes: a party that sends before it reads (its role thread was still starting)
   * learns why the peer stopped, as one that was waiting on a receive does, not only that
   * the channel closed.
   */
  private peerAbort(): JinqiaoError | undefined {
    const abort = this.inbox.find((q) => q.message.t === 'job.abort');
    if (!abort) return undefined;
    try {
      unlessAborted(abort.message, this.peer);
    } catch (e) {
      return e as JinqiaoError;
    }
    return undefined;
  }

  /** Peer name and address, for errors raised by the transport itself. */
  private get where(): string {
    return `${this.peerName} (${this.peerAddress})`;
  }

  private nextMessage(): Promise<Message> {
    const queued = this.inbox.shift();
    if (queued) {
      this.inboxBytes -= queued.bytes;
      if (this.socket.isPaused() && this.inboxBytes < INBOX_HIGH_WATER_BYTES / 2 && !this.closedWith) this.socket.resume();
      return Promise.resolve(queued.message);
    }
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise<Message>((resolve, reject) => {
      this.receivers.push({ resolve, reject });
      this.startWaiting();
    });
  }

  private onData(chunk: Uint8Array): void {
    if (this.closedWith) return;
    this.quietSince = performance.now();
    try {
      this.decoder.push(chunk);
    } catch (e) {
      this.fail(e as JinqiaoError);
    }
  }

  private deliver(message: Message, bytes: number): void {
    const receiver = this.receivers.shift();
    if (receiver) {
      receiver.resolve(message);
      return;
    }
    this.inbox.push({ message, bytes });
    this.inboxBytes += bytes;
    if (this.inboxBytes > INBOX_HIGH_WATER_BYTES) this.socket.pause();
  }

  private onDrain(): void {
    this.quietSince = performance.now();
    for (const waiter of this.drainWaiters.splice(0)) waiter.resolve();
  }

  private beat(): void {
    // Data already queued tells the peer as much as a heartbeat would.
    if (this.socket.writable && this.socket.writableLength === 0) this.socket.write(HEARTBEAT_FRAME);
  }

  /** A receive or a send now depends on the peer: watch for its silence. */
  private startWaiting(): void {
    if (this.watchdog) return;
    this.quietSince = Math.max(this.quietSince, performance.now());
    this.watchdog = setTimeout(() => this.checkSilence(), this.timeoutMs);
  }

  private checkSilence(): void {
    this.watchdog = undefined;
    if (this.closedWith || (this.receivers.length === 0 && this.drainWaiters.length === 0)) return;
    const quiet = performance.now() - this.quietSince;
    if (quiet >= this.timeoutMs) {
      this.fail(errors.channelClosed(this.where, `timed out after ${formatSeconds(this.timeoutMs)} s without a word from the peer`));
    } else {
      this.watchdog = setTimeout(() => this.checkSilence(), this.timeoutMs - quiet);
    }
  }

  /** The connection is unusable: reject everything waiting on it and drop it. */
  private fail(error: JinqiaoError): void {
    if (this.closedWith) return;
    this.settle(error);
    this.socket.destroy();
  }

  private settle(error: JinqiaoError): void {
    this.closedWith = error;
    this.onClosed(error);
    clearInterval(this.heartbeat);
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
    for (const waiter of this.receivers.splice(0)) waiter.reject(error);
    for (const waiter of this.drainWaiters.splice(0)) waiter.reject(error);
  }
}

function commonName(subject: { CN?: string | string[] } | undefined): string {
  const cn = subject?.CN;
  return (Array.isArray(cn) ? cn[0] : cn) ?? 'an unnamed party';
}
