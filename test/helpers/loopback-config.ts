/**
 * The config files of party services on loopback in one test folder: each party's TLS key and
 * certificate and its store named after it (written by `writePartyIdentity`), trusting the
 * certificates of `peers`; and an agency's audit log read back. Shared by the interface-call
 * service tests (lookup, verify, psi, budgets, session limits).
 */
import { readFileSync } from 'node:fs';

export function loopbackConfig(name: string, role: string, extra: Record<string, unknown>, peers: readonly string[] = ['bank', 'tax-bureau']) {
  return {
    name,
    role,
    listen: '127.0.0.1:0',
    tls: { key: `${name}.key`, cert: `${name}.crt`, trust: peers.map((p) => `${p}.crt`) },
    store: `store-${name}`,
    timeoutSeconds: 60,
    ...extra,
  };
}

/** Every entry of an audit log, parsed. */
export function auditEntries(file: string): { type: string; time: string; details: Record<string, unknown> }[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; time: string; details: Record<string, unknown> });
}
