/**
 * Interface calls: a bank asks an agency for permitted fields of enterprises it serves.
 *
 * Identified mode (the bank names the enterprises; the agency sees them):
 *
 *   bank → agency   lookup.request   partner, purpose, fields, the enterprise IDs
 *   agency → bank   lookup.reply     per ID, the fields its policy exposes for the purpose,
 *                                    for enterprises whose consent covers this partner,
 *                                    purpose and those fields; nothing otherwise
 *
 * The agency checks its policy field by field (a field the purpose does not expose comes
 * back empty; an unknown partner or purpose refuses the call) and each enterprise's consent
 * token; both sides append the call to their audit logs (IDs as salted hashes). The bank
 * cannot tell "no record" from "no consent".
 *
 * Blind mode (labeled PSI; the agency learns neither the enterprises nor the answers): the
 * agency prepares, once per partner, purpose and key period, a labeled tag set: OPRF tags of
 * the IDs of enterprises whose consent covers the partner and purpose, each with its
 * permitted fields sealed under a key derived from the same OPRF output (label.ts). The bank
 * evaluates the OPRF at its query IDs (online.ts) and opens the labels of those it finds.
 *
 * Who learns what in blind mode (honest-but-curious; DDH, random oracles, AES-GCM): the
 * agency, how many IDs were evaluated; the bank, the permitted fields of the enterprises it
 * asked about that have consent, and the number of such enterprises (the tag count). Consent
 * is held and checked by the agency when it prepares the set for this partner and purpose
 * (it cannot check per query without seeing the query); the bank audits which enterprises it
 * looked up and why, the agency audits the preparation (records, consent exclusions) and
 * every session's evaluation count, which it caps (here at the number of queries; through the
 * services at MAX_EVALUATIONS_PER_CALL per call, src/jobs/lookup.ts).
 */
import { performance } from 'node:perf_hooks';
import { columnIndex, openCsv } from '../data/csv.ts';
import { errors } from '../errors.ts';
import type { AuditLog } from '../governance/audit.ts';
import type { DataHolderPolicy } from '../governance/policy.ts';
import type { PublicKeyRecord } from '../governance/keys.ts';
import { detectIdType, normaliseId, type IdType, type IdTypeOption } from '../ids/normalise.ts';
import type { PsiExecutor } from '../psi/executor.ts';
import type { BackendName } from '../psi/group.ts';
import type { Channel } from '../protocol/channel.ts';
import { memoryChannelPair, type FrameTap } from '../transport/memory.ts';
import { message } from '../protocol/messages.ts';
import { consented, exposedValue, fieldExposures } from './exposure.ts';
import { inputBatches } from './inputs.ts';
import { encodeLabel, openLabel } from './label.ts';
import { answerTagQueries, queryTags } from './online.ts';
import { labelKeyOf } from './oprf.ts';
import { ephemeralOprfKey, type OprfKey } from './oprf-key.ts';
import { prepareTags } from './prepare.ts';
import type { TagSet } from './tag-set.ts';
import { executorFor } from './unbalanced-psi.ts';
import { RegisterRows, type RegisterReport } from './register-rows.ts';

/** What the agency applies to every call: its policy, the consent tokens it holds, its audit log. */
export interface AgencyGovernance {
  readonly policy?: DataHolderPolicy;
  readonly consent?: { readonly tokens: readonly unknown[]; readonly trustedIssuers: readonly PublicKeyRecord[]; readonly revoked?: ReadonlySet<string> };
  readonly audit?: AuditLog;
  readonly now?: () => Date;
}

export interface LookupRequest {
  /** The bank, as the agency's policy names it (in a service: the name on its TLS certificate). */
  readonly partner: string;
  readonly purpose: string;
  readonly fields: readonly string[];
}

/** One query's answer: a value per requested field, or null where the agency gives none. */
export type LookupRow = readonly (string | null)[];

/** An agency's register for lookups: normalised ID → the values of its columns. */
export interface LookupRegister {
  readonly idType: IdType;
  readonly columns: readonly string[];
  readonly rows: ReadonlyMap<string, readonly string[]>;
}

