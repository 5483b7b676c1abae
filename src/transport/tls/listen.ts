/**
 * (Server side: a party accepting its partners) Listens for mutually authenticated TLS
 * connections and hands each accepted one to the service as a `Channel`.
 *
 * A client is accepted only if it presents a certificate that chains to `ca`; one with no
 * certificate, an untrusted or expired one, or one that speaks no TLS at all is refused at
 * the handshake, before any protocol byte is read or written, and reported to `onRefused`
 * with its address and the reason (for the audit log). The listener learns only the
 * client's certificate and address from a refused attempt; the refused client learns only
 * that the connection closed.
 *
 * One bad connection never takes the service down: refusals, malformed frames and resets
 * close that connection only, and an exception thrown by a callback is reported as a
 * process warning rather than thrown out of a socket handler.
 */
import type { AddressInfo } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import { errors, isJinqiaoError, type JinqiaoError } from '../../errors.ts';
import { TlsChannel } from './channel.ts';
import { ACCEPTED_PREAMBLE, timeoutOf, tlsOptions, type TlsPartyConfig } from './config.ts';
import { describeRefusal, describeSocketError, describeVerifyFailure } from './reasons.ts';

/** A client the listener turned away during the TLS handshake. */
export interface TlsRefusal {
  /** `host:port` the attempt came from. */
  readonly address: string;
  /** The reason, naming the presented certificate's subject and issuer when there was one. */
  readonly reason: string;
  /** The presented certificate's subject and issuer (`CN=…, O=…`), as the client wrote them. */
  readonly subject?: string;
  readonly issuer?: string;
  readonly error: JinqiaoError;
}

export interface ListenOptions extends TlsPartyConfig {
  /** Interface to bind, e.g. "0.0.0.0" or one address; 127.0.0.1 for tests. */
  readonly host: string;
  /** 0 picks a free port (see `TlsListener.port`). */
  readonly port: number;
  /** Called with each accepted partner's channel; the callee owns it and closes it. */
  readonly onChannel: (channel: TlsChannel) => void | Promise<void>;
  /** Called for each refused attempt; must not throw. */
  readonly onRefused: (refusal: TlsRefusal) => void;
}

export interface TlsListener {
  readonly host: string;
  readonly port: number;
  /** Stops accepting and closes the channels this listener opened that are still open. */
  close(reason?: string): Promise<void>;
}

export async function listenChannels(options: ListenOptions): Promise<TlsListener> {
  const base = tlsOptions(options);
  const timeoutMs = timeoutOf(options);
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw errors.optionInvalid('port', `must be 0-65535, got ${options.port}`);
  }
  const open = new Set<TlsChannel>();
  /** Set once close() is called: a handshake that ends after it is closed with this reason, never handed to the service. */
  let closedWith: string | undefined;
  // Every client must present a certificate that verifies against `ca`. The check is made
  // here rather than by Node's rejectUnauthorized, which drops such a client without
  // telling the service who it was or why (Node 24: only a "socket hang up"). Either way
  // the handshake has completed when the check runs, and no application byte is read from
  // or written to a refused client.
  const server = createServer({ ...base, requestCert: true, rejectUnauthorized: false, handshakeTimeout: timeoutMs });
  const refuse = (address: string, reason: string, names: { subject?: string; issuer?: string } = {}) =>
    guarded('onRefused', () => options.onRefused({ address, reason, ...names, error: errors.peerUntrusted(address, reason) }));

  server.on('secureConnection', (socket: TLSSocket) => {
    if (!socket.authorized) {
      const address = `${socket.remoteAddress}:${socket.remotePort}`;
      const certificate = socket.getPeerCertificate();
      const presented = Object.keys(certificate).length > 0;
      socket.destroy();
      if (!presented) return refuse(address, 'it presented no certificate');
      const subject = distinguishedName(certificate.subject);
      const issuer = distinguishedName(certificate.issuer);
      refuse(address, `certificate ${subject} (issued by ${issuer}) is not trusted: ${describeVerifyFailure(String(socket.authorizationError))}`, { subject, issuer });
      return;
    }
    socket.write(ACCEPTED_PREAMBLE);
    const channel = new TlsChannel(socket, { timeoutMs, tap: options.tap });
    // The service that would own this channel has stopped (or is stopping) and already
    // closed the channels it had: the partner hears why instead of waiting on it.
    if (closedWith !== undefined) return channel.close(closedWith);
    open.add(channel);
    socket.once('close', () => open.delete(channel));
    guarded('onChannel', async () => options.onChannel(channel), (e) => channel.close(`the service failed (${errorCode(e)})`));
  });
  // A handshake that failed before any certificate was checked: no TLS at all, a client
  // that gave up (e.g. it did not trust this party), a timeout. Node may already have
  // dropped the socket, and its address with it.
  server.on('tlsClientError', (e: Error, socket: TLSSocket) => {
    const address = socket.remoteAddress === undefined ? 'an unknown address' : `${socket.remoteAddress}:${socket.remotePort}`;
    socket.destroy();
    const brokenOff = (e as NodeJS.ErrnoException).code === 'ECONNRESET';
    refuse(address, describeRefusal(e) ?? (brokenOff ? "the client broke off the handshake (it may not trust this party's certificate)" : `the handshake failed: ${describeSocketError(e)}`));
  });
  // After listening, a server error (e.g. out of file descriptors) concerns one accept, not the service.
  const warn = (e: Error) => process.emitWarning(`jinqiao TLS listener: ${e.message}`);

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(errors.optionInvalid('port', `cannot listen on ${options.host}:${options.port} (${e.code ?? e.message})`, 'choose a free port, or stop the process holding it')),
    );
    server.listen(options.port, options.host, () => {
      server.removeAllListeners('error');
      server.on('error', warn);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    host: address.address,
    port: address.port,
    close: (reason = 'the listener closed') =>
      new Promise<void>((resolve) => {
        closedWith = reason;
        server.close(() => resolve());
        for (const channel of open) channel.close(reason);
      }),
  };
}

/**
 * A certificate's subject or issuer as `CN=…, O=…`. The client wrote it, so it is cut to a
 * readable length and stripped of control characters before it reaches a log line.
 */
export function distinguishedName(name: Partial<Record<string, string | string[]>> | undefined): string {
  const text = Object.entries(name ?? {})
    .flatMap(([k, v]) => (v === undefined ? [] : Array.isArray(v) ? v : [v]).map((x) => `${k}=${x}`))
    .join(', ')
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  if (text === '') return '(empty name)';
  return text.length > 200 ? `${text.slice(0, 200)}… (${text.length} characters)` : text;
}

/** Runs a callback of the service so that its failure cannot escape into a socket handler. */
function guarded(name: string, body: () => unknown, onFailure?: (e: unknown) => void): void {
  Promise.resolve()
    .then(body)
    .catch((e: unknown) => {
      process.emitWarning(`jinqiao TLS listener: ${name} failed: ${(e as Error)?.message ?? String(e)}`);
      onFailure?.(e);
    });
}

function errorCode(e: unknown): string {
  return isJinqiaoError(e) ? e.code : 'E_INTERNAL';
}
