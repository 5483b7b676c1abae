/**
 * `jinqiao init-party <name>`: a party's TLS identity for mutual TLS with its partners.
 *
 * Writes `<dir>/<name>.key` (mode 0600, stays on this machine) and `<dir>/<name>.crt`
 * (self-signed, handed to partners) or, with --csr, `<dir>/<name>.csr` for the
 * institution's CA, and prints the SHA-256 fingerprint that partners compare out of band
 * (by phone or signed letter) before trusting the certificate.
 */
import { Command, Option } from 'commander';
import { errors, shownValue } from '../errors.ts';
import { createPartyIdentity, DEFAULT_HOSTS, KEY_TYPES, writePartyIdentity, type KeyType } from '../transport/tls/certificates.ts';
import { runCommand } from './run-command.ts';

interface InitPartyOptions {
  dir: string;
  host: string[];
  days: string;
  keyType: KeyType;
  csr?: boolean;
  json?: boolean;
}

export function initPartyCommand(): Command {
  return new Command('init-party')
    .description("create this party's TLS key and certificate (or certificate signing request) for mutual TLS with its partners")
    .argument('<name>', 'the party name partners will see as the certificate CN, e.g. tax-bureau')
    .option('--dir <dir>', 'folder to write <name>.key and <name>.crt (or .csr) into', '.')
    .addOption(
      new Option('--host <host>', 'a DNS name or IP address partners reach this party at; repeat for several')
        .argParser(collect)
        .default([], DEFAULT_HOSTS.join(', ')),
    )
    .option('--days <n>', 'validity of the self-signed certificate in days', '365')
    .addOption(new Option('--key-type <type>', 'key algorithm: ECDSA P-256 (accepted everywhere) or Ed25519').choices([...KEY_TYPES]).default('p256'))
    .option('--csr', "write a certificate signing request for the institution's CA instead of a self-signed certificate")
    .option('--json', 'print one JSON object with the files and fingerprints on stdout')
    .action((name: string, opts: InitPartyOptions) =>
      runCommand(async () => {
        if (!/^\d+$/.test(opts.days)) throw errors.optionInvalid('--days', `must be a whole number of days, got ${shownValue(opts.days)}`);
        const identity = await createPartyIdentity({
          name,
          hosts: opts.host,
          days: Number(opts.days),
          keyType: opts.keyType,
          csr: opts.csr,
        });
        const files = await writePartyIdentity(opts.dir, identity);
        if (opts.json) {
          process.stdout.write(JSON.stringify({ name, ...files, fingerprint: identity.fingerprint ?? null, publicKeyFingerprint: identity.publicKeyFingerprint }) + '\n');
          return;
        }
        const lines = [`private key:  ${files.keyFile} (mode 0600; keep it on this machine)`];
        if (files.certificateFile) {
          lines.push(
            `certificate:  ${files.certificateFile} (self-signed, CN=${name}; give it to each partner)`,
            `SHA-256:      ${identity.fingerprint}`,
            'partners must compare this fingerprint with you out of band before trusting the certificate',
          );
        } else {
          lines.push(
            `request:      ${files.csrFile} (CN=${name}; send it to your CA)`,
            `public key SHA-256: ${identity.publicKeyFingerprint}`,
          );
        }
        process.stdout.write(lines.join('\n') + '\n');
      }),
    );
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