export { consented, exposedValue, fieldExposures, type FieldExposure } from './exposure.ts';

/** (Bank) One identified call: sends the IDs, returns the agency's answer per ID. */
export async function requestLookup(channel: Channel, request: LookupRequest, ids: readonly string[]): Promise<LookupRow[]> {
  await channel.send(message('lookup.request', { partner: request.partner, purpose: request.purpose, fields: [...request.fields], ids: [...ids] }));
  const reply = await channel.receive('lookup.reply');
  const width = request.fields.length;
  if (reply.answered.length !== ids.length || reply.exposed.length !== width || reply.values.length !== ids.length * width) throw errors.protocol('lookup.reply does not answer every ID and field of the request');
  return ids.map((_, i) => request.fields.map((_, k) => (reply.answered[i] === 1 && reply.exposed[k] === 1 ? reply.values[i * width + k]! : null)));
}

/** (Agency) Answers one identified call under its governance; returns how many IDs it answered. */
export async function answerLookup(channel: Channel, register: LookupRegister, governance: AgencyGovernance): Promise<{ queried: number; answered: number }> {
  return answerLookupRequest(channel, await channel.receive('lookup.request'), register, governance);
}

/**
 * (Agency) Answers a `lookup.request` already received. A party service passes the request
 * with `partner` replaced by the institution on the caller's certificate: the name a bank
 * writes in the message is never what the policy is checked against.
 */
export async function answerLookupRequest(
  channel: Channel,
  request: { readonly partner: string; readonly purpose: string; readonly fields: readonly string[]; readonly ids: readonly string[] },
  register: LookupRegister,
  governance: AgencyGovernance,
): Promise<{ queried: number; answered: number }> {
  const exposures = fieldExposures(governance, request);
  const permitted = exposures.map((e) => e !== 'withheld');
  const columns = request.fields.map((f) => register.columns.indexOf(f));
  const missing = request.fields.filter((_, k) => permitted[k] && columns[k]! < 0);
  if (missing.length > 0) throw errors.protocol(`the agency holds no field ${missing.map((m) => JSON.stringify(m)).join(', ')}`);
  const ids = request.ids.map((raw) => {
    const n = normaliseId(raw, register.idType);
    return n.ok ? n.id : '';
  });
  const permittedNames = request.fields.filter((_, k) => permitted[k]);
  const consent = consented(governance, request, permittedNames, ids);
  const answered = new Uint8Array(ids.length);
  const values: string[] = [];
  ids.forEach((id, i) => {
    const row = register.rows.get(id);
    const answer = row !== undefined && consent.allowed[i]!;
    answered[i] = answer ? 1 : 0;
    for (let k = 0; k < request.fields.length; k++) values.push(answer ? (exposedValue(row![columns[k]!] ?? '', exposures[k]!) ?? '') : '');
  });
  const count = answered.reduce((a, b) => a + b, 0);
  await governance.audit?.append('lookup.answered', {
    partner: request.partner,
    purpose: request.purpose,
    fields: permittedNames,
    banded: request.fields.filter((_, k) => typeof exposures[k] === 'object'),
    withheld: request.fields.filter((_, k) => !permitted[k]),
    queried: ids.length,
    answered: count,
    consentExcluded: consent.excluded,
    enterprises: ids.filter((id) => id !== '').map((id) => governance.audit!.hashId(id)),
  });
  await channel.send(message('lookup.reply', { answered, exposed: Uint8Array.from(permitted, (p) => (p ? 1 : 0)), values }));
  return { queried: ids.length, answered: count };
}

export interface LabeledSet {
  readonly tags: TagSet;
  readonly keyId: string;
  readonly domain: string;
  /** The request's fields, in label order. */
  readonly fields: readonly string[];
  /** Records left out for want of consent. */
  readonly consentExcluded: number;
}

