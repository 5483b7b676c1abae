/**
 * Attack: which field a verification call claims, from its count (the agency's view). A
 * session checks VAT within 10% (two keys per claim, one per grid) and the staff count
 * exactly (one key). The bank verifies one enterprise per call, declaring its VAT or its
 * staff count; the agency sees how many blinded points each call sends.
 *
 * Success measure: accuracy of the agency's guess of the field (chance: ½; half the calls
 * claim each).
 *
 * Positive control: claims sent with their own keys only — two points say VAT, one says
 * staff, and every call is read. Real protocol: in a session that mixes tolerance and exact
 * fields every claim takes two keys (an exact claim a padding key that matches nothing), so
 * every call sends two points and the agency is at chance. What the count still says is the
 * number of claims.
 */
import { describe, expect, it, vi } from 'vitest';
import { uscc } from '../helpers/ids.ts';
import { openSession, taxPolicy, type Register } from './lookup-fixture.ts';

/** The leaky variant: no padding, each claim sends its own keys only. */
const leaky = vi.hoisted(() => ({ on: false }));
vi.mock('../../src/lookup/bands.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/lookup/bands.ts')>();
  return { ...real, keysPerClaim: (...args: Parameters<typeof real.keysPerClaim>) => (leaky.on ? 0 : real.keysPerClaim(...args)) };
});

const N = 20;
const CALLS = 24;
const ids = Array.from({ length: N }, (_, i) => uscc(117_000 + i));
const vat = ids.map((_, i) => 500 + 13.75 * i);
const staff = ids.map((_, i) => 3 * i + 1);
const register: Register = { ids, fields: { vat_paid_wan: vat, staff, registered_capital_wan: vat } };
/** A fixed plan: even calls declare VAT, odd ones the staff count. */
const plan = Array.from({ length: CALLS }, (_, i) => ({ e: (i * 7) % N, field: i % 2 === 0 ? 'vat_paid_wan' : 'staff' }));

async function attack(): Promise<number> {
  const { session, served, frames } = await openSession(register, await taxPolicy(0.25), 'verify', [
    { field: 'vat_paid_wan', tolerance: 0.1 },
    { field: 'staff', tolerance: undefined },
  ]);
  for (const { e, field } of plan) expect(await session.verify([{ id: ids[e]!, field, value: field === 'staff' ? staff[e]! : vat[e]! }])).toEqual([true]);
  await session.close();
  await served;
  const counts = frames.flatMap((f) => (f.from === 'bank' && f.message.t === 'oprf.blinded' ? [(f.message as { points: Uint8Array }).points.length / 32] : []));
  expect(counts).toHaveLength(CALLS);
  // The agency's guess: a tolerance field takes more keys than an exact one.
  return counts.filter((n, i) => (n >= 2 ? 'vat_paid_wan' : 'staff') === plan[i]!.field).length / CALLS;
}

describe('attack: the agency reads the claimed field off the number of keys a call evaluates', () => {
  it('positive control: without padding, every call gives its field away', async () => {
    leaky.on = true;
    try {
      expect(await attack()).toBe(1);
    } finally {
      leaky.on = false;
    }
  }, 60_000);

  it('with every claim padded to two keys, the agency is at chance', async () => {
    expect(await attack()).toBe(0.5);
  }, 60_000);
});
