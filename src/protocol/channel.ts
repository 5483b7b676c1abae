/**
 * A Channel carries typed messages between two parties. Protocols are written against this
 * interface only, so the same code runs all parties in one process (in-memory channels) or
 * across machines (network channels).
 */
import { errors, SHAREABLE_CODES, type ErrorCode } from '../errors.ts';
import type { Message, MessageOf, MessageType } from './messages.ts';

export interface Channel {
  /** Name of the party at the other end, for error messages. */
  readonly peer: string;
  send<K extends MessageType>(message: MessageOf<K>): Promise<void>;
  /** The next message, whatever its type (for protocols that dispatch on it). */
  next(): Promise<Message>;
  /** The next message; rejects with E_PROTOCOL when it is not of the expected type. */
  receive<K extends MessageType>(type: K): Promise<MessageOf<K>>;
  /** Closes the channel; pending and later receives on the other end reject with the reason. */
  close(reason?: string): void;
}

/** A peer's `job.abort` becomes the error it means: the channel is over, with the peer's reason. */
export function unlessAborted(message: Message, peer: string): Message {
  if (message.t !== 'job.abort') return message;
  const shared = /^(E_[A-Z_]+): ([^]*)$/.exec(message.reason);
  if (shared && SHAREABLE_CODES.has(shared[1] as ErrorCode)) {
    const reason = shared[2]!.slice(0, 500);
    const stopped = errors.peerStopped(peer, shared[1] as ErrorCode, reason);
    throw shared[1] === 'E_POLICY_REFUSED' ? Object.assign(stopped, policyRefusalOf(reason)) : stopped;
  }
  throw errors.channelClosed(peer, `the peer aborted: ${message.reason.slice(0, 200)}`);
}

/** The message if it has the expected type, else an E_PROTOCOL error naming both. */
export function expectType<K extends MessageType>(message: Message, type: K, peer: string): MessageOf<K> {
  if (message.t !== type) throw errors.protocol(`expected ${type} from ${peer}, received ${message.t}`);
  return message as unknown as MessageOf<K>;
}

/** Longest wait a peer's refusal may ask for: a daily budget renews within a day. */
const MAX_RETRY_AFTER_SECONDS = 86_400;

/**
 * The rule and retry time of a policy refusal, read back from its message (errors.policyRefused
 * writes them first, so the 500 characters a peer's reason keeps always hold them): a bank's
 * API answers a partner's spent daily budget 429 with Retry-After, as the agency said.
 */
export function policyRefusalOf(reason: string): { rule?: string; retryAfterSeconds?: number } {
  const m = /^refused by policy rule ([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*)(?: \(retry after (\d{1,9}) s\))?: /.exec(reason);
  if (!m) return {};
  return { rule: m[1]!, ...(m[2] === undefined ? {} : { retryAfterSeconds: Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, Number(m[2]))) }) };
}