/** (Agency, offline) A labeled tag set of its register for one partner and purpose. */
export async function prepareLabeledSet(
  config: { readonly executor: PsiExecutor; readonly key: OprfKey },
  register: LookupRegister,
  request: LookupRequest,
  governance: AgencyGovernance,
): Promise<LabeledSet> {
  const exposures = fieldExposures(governance, request);
  const permitted = exposures.map((e) => e !== 'withheld');
  const columns = request.fields.map((f) => register.columns.indexOf(f));
  const missing = request.fields.filter((_, k) => permitted[k] && columns[k]! < 0);
  if (missing.length > 0) throw errors.protocol(`the agency holds no field ${missing.map((m) => JSON.stringify(m)).join(', ')}`);
  const ids = [...register.rows.keys()];
  const consent = consented(governance, request, request.fields.filter((_, k) => permitted[k]), ids);
  const included = ids.filter((_, i) => consent.allowed[i]);
  const plaintexts = included.map((id) => {
    const row = register.rows.get(id)!;
    return encodeLabel(request.fields.map((_, k) => exposedValue(row[columns[k]!] ?? '', exposures[k]!)));
  });
  const plainBytes = plaintexts.reduce((m, p) => Math.max(m, p.length), 0);
  const domain = `lookup:${request.purpose}`;
  const prepared = await prepareTags({ executor: config.executor, key: config.key, domain }, inputBatches(included), { plainBytes, plaintext: (row) => plaintexts[row] });
  await governance.audit?.append('lookup.prepared', {
    partner: request.partner,
    purpose: request.purpose,
    fields: request.fields.filter((_, k) => permitted[k]),
    banded: request.fields.filter((_, k) => typeof exposures[k] === 'object'),
    keyId: config.key.keyId,
    records: prepared.tags.size,
    consentExcluded: consent.excluded,
  });
  return { tags: prepared.tags, keyId: config.key.keyId, domain, fields: request.fields, consentExcluded: consent.excluded };
}

export interface LookupOptions {
  readonly queries: { readonly file: string; readonly idColumn: string };
  readonly register: { readonly file: string; readonly idColumn: string };
  readonly request: LookupRequest;
  readonly blind: boolean;
  readonly agency: AgencyGovernance;
  readonly bankAudit?: AuditLog;
  readonly idType?: IdTypeOption;
  readonly backend: BackendName;
  readonly threads?: number;
  readonly tap?: FrameTap;
}

export interface LookupResult {
  /** The IDs as the queries file spells them, in order. */
  readonly ids: readonly string[];
  readonly rows: readonly LookupRow[];
  readonly answered: number;
  readonly seconds: number;
  /** Blind mode: OPRF evaluations the agency performed. */
  readonly evaluations: number | undefined;
  /** What reading the register found (rows skipped as `RegisterRows` says). */
  readonly register: RegisterReport;
  readonly bytesSent: number;
}

