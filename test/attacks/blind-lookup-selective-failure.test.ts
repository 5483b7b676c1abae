/**
 * Attack: selective failure in blind lookup (a deviating agency's view). The agency cannot
 * see which enterprises a bank looks up blindly, but it prepares the labeled set: it alters
 * the sealed label of one enterprise it is curious about and watches the session. The bank
 * opens only the labels of enterprises it asked about, so only a bank that asked about that
 * one meets the altered label. If the bank then fails the call, the agency sees its
 * channel close instead of the next call or `lookup.close`, and knows the bank asked.
 *
 * Its view: everything it sends and receives, its own key (so it finds the target's tag
 * in its set), and how the session ends. Success measure: accuracy of "the bank asked about
 * the target" over sessions, half of which asked about it (chance: ½).
 *
 * Positive control: a bank that fails the call on a label that does not authenticate (what
 * it did before) is read perfectly. Real protocol: the bank answers the enterprise as
 * unanswered, logs the altered label in its own audit log, and carries on; every session
 * ends alike and the agency is at chance. This is beyond honest-but-curious: the README
 * says what a deviating agency can still do (drop an enterprise from the answers; nothing
 * it can observe).
 */
import { describe, expect, it, vi } from 'vitest';
import { errors } from '../../src/errors.ts';
import type { OprfKey } from '../../src/lookup/oprf-key.ts';
import { loadBackend } from '../../src/psi/backends/index.ts';
import type { GroupBackend } from '../../src/psi/group.ts';
import type { Message } from '../../src/protocol/messages.ts';
import { uscc } from '../helpers/ids.ts';
import { labelOf, openSession, taxPolicy, type Register } from './lookup-fixture.ts';

/** The leaky variant: the bank fails the call on a label that does not authenticate. */
const leaky = vi.hoisted(() => ({ on: false }));
/** The agency's own keys, as it draws them (one per session). */
const agencyKeys = vi.hoisted(() => [] as unknown[]);
vi.mock('../../src/lookup/label.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/lookup/label.ts')>();
  return {
    ...real,
    openLabel: (key: Uint8Array, sealed: Uint8Array, fields: number) => {
      const label = real.openLabel(key, sealed, fields);
      if (label === undefined && leaky.on) throw errors.protocol('a label of the labeled tag set does not authenticate');
      return label;
    },
  };
});
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
const ids = Array.from({ length: N }, (_, i) => uscc(106_000 + i));
const vat = ids.map((_, i) => 2_000 + 11.25 * i);
const register: Register = { ids, fields: { vat_paid_wan: vat, staff: vat.map((_, i) => i), registered_capital_wan: vat } };

/** (Agency) Alters the sealed label of `target` in the set it sends: it finds the label by its own tag, under its own key. */
function alterLabelOf(group: GroupBackend, target: string): (message: Message) => Message {
  return (message) => {
    if (message.t !== 'lookup.tags') return message;
    const { labels, at, each } = labelOf(group, agencyKeys.at(-1) as OprfKey, target, message);
    labels[(at + 1) * each - 1]! ^= 1;
    return { ...message, labels };
  };
}

/** One session per trial: the agency alters one label, the bank asks about one enterprise; returns the agency's accuracy. */
async function attack(): Promise<{ accuracy: number; unanswered: number }> {
  const policy = await taxPolicy(0.25);
  const group = await loadBackend('x25519');
  let right = 0;
  let unanswered = 0;
  for (let i = 0; i < SESSIONS; i++) {
    const target = ids[i % N]!;
    const asked = i % 2 === 0 ? target : ids[(i * 7 + 3) % N]!;
    const { session, served } = await openSession(register, policy, 'blind', [{ field: 'vat_paid_wan', tolerance: undefined }], { tamper: alterLabelOf(group, target) });
    const rows = await session.lookup([asked]).catch(() => undefined);
    if (rows !== undefined && rows[0]!.every((v) => v === null)) unanswered++;
    await session.close();
    // The agency's reading: its session ended with lookup.close, or the channel was closed on it.
    const closedOnIt = await served.then(
      () => false,
      () => true,
    );
    if (closedOnIt === (asked === target)) right++;
  }
  return { accuracy: right / SESSIONS, unanswered };
}

describe('attack: a deviating agency alters a label to learn whether the bank asked about its enterprise', () => {
  it('positive control: a bank that fails on the altered label tells the agency every time', async () => {
    leaky.on = true;
    try {
      expect((await attack()).accuracy).toBe(1);
    } finally {
      leaky.on = false;
    }
  }, 60_000);

  it('a bank that answers the enterprise as unanswered and carries on leaves the agency at chance', async () => {
    const r = await attack();
    expect(r.accuracy).toBe(0.5);
    expect(r.unanswered).toBe(SESSIONS / 2);
  }, 60_000);
});
