/**
 * The anchor exchange at a job's end (src/jobs/anchors.ts), between two parties over memory
 * channels: each keeps the other's signed head in its anchors file; a receiver refuses an
 * anchor of another party's log, and one signed by a key other than the one its kept
 * anchors pin; a party without an audit log sends none and still keeps its partner's.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog, loadAuditAnchors, verifyAuditLog } from '../../src/governance/audit.ts';
import { generateKeyPair } from '../../src/governance/keys.ts';
import { exchangeAnchors } from '../../src/jobs/anchors.ts';
import type { PartyJobContext } from '../../src/jobs/context.ts';
import { message } from '../../src/protocol/messages.ts';
import { memoryChannelPair } from '../../src/transport/memory.ts';

const dir = mkdtempSync(join(tmpdir(), 'jinqiao-anchors-'));

async function party(name: string, withLog = true) {
  const key = generateKeyPair();
  const audit = withLog ? await AuditLog.open(join(dir, `${name}-${Math.random().toString(36).slice(2)}.jsonl`), { party: name, key }) : undefined;
  const folder = join(dir, `store-${name}-${Math.random().toString(36).slice(2)}`);
  const ctx = { name, governance: audit && { institution: name, audit }, anchorsFile: (p: string) => join(folder, `${p}.jsonl`) } as unknown as PartyJobContext;
  return { ctx, audit, key, kept: (p: string) => join(folder, `${p}.jsonl`) };
}

describe('anchors exchanged at a job\'s end', () => {
  it('each side keeps the other\'s signed head, which its log extends', async () => {
    const [bank, tax] = await Promise.all([party('bank'), party('tax-bureau')]);
    await tax.audit!.append('training.run', { job: 'j1' });
    const [toTax, toBank] = memoryChannelPair('bank', 'tax-bureau');
    await Promise.all([exchangeAnchors(bank.ctx, [toTax], 'j1'), exchangeAnchors(tax.ctx, [toBank], 'j1')]);
    const atBank = await loadAuditAnchors(bank.kept('tax-bureau'), tax.key.publicKey);
    expect(atBank.anchors).toMatchObject([{ party: 'tax-bureau', job: 'j1', seq: 1 }]);
    expect(await verifyAuditLog(tax.audit!.file, tax.key.publicKey, atBank.anchors)).toMatchObject({ ok: true, anchors: 1 });
    expect((await loadAuditAnchors(tax.kept('bank'), bank.key.publicKey)).anchors).toHaveLength(1);
  });

  it('a party without an audit log sends no anchor and keeps its partner\'s', async () => {
    const [bank, tax] = await Promise.all([party('bank', false), party('tax-bureau')]);
    const [toTax, toBank] = memoryChannelPair('bank', 'tax-bureau');
    await Promise.all([exchangeAnchors(bank.ctx, [toTax], 'j1'), exchangeAnchors(tax.ctx, [toBank], 'j1')]);
    expect(existsSync(tax.kept('bank'))).toBe(false);
    expect((await loadAuditAnchors(bank.kept('tax-bureau'), tax.key.publicKey)).anchors).toHaveLength(1);
  });

  it("refuses an anchor of another party's log, and one under a key other than the one kept anchors pin", async () => {
    const [bank, tax, other] = await Promise.all([party('bank'), party('tax-bureau'), party('social-fund')]);
    const [toTax, toBank] = memoryChannelPair('bank', 'tax-bureau');
    await toBank.send(message('audit.anchor', { anchor: { ...(await other.audit!.anchor('j1')) }, publicKey: other.key.publicKey }));
    await expect(exchangeAnchors(bank.ctx, [toTax], 'j1')).rejects.toMatchObject({ code: 'E_PROTOCOL', message: expect.stringMatching(/anchor of social-fund's log instead of its own/) });

    const [toTax2, toBank2] = memoryChannelPair('bank', 'tax-bureau');
    await Promise.all([exchangeAnchors(bank.ctx, [toTax2], 'j2'), exchangeAnchors(tax.ctx, [toBank2], 'j2')]);
    // The tax bureau (or someone in its name) comes back with a fresh key and a fresh log.
    const impostor = await party('tax-bureau');
    const [toTax3, toBank3] = memoryChannelPair('bank', 'tax-bureau');
    const exchanged = Promise.all([exchangeAnchors(bank.ctx, [toTax3], 'j3'), exchangeAnchors(impostor.ctx, [toBank3], 'j3')]);
    await expect(exchanged).rejects.toMatchObject({ code: 'E_AUDIT_BROKEN', message: expect.stringMatching(/signed its anchor of job j3 with audit key .* are of another key/) });
  });
});
