/**
 * Turns socket and TLS errors into the short reasons that error messages and refusal
 * reports carry ("connection reset", "its certificate is not trusted"), so an operator can
 * tell a network fault from a trust problem without reading OpenSSL codes.
 */

/** Certificate checks this party makes of its peer during the handshake (OpenSSL verify codes and Node's name check). */
const VERIFY_FAILURES: Readonly<Record<string, string>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its self-signed certificate is not among the trusted certificates',
  SELF_SIGNED_CERT_IN_CHAIN: 'its certificate chain ends at a CA that is not trusted',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its certificate was not issued by a trusted certificate or CA',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its certificate was not issued by a trusted certificate or CA',
  CERT_SIGNATURE_FAILURE: 'its certificate signature does not verify',
  CERT_HAS_EXPIRED: 'its certificate has expired',
  CERT_NOT_YET_VALID: 'its certificate is not valid yet',
  INVALID_CA: 'its certificate was issued by a certificate that may not issue certificates',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its certificate does not name the host that was dialled',
  ERR_SSL_CERTIFICATE_VERIFY_FAILED: 'its certificate is not trusted',
};

/** Why a peer's certificate failed verification, from Node's `authorizationError` code. */
export function describeVerifyFailure(code: string): string {
  return `${VERIFY_FAILURES[code] ?? 'its certificate is not trusted'} (${code})`;
}

/** A reason for refusing the peer, or for being refused by it; undefined when the error is not about trust. */
export function describeRefusal(error: Error): string | undefined {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (Object.hasOwn(VERIFY_FAILURES, code)) return describeVerifyFailure(code);
  // The peer sent a TLS alert: it refused this party's certificate (or the handshake).
  const alert = /alert ([a-z0-9 _]+)/i.exec(error.message);
  if (code.includes('ALERT') && alert) return `the peer refused the handshake: ${alert[1]!.trim()}`;
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'the TLS handshake timed out';
  if (code.startsWith('ERR_SSL_')) return `the TLS handshake failed (${code})`;
  return undefined;
}

/** The reason a connection ended, as error messages quote it. */
export function describeSocketError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return 'connection reset';
    case 'ECONNREFUSED':
      return 'connection refused (is the partner listening on that port?)';
    case 'ETIMEDOUT':
      return 'the network timed out';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    default:
      return describeRefusal(error) ?? error.message;
  }
}

/** Milliseconds as seconds for messages: 1500 → "1.5". */
export function formatSeconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}
