/**
 * Attack: which field a verification call claims, from its count (the agency's view). A
 * session checks VAT within 10% and the staff count exactly. The bank verifies one enterprise
 * per call, declaring its VAT or its staff count; the agency sees how many blinded points
 * each call sends.
 *
 * Success measure: accuracy of the agency's guess of the field (chance: ½; half the calls
 * claim each).
 *
 * Positive control: a tolerance claim sent with a key per grid (as the agency holds them),
 * an exact one with its one key, unpadded: the count says VAT or staff, and every call is
 * read. Real protocol: every claim takes one key, exact or tolerance (a tolerance claim its
 * grid's key: bands.ts `claimKeys`), so every call sends one point and the agency is at
 * chance. What the count still says is the number of claims.
 */
import { describe, expect, it, vi } from 'vitest';
import { uscc } from '../helpers/ids.ts';
import { openSession, taxPolicy, type Register } from './lookup-fixture.ts';

/** The leaky variant: a tolerance claim takes every grid's key, an exact one its own key, no padding. */
const leaky = vi.hoisted(() => ({ on: false }));
vi.mock('../../src/lookup/bands.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/lookup/bands.ts')>();
  return { ...real, claimKeys: (...args: Parameters<typeof real.claimKeys>) => (leaky.on ? real.registerKeys(...args) : real.claimKeys(...args)) };
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

  it('with one key per claim, tolerance or exact, the agency is at chance', async () => {
    expect(await attack()).toBe(0.5);
  }, 60_000);
});
