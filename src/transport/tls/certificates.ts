/**
 * A party's TLS identity: a fresh key pair and either a self-signed X.509 certificate
 * (partners trust it by exchanging certificates and comparing SHA-256 fingerprints out of
 * band) or a certificate signing request for the institution's own CA.
 *
 * The certificate serves both directions of mutual TLS (extended key usage serverAuth and
 * clientAuth), may not issue certificates (basicConstraints CA:false), and names the party
 * in its CN and the hosts it answers on in its subjectAltName. The private key never
 * leaves this machine: it is written with mode 0600 and never overwritten.
 *
 * ECDSA P-256 is the default because every TLS stack, HSM and bank CA handles it; Ed25519
 * also works between jinqiao parties (Node's TLS 1.3 accepts it on both sides) but many
 * CAs will not issue for it. X.509 encoding comes from @peculiar/x509 over Node's
 * WebCrypto, so no OpenSSL command is needed.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, createPrivateKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { errors, shownValue } from '../../errors.ts';
import { writeNewFile } from '../../util/durable.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export const KEY_TYPES = ['p256', 'ed25519'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export const DEFAULT_HOSTS: readonly string[] = ['localhost', '127.0.0.1'];

export interface PartyIdentityOptions {
  /** The party's name: the certificate's CN, what partners pass as `expectedPeer`. */
  readonly name: string;
  /** DNS names and IP addresses the party is reached at (default localhost and 127.0.0.1). */
  readonly hosts?: readonly string[];
  /** Validity of a self-signed certificate, in days (default 365). */
  readonly days?: number;
  readonly keyType?: KeyType;
  /** Make a certificate signing request for a CA instead of a self-signed certificate. */
  readonly csr?: boolean;
  /** Start of validity (default: now); tests use it to make expired certificates. */
  readonly notBefore?: Date;
}

export interface PartyIdentity {
  readonly name: string;
  /** PKCS #8 private key, PEM. */
  readonly keyPem: string;
  /** The self-signed certificate, PEM (absent for a CSR). */
  readonly certificatePem?: string;
  /** The certificate signing request, PEM (only with `csr`). */
  readonly csrPem?: string;
  /** SHA-256 of the certificate, as TLS peers see it (absent for a CSR: the CA's certificate will differ). */
  readonly fingerprint?: string;
  /** SHA-256 of the public key (SubjectPublicKeyInfo): stays the same when a CA issues the certificate. */
  readonly publicKeyFingerprint: string;
}

/** A name that is safe both as a CN and as a file name. */
const PARTY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const DNS_NAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const DAY_MS = 86_400_000;
/** Tolerates clocks a few minutes apart between partners. */
const CLOCK_SKEW_MS = 5 * 60_000;

export async function createPartyIdentity(options: PartyIdentityOptions): Promise<PartyIdentity> {
  const { name } = options;
  if (!PARTY_NAME.test(name)) {
    throw errors.optionInvalid('name', `${shownValue(name)} must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  }
  const hosts = options.hosts && options.hosts.length > 0 ? options.hosts : DEFAULT_HOSTS;
  for (const host of hosts) {
    if (isIP(host) === 0 && !DNS_NAME.test(host)) throw errors.optionInvalid('--host', `${shownValue(host)} is neither an IP address nor a DNS name`);
  }
  const days = options.days ?? 365;
  if (!Number.isInteger(days) || days < 1 || days > 3650) throw errors.optionInvalid('--days', `must be a whole number of days from 1 to 3650, got ${days}`);

  const algorithm = (options.keyType ?? 'p256') === 'p256' ? { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } : { name: 'Ed25519' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const pkcs8 = new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string;
  const spki = new Uint8Array(await webcrypto.subtle.exportKey('spki', keys.publicKey));
  const publicKeyFingerprint = colonHex(createHash('sha256').update(spki).digest());

  const subject = `CN=${name}`;
  const extensions = [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    new x509.SubjectAlternativeNameExtension(hosts.map((h) => ({ type: isIP(h) ? ('ip' as const) : ('dns' as const), value: h }))),
  ];
  if (options.csr) {
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: subject, keys, signingAlgorithm: algorithm, extensions });
    return { name, keyPem, csrPem: csr.toString('pem'), publicKeyFingerprint };
  }
  const notBefore = new Date((options.notBefore ?? new Date()).getTime() - CLOCK_SKEW_MS);
  const serial = randomBytes(16);
  serial[0]! &= 0x7f; // a positive INTEGER, as RFC 5280 requires
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: subject,
    notBefore,
    notAfter: new Date(notBefore.getTime() + CLOCK_SKEW_MS + days * DAY_MS),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      ...extensions,
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const certificatePem = certificate.toString('pem');
  return { name, keyPem, certificatePem, fingerprint: certificateFingerprint(certificatePem), publicKeyFingerprint };
}

/** SHA-256 of a PEM certificate, colon-separated upper-case hex (what `TlsChannel.peerFingerprint` shows). */
export function certificateFingerprint(certificatePem: string): string {
  return new X509Certificate(certificatePem).fingerprint256;
}

/**
 * Writes `<dir>/<name>.key` (mode 0600) and `<dir>/<name>.crt` or `<dir>/<name>.csr`.
 * Refuses to replace an existing file: a party's key is replaced only on purpose.
 */
export async function writePartyIdentity(dir: string, identity: PartyIdentity): Promise<{ keyFile: string; certificateFile?: string; csrFile?: string }> {
  // A folder made here holds a private key: readable by its owner only.
  await mkdir(dir, { recursive: true, mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
    throw errors.outputUnwritable(dir, e.code === 'EEXIST' || e.code === 'ENOTDIR' ? 'it is a file, not a folder' : e.message);
  });
  const keyFile = join(dir, `${identity.name}.key`);
  const publicFile = identity.csrPem !== undefined ? join(dir, `${identity.name}.csr`) : join(dir, `${identity.name}.crt`);
  await writeNewFile(keyFile, identity.keyPem, 0o600);
  try {
    await writeNewFile(publicFile, identity.csrPem ?? identity.certificatePem!, 0o644);
  } catch (e) {
    // Without its certificate the key is of no use; leave nothing half-made.
    await rm(keyFile, { force: true });
    throw e;
  }
  return identity.csrPem !== undefined ? { keyFile, csrFile: publicFile } : { keyFile, certificateFile: publicFile };
}

function colonHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
}
