/**
 * (Client side: the party that dials its partner) Opens a mutually authenticated TLS
 * connection and returns it as a `Channel`.
 *
 * The partner is accepted only if its certificate chains to `ca`, names the dialled host
 * (SAN), and, with `expectedPeer`, carries that CN: trusting several partners' certificates
 * must not let one partner answer for another. The promise resolves only after the partner
 * has accepted this party's certificate in turn, so a refusal on either side rejects here,
 * before any protocol message, with E_PEER_UNTRUSTED and the reason.
 */
import { isIP } from 'node:net';
import { checkServerIdentity, connect, type PeerCertificate } from 'node:tls';
import { errors, type JinqiaoError } from '../../errors.ts';
import { TlsChannel } from './channel.ts';
import { ACCEPTED_PREAMBLE, timeoutOf, tlsOptions, type TlsPartyConfig } from './config.ts';
import { describeRefusal, describeSocketError, formatSeconds } from './reasons.ts';

export interface ConnectOptions extends TlsPartyConfig {
  readonly host: string;
  readonly port: number;
  /** The CN the partner's certificate must carry, e.g. "tax-bureau". */
  readonly expectedPeer?: string;
}

export async function connectChannel(options: ConnectOptions): Promise<TlsChannel> {
  const base = tlsOptions(options);
  const timeoutMs = timeoutOf(options);
  const { host, port, expectedPeer } = options;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw errors.optionInvalid('port', `must be 1-65535, got ${port}`);
  const where = `${host}:${port}`;

  return new Promise<TlsChannel>((resolve, reject) => {
    let wrongName: Error | undefined;
    const socket = connect({
      ...base,
      host,
      port,
      servername: isIP(host) ? undefined : host,
      rejectUnauthorized: true,
      checkServerIdentity: (hostname: string, cert: PeerCertificate) => {
        const mismatch = checkServerIdentity(hostname, cert);
        if (mismatch) return mismatch;
        const cn = cert.subject?.CN;
        if (expectedPeer !== undefined && cn !== expectedPeer) {
          wrongName = new Error(`its certificate names "${String(cn)}", not the expected partner "${expectedPeer}"`);
          return wrongName;
        }
        return undefined;
      },
    });
    let received = new Uint8Array(0);
    let done = false;
    const finish = (error: JinqiaoError | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      if (error) {
        socket.destroy();
        reject(error);
        return;
      }
      // Hold further data until the channel has its own listener on the socket.
      socket.pause();
      resolve(new TlsChannel(socket, { timeoutMs, tap: options.tap }, received.subarray(ACCEPTED_PREAMBLE.byteLength)));
    };
    const onData = (chunk: Buffer) => {
      const joined = new Uint8Array(received.byteLength + chunk.byteLength);
      joined.set(received);
      joined.set(chunk, received.byteLength);
      received = joined;
      const n = Math.min(received.byteLength, ACCEPTED_PREAMBLE.byteLength);
      if (!ACCEPTED_PREAMBLE.subarray(0, n).every((b, i) => received[i] === b)) {
        finish(errors.messageMalformed(`${where} is not a jinqiao TLS listener (or runs another transport version)`));
      } else if (n === ACCEPTED_PREAMBLE.byteLength) {
        finish(undefined);
      }
    };
    const timer = setTimeout(
      () => finish(errors.channelClosed(where, `timed out after ${formatSeconds(timeoutMs)} s before the partner accepted the connection`)),
      timeoutMs,
    );
    let handshakeDone = false;
    socket.once('secureConnect', () => (handshakeDone = true));
    socket.on('data', onData);
    socket.on('error', (e: Error) => {
      // The channel, once created, handles later errors itself.
      if (done) return;
      const refusal = e === wrongName ? e.message : describeRefusal(e);
      finish(refusal ? errors.peerUntrusted(where, refusal) : errors.channelClosed(where, describeSocketError(e)));
    });
    // The listener drops a client it refuses without an alert (listen.ts), so a close right
    // after the handshake is, as far as this side can tell, a refusal.
    socket.on('close', () =>
      finish(
        handshakeDone
          ? errors.peerUntrusted(where, "the partner dropped the connection without accepting this party's certificate (its refusal log says why), or it is not a jinqiao listener")
          : errors.channelClosed(where, 'the partner closed the connection during the TLS handshake'),
      ),
    );
  });
}
