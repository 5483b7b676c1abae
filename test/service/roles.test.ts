/**
 * Roles bound in a party service's config, through the real service over mutual TLS: a
 * partner whose certificate the service trusts, but whom its config does not bind as its
 * bank, cannot open a job with it (training or scoring), at an agency or at the platform;
 * the opener is told the rule, the service logs it and its audit log records it.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, saveKeyPair } from '../../src/governance/keys.ts';
import { DEFAULT_BINNING_RULE } from '../../src/binning/bins.ts';
import { sendJobSpec } from '../../src/jobs/spec.ts';
import { resolveTrainingConfig } from '../../src/lr/config.ts';
import { message } from '../../src/protocol/messages.ts';
import { loadPartyConfig } from '../../src/service/config.ts';
import { startPartyService, type PartyService } from '../../src/service/party-service.ts';
import { createPartyIdentity, writePartyIdentity } from '../../src/transport/tls/certificates.ts';
import { connectChannel } from '../../src/transport/tls/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-service-roles-'));
const NAMES = ['bank', 'tax-bureau', 'social-fund', 'platform'];
const services: PartyService[] = [];
const logs = new Map<string, string[]>();

async function serve(name: string, role: string, partners: string): Promise<PartyService> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}\nrole: ${role}\nlisten: 127.0.0.1:0\ntls: { key: ${name}.key, cert: ${name}.crt, trust: [${NAMES.map((n) => `${n}.crt`).join(', ')}] }\nstore: store-${name}\ntimeoutSeconds: 10\n` +
      `partners:\n${partners}\ngovernance: { institution: ${name}, audit: ${name}.audit.jsonl, key: ${name}-gov.key }\n`,
  );
  const lines: string[] = [];
  logs.set(name, lines);
  const service = await startPartyService(await loadPartyConfig(file), (l) => lines.push(l));
  services.push(service);
  return service;
}

let tax: PartyService;
let platform: PartyService;

beforeAll(async () => {
  for (const name of NAMES) {
    await writePartyIdentity(dir, await createPartyIdentity({ name }));
    await saveKeyPair(join(dir, `${name}-gov`), generateKeyPair());
  }
  platform = await serve('platform', 'arbiter', '  bank: { role: label }\n');
  tax = await serve('tax-bureau', 'features', `  bank: { role: label }\n  platform: 127.0.0.1:${platform.tlsPort}\n`);
}, 60_000);

afterAll(async () => {
  for (const s of services) await s.close();
});

/** `as` connects to `port` with its own trusted certificate, opens a job as label and sends its spec; returns the service's answer. */
async function openAs(as: string, port: number, kind: 'training' | 'scoring' | 'binning', arbiter: string, parties: string[]) {
  const channel = await connectChannel({ host: '127.0.0.1', port, key: readFileSync(join(dir, `${as}.key`)), cert: readFileSync(join(dir, `${as}.crt`)), ca: NAMES.map((n) => readFileSync(join(dir, `${n}.crt`))), timeoutMs: 10_000 });
  const jobId = `${as}-${kind}-${Math.random().toString(36).slice(2)}`;
  await channel.send(message('job.open', { jobId, party: as, role: 'label' }));
  await sendJobSpec(channel, { kind, jobId, purpose: 'credit-modeling', table: 'taxpayers', arbiter, parties, idType: 'uscc', modelJobId: kind === 'scoring' ? 'm' : '', config: resolveTrainingConfig({ jobId, allowPartialScoreDisclosure: true }), ...(kind === 'binning' ? { binning: DEFAULT_BINNING_RULE } : {}) });
  try {
    await channel.receive('job.accept');
    return { jobId, accepted: true as const };
  } catch (e) {
    return { jobId, accepted: false as const, error: e as Error & { code: string } };
  } finally {
    channel.close('done');
  }
}

const auditOf = (name: string) => readFileSync(join(dir, `${name}.audit.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));

describe('a party service binds its partners\' roles', () => {
  for (const kind of ['training', 'scoring'] as const) {
    it(`an agency refuses a ${kind} job from a trusted peer that is not its bank, naming itself arbiter`, async () => {
      const r = await openAs('social-fund', tax.tlsPort, kind, 'social-fund', ['social-fund', 'tax-bureau']);
      expect(r.accepted).toBe(false);
      expect(!r.accepted && r.error).toMatchObject({ code: 'E_ROLE_REFUSED', message: expect.stringMatching(/^tax-bureau stopped the job: refused by role rule role\.(arbiter-is-data-party|label-not-bound)/) });
      expect(auditOf('tax-bureau').find((e) => e.details.job === r.jobId)).toMatchObject({ type: 'job.refused', details: { partner: 'social-fund', kind, rule: expect.stringMatching(/^role\./) } });
      expect(logs.get('tax-bureau')!.join('\n')).toMatch(new RegExp(`session ${r.jobId} from social-fund: refused by role rule`));
      expect(tax.store.get(r.jobId)).toBeUndefined();
    });

    it(`the platform refuses a ${kind} session opened by a peer that is not its bank`, async () => {
      const r = await openAs('social-fund', platform.tlsPort, kind, 'platform', ['social-fund', 'tax-bureau']);
      expect(!r.accepted && r.error).toMatchObject({ code: 'E_ROLE_REFUSED', message: expect.stringMatching(/role\.label-not-bound: social-fund opened .* platform binds social-fund to no role/) });
      expect(auditOf('platform').find((e) => e.details.job === r.jobId)).toMatchObject({ type: 'job.refused', details: { rule: 'role.label-not-bound' } });
    });
  }

  it('the bound bank may not name a data party as arbiter, nor a partner the agency does not bind as arbiter', async () => {
    const asData = await openAs('bank', tax.tlsPort, 'training', 'bank', ['bank', 'tax-bureau']);
    expect(!asData.accepted && asData.error).toMatchObject({ code: 'E_ROLE_REFUSED', message: expect.stringContaining('role.arbiter-is-data-party') });
    const unbound = await openAs('bank', tax.tlsPort, 'training', 'social-fund', ['bank', 'tax-bureau']);
    expect(!unbound.accepted && unbound.error).toMatchObject({ code: 'E_ROLE_REFUSED', message: expect.stringContaining('role.arbiter-not-bound') });
  });
});

describe('binning jobs at a party service', () => {
  it('are refused, even from the bound bank: a service does not run them yet (they run in one process)', async () => {
    const r = await openAs('bank', tax.tlsPort, 'binning', 'platform', ['bank', 'tax-bureau']);
    expect(!r.accepted && r.error).toMatchObject({ message: expect.stringContaining('party services do not run binning jobs yet') });
    expect(tax.store.get(r.jobId)).toBeUndefined();
  });
});

describe('a refused TLS connection', () => {
  it("is logged naming the presented certificate's subject and issuer", async () => {
    const evil = await createPartyIdentity({ name: 'evil-bank' });
    await expect(
      connectChannel({ host: '127.0.0.1', port: tax.tlsPort, key: evil.keyPem, cert: evil.certificatePem!, ca: NAMES.map((n) => readFileSync(join(dir, `${n}.crt`))), timeoutMs: 10_000 }).then((c) => c.receive('job.accept')),
    ).rejects.toMatchObject({ code: expect.stringMatching(/E_PEER_UNTRUSTED|E_CHANNEL_CLOSED/) });
    await expect.poll(() => logs.get('tax-bureau')!.find((l) => l.includes('evil-bank'))).toMatch(/^refused connection from 127\.0\.0\.1:\d+: certificate CN=evil-bank \(issued by CN=evil-bank\) is not trusted: /);
  });
});