/** Both parties of a lookup in one process, isolated behind an in-memory channel. */
export async function runLookup(options: LookupOptions): Promise<LookupResult> {
  const started = performance.now();
  const queries = await readQueries(options.queries, options.idType);
  const register = await readRegister(options.register, queries.idType, options.request.fields);
  const [bankEnd, agencyEnd] = memoryChannelPair('bank', 'agency', options.tap);
  const fail = (end: Channel) => (e: unknown) => {
    end.close((e as Error).message);
    throw e;
  };
  const request = options.request;
  await options.bankAudit?.append('lookup.requested', {
    purpose: request.purpose,
    fields: [...request.fields],
    mode: options.blind ? 'blind' : 'identified',
    enterprises: queries.normalised.map((id) => options.bankAudit!.hashId(id)),
  });
  let rows: LookupRow[];
  let evaluations: number | undefined;
  if (!options.blind) {
    [rows] = await Promise.all([requestLookup(bankEnd, request, queries.normalised).catch(fail(bankEnd)), answerLookup(agencyEnd, register, options.agency).catch(fail(agencyEnd))]);
  } else {
    const executor = executorFor(options.threads);
    try {
      const key = await ephemeralOprfKey(options.backend);
      const set = await prepareLabeledSet({ executor, key }, register, request, options.agency);
      const found: (LookupRow | undefined)[] = queries.normalised.map(() => undefined);
      let altered = 0;
      const [, agency] = await Promise.all([
        queryTags({ channel: bankEnd, executor, backend: key.backend, keyId: set.keyId, domain: set.domain, tags: set.tags }, inputBatches(queries.normalised), (m) => {
          const label = openLabel(labelKeyOf(m.evaluation), set.tags.label(m.tagIndex), options.request.fields.length);
          // A tag that matches but a label that does not open: the set was altered after sealing. The enterprise comes back
          // unanswered and the run goes on, as through the services (src/jobs/lookup.ts): failing would tell the agency it was asked about.
          if (label === undefined) altered++;
          else found[m.row] = label;
        }).catch(fail(bankEnd)),
        answerTagQueries({ channel: agencyEnd, executor, key, domains: [set.domain], maxEvaluations: queries.normalised.length }).catch(fail(agencyEnd)),
      ]);
      if (altered > 0) await options.bankAudit?.append('lookup.label-invalid', { purpose: request.purpose, labels: altered });
      await options.agency.audit?.append('lookup.session', { partner: request.partner, purpose: request.purpose, keyId: key.keyId, evaluations: agency.evaluations });
      evaluations = agency.evaluations;
      // A repeated query ID was evaluated once: it takes the first one's answer.
      const firstOf = new Map<string, number>();
      rows = queries.normalised.map((id, i) => {
        const first = firstOf.get(id) ?? (firstOf.set(id, i), i);
        return found[first] ?? request.fields.map(() => null);
      });
    } finally {
      await executor.close();
    }
  }
  return {
    ids: queries.raw,
    rows,
    answered: rows.filter((r) => r.some((v) => v !== null)).length,
    seconds: (performance.now() - started) / 1000,
    evaluations,
    register: register.report,
    bytesSent: bankEnd.bytesSent + agencyEnd.bytesSent,
  };
}

/** (Bank) Its query IDs; an invalid one ends the run with its location. */
async function readQueries(source: { file: string; idColumn: string }, idTypeOption: IdTypeOption | undefined): Promise<{ raw: string[]; normalised: string[]; idType: IdType }> {
  const table = await openCsv(source.file);
  const col = columnIndex(table, source.idColumn);
  const rows = [];
  for await (const chunk of table.chunks) rows.push(...chunk);
  const idType = idTypeOption === 'uscc' || idTypeOption === 'plain' ? idTypeOption : detectIdType(rows.map((r) => r.fields[col]!));
  const raw: string[] = [];
  const normalised: string[] = [];
  for (const row of rows) {
    const n = normaliseId(row.fields[col]!, idType);
    if (!n.ok) throw errors.idInvalid({ file: source.file, line: row.line, column: row.columnOf(col), columnName: source.idColumn }, row.fields[col]!, n.why, 'correct or remove the row: every query needs a valid ID (give --id-type plain if the IDs are not unified social credit codes)');
    raw.push(row.fields[col]!.trim());
    normalised.push(n.id);
  }
  return { raw, normalised, idType };
}

/** (Agency) Its register in memory, keyed by normalised ID (rows kept as `RegisterRows` says: the first row of a repeated ID). */
async function readRegister(source: { file: string; idColumn: string }, idType: IdType, fields: readonly string[]): Promise<LookupRegister & { report: RegisterReport }> {
  const table = await openCsv(source.file);
  const col = columnIndex(table, source.idColumn);
  for (const f of fields) columnIndex(table, f, 'name existing columns of the register with --fields');
  const rows = new Map<string, readonly string[]>();
  const kept = new RegisterRows();
  for await (const chunk of table.chunks) {
    for (const row of chunk) {
      const n = normaliseId(row.fields[col]!, idType);
      if (kept.keep(row.line, n.ok ? n.id : undefined) && n.ok) rows.set(n.id, row.fields.map((v) => v.trim()));
    }
  }
  return { idType, columns: table.header, rows, report: kept.report };
}
