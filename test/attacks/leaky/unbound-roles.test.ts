/**
 * Positive control for test/attacks/role-binding.test.ts: the same scene with the role
 * checks off (src/jobs/roles.ts replaced by one that admits every job, as jinqiao did
 * before roles were bound). The rogue partner's job is accepted and the tax bureau dials
 * the rogue as the arbiter that would hold the job's secret key: the success measure does
 * measure success.
 */
import { describe, expect, it, vi } from 'vitest';
import { openJob, taxBureau } from '../role-binding-scenario.ts';

vi.mock('../../../src/jobs/roles.ts', () => ({ refuseUnboundRoles: async () => {}, roleRefusal: () => undefined }));

describe('leaky: roles not bound', () => {
  it('a trusted peer opening a job as the bank and naming itself arbiter is accepted', async () => {
    const tax = await taxBureau();
    const outcome = await openJob(tax, 'social-fund', { kind: 'training', arbiter: 'social-fund', parties: ['social-fund', 'tax-bureau'] });
    expect(outcome).toEqual({ accepted: true });
    expect(tax.dialled).toEqual(['social-fund']);
    expect(tax.auditText()).not.toContain('job.refused');
  });
});
