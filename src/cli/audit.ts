/**
 * `jinqiao audit verify | show`: check a party's audit log against its public key and
 * signed head, or list it for people to read.
 */
import type { Command } from 'commander';
import { errors } from '../errors.ts';
import { headFileOf, readAuditEntries, verifyAuditLog } from '../governance/audit.ts';
import { loadPublicKey } from '../governance/keys.ts';
import { commandGroup } from './governance-options.ts';
import { runCommand } from './run-command.ts';

export function auditCommand(): Command {
  const audit = commandGroup('audit', "a party's hash-chained, signed audit log");

  audit
    .command('verify')
    .description('check every entry, the chain and the signed head; exit 0 intact, 1 naming the first bad entry')
    .argument('<log>', 'the audit log (JSON Lines; its signed head is <log>.head)')
    .requiredOption('--key <pubkey-file>', "the public key (.pub) of the party that wrote the log")
    .action((log: string, opts: { key: string }) =>
      runCommand(async () => {
        const { publicKey, keyId } = await loadPublicKey(opts.key);
        const verdict = await verifyAuditLog(log, publicKey);
        if (!verdict.ok) throw errors.auditBroken(log, verdict.line, verdict.seq, verdict.reason);
        process.stdout.write(
          `intact: ${verdict.entries} entries written by ${verdict.party} (key ${keyId})\n` +
            `head:   seq ${verdict.head.seq}, hash ${verdict.head.hash}\n` +
            'compare the head hash with the copy the partner or platform holds: a party can rewrite its own log whole\n',
        );
      }),
    );

  audit
    .command('show')
    .description('list the entries for reading, without verifying them (use audit verify for that)')
    .argument('<log>', 'the audit log')
    .option('--json', 'print the entries as JSON Lines, as stored')
    .action((log: string, opts: { json?: boolean }) =>
      runCommand(async () => {
        const entries = await readAuditEntries(log);
        if (opts.json) {
          process.stdout.write(entries.map((e) => e.text + '\n').join(''));
          return;
        }
        const rows = entries.map(({ line, entry, text }) =>
          entry === undefined
            ? [`line ${line}`, '', '(not an audit entry)', text.slice(0, 60)]
            : [String(entry.seq), entry.time, entry.type, describeDetails(entry.details)],
        );
        const width = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length), ['seq', 'time', 'type'][c]!.length));
        const format = (r: readonly string[]) => r.map((cell, c) => (c < 3 ? cell.padEnd(width[c]!) : cell)).join('  ').trimEnd();
        const party = entries.find((e) => e.entry)?.entry?.party ?? 'unknown';
        process.stdout.write([`audit log of ${party}: ${log} (head: ${headFileOf(log)}; not verified)`, format(['seq', 'time', 'type', 'details']), ...rows.map(format)].join('\n') + '\n');
      }),
    );

  return audit;
}

function describeDetails(details: Record<string, unknown>): string {
  return Object.entries(details)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}
