/**
 * Attack: roles not bound (the rogue partner's view; scene in role-binding-scenario.ts). A
 * partner with a valid certificate opens a job with the tax bureau as its label party and
 * names itself arbiter. Success measure: the tax bureau accepts the job and dials the
 * rogue as its arbiter.
 *
 * Positive control (test/attacks/leaky/unbound-roles.test.ts): with the role checks off —
 * the rules jinqiao applied before — the attack succeeds. Here, with roles bound in the
 * tax bureau's config, it is refused for training and scoring alike, the refusal is in
 * the tax bureau's audit log before the rogue hears of it, and the rogue is told the rule;
 * the bound bank still cannot name a data party or an unbound partner as the arbiter.
 */
import { describe, expect, it } from 'vitest';
import { openJob, taxBureau } from './role-binding-scenario.ts';

describe('attack: a trusted peer opens a job as the bank and names itself arbiter', () => {
  for (const kind of ['training', 'scoring'] as const) {
    it(`is refused (${kind}): the opener is not the bank the tax bureau binds as label`, async () => {
      const tax = await taxBureau();
      const outcome = await openJob(tax, 'social-fund', { kind, arbiter: 'social-fund', parties: ['social-fund', 'tax-bureau'] });
      expect(outcome.accepted).toBe(false);
      expect(outcome.accepted || outcome.error).toMatchObject({ code: 'E_ROLE_REFUSED', message: expect.stringMatching(/social-fund stopped|role rule role\.(arbiter-is-data-party|label-not-bound)/) });
      expect(tax.dialled).toEqual([]);
      const refused = tax.auditText().trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.type === 'job.refused');
      expect(refused).toHaveLength(1);
      expect(refused[0].details).toMatchObject({ kind, partner: 'social-fund', rule: expect.stringMatching(/^role\./) });
    });
  }

  it('is refused even where the rogue names the real platform: it is not the bound bank', async () => {
    const tax = await taxBureau();
    const outcome = await openJob(tax, 'social-fund', { kind: 'training', arbiter: 'platform', parties: ['social-fund', 'tax-bureau'] });
    expect(outcome.accepted || outcome.error).toMatchObject({ code: 'E_ROLE_REFUSED', message: expect.stringMatching(/role\.label-not-bound: social-fund opened job .* binds social-fund to no role/) });
    expect(tax.dialled).toEqual([]);
  });

  it('the bound bank may not name itself, an agency or an unbound partner as arbiter', async () => {
    const cases = [
      { arbiter: 'bank', parties: ['bank', 'tax-bureau'], rule: 'role.arbiter-is-data-party' },
      { arbiter: 'social-fund', parties: ['bank', 'tax-bureau', 'social-fund'], rule: 'role.arbiter-is-data-party' },
      { arbiter: 'social-fund', parties: ['bank', 'tax-bureau'], rule: 'role.arbiter-not-bound' },
    ];
    for (const c of cases) {
      const tax = await taxBureau();
      const outcome = await openJob(tax, 'bank', { kind: 'training', arbiter: c.arbiter, parties: c.parties });
      expect(outcome.accepted || outcome.error, c.rule).toMatchObject({ code: 'E_ROLE_REFUSED', message: expect.stringContaining(c.rule) });
      expect(tax.dialled).toEqual([]);
    }
  });

  it('the bound bank naming the bound platform is accepted (the checks refuse only what they must)', async () => {
    const tax = await taxBureau();
    const outcome = await openJob(tax, 'bank', { kind: 'training', arbiter: 'platform', parties: ['bank', 'tax-bureau'] });
    expect(outcome).toEqual({ accepted: true });
    expect(tax.dialled).toEqual(['platform']);
  });
});
