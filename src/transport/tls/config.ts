/**
 * What both ends of a jinqiao TLS connection share: the party's credentials, the trust
 * configuration and the checks made on them before any socket opens.
 *
 * Trust is explicit: `ca` replaces Node's bundled public CAs, so only the partners'
 * certificates (or the CA that issued them) are accepted, never any certificate a public
 * CA issued. TLS 1.3 only: every jinqiao party runs the same Node, and 1.3 has no
 * renegotiation, no static-key exchanges and forward secrecy always.
 */
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { errors } from '../../errors.ts';
import type { FrameTap } from '../memory.ts';

export type Pem = string | Uint8Array;

export interface TlsPartyConfig {
  /** This party's private key, PEM. */
  readonly key: Pem;
  /** This party's certificate, PEM (its CN is the name partners see). */
  readonly cert: Pem;
  /** What this party trusts: its partners' self-signed certificates, or the CA that issued theirs. */
  readonly ca: Pem | readonly Pem[];
  /** How long the peer may stay silent while this party waits on it (default 60 s). */
  readonly timeoutMs?: number;
  /** Sees every message frame this party sends (leak canaries, byte counts). */
  readonly tap?: FrameTap;
}

export const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * Sent by the listener once it has accepted the client's certificate. In TLS 1.3 the
 * client finishes its handshake before the server has checked its certificate; waiting for
 * these bytes lets `connectChannel` report a refusal instead of failing on a later receive.
 */
export const ACCEPTED_PREAMBLE: Uint8Array = new TextEncoder().encode('jinqiao-tls/1\n');

/** Checks the configuration and returns the options both `tls.connect` and `tls.createServer` take. */
export function tlsOptions(config: TlsPartyConfig): SecureContextOptions & { minVersion: 'TLSv1.3' } {
  const ca = Array.isArray(config.ca) ? (config.ca as readonly Pem[]) : [config.ca as Pem];
  if (ca.length === 0) {
    throw errors.optionInvalid('ca', 'no trusted certificate given', "pass each partner's certificate, or the CA that issued them");
  }
  const options = { key: pemText(config.key), cert: pemText(config.cert), ca: ca.map(pemText), minVersion: 'TLSv1.3' as const };
  try {
    createSecureContext(options);
  } catch (e) {
    throw errors.optionInvalid('key/cert/ca', `not usable for TLS (${(e as Error).message})`, 'pass the PEM files written by `jinqiao init-party`, the key with its own certificate');
  }
  return options;
}

export function timeoutOf(config: TlsPartyConfig): number {
  const ms = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(ms) || ms <= 0) throw errors.optionInvalid('timeoutMs', `must be a positive number of milliseconds, got ${ms}`);
  return ms;
}

function pemText(pem: Pem): string {
  return typeof pem === 'string' ? pem : new TextDecoder().decode(pem);
}
