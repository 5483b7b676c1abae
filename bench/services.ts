/**
 * Party services on loopback for the network and scoring benchmarks: certificates made on
 * the spot, every party trusting the others, stores in a temporary folder.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { plainPartnerRole, type PartyConfig, type PartyRole } from '../src/service/config.ts';
import { createPartyIdentity } from '../src/transport/tls/certificates.ts';

export type ConfigFor = (name: string, role: PartyConfig['role'], partners: Record<string, number>, tables: PartyConfig['tables']) => PartyConfig;

/** Writes a key and certificate per party into `dir` and returns a config builder for them; the party named `bank` is every other party's label partner. */
export async function loopbackParties(dir: string, names: readonly string[]): Promise<ConfigFor> {
  const files: Record<string, { key: string; cert: string }> = {};
  for (const identity of await Promise.all(names.map((name) => createPartyIdentity({ name })))) {
    files[identity.name] = { key: join(dir, `${identity.name}.key`), cert: join(dir, `${identity.name}.crt`) };
    await writeFile(files[identity.name]!.key, identity.keyPem);
    await writeFile(files[identity.name]!.cert, identity.certificatePem!);
  }
  return (name, role, partners, tables) => ({
    file: `${name}.yaml`,
    name,
    role,
    listen: { host: '127.0.0.1', port: 0 },
    tls: { key: files[name]!.key, cert: files[name]!.cert, trust: names.map((p) => files[p]!.cert) },
    partners: new Map(Object.entries(partners).map(([p, port]) => [p, { host: '127.0.0.1', port }])),
    partnerRoles: new Map<string, PartyRole>([
      ...Object.keys(partners).flatMap((p) => (plainPartnerRole(role) ? [[p, plainPartnerRole(role)!] as const] : [])),
      ...(role === 'label' ? [] : [['bank', 'label'] as const]),
    ]),
    tables,
    store: join(dir, `store-${name}`),
    jobStore: undefined,
    governance: undefined,
    api: undefined,
    timeoutSeconds: 60,
  });
}
