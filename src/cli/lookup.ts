/** `jinqiao lookup`: interface calls (identified, or blind by labeled PSI), both parties in one process. */
import { Command, Option } from 'commander';
import { errors } from '../errors.ts';
import { loadConsentTokens, loadRevocationList } from '../governance/consent.ts';
import { loadPublicKey } from '../governance/keys.ts';
import { loadPolicy } from '../governance/policy.ts';
import type { IdTypeOption } from '../ids/normalise.ts';
import { BACKEND_NAMES, DEFAULT_BACKEND, isBackendName } from '../psi/backends/index.ts';
import { writeCsv } from '../lookup/csv-out.ts';
import { runLookup, type AgencyGovernance } from '../lookup/lookup.ts';
import { openPartyAudits } from './audit-dir.ts';
import { collect, parseNameList } from './governance-options.ts';
import { parseThreads, skippedRegisterRows } from './options.ts';
import { refuseInputAsOutput } from '../data/write.ts';
import { runCommand } from './run-command.ts';

interface LookupCliOptions {
  id: string;
  fields: string;
  purpose: string;
  partner: string;
  consent?: string;
  trust?: string[];
  revoked?: string;
  policy?: string;
  audit?: string;
  blind?: boolean;
  out?: string;
  json?: boolean;
  idType: IdTypeOption;
  backend: string;
  threads?: string;
}

export function lookupCommand(): Command {
  return new Command('lookup')
    .description("ask an agency for permitted fields of enterprises: identified (the agency checks each enterprise's consent) or --blind (labeled PSI: the agency learns nothing about which)")
    .argument('<queries.csv>', "the bank's file of enterprise IDs to look up")
    .argument('<register.csv>', "the agency's register")
    .requiredOption('--id <column>', 'name of the ID column in both files')
    .requiredOption('--fields <a,b>', 'the fields asked for, comma-separated')
    .requiredOption('--purpose <purpose>', 'why the bank asks, e.g. loan-verification')
    .option('--partner <id>', 'the bank as the agency\'s policy names it', 'bank')
    .option('--consent <tokens.jsonl>', "(agency) the enterprises' consent tokens it holds")
    .option('--trust <issuer.pub>', '(agency) a consent issuer it trusts (repeat for several)', collect)
    .option('--revoked <list.jsonl>', '(agency) revoked consent token ids')
    .option('--policy <policy.yaml>', "(agency) its policy: which fields it exposes for the purpose to this partner")
    .option('--audit <dir>', 'append the call to <dir>/bank.jsonl and <dir>/agency.jsonl, signed with <dir>/bank.key and <dir>/agency.key (made if missing)')
    .option('--blind', 'labeled PSI: the agency learns neither the enterprises nor the answers')
    .option('--out <file>', 'write `id,<field>,…` in query order, empty cells where the agency gives nothing')
    .option('--json', 'print one JSON object with the answers and counts on stdout')
    .addOption(new Option('--id-type <type>', 'how to read IDs').choices(['auto', 'uscc', 'plain']).default('auto'))
    .addOption(new Option('--backend <name>', 'group backend (blind mode)').choices([...BACKEND_NAMES]).default(DEFAULT_BACKEND))
    .option('--threads <n>', 'worker threads (blind mode; default: all cores; 0 = main thread)')
    .action((queries: string, register: string, opts: LookupCliOptions) =>
      runCommand(async () => {
        if (!isBackendName(opts.backend)) throw errors.optionInvalid('--backend', `unknown backend ${opts.backend}`);
        const fields = parseNameList('--fields', opts.fields);
        if (opts.consent !== undefined && (opts.trust ?? []).length === 0) throw errors.optionInvalid('--trust', '--consent needs the public key of at least one issuer the agency trusts');
        if (opts.out !== undefined) {
          await refuseInputAsOutput('--out', opts.out, [queries, register, opts.consent, ...(opts.trust ?? []), opts.revoked, opts.policy], [opts.audit === undefined ? undefined : { option: '--audit', path: opts.audit }]);
        }
        const audits = opts.audit === undefined ? undefined : await openPartyAudits(opts.audit);
        const agency: AgencyGovernance = {
          policy: opts.policy === undefined ? undefined : await loadPolicy(opts.policy),
          consent:
            opts.consent === undefined
              ? undefined
              : {
                  tokens: await loadConsentTokens(opts.consent),
                  trustedIssuers: await Promise.all((opts.trust ?? []).map(loadPublicKey)),
                  revoked: opts.revoked === undefined ? undefined : await loadRevocationList(opts.revoked),
                },
          audit: audits?.agency,
        };
        const r = await runLookup({
          queries: { file: queries, idColumn: opts.id },
          register: { file: register, idColumn: opts.id },
          request: { partner: opts.partner, purpose: opts.purpose, fields },
          blind: opts.blind ?? false,
          agency,
          bankAudit: audits?.bank,
          idType: opts.idType,
          backend: opts.backend,
          threads: parseThreads(opts.threads),
        });
        const table = r.ids.map((id, i) => [id, ...r.rows[i]!.map((v) => v ?? '')]);
        if (opts.out !== undefined) await writeCsv(opts.out, ['id', ...fields], table);
        if (opts.json) {
          process.stdout.write(
            JSON.stringify({
              queries: r.ids.length,
              answered: r.answered,
              mode: opts.blind ? 'blind' : 'identified',
              fields,
              rows: r.ids.map((id, i) => ({ id, values: r.rows[i] })),
              evaluations: r.evaluations ?? null,
              registerRows: r.register.rows,
              registerInvalid: r.register.invalid,
              registerInvalidLines: r.register.invalidLines,
              registerRepeats: r.register.repeats,
              registerRepeatLines: r.register.repeatLines,
              seconds: Math.round(r.seconds * 1000) / 1000,
              bytesSent: r.bytesSent,
              out: opts.out ?? null,
            }) + '\n',
          );
          return;
        }
        const lines = [`answered: ${r.answered} of ${r.ids.length} enterprises (${opts.blind ? 'blind' : 'identified'})`, ...skippedRegisterRows(register, r.register)];
        if (opts.out) lines.push(`written:  ${opts.out}`);
        else lines.push(['id', ...fields].join(','), ...table.map((row) => row.join(',')));
        process.stdout.write(lines.join('\n') + '\n');
      }),
    );
}
