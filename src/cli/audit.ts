/**
 * `jinqiao audit verify | repair | show`: check a party's audit log against its public
 * key, its signed head and the anchors its partners kept; re-head a log whose head is
 * missing (explicitly, and recorded in the log); or list it for people to read.
 */
import type { Command } from 'commander';
import { errors } from '../errors.ts';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AuditLog, headFileOf, loadAuditAnchors, readAuditEntries, verifyAuditLog, type AuditAnchor } from '../governance/audit.ts';
import { loadPublicKey, loadSecretKey, type PublicKeyBytes } from '../governance/keys.ts';
import { commandGroup } from './governance-options.ts';
import { runCommand } from './run-command.ts';

export function auditCommand(): Command {
  const audit = commandGroup('audit', "a party's hash-chained, signed audit log");

  audit
    .command('verify')
    .description('check every entry, the chain and the signed head; exit 0 intact, 1 naming the first bad entry')
    .argument('<log>', 'the audit log (JSON Lines; its signed head is <log>.head)')
    .requiredOption('--key <pubkey-file>', "the public key (.pub) of the party that wrote the log")
    .option('--anchors <file-or-folder>', "anchors of this log kept by a partner: an anchors file (JSON Lines), or a folder of them (a party service's <store>/anchors); a log rolled back or cut behind one is refused")
    .action((log: string, opts: { key: string; anchors?: string }) =>
      runCommand(async () => {
        const { publicKey, keyId } = await loadPublicKey(opts.key);
        const kept = opts.anchors === undefined ? undefined : await loadAnchorsFrom(opts.anchors, publicKey);
        if (kept && kept.anchors.length === 0) throw errors.optionInvalid('--anchors', `${opts.anchors} holds no anchor of key ${keyId} (${kept.others} of other keys)`, "pass the anchors file of a partner of this party, and this party's public key");
        const verdict = await verifyAuditLog(log, publicKey, kept?.anchors);
        if (!verdict.ok) throw errors.auditBroken(log, verdict.line, verdict.seq, verdict.reason);
        const latest = kept?.anchors.reduce((a, b) => (b.seq > a.seq ? b : a));
        process.stdout.write(
          `intact: ${verdict.entries} entries written by ${verdict.party} (key ${keyId})\n` +
            `head:   seq ${verdict.head.seq}, hash ${verdict.head.hash}\n` +
            (latest
              ? `anchors: ${verdict.anchors} kept by the partner match; the latest, from job ${latest.job}, covers entries up to seq ${latest.seq}\n`
              : 'no anchors checked: a party can roll its own log back or rewrite it whole; pass --anchors with the anchors a partner kept\n'),
        );
      }),
    );

  audit
    .command('repair')
    .description('re-head a log whose signed head is missing (after checking its chain), recording the repair and its reason in the log')
    .argument('<log>', 'the audit log')
    .requiredOption('--key <secret-key-file>', "the secret key (.key) of the party that writes the log")
    .requiredOption('--party <name>', 'the party the log belongs to, as entry 0 names it')
    .requiredOption('--reason <text>', 'why the head is missing (recorded in the log)')
    .action((log: string, opts: { key: string; party: string; reason: string }) =>
      runCommand(async () => {
        const repaired = await AuditLog.repair(log, { party: opts.party, key: await loadSecretKey(opts.key) }, opts.reason);
        process.stdout.write(`repaired: ${log} re-headed at seq ${repaired.head.seq - 1}; the repair is entry ${repaired.head.seq}\ncheck it against the partners' anchors: jinqiao audit verify ${log} --key <pub> --anchors <file>\n`);
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

/** The anchors of one key in an anchors file, or in every `.jsonl` file of a folder (one per partner). */
async function loadAnchorsFrom(path: string, publicKey: PublicKeyBytes): Promise<{ anchors: AuditAnchor[]; others: number }> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isDirectory()) return loadAuditAnchors(path, publicKey);
  const files = (await readdir(path)).filter((f) => f.endsWith('.jsonl') || f.endsWith('.anchors')).sort();
  if (files.length === 0) throw errors.optionInvalid('--anchors', `the folder ${path} holds no anchors file (*.jsonl)`, "pass a partner's anchors file, or the anchors folder of its store");
  const all = { anchors: [] as AuditAnchor[], others: 0 };
  for (const file of files) {
    const { anchors, others } = await loadAuditAnchors(join(path, file), publicKey);
    all.anchors.push(...anchors);
    all.others += others;
  }
  return all;
}

function describeDetails(details: Record<string, unknown>): string {
  return Object.entries(details)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}
