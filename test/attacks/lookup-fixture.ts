/**
 * The scene of the verification and interface-call attacks: a tax bureau running the real
 * agency runner of a lookup session (src/jobs/lookup.ts `serveLookupAsAgency`) under a real
 * policy, and a bank opening sessions with the real `BankLookupSession`, the two joined by
 * an in-memory channel whose frames are recorded. Consent is required only where a test
 * gives the agency tokens; no audit log is kept.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PartnerBudgets } from '../../src/governance/budget.ts';
import { generateKeyPair, saveKeyPair } from '../../src/governance/keys.ts';
import { parsePolicy } from '../../src/governance/policy.ts';
import type { ConsentSource } from '../../src/governance/gate.ts';
import type { PartyJobContext } from '../../src/jobs/context.ts';
import { BankLookupSession, serveLookupAsAgency, type LookupSessionSpec } from '../../src/jobs/lookup.ts';
import type { FieldCheck } from '../../src/lookup/bands.ts';
import { inlineExecutor } from '../../src/psi/executor.ts';
import type { Channel } from '../../src/protocol/channel.ts';
import type { Message } from '../../src/protocol/messages.ts';
import type { BackendName } from '../../src/psi/group.ts';
import { decodeMessage } from '../../src/transport/codec.ts';
import { expect } from 'vitest';
import { oprfHashPrefix } from '../../src/lookup/online.ts';
import { tagOf, TAG_BYTES } from '../../src/lookup/oprf.ts';
import type { OprfKey } from '../../src/lookup/oprf-key.ts';
import { TagSet } from '../../src/lookup/tag-set.ts';
import { hashAndBlind } from '../../src/psi/batch.ts';
import type { GroupBackend } from '../../src/psi/group.ts';
import type { MessageOf } from '../../src/protocol/messages.ts';
import { memoryChannelPair } from '../../src/transport/memory.ts';

export const PURPOSE = 'loan-verification';

/** The agency's register: one value per enterprise and field. */
export interface Register {
  readonly ids: readonly string[];
  readonly fields: Readonly<Record<string, readonly number[]>>;
}

/**
 * The tax bureau's policy: `vat_paid_wan` and `staff` exposed raw, `registered_capital_wan`
 * banded by ×(1 + `band`); `evaluationsPerDay`, when given, is the bank's daily budget.
 */
export async function taxPolicy(band: number, evaluationsPerDay?: number) {
  const dir = mkdtempSync(join(tmpdir(), 'jinqiao-attack-lookup-'));
  await saveKeyPair(join(dir, 'bank-gov'), generateKeyPair());
  const file = join(dir, 'policy.yaml');
  const text = `party: tax-bureau
fields: { vat_paid_wan: internal, staff: internal, registered_capital_wan: internal }
purposes:
  ${PURPOSE}:
    fields: [vat_paid_wan, staff, registered_capital_wan]
    consentRequired: false
    banded: { registered_capital_wan: ${band} }
partners:
  - { id: bank, publicKeyFile: bank-gov.pub, purposes: [${PURPOSE}]${evaluationsPerDay === undefined ? '' : `, evaluationsPerDay: ${evaluationsPerDay}`} }
`;
  writeFileSync(file, text);
  return parsePolicy(text, file);
}

/** The agency's context: its register as its one table, its policy, the bank as its only caller. */
function agencyContext(register: Register, policy: Awaited<ReturnType<typeof taxPolicy>>, consent: ConsentSource | undefined, budgets: PartnerBudgets | undefined): PartyJobContext {
  const context: Partial<PartyJobContext> = {
    name: 'tax-bureau',
    role: 'features',
    institutionOf: () => 'bank',
    governance: { institution: 'tax-bureau', policy, ...(consent ? { consent } : {}), ...(budgets ? { budgets } : {}) },
    psiExecutor: inlineExecutor(),
    loadTable: async (_table, columns) => {
      const names = columns.features ?? Object.keys(register.fields);
      const values = new Float64Array(register.ids.length * names.length);
      register.ids.forEach((_, r) => names.forEach((name, k) => (values[r * names.length + k] = register.fields[name]![r]!)));
      return { file: 'register', idColumn: 'uscc', rowCount: register.ids.length, ids: register.ids, lines: new Uint32Array(register.ids.length), featureNames: names, values, labels: undefined };
    },
  };
  return context as PartyJobContext;
}

