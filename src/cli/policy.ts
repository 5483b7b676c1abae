/**
 * `jinqiao policy check`: (data holder) would this job be admitted under my policy?
 * Optionally records the decision in the holder's audit log before reporting it.
 */
import type { Command } from 'commander';
import { errors } from '../errors.ts';
import { AuditLog } from '../governance/audit.ts';
import { loadSecretKey } from '../governance/keys.ts';
import { checkJob, loadPolicy, POLICY_RULES } from '../governance/policy.ts';
import { commandGroup, parseNameList } from './governance-options.ts';
import { runCommand } from './run-command.ts';

interface CheckOptions {
  partner: string;
  purpose: string;
  fields: string;
  audit?: string;
  key?: string;
  json?: boolean;
}

export function policyCommand(): Command {
  const policy = commandGroup('policy', "a data holder's policy: partners, purposes, field classes, consent and approval");

  policy
    .command('check')
    .description('check a job against a policy file; exit 0 admitted, 1 refused naming the rule')
    .argument('<policy-file>', 'the policy (YAML or JSON)')
    .requiredOption('--partner <id>', "the partner's id or key id")
    .requiredOption('--purpose <purpose>', 'the purpose of the job, e.g. credit-modeling')
    .requiredOption('--fields <names>', 'fields the job uses, comma-separated')
    .option('--audit <log>', 'record the decision (job.admitted or job.refused) in this audit log first')
    .option('--key <key-file>', "the holder's secret key (.key) that signs the audit log; needed with --audit")
    .option('--json', 'print the decision as one JSON object')
    .addHelpText('after', `\nRules that can refuse a job:\n${Object.entries(POLICY_RULES).map(([id, what]) => `  ${id.padEnd(28)} ${what}`).join('\n')}\n`)
    .action((policyFile: string, opts: CheckOptions) =>
      runCommand(async () => {
        if (opts.audit !== undefined && opts.key === undefined) throw errors.optionInvalid('--key', 'is needed with --audit, to sign the entry');
        const request = { partner: opts.partner, purpose: opts.purpose, fields: parseNameList('--fields', opts.fields) };
        const loaded = await loadPolicy(policyFile);
        const decision = checkJob(loaded, request);
        if (opts.audit !== undefined) {
          const log = await AuditLog.open(opts.audit, { party: loaded.party, key: await loadSecretKey(opts.key!) });
          await log.append(
            decision.admitted ? 'job.admitted' : 'job.refused',
            decision.admitted
              ? { partner: decision.partner, purpose: decision.purpose, fields: request.fields, consentRequired: decision.consentRequired, approvalRequired: decision.approvalRequired }
              : { partner: request.partner, purpose: request.purpose, fields: request.fields, rule: decision.refusal.rule },
          );
        }
        if (!decision.admitted) {
          if (opts.json) process.stdout.write(JSON.stringify({ admitted: false, rule: decision.refusal.rule, message: decision.refusal.message }) + '\n');
          throw decision.refusal;
        }
        if (opts.json) {
          process.stdout.write(JSON.stringify(decision) + '\n');
          return;
        }
        process.stdout.write(
          [
            `admitted: partner ${decision.partner}, purpose ${decision.purpose} (policy of ${decision.party})`,
            `fields:   ${decision.fields.map((f) => `${f.name} (${f.class})`).join(', ')}`,
            `consent:  ${decision.consentRequired ? 'required: use only rows of enterprises whose consent covers this job' : 'not required'}`,
            `approval: ${decision.approvalRequired ? 'required: an operator must approve the job before it runs' : 'not required'}`,
          ].join('\n') + '\n',
        );
      }),
    );

  return policy;
}
