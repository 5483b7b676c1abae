/**
 * Attack: selective failure in blind lookup through a label that authenticates but does not
 * parse (a deviating agency's view). `blind-lookup-selective-failure` alters a sealed label
 * so that it no longer authenticates, and the bank now answers that enterprise as unanswered
 * and carries on. But the agency holds the OPRF key: it computes the label key of any
 * enterprise of its register itself, k·H1(id), and can seal under it whatever plaintext it
 * likes. It seals, for one enterprise it is curious about, a plaintext that is not the JSON
 * array of fields every label carries. Only a bank that asked about that enterprise opens
 * the label; if opening it throws, the call fails and the agency sees its channel closed
 * instead of the next call or `lookup.close`.
 *
 * Its view: everything it sends and receives, its own key (so it finds the target's tag and
 * label key), and how the session ends. Success measure: accuracy of "the bank asked about
 * the target" over sessions, half of which asked about it (chance: ½).
 *
 * Calibration: the same agency sealing a well-formed label (every field null) leaves every
 * session ending alike, at chance. Real protocol with a malformed label: `openLabel` now
 * treats a label that authenticates but is not the call's number of strings or nulls like one
 * that does not authenticate (unanswered, logged in the bank's own log, the call goes on).
 * Before, it parsed the plaintext outside its try and checked no shape, so a malformed label
 * threw out of the bank's `onMatch` and failed the call: 1.0 against chance ½.
 */
import { describe, expect, it, vi } from 'vitest';
import { labelKeyOf } from '../../src/lookup/oprf.ts';
import { encodeLabel, sealedLabelBytes, sealLabel } from '../../src/lookup/label.ts';
import type { OprfKey } from '../../src/lookup/oprf-key.ts';
import { loadBackend } from '../../src/psi/backends/index.ts';
import type { GroupBackend } from '../../src/psi/group.ts';
import type { Message } from '../../src/protocol/messages.ts';
import { uscc } from '../helpers/ids.ts';
import { labelOf, openSession, taxPolicy, type Register } from './lookup-fixture.ts';

/** The agency's own keys, as it draws them (one per session). */
const agencyKeys = vi.hoisted(() => [] as unknown[]);
vi.mock('../../src/lookup/oprf-key.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/lookup/oprf-key.ts')>();
  return {
    ...real,
    ephemeralOprfKey: async (...args: Parameters<typeof real.ephemeralOprfKey>) => {
      const key = await real.ephemeralOprfKey(...args);
      agencyKeys.push(key);
      return key;
    },
  };
});

const N = 30;
const SESSIONS = 16;
const ids = Array.from({ length: N }, (_, i) => uscc(251_000 + i));
const vat = ids.map((_, i) => 2_000 + 11.25 * i);
const register: Register = { ids, fields: { vat_paid_wan: vat, staff: vat.map((_, i) => i), registered_capital_wan: vat } };

/** (Agency) Reseals the label of `target` in the set it sends with `plaintext`, under the target's own label key. */
function resealLabelOf(group: GroupBackend, target: string, plaintext: Uint8Array): (message: Message) => Message {
  return (message) => {
    if (message.t !== 'lookup.tags') return message;
    const { labels, at, each, evaluation } = labelOf(group, agencyKeys.at(-1) as OprfKey, target, message);
    const plainBytes = each - sealedLabelBytes(0);
    expect(plaintext.length).toBeLessThanOrEqual(plainBytes);
    labels.set(sealLabel(labelKeyOf(evaluation), plaintext, plainBytes), at * each);
    return { ...message, labels };
  };
}

async function attack(plaintext: Uint8Array): Promise<number> {
  const policy = await taxPolicy(0.25);
  const group = await loadBackend('x25519');
  let right = 0;
  for (let i = 0; i < SESSIONS; i++) {
    const target = ids[i % N]!;
    const asked = i % 2 === 0 ? target : ids[(i * 7 + 3) % N]!;
    const { session, served } = await openSession(register, policy, 'blind', [{ field: 'vat_paid_wan', tolerance: undefined }], { tamper: resealLabelOf(group, target, plaintext) });
    await session.lookup([asked]).catch(() => undefined);
    await session.close();
    // The agency's reading: its session ended with lookup.close, or the channel was closed on it.
    const closedOnIt = await served.then(
      () => false,
      () => true,
    );
    if (closedOnIt === (asked === target)) right++;
  }
  return right / SESSIONS;
}

describe('attack: a deviating agency seals a malformed label to learn whether the bank asked about its enterprise', () => {
  it('calibration: a resealed well-formed label leaves every session ending alike (chance ½)', async () => {
    expect(await attack(encodeLabel([null]))).toBe(0.5);
  }, 60_000);

  it('real protocol: a label that authenticates but does not parse leaves the agency at chance', async () => {
    // Measured 1.0 before the fix: the bank's call failed exactly when it asked about the target.
    expect(await attack(Buffer.from('{'))).toBe(0.5);
  }, 60_000);
});