/** Every frame of one session, decoded, with the party that sent it. */
export type SessionFrames = { readonly from: string; readonly message: ReturnType<typeof decodeMessage> }[];

export interface OpenedSession {
  readonly session: BankLookupSession;
  /** The agency's runner: resolves with its report when the bank closes, rejects with its refusal. */
  readonly served: Promise<unknown>;
  readonly frames: SessionFrames;
}

let sessions = 0;

/** (Bank) Opens a session with the tax bureau over a fresh channel; rejects with the agency's refusal. */
export async function openSession(
  register: Register,
  policy: Awaited<ReturnType<typeof taxPolicy>>,
  mode: LookupSessionSpec['mode'],
  fields: readonly FieldCheck[],
  options: {
    readonly backend?: BackendName;
    /** A deviating agency: rewrites each message it sends before it leaves. */
    readonly tamper?: (message: Message) => Message;
    /** The consent tokens the agency holds (none: no consent is required). */
    readonly consent?: ConsentSource;
    /** The agency's daily budget ledger, shared by the sessions given the same one (a service keeps one). */
    readonly budgets?: PartnerBudgets;
  } = {},
): Promise<OpenedSession> {
  const { backend = 'x25519', tamper } = options;
  const frames: SessionFrames = [];
  const [bankEnd, agencyEnd] = memoryChannelPair('bank', 'tax-bureau', (from, _to, frame) => frames.push({ from, message: decodeMessage(frame) }));
  const sessionId = `lookup/attack-${++sessions}`;
  let agencySide: Channel = agencyEnd;
  if (tamper) {
    const deviating: Channel = Object.create(agencyEnd) as Channel;
    deviating.send = (message) => agencyEnd.send(tamper(message as Message) as typeof message);
    agencySide = deviating;
  }
  const served = serveLookupAsAgency(agencyContext(register, policy, options.consent, options.budgets), agencySide, sessionId);
  served.catch(() => {});
  const bankContext = { name: 'bank', governance: undefined, psiExecutor: inlineExecutor(), connect: async () => bankEnd } as Partial<PartyJobContext> as PartyJobContext;
  const spec: LookupSessionSpec = { agency: 'tax-bureau', table: 'register', mode, purpose: PURPOSE, fields, idType: 'uscc', backend };
  const session = await BankLookupSession.open(bankContext, spec, sessionId);
  return { session, served, frames };
}

/**
 * (A deviating agency) Where `target`'s sealed label lies in a blind session's `lookup.tags`
 * slice, found by its own tag under its own `key`: a copy of the slice's labels, the label's
 * index and size there, and the target's OPRF evaluation (what its label key derives from).
 */
export function labelOf(group: GroupBackend, key: OprfKey, target: string, message: MessageOf<'lookup.tags'>): { labels: Uint8Array; at: number; each: number; evaluation: Uint8Array } {
  const input = Buffer.from(target);
  const evaluation = hashAndBlind(group, oprfHashPrefix(key.keyId, `lookup:${PURPOSE}`), { bytes: input, offsets: Uint32Array.of(0, input.length) }, key.scalar);
  const tag = new Uint8Array(TAG_BYTES);
  tagOf(evaluation, tag, 0);
  const at = new TagSet(Uint8Array.from(message.tags)).indexOf(tag, 0);
  expect(at).toBeGreaterThanOrEqual(0);
  const labels = Uint8Array.from(message.labels);
  return { labels, at, each: labels.length / (message.tags.length / TAG_BYTES), evaluation };
}
